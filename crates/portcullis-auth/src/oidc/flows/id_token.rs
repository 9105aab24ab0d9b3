//! ID token validation (OpenID Connect Core 1.0 section 3.1.3.7), after the signature has been
//! checked with the provider's keys.
//!
//! What it protects against, and how:
//! - tokens from another issuer or for another client (mix-up, token substitution): `iss` must
//!   equal the discovered issuer; `aud` must contain the client id; a token with several
//!   audiences must name us in `azp`, and an `azp` must always be us;
//! - replayed, stale or early tokens: `exp` must be in the future, `iat` must not be, and an
//!   `nbf` must have been reached (all with a small leeway for clock skew); the `nonce` must be
//!   this flow's;
//! - a swapped access token: when the token carries `at_hash`, it must match the access token;
//! - a refreshed ID token for someone else: its `sub` must equal the session's.
//!
//! Pure: no I/O, the time is passed in.

use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

pub use crate::shared::jwt::numeric_date;
use crate::shared::jwt::{Algorithm, not_before_reached, token_hash};

/// What a token must satisfy. `Debug` shows neither the nonce nor the access token.
#[derive(Clone, Copy)]
pub struct Expectations<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// The nonce sent in the authorization request; `None` for a refreshed token.
    pub nonce: Option<&'a str>,
    /// The access token issued with the ID token, for `at_hash`.
    pub access_token: Option<&'a str>,
    /// The `sub` the token must have (refresh).
    pub subject: Option<&'a str>,
    pub now: i64,
    pub leeway: i64,
}

impl std::fmt::Debug for Expectations<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expectations")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("nonce", &self.nonce.map(|_| "***"))
            .field("access_token", &self.access_token.map(|_| "***"))
            .field("subject", &self.subject)
            .field("now", &self.now)
            .field("leeway", &self.leeway)
            .finish()
    }
}

/// Why an ID token was refused. Messages name the failed check only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    #[error("ID token iss does not match the issuer")]
    Issuer,
    #[error("ID token aud does not contain the client id")]
    Audience,
    #[error("ID token has several audiences and no azp naming the client")]
    AzpMissing,
    #[error("ID token azp is not the client id")]
    Azp,
    #[error("ID token has expired (or has no valid exp)")]
    Expired,
    #[error("ID token iat is missing or invalid")]
    IssuedAtMissing,
    #[error("ID token iat is in the future")]
    IssuedInFuture,
    #[error("ID token is not valid yet (nbf)")]
    NotYetValid,
    #[error("ID token nonce is missing")]
    NonceMissing,
    #[error("ID token nonce does not match the login")]
    NonceMismatch,
    #[error("ID token has no sub")]
    SubjectMissing,
    #[error("refreshed ID token is for another sub")]
    SubjectChanged,
    #[error("ID token at_hash does not match the access token")]
    AccessTokenHash,
}

