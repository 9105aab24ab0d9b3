//! The provider's signing keys (JWKS), cached, with one rate-limited refetch when a token names
//! a key we do not know — so that key rotation at the provider needs no restart, while a flood
//! of tokens with made-up `kid`s cannot turn the gateway into a JWKS-fetching amplifier.
//!
//! What it protects against, and how:
//! - forged tokens: only keys fetched from the provider's `jwks_uri` (over the middleware's
//!   provider client) ever verify a signature; symmetric keys are dropped when the set is
//!   loaded;
//! - refetch storms: an unknown `kid` triggers at most one refetch per
//!   [`JwksCache::refetch_interval`], and concurrent refetches are merged into one;
//! - ambiguity: a token without `kid` is tried against every key fitting its algorithm (at most
//!   [`MAX_KEYS_TRIED`]), which only ever accepts a signature made by a published key.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex as AsyncMutex;
use url::Url;

use super::jwt::{self, Jwk, JwtError, UnverifiedJwt};
use super::provider_client::{ProviderClient, ProviderError};

/// Default shortest time between two refetches caused by unknown keys.
pub const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// Most keys tried for a token without `kid`.
pub const MAX_KEYS_TRIED: usize = 8;

/// Why a token could not be checked against the JWKS.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The JWKS could not be fetched (maps to 502/504).
    #[error("JWKS unavailable: {0}")]
    Fetch(#[from] ProviderError),
    /// The token is refused (maps to 401).
    #[error(transparent)]
    Token(#[from] JwtError),
}

#[derive(Deserialize)]
struct JwkSetDocument {
    keys: Vec<Value>,
}

#[derive(Debug, Default)]
struct State {
    keys: Arc<Vec<Jwk>>,
    loaded: bool,
    last_fetch: Option<Instant>,
}

/// The cached key set of one provider.
#[derive(Debug)]
pub struct JwksCache {
    client: ProviderClient,
    uri: Url,
    refetch_interval: Duration,
    state: Mutex<State>,
    fetch_lock: AsyncMutex<()>,
}

impl JwksCache {
    /// A cache for `uri`; nothing is fetched until a token needs a key.
    pub fn new(client: ProviderClient, uri: Url) -> Self {
        Self {
            client,
            uri,
            refetch_interval: DEFAULT_REFETCH_INTERVAL,
            state: Mutex::new(State::default()),
            fetch_lock: AsyncMutex::new(()),
        }
    }

    /// Changes the shortest time between unknown-key refetches.
    #[must_use]
    pub fn with_refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// The shortest time between two refetches caused by unknown keys.
    pub fn refetch_interval(&self) -> Duration {
        self.refetch_interval
    }

    /// Decodes `token` and verifies its signature with a published key.
    pub async fn verify(&self, token: &str) -> Result<UnverifiedJwt, JwksError> {
        let jwt = jwt::decode(token)?;
        let keys = self.keys(false).await?;
        match verify_with(&jwt, &keys) {
            Err(JwtError::UnknownKey(_)) => {}
            other => return other.map(|()| jwt).map_err(JwksError::from),
        }
        // A key we have never seen: the provider may have rotated. Refetch once (rate-limited)
        // and try again.
        let keys = self.keys(true).await?;
        verify_with(&jwt, &keys)?;
        Ok(jwt)
    }

    /// The current keys; `refresh` asks for a refetch, granted when the last fetch is older
    /// than the refetch interval.
    async fn keys(&self, refresh: bool) -> Result<Arc<Vec<Jwk>>, ProviderError> {
        if let Some(keys) = self.cached(refresh) {
            return Ok(keys);
        }
        let _guard = self.fetch_lock.lock().await;
        // Someone else may have fetched while we waited.
        if let Some(keys) = self.cached(refresh) {
            return Ok(keys);
        }
        let started = Instant::now();
        let fetched = self.client.get_json::<JwkSetDocument>(&self.uri).await;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.last_fetch = Some(started);
        let document = fetched?;
        let keys: Vec<Jwk> = document
            .keys
            .into_iter()
            .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
            .filter(|key| matches!(key.kty.as_str(), "RSA" | "EC" | "OKP"))
            .collect();
        tracing::debug!(uri = %self.uri, keys = keys.len(), "JWKS loaded");
        state.keys = Arc::new(keys);
        state.loaded = true;
        Ok(Arc::clone(&state.keys))
    }

    /// The cached keys when they can be used as they are.
    fn cached(&self, refresh: bool) -> Option<Arc<Vec<Jwk>>> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let recently = state
            .last_fetch
            .is_some_and(|at| at.elapsed() < self.refetch_interval);
        let usable = state.loaded && (!refresh || recently);
        // After a failed first fetch, wait for the interval before asking again only when a
        // refresh was asked for; a plain lookup retries so a recovered provider is seen.
        usable.then(|| Arc::clone(&state.keys))
    }
}

/// Verifies `jwt` with the key its `kid` names, or with each fitting key when it names none.
pub fn verify_with(jwt: &UnverifiedJwt, keys: &[Jwk]) -> Result<(), JwtError> {
    let alg = jwt.header.alg;
    match &jwt.header.kid {
        Some(kid) => {
            let key = keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid.as_str()) && k.fits(alg))
                .ok_or_else(|| JwtError::UnknownKey(Some(kid.clone())))?;
            jwt.verify(key)
        }
        None => {
            let mut fitting = keys
                .iter()
                .filter(|k| k.fits(alg))
                .take(MAX_KEYS_TRIED)
                .peekable();
            if fitting.peek().is_none() {
                return Err(JwtError::UnknownKey(None));
            }
            if fitting.any(|key| jwt.verify(key).is_ok()) {
                Ok(())
            } else {
                Err(JwtError::BadSignature)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_support::TestKey;

    #[test]
    fn kid_selects_the_key_and_unknown_kids_are_reported() {
        let a = TestKey::ec("a");
        let b = TestKey::ec("b");
        let keys = vec![a.jwk(), b.jwk()];
        let token = b.sign(&json!({"sub": "x"}));
        assert_eq!(verify_with(&jwt::decode(&token).unwrap(), &keys), Ok(()));
        let c = TestKey::ec("c");
        let token = c.sign(&json!({"sub": "x"}));
        assert_eq!(
            verify_with(&jwt::decode(&token).unwrap(), &keys),
            Err(JwtError::UnknownKey(Some("c".into())))
        );
    }

    #[test]
    fn without_kid_every_fitting_key_is_tried() {
        let a = TestKey::ec("a");
        let b = TestKey::ec("b");
        let keys = vec![a.jwk(), b.jwk()];
        let token = b.sign_with_header(&json!({"alg": "ES256"}), &json!({"sub": "x"}));
        assert_eq!(verify_with(&jwt::decode(&token).unwrap(), &keys), Ok(()));
        let stranger = TestKey::ec("s");
        let token = stranger.sign_with_header(&json!({"alg": "ES256"}), &json!({"sub": "x"}));
        assert_eq!(
            verify_with(&jwt::decode(&token).unwrap(), &keys),
            Err(JwtError::BadSignature)
        );
        let token = TestKey::ed("e").sign_with_header(&json!({"alg": "EdDSA"}), &json!({}));
        assert_eq!(
            verify_with(&jwt::decode(&token).unwrap(), &keys),
            Err(JwtError::UnknownKey(None))
        );
    }
}
