//! ID tokens (OpenID Connect Core 1.0 section 2), JWT access tokens (RFC 9068) and logout tokens
//! (Back-Channel Logout 1.0 section 2.4), with the ID-token faults applied at the one place
//! tokens are made.
//!
//! Protocol claims always win over configured custom claims of the same name, so a user's claims
//! cannot accidentally change `sub`, `aud` or `exp`.

use std::sync::Arc;

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::clock::secs;
use crate::config::{Alg, ClientSpec, UserSpec};
use crate::error::DevIdpError;
use crate::faults::{
    Active, EXTRA_AUDIENCE, FAULT_TIME_SHIFT, Fault, NONCE_MISMATCH_SUFFIX, PublicKeyForm,
    WRONG_AUDIENCE, WRONG_ISSUER,
};
use crate::jwt::{self, Signer};
use crate::keys::{SigningKey, random_hex};
use crate::state::{Provider, lock};

/// The `events` member that makes a JWT a back-channel logout token.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How long a logout token is valid.
const LOGOUT_TOKEN_TTL_SECS: i64 = 120;

/// What an ID token is about.
pub(crate) struct IdTokenInput<'a> {
    pub(crate) client: &'a ClientSpec,
    pub(crate) user: &'a UserSpec,
    pub(crate) sid: &'a str,
    pub(crate) auth_time: i64,
    pub(crate) nonce: Option<&'a str>,
    pub(crate) access_token: Option<&'a str>,
}

/// Left half of SHA-256 of the access token, base64url: `at_hash` for RS256 and ES256.
fn at_hash(access_token: &str) -> String {
    let hash = digest::digest(&digest::SHA256, access_token.as_bytes());
    let bytes = hash.as_ref();
    URL_SAFE_NO_PAD.encode(bytes.get(..bytes.len() / 2).unwrap_or(bytes))
}

fn signing_key(provider: &Provider, alg: Alg) -> Result<Arc<SigningKey>, DevIdpError> {
    lock(&provider.keys)
        .signing_key(alg)
        .ok_or_else(|| DevIdpError::KeyState(format!("no signing key for {}", alg.as_str())))
}

/// Signs an ID token for the input, applying the active faults.
pub(crate) fn id_token(
    provider: &Provider,
    input: &IdTokenInput<'_>,
    faults: &Active,
) -> Result<String, DevIdpError> {
    let now = provider.clock.now_secs();
    let ttl = secs(provider.config.lifetimes.id_token);
    let shift = secs(FAULT_TIME_SHIFT);
    let client_id = input.client.id.as_str();

    let mut claims: Map<String, Value> = input.user.claims.clone();
    let (mut iat, mut exp) = (now, now.saturating_add(ttl));
    if faults.has(&Fault::IdTokenExpired) {
        exp = now.saturating_sub(shift);
        iat = exp.saturating_sub(ttl);
    }
    if faults.has(&Fault::IdTokenIssuedInFuture) {
        iat = now.saturating_add(shift);
        exp = iat.saturating_add(ttl);
    }
    let iss = if faults.has(&Fault::IdTokenWrongIssuer) {
        WRONG_ISSUER
    } else {
        provider.issuer.as_str()
    };
    claims.insert("iss".into(), iss.into());
    if !faults.has(&Fault::IdTokenMissingSub) {
        claims.insert("sub".into(), input.user.effective_sub().into());
    } else {
        claims.remove("sub");
    }
    let aud = if faults.has(&Fault::IdTokenWrongAudience) {
        json!(WRONG_AUDIENCE)
    } else if faults.has(&Fault::IdTokenExtraAudienceWithoutAzp) {
        json!([client_id, EXTRA_AUDIENCE])
    } else {
        json!(client_id)
    };
    claims.insert("aud".into(), aud);
    if faults.has(&Fault::IdTokenExtraAudienceWithoutAzp) {
        claims.remove("azp");
    } else {
        claims.insert("azp".into(), client_id.into());
    }
    claims.insert("iat".into(), iat.into());
    claims.insert("exp".into(), exp.into());
    claims.insert("auth_time".into(), input.auth_time.into());
    claims.insert("sid".into(), input.sid.into());
    claims.insert("jti".into(), random_hex(16).into());
    let nonce = if faults.has(&Fault::IdTokenNonceMissing) {
        None
    } else if faults.has(&Fault::IdTokenNonceMismatch) {
        Some(format!(
            "{}{NONCE_MISMATCH_SUFFIX}",
            input.nonce.unwrap_or_default()
        ))
    } else {
        input.nonce.map(str::to_owned)
    };
    match nonce {
        Some(nonce) => claims.insert("nonce".into(), nonce.into()),
        None => claims.remove("nonce"),
    };
    if let Some(token) = input.access_token {
        claims.insert("at_hash".into(), at_hash(token).into());
    }
    sign_id_token(
        provider,
        input.client.id_token_signing_alg,
        &claims.into(),
        faults,
    )
}

