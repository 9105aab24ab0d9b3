//! Verifying again the tokens inside a session this replica opens for the first time.
//!
//! What it protects against, and how: the session key derives from a root secret. When that
//! root is the client secret, whoever holds it (the provider's administrators, another
//! application registered with the same client, a reader of its Kubernetes Secret) can seal a
//! session of their own making. So the first time a replica sees a session's ID token (and its
//! access token, when its claims are read), it checks the signature with the provider's keys
//! and that the ID token is this client's (`iss`, `aud`) and names the session's `sub` and
//! `sid` (which revocations go by). A forger cannot sign for the provider, so a rewritten ID
//! token is refused; what remains possible is replaying a genuine ID token issued to this
//! client, which only `session.secret` rules out. Verified tokens are remembered (exact value,
//! bounded), so requests after the first cost one lookup.
//!
//! A provider retires signing keys: a session's ID token can outlive its key in the JWKS.
//! After a (rate-limited) JWKS refetch, a token whose key is still unknown is:
//! - accepted when the session opened with a key rooted in `session.secret`: the gateway alone
//!   can seal those, so the token was verified when the session was made;
//! - refused (the user logs in again) when it opened with a key rooted in the client secret:
//!   it cannot be told from a forgery.
//!
//! When the JWKS cannot be fetched, a session keyed by `session.secret` is accepted (not
//! remembered, so it is verified once the provider answers) and one keyed by the client secret
//! gets 502/504, like any request needing the provider: nobody is logged out by an outage.

use serde_json::{Map, Value};

use crate::error::AuthError;
use crate::oidc::middleware::Inner;
use crate::oidc::session::Session;
use crate::shared::jwks::JwksError;
use crate::shared::jwt::JwtError;
use crate::shared::seal::KeyRoot;

/// Why a stored session's tokens were not accepted.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The session is not genuine (or no longer verifiable): it ends.
    Invalid(String),
    /// The provider's keys could not be read: nothing is decided.
    Unavailable(AuthError),
}

/// Checks `session`'s tokens unless this replica has already verified them.
pub(crate) async fn check(inner: &Inner, session: &Session) -> Result<(), Refusal> {
    let access_read =
        session.access_token_is_jwt && session.access_expires_at.is_none_or(|at| at > inner.now());
    let id_known = inner.verified_tokens().has_id_token_of(session);
    let access_known = !access_read
        || inner
            .verified_tokens()
            .has_access_token(&session.access_token);
    if id_known && access_known {
        return Ok(());
    }
    let lenient = session.sealed_with == KeyRoot::SessionSecret;
    let provider = match inner.provider().get().await {
        Ok(provider) => provider,
        Err(_) if lenient => return Ok(()),
        Err(error) => return Err(Refusal::Unavailable(error)),
    };
    if !id_known {
        match provider.jwks.verify(&session.id_token).await {
            Ok(verified) => {
                names_this_session(&verified.claims, session, inner, &provider.metadata.issuer)
                    .map_err(|reason| Refusal::Invalid(format!("stored ID token: {reason}")))?;
                inner
                    .verified_tokens()
                    .insert_id_token(&session.id_token, &verified.claims);
            }
            Err(error) => {
                if unverifiable(error, lenient, "stored ID token")? {
                    inner
                        .verified_tokens()
                        .insert_id_token(&session.id_token, &unverified_claims(session));
                }
            }
        }
    }
    if !access_known {
        match provider.jwks.verify(&session.access_token).await {
            Ok(_) => inner
                .verified_tokens()
                .insert_access_token(&session.access_token),
            Err(error) => {
                if unverifiable(error, lenient, "stored access token")? {
                    inner
                        .verified_tokens()
                        .insert_access_token(&session.access_token);
                }
            }
        }
    }
    Ok(())
}

/// The verdict on a token that did not verify, in a session keyed by `session.secret` when
/// `lenient`: `Ok(true)` (accepted, remembered: the key will not come back) for a key retired
/// by the provider, `Ok(false)` (accepted this time, verified on the next request) when the
/// keys could not be read.
fn unverifiable(error: JwksError, lenient: bool, what: &str) -> Result<bool, Refusal> {
    match error {
        JwksError::Token(JwtError::UnknownKey(_)) if lenient => Ok(true),
        JwksError::Token(JwtError::UnknownKey(_)) => Err(Refusal::Invalid(format!(
            "{what} is signed with a key the provider no longer publishes, and the session key derives from the client secret"
        ))),
        JwksError::Token(token) => Err(Refusal::Invalid(format!("{what}: {token}"))),
        JwksError::Fetch(_) if lenient => Ok(false),
        JwksError::Fetch(provider) => Err(Refusal::Unavailable(AuthError::Provider(provider))),
    }
}

/// The claims of the session's ID token, read without verification (for a token accepted
/// under the rules above, whose sub and sid must still match the session's to count).
fn unverified_claims(session: &Session) -> Map<String, Value> {
    crate::shared::jwt::trusted_claims(&session.id_token).unwrap_or_default()
}

/// True when the verified ID token `claims` are this client's and name the session's subject.
fn names_this_session(
    claims: &Map<String, Value>,
    session: &Session,
    inner: &Inner,
    issuer: &str,
) -> Result<(), &'static str> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("iss") != Some(issuer) {
        return Err("iss is not the issuer");
    }
    let for_us = match claims.get("aud") {
        Some(Value::String(aud)) => aud == inner.client_id(),
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(inner.client_id())),
        _ => false,
    };
    if !for_us {
        return Err("aud does not contain the client id");
    }
    if text("sub") != Some(session.sub.as_str()) {
        return Err("sub is not the session's");
    }
    if let Some(sid) = text("sid") {
        if session.sid.as_deref() != Some(sid) {
            return Err("sid is not the session's");
        }
    }
    Ok(())
}
