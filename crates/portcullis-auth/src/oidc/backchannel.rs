//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0): the provider POSTs a logout
//! token; the sessions it names are revoked.
//!
//! What it protects against, and how: anyone can POST to the back-channel URL, so the logout
//! token is validated as section 2.6 requires before anything is revoked — signature with the
//! provider's published keys (asymmetric algorithms only), `iss` equal to the issuer, `aud`
//! containing the client id, `iat` present and not in the future, `exp` (when present) not
//! passed, an `events` object with the back-channel logout member, a `sid` and/or `sub`
//! (`sid` required with `backchannelLogoutSessionsRequired`), no `nonce` (so an ID token
//! cannot be replayed as a logout token), and a `jti` seen for the first time.

use serde_json::{Map, Value};

use super::id_token::numeric_date;

/// The `events` member that marks a logout token.
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a token's `jti` is remembered when it has no `exp`.
pub const JTI_MEMORY_SECONDS: i64 = 3600;

/// Why a logout token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoutTokenError {
    #[error("logout token iss does not match the issuer")]
    Issuer,
    #[error("logout token aud does not contain the client id")]
    Audience,
    #[error("logout token iat is missing or in the future")]
    IssuedAt,
    #[error("logout token has expired")]
    Expired,
    #[error("logout token has no back-channel logout event")]
    Events,
    #[error("logout token has neither sid nor sub")]
    NoSubject,
    #[error("logout token has no sid, which is required")]
    SidRequired,
    #[error("logout token carries a nonce")]
    Nonce,
    #[error("logout token has no jti")]
    JtiMissing,
}

/// What a valid logout token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutTarget {
    pub sid: Option<String>,
    pub sub: Option<String>,
    pub jti: String,
    /// Until when its `jti` must be remembered.
    pub remember_until: i64,
}

/// Checks the claims of a signature-verified logout token.
pub fn validate(
    claims: &Map<String, Value>,
    issuer: &str,
    client_id: &str,
    sid_required: bool,
    now: i64,
    leeway: i64,
) -> Result<LogoutTarget, LogoutTokenError> {
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(LogoutTokenError::Issuer);
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == client_id,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    };
    if !audience_ok {
        return Err(LogoutTokenError::Audience);
    }
    let iat = numeric_date(claims, "iat").ok_or(LogoutTokenError::IssuedAt)?;
    if iat > now.saturating_add(leeway) {
        return Err(LogoutTokenError::IssuedAt);
    }
    let exp = numeric_date(claims, "exp");
    if exp.is_some_and(|exp| exp.saturating_add(leeway) <= now) {
        return Err(LogoutTokenError::Expired);
    }
    let has_event = claims
        .get("events")
        .and_then(Value::as_object)
        .and_then(|events| events.get(LOGOUT_EVENT))
        .is_some_and(Value::is_object);
    if !has_event {
        return Err(LogoutTokenError::Events);
    }
    if claims.contains_key("nonce") {
        return Err(LogoutTokenError::Nonce);
    }
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let sid = text("sid");
    let sub = text("sub");
    if sid.is_none() && sub.is_none() {
        return Err(LogoutTokenError::NoSubject);
    }
    if sid_required && sid.is_none() {
        return Err(LogoutTokenError::SidRequired);
    }
    let jti = text("jti").ok_or(LogoutTokenError::JtiMissing)?;
    let remember_until = exp
        .unwrap_or(iat.saturating_add(JTI_MEMORY_SECONDS))
        .max(now)
        .saturating_add(leeway);
    Ok(LogoutTarget {
        sid,
        sub,
        jti,
        remember_until,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_800_000_000;

    type Change = Box<dyn FnOnce(&mut Map<String, Value>)>;

    fn good() -> Map<String, Value> {
        json!({
            "iss": "https://idp", "aud": "gw", "iat": NOW, "jti": "j-1", "sid": "sid-1",
            "sub": "alice", "events": {LOGOUT_EVENT: {}},
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn check(
        change: impl FnOnce(&mut Map<String, Value>),
        sid_required: bool,
    ) -> Result<LogoutTarget, LogoutTokenError> {
        let mut claims = good();
        change(&mut claims);
        validate(&claims, "https://idp", "gw", sid_required, NOW, 60)
    }

    #[test]
    fn a_good_token_names_its_targets() {
        let target = check(|_| {}, true).unwrap();
        assert_eq!(target.sid.as_deref(), Some("sid-1"));
        assert_eq!(target.sub.as_deref(), Some("alice"));
        assert_eq!(target.jti, "j-1");
        assert!(
            check(
                |c| {
                    c.remove("sid");
                },
                false
            )
            .is_ok()
        );
        assert!(
            check(
                |c| {
                    c.remove("sub");
                },
                false
            )
            .is_ok()
        );
    }

    #[test]
    fn every_rule_of_the_spec_refuses() {
        let cases: Vec<(Change, bool, LogoutTokenError)> = vec![
            (
                Box::new(|c| {
                    c.insert("iss".into(), json!("https://evil"));
                }),
                false,
                LogoutTokenError::Issuer,
            ),
            (
                Box::new(|c| {
                    c.insert("aud".into(), json!("other"));
                }),
                false,
                LogoutTokenError::Audience,
            ),
            (
                Box::new(|c| {
                    c.remove("iat");
                }),
                false,
                LogoutTokenError::IssuedAt,
            ),
            (
                Box::new(|c| {
                    c.insert("iat".into(), json!(NOW + 3600));
                }),
                false,
                LogoutTokenError::IssuedAt,
            ),
            (
                Box::new(|c| {
                    c.insert("exp".into(), json!(NOW - 3600));
                }),
                false,
                LogoutTokenError::Expired,
            ),
            (
                Box::new(|c| {
                    c.remove("events");
                }),
                false,
                LogoutTokenError::Events,
            ),
            (
                Box::new(|c| {
                    c.insert("events".into(), json!({"other": {}}));
                }),
                false,
                LogoutTokenError::Events,
            ),
            (
                Box::new(|c| {
                    c.insert("events".into(), json!({LOGOUT_EVENT: "x"}));
                }),
                false,
                LogoutTokenError::Events,
            ),
            (
                Box::new(|c| {
                    c.insert("nonce".into(), json!("n"));
                }),
                false,
                LogoutTokenError::Nonce,
            ),
            (
                Box::new(|c| {
                    c.remove("sid");
                    c.remove("sub");
                }),
                false,
                LogoutTokenError::NoSubject,
            ),
            (
                Box::new(|c| {
                    c.remove("sid");
                }),
                true,
                LogoutTokenError::SidRequired,
            ),
            (
                Box::new(|c| {
                    c.remove("jti");
                }),
                false,
                LogoutTokenError::JtiMissing,
            ),
        ];
        for (change, sid_required, expected) in cases {
            assert_eq!(
                check(change, sid_required),
                Err(expected.clone()),
                "{expected}"
            );
        }
    }
}