fn sign_id_token(
    provider: &Provider,
    alg: Alg,
    claims: &Value,
    faults: &Active,
) -> Result<String, DevIdpError> {
    let typ = Some("JWT");
    if faults.has(&Fault::IdTokenAlgNone) {
        return jwt::encode(typ, claims, &Signer::Unsigned);
    }
    if let Some(form) = faults.hs256_form() {
        let rsa = signing_key(provider, Alg::RS256)?;
        let secret = match form {
            PublicKeyForm::Pem => rsa.public_pem().into_bytes(),
            PublicKeyForm::Der => rsa.public_der().to_vec(),
        };
        return jwt::encode(typ, claims, &Signer::Hs256(&secret));
    }
    let key = if faults.has(&Fault::IdTokenUnpublishedKid) {
        lock(&provider.keys).pending_key(alg)?
    } else {
        signing_key(provider, alg)?
    };
    let with_kid = !faults.has(&Fault::IdTokenKidAbsent);
    if !with_kid {
        // Without a kid the relying party cannot pick among several keys: make sure there are.
        lock(&provider.keys).ensure_published(alg, 2)?;
    }
    let token = jwt::encode(
        typ,
        claims,
        &Signer::Key {
            key: &key,
            with_kid,
        },
    )?;
    if faults.has(&Fault::IdTokenBadSignature) {
        return Ok(jwt::corrupt_signature(&token));
    }
    Ok(token)
}

/// Who an access token is for.
pub(crate) struct AccessTokenInput<'a> {
    pub(crate) client: &'a ClientSpec,
    /// `None` for client credentials: `sub` is then the client id.
    pub(crate) user: Option<&'a UserSpec>,
    pub(crate) scope: &'a str,
    pub(crate) audience: String,
    pub(crate) sid: Option<&'a str>,
    pub(crate) auth_time: Option<i64>,
}

/// Signs an RFC 9068 access token. Returns the token and its lifetime in seconds.
pub(crate) fn access_token(
    provider: &Provider,
    input: &AccessTokenInput<'_>,
) -> Result<(String, i64), DevIdpError> {
    let now = provider.clock.now_secs();
    let ttl = secs(provider.config.lifetimes.access_token);
    let mut claims: Map<String, Value> = input.user.map(|u| u.claims.clone()).unwrap_or_default();
    claims.extend(input.client.access_token_claims.clone());
    let sub = input
        .user
        .map_or(input.client.id.as_str(), UserSpec::effective_sub);
    claims.insert("iss".into(), provider.issuer.clone().into());
    claims.insert("sub".into(), sub.into());
    claims.insert("aud".into(), input.audience.clone().into());
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), now.saturating_add(ttl).into());
    claims.insert("jti".into(), random_hex(16).into());
    claims.insert("client_id".into(), input.client.id.clone().into());
    if input.scope.is_empty() {
        claims.remove("scope");
    } else {
        claims.insert("scope".into(), input.scope.into());
    }
    if let Some(sid) = input.sid {
        claims.insert("sid".into(), sid.into());
    }
    if let Some(auth_time) = input.auth_time {
        claims.insert("auth_time".into(), auth_time.into());
    }
    let key = signing_key(provider, input.client.id_token_signing_alg)?;
    let token = jwt::encode(
        Some("at+jwt"),
        &claims.into(),
        &Signer::Key {
            key: &key,
            with_kid: true,
        },
    )?;
    Ok((token, ttl))
}

/// Signs a logout token for one client about a subject and/or a provider session.
pub(crate) fn logout_token(
    provider: &Provider,
    client: &ClientSpec,
    sub: Option<&str>,
    sid: Option<&str>,
) -> Result<String, DevIdpError> {
    let now = provider.clock.now_secs();
    let mut claims = Map::new();
    claims.insert("iss".into(), provider.issuer.clone().into());
    claims.insert("aud".into(), client.id.clone().into());
    claims.insert("iat".into(), now.into());
    claims.insert(
        "exp".into(),
        now.saturating_add(LOGOUT_TOKEN_TTL_SECS).into(),
    );
    claims.insert("jti".into(), random_hex(16).into());
    claims.insert("events".into(), json!({ BACKCHANNEL_LOGOUT_EVENT: {} }));
    if let Some(sub) = sub {
        claims.insert("sub".into(), sub.into());
    }
    if let Some(sid) = sid {
        claims.insert("sid".into(), sid.into());
    }
    let key = signing_key(provider, client.id_token_signing_alg)?;
    jwt::encode(
        Some("logout+jwt"),
        &claims.into(),
        &Signer::Key {
            key: &key,
            with_kid: true,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_the_spec_example_shape() {
        // 16 bytes of SHA-256, base64url without padding.
        assert_eq!(at_hash("token").len(), 22);
        assert_ne!(at_hash("token"), at_hash("token2"));
    }
}