/// Checks the claims of a signature-verified ID token signed with `alg`.
pub fn validate(
    claims: &Map<String, Value>,
    alg: Algorithm,
    expect: &Expectations<'_>,
) -> Result<(), IdTokenError> {
    if claims.get("iss").and_then(Value::as_str) != Some(expect.issuer) {
        return Err(IdTokenError::Issuer);
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&expect.client_id) {
        return Err(IdTokenError::Audience);
    }
    match claims.get("azp") {
        Some(Value::String(azp)) if azp == expect.client_id => {}
        Some(_) => return Err(IdTokenError::Azp),
        None if audiences.len() > 1 => return Err(IdTokenError::AzpMissing),
        None => {}
    }
    let exp = numeric_date(claims, "exp").ok_or(IdTokenError::Expired)?;
    if exp.saturating_add(expect.leeway) <= expect.now {
        return Err(IdTokenError::Expired);
    }
    let iat = numeric_date(claims, "iat").ok_or(IdTokenError::IssuedAtMissing)?;
    if iat > expect.now.saturating_add(expect.leeway) {
        return Err(IdTokenError::IssuedInFuture);
    }
    if !not_before_reached(claims, expect.now, expect.leeway) {
        return Err(IdTokenError::NotYetValid);
    }
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(IdTokenError::SubjectMissing)?;
    if let Some(expected) = expect.subject {
        if sub != expected {
            return Err(IdTokenError::SubjectChanged);
        }
    }
    if let Some(nonce) = expect.nonce {
        let found = claims
            .get("nonce")
            .and_then(Value::as_str)
            .ok_or(IdTokenError::NonceMissing)?;
        if !bool::from(found.as_bytes().ct_eq(nonce.as_bytes())) {
            return Err(IdTokenError::NonceMismatch);
        }
    }
    if let (Some(at_hash), Some(access_token)) = (
        claims.get("at_hash").and_then(Value::as_str),
        expect.access_token,
    ) {
        if at_hash != token_hash(alg, access_token) {
            return Err(IdTokenError::AccessTokenHash);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_800_000_000;

    type Change = Box<dyn FnOnce(&mut Map<String, Value>)>;

    fn expect() -> Expectations<'static> {
        Expectations {
            issuer: "https://idp",
            client_id: "gw",
            nonce: Some("n-1"),
            access_token: Some("abc"),
            subject: None,
            now: NOW,
            leeway: 60,
        }
    }

    fn good() -> Map<String, Value> {
        json!({
            "iss": "https://idp", "aud": "gw", "sub": "alice", "nonce": "n-1",
            "exp": NOW + 300, "iat": NOW, "at_hash": token_hash(Algorithm::Rs256, "abc"),
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn check(change: impl FnOnce(&mut Map<String, Value>)) -> Result<(), IdTokenError> {
        let mut claims = good();
        change(&mut claims);
        validate(&claims, Algorithm::Rs256, &expect())
    }

    #[test]
    fn a_good_token_passes() {
        assert_eq!(check(|_| {}), Ok(()));
        assert_eq!(
            check(|c| {
                c.insert("aud".into(), json!(["gw", "api"]));
                c.insert("azp".into(), json!("gw"));
            }),
            Ok(())
        );
        // Within the leeway.
        assert_eq!(
            check(|c| {
                c.insert("exp".into(), json!(NOW - 30));
            }),
            Ok(())
        );
        assert_eq!(
            check(|c| {
                c.insert("iat".into(), json!(NOW + 30));
            }),
            Ok(())
        );
        assert_eq!(
            check(|c| {
                c.insert("nbf".into(), json!(NOW + 30));
            }),
            Ok(())
        );
    }

    #[test]
    fn a_token_is_refused_before_its_nbf() {
        assert_eq!(
            check(|c| {
                c.insert("nbf".into(), json!(NOW + 3600));
            }),
            Err(IdTokenError::NotYetValid)
        );
    }

    #[test]
    fn every_check_refuses() {
        let cases: Vec<(Change, IdTokenError)> = vec![
            (
                Box::new(|c| {
                    c.insert("iss".into(), json!("https://evil"));
                }),
                IdTokenError::Issuer,
            ),
            (
                Box::new(|c| {
                    c.remove("iss");
                }),
                IdTokenError::Issuer,
            ),
            (
                Box::new(|c| {
                    c.insert("aud".into(), json!("other"));
                }),
                IdTokenError::Audience,
            ),
            (
                Box::new(|c| {
                    c.insert("aud".into(), json!(["other"]));
                }),
                IdTokenError::Audience,
            ),
            (
                Box::new(|c| {
                    c.insert("aud".into(), json!(["gw", "other"]));
                }),
                IdTokenError::AzpMissing,
            ),
            (
                Box::new(|c| {
                    c.insert("azp".into(), json!("other"));
                }),
                IdTokenError::Azp,
            ),
            (
                Box::new(|c| {
                    c.insert("exp".into(), json!(NOW - 3600));
                }),
                IdTokenError::Expired,
            ),
            (
                Box::new(|c| {
                    c.remove("exp");
                }),
                IdTokenError::Expired,
            ),
            (
                Box::new(|c| {
                    c.insert("exp".into(), json!("soon"));
                }),
                IdTokenError::Expired,
            ),
            (
                Box::new(|c| {
                    c.remove("iat");
                }),
                IdTokenError::IssuedAtMissing,
            ),
            (
                Box::new(|c| {
                    c.insert("iat".into(), json!(NOW + 86_400));
                }),
                IdTokenError::IssuedInFuture,
            ),
            (
                Box::new(|c| {
                    c.remove("sub");
                }),
                IdTokenError::SubjectMissing,
            ),
            (
                Box::new(|c| {
                    c.insert("sub".into(), json!(""));
                }),
                IdTokenError::SubjectMissing,
            ),
            (
                Box::new(|c| {
                    c.remove("nonce");
                }),
                IdTokenError::NonceMissing,
            ),
            (
                Box::new(|c| {
                    c.insert("nonce".into(), json!("n-1-other"));
                }),
                IdTokenError::NonceMismatch,
            ),
            (
                Box::new(|c| {
                    c.insert("at_hash".into(), json!("AAAA"));
                }),
                IdTokenError::AccessTokenHash,
            ),
        ];
        for (change, expected) in cases {
            assert_eq!(check(change), Err(expected.clone()), "{expected}");
        }
    }

    #[test]
    fn refreshed_tokens_keep_their_subject() {
        let mut expectations = expect();
        expectations.nonce = None;
        expectations.subject = Some("alice");
        let mut claims = good();
        claims.remove("nonce");
        assert_eq!(validate(&claims, Algorithm::Rs256, &expectations), Ok(()));
        claims.insert("sub".into(), json!("bob"));
        assert_eq!(
            validate(&claims, Algorithm::Rs256, &expectations),
            Err(IdTokenError::SubjectChanged)
        );
    }
}
