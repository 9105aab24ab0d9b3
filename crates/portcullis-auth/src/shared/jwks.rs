//! The provider's signing keys (JWKS), cached, and refetched when a token names a key we do not
//! know, so that key rotation at the provider needs no restart.
//!
//! What it protects against, and how:
//! - forged tokens: only keys fetched from the provider's `jwks_uri` (over the middleware's
//!   provider client) ever verify a signature; symmetric keys are dropped when the set is
//!   loaded;
//! - refetch storms from tokens anyone can present (logout tokens, which anyone can POST): an
//!   unknown `kid` in such a token triggers at most one fetch per
//!   [`JwksCache::refetch_interval`], and so does a failed fetch: while the provider's JWKS
//!   endpoint fails, even before any fetch has succeeded, it is asked once per interval, not
//!   once per token ([`JwksCache::verify`]);
//! - logins failing after a key rotation: an ID token comes from the token endpoint over the
//!   back channel, in exchange for a code only a real login produces, so its unknown `kid` is
//!   looked up at once, even right after a fetch ([`JwksCache::verify_from_token_endpoint`]);
//! - duplicate fetches: concurrent fetches are merged into one; whoever waited for a fetch that
//!   finished meanwhile uses its outcome;
//! - ambiguity: a token without `kid` is tried against every key fitting its algorithm (at most
//!   [`MAX_KEYS_TRIED`]), which only ever accepts a signature made by a published key.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex as AsyncMutex;
use url::Url;

use super::jwt::{self, Jwk, JwtError, UnverifiedJwt};
use super::provider_client::{ProviderClient, ProviderError};
use crate::clock::{Clock, SystemClock};

/// Default shortest time between two fetches caused by unknown keys or failures.
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

/// Whether an unknown `kid` (or a recent failure) may cause a fetch right away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Urgency {
    /// The token came from the token endpoint: fetch now.
    Now,
    /// Anyone can present the token: at most one fetch per refetch interval.
    RateLimited,
}

#[derive(Debug, Default)]
struct State {
    keys: Arc<Vec<Jwk>>,
    loaded: bool,
    /// When the last fetch started (clock seconds), whatever its outcome.
    last_attempt: Option<i64>,
    /// Why the last fetch failed; `None` after a success.
    last_error: Option<ProviderError>,
    /// Fetches finished so far: a caller that saw generation `g` and finds a larger one knows
    /// a fetch ended after its look, and uses its outcome instead of fetching again.
    generation: u64,
}

/// Keys as one verification obtained them.
struct Obtained {
    keys: Arc<Vec<Jwk>>,
    generation: u64,
    /// A fetch ended while this verification was running (it made it or waited for it).
    fresh: bool,
}

