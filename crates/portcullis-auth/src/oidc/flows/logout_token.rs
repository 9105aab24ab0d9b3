//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0): the provider POSTs a logout
//! token; the sessions it names are revoked.
//!
//! What it protects against, and how: anyone can POST to the back-channel URL, so the logout
//! token is validated as section 2.6 requires before anything is revoked — signature with the
//! provider's published keys (asymmetric algorithms only), `iss` equal to the issuer, `aud`
//! containing the client id, `iat` present and not in the future, `exp` (when present) not
//! passed, `nbf` (when present) reached, an `events` object with the back-channel logout
//! member, a `sid` and/or `sub` (`sid` required with `backchannelLogoutSessionsRequired`), no
//! `nonce` (so an ID token cannot be replayed as a logout token), a header `typ` that does not
//! name another kind of token, and a `jti` seen for the first time.
//!
//! Replays: the specification has required `exp` only since late 2023, and several providers
//! still send none (Ory Hydra, Keycloak before 22, older Authentik). A token without `exp`
//! would otherwise stay valid forever, and be replayable as soon as its `jti` record is
//! forgotten. So every token, with or without `exp`, is accepted only while its `iat` is at
//! most [`MAX_AGE_SECONDS`] old (plus the clock leeway), and its `jti` is remembered until the
//! last second at which it could be accepted: no token is accepted twice.

use serde_json::{Map, Value};

use crate::shared::jwt::{not_before_reached, numeric_date};

/// The `events` member that marks a logout token.
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Oldest logout token accepted, by its `iat` (plus the clock leeway). A provider sends the
/// token when the logout happens, and retries briefly at most.
pub const MAX_AGE_SECONDS: i64 = 300;

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
    #[error("logout token is older than the accepted age")]
    TooOld,
    #[error("logout token is not valid yet (nbf)")]
    NotYetValid,
    #[error("logout token typ names another kind of token")]
    WrongType,
}

/// Checks the header `typ` of a logout token: `logout+jwt` (section 2.4, also with the
/// `application/` prefix RFC 8725 allows), `JWT` (Keycloak) or none at all are accepted, in any
/// case; a `typ` naming another kind of token (`at+jwt`, `secevent+jwt`, ...) is refused, so a
/// token issued for another purpose cannot be played as a logout token.
pub fn check_type(typ: Option<&str>) -> Result<(), LogoutTokenError> {
    let Some(typ) = typ else { return Ok(()) };
    let bare = typ
        .get(..12)
        .filter(|prefix| prefix.eq_ignore_ascii_case("application/"))
        .and_then(|_| typ.get(12..))
        .unwrap_or(typ);
    if bare.eq_ignore_ascii_case("logout+jwt") || bare.eq_ignore_ascii_case("jwt") {
        Ok(())
    } else {
        Err(LogoutTokenError::WrongType)
    }
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
    // The last second at which the token is accepted.
    let accepted_until = iat.saturating_add(MAX_AGE_SECONDS).saturating_add(leeway);
    if accepted_until < now {
        return Err(LogoutTokenError::TooOld);
    }
    let exp = numeric_date(claims, "exp");
    if exp.is_some_and(|exp| exp.saturating_add(leeway) <= now) {
        return Err(LogoutTokenError::Expired);
    }
    if !not_before_reached(claims, now, leeway) {
        return Err(LogoutTokenError::NotYetValid);
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
    // Past its last accepted second (the age bound, or `exp` when that comes first), the token
    // is refused anyway: its `jti` is needed until then, and not after.
    let last_accepted = match exp {
        Some(exp) => accepted_until.min(exp.saturating_add(leeway).saturating_sub(1)),
        None => accepted_until,
    };
    let remember_until = last_accepted.max(now).saturating_add(1);
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

    #[test]
    fn tokens_older_than_the_accepted_age_are_refused_with_or_without_exp() {
        let oldest = NOW - MAX_AGE_SECONDS - 60;
        assert!(
            check(
                |c| {
                    c.insert("iat".into(), json!(oldest));
                },
                false
            )
            .is_ok()
        );
        assert_eq!(
            check(
                |c| {
                    c.insert("iat".into(), json!(oldest - 1));
                },
                false
            ),
            Err(LogoutTokenError::TooOld)
        );
        assert_eq!(
            check(
                |c| {
                    c.insert("iat".into(), json!(NOW - 7200));
                    c.insert("exp".into(), json!(NOW + 3600));
                },
                false
            ),
            Err(LogoutTokenError::TooOld)
        );
    }

    #[test]
    fn tokens_are_refused_before_their_nbf() {
        assert!(
            check(
                |c| {
                    c.insert("nbf".into(), json!(NOW + 30));
                },
                false
            )
            .is_ok()
        );
        assert_eq!(
            check(
                |c| {
                    c.insert("nbf".into(), json!(NOW + 3600));
                },
                false
            ),
            Err(LogoutTokenError::NotYetValid)
        );
    }

    /// Whatever the token's `exp`, its `jti` record outlives every moment at which the token
    /// would be accepted, so a replay is refused at any time.
    #[test]
    fn a_replay_is_refused_at_every_moment_the_token_would_be_accepted() {
        const HORIZON: i64 = 3 * 24 * 3600;
        for exp in [None, Some(NOW + 10), Some(NOW + 600), Some(NOW + 86_400)] {
            let mut claims = good();
            if let Some(exp) = exp {
                claims.insert("exp".into(), json!(exp));
            }
            let validate_at = |now| validate(&claims, "https://idp", "gw", false, now, 60);
            // A jti record as a store keeps it: until its `remember_until`.
            let mut record = std::collections::HashMap::new();
            let mut first_use_of_jti = |jti: &str, until: i64, now: i64| {
                let seen = record.get(jti).is_some_and(|kept| *kept > now);
                if !seen {
                    record.insert(jti.to_owned(), until);
                }
                !seen
            };
            let first = validate_at(NOW).unwrap();
            assert!(first_use_of_jti(&first.jti, first.remember_until, NOW));
            let mut now = NOW;
            while let Ok(target) = validate_at(now) {
                assert!(now < NOW + HORIZON, "exp {exp:?}: accepted forever");
                assert!(
                    !first_use_of_jti(&target.jti, target.remember_until, now),
                    "exp {exp:?}: replay accepted at +{}s",
                    now - NOW
                );
                now += 1;
            }
        }
    }

    #[test]
    fn typ_must_name_a_logout_token_or_plain_jwt() {
        for accepted in [
            None,
            Some("logout+jwt"),
            Some("Logout+JWT"),
            Some("application/logout+jwt"),
            Some("JWT"),
            Some("jwt"),
            Some("application/jwt"),
        ] {
            assert_eq!(check_type(accepted), Ok(()), "{accepted:?}");
        }
        for refused in [
            "at+jwt",
            "application/at+jwt",
            "secevent+jwt",
            "id_token+jwt",
            "",
        ] {
            assert_eq!(
                check_type(Some(refused)),
                Err(LogoutTokenError::WrongType),
                "{refused}"
            );
        }
    }
}