/// The cached key set of one provider.
#[derive(Debug)]
pub struct JwksCache {
    client: ProviderClient,
    uri: Url,
    refetch_interval: Duration,
    clock: Arc<dyn Clock>,
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
            clock: Arc::new(SystemClock),
            state: Mutex::new(State::default()),
            fetch_lock: AsyncMutex::new(()),
        }
    }

    /// Changes the shortest time between rate-limited fetches.
    #[must_use]
    pub fn with_refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// Changes the clock the refetch interval is measured with.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The shortest time between two rate-limited fetches.
    pub fn refetch_interval(&self) -> Duration {
        self.refetch_interval
    }

    /// Decodes `token` and verifies its signature with a published key. For tokens anyone can
    /// present: an unknown `kid`, or a failed fetch, leads to at most one fetch per refetch
    /// interval.
    pub async fn verify(&self, token: &str) -> Result<UnverifiedJwt, JwksError> {
        self.verify_as(token, Urgency::RateLimited).await
    }

    /// [`JwksCache::verify`] for a token the token endpoint has just answered (an ID token):
    /// an unknown `kid` is looked up at once, sharing a fetch already under way.
    pub async fn verify_from_token_endpoint(
        &self,
        token: &str,
    ) -> Result<UnverifiedJwt, JwksError> {
        self.verify_as(token, Urgency::Now).await
    }

    async fn verify_as(&self, token: &str, urgency: Urgency) -> Result<UnverifiedJwt, JwksError> {
        let jwt = jwt::decode(token)?;
        let first = self.keys(None, urgency).await?;
        match verify_with(&jwt, &first.keys) {
            Err(JwtError::UnknownKey(_)) if !first.fresh => {}
            other => return other.map(|()| jwt).map_err(JwksError::from),
        }
        // A key we have never seen: the provider may have rotated. Look again (now, or within
        // the rate limit) and try once more.
        let again = self.keys(Some(first.generation), urgency).await?;
        verify_with(&jwt, &again.keys)?;
        Ok(jwt)
    }

    /// Keys to verify with. `stale` is the generation of keys that lacked the token's key (a
    /// newer set is wanted), `None` for a first look.
    async fn keys(&self, stale: Option<u64>, urgency: Urgency) -> Result<Obtained, ProviderError> {
        let observed = match self.without_fetch(stale, urgency) {
            Ok(answer) => return answer,
            Err(observed) => observed,
        };
        let _guard = self.fetch_lock.lock().await;
        // A fetch that ended while we waited for the lock is ours too.
        if let Some(answer) = self.finished_since(observed) {
            return answer;
        }
        self.fetch().await
    }

    /// The answer when no fetch is due, or `Err(generation)`: fetch, unless a fetch newer than
    /// that generation ends in the meantime.
    fn without_fetch(
        &self,
        stale: Option<u64>,
        urgency: Urgency,
    ) -> Result<Result<Obtained, ProviderError>, u64> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match stale {
            Some(seen) if state.generation > seen => return Ok(outcome(&state)),
            None if state.loaded => return Ok(Ok(current(&state, false))),
            _ => {}
        }
        if urgency == Urgency::Now || !self.attempted_recently(&state) {
            return Err(state.generation);
        }
        // Within the interval, the last fetch's result stands: the keys it left (which lack
        // this token's key) or, when none ever loaded, its failure.
        Ok(match &state.last_error {
            Some(error) if !state.loaded => Err(error.clone()),
            _ => Ok(current(&state, false)),
        })
    }

    /// The outcome of a fetch that ended after generation `observed`, if one did.
    fn finished_since(&self, observed: u64) -> Option<Result<Obtained, ProviderError>> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        (state.generation > observed).then(|| outcome(&state))
    }

    fn attempted_recently(&self, state: &State) -> bool {
        // Whole seconds (the clock's unit), rounded up so that a short interval still counts.
        let interval = i64::try_from(self.refetch_interval.as_secs())
            .unwrap_or(i64::MAX)
            .saturating_add(i64::from(self.refetch_interval.subsec_nanos() > 0));
        let now = self.clock.now();
        state
            .last_attempt
            .is_some_and(|at| now.saturating_sub(at) < interval)
    }

    /// Fetches the key set; called with the fetch lock held.
    async fn fetch(&self) -> Result<Obtained, ProviderError> {
        let started = self.clock.now();
        let fetched = self.client.get_json::<JwkSetDocument>(&self.uri).await;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.last_attempt = Some(started);
        state.generation = state.generation.saturating_add(1);
        let document = match fetched {
            Ok(document) => document,
            Err(error) => {
                tracing::warn!(uri = %self.uri, %error, "JWKS fetch failed");
                state.last_error = Some(error.clone());
                return Err(error);
            }
        };
        let keys: Vec<Jwk> = document
            .keys
            .into_iter()
            .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
            .filter(|key| matches!(key.kty.as_str(), "RSA" | "EC" | "OKP"))
            .collect();
        tracing::debug!(uri = %self.uri, keys = keys.len(), "JWKS loaded");
        state.keys = Arc::new(keys);
        state.loaded = true;
        state.last_error = None;
        Ok(current(&state, true))
    }
}

/// The keys as they are.
fn current(state: &State, fresh: bool) -> Obtained {
    Obtained {
        keys: Arc::clone(&state.keys),
        generation: state.generation,
        fresh,
    }
}

/// What the last fetch left, for a caller that waited for it.
fn outcome(state: &State) -> Result<Obtained, ProviderError> {
    match &state.last_error {
        Some(error) => Err(error.clone()),
        None => Ok(current(state, true)),
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
mod tests;
