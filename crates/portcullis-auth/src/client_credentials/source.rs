//! Where a request's token comes from: the cache, or one shared call to the provider.
//!
//! What it protects against, and how:
//! - stampedes: concurrent misses for one cache key join one provider call (single flight); the
//!   call runs as its own task, so a caller that disconnects does not cancel it for the others;
//! - a provider outage becoming a gateway outage: a token is renewed in the background from
//!   `refresh_at` on, while the cached one keeps being served; if the provider is down, the
//!   cached token is served until its `expires_at`;
//! - revoked credentials living on: when the provider rejects a key's credentials, that key's
//!   cached token is forgotten at once;
//! - callers making the gateway call the provider for them without end (caller mode): refused
//!   credentials are answered from memory for a while, and the exchanges of one client id are
//!   bounded ([`super::caller_limits`]);
//! - expired tokens: a token is cached until shortly before its expiry (`expires_in`, else the
//!   JWT's `exp`, else [`DEFAULT_LIFETIME`]), renewed [`schedule`]'s margin earlier, and never
//!   served in its last second, which is left for the trip to the upstream.
//!
//! Nothing reacts to the upstream's answers: an upstream's 401 says nothing about the token's
//! validity at the provider, so it neither evicts nor renews the cached token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};

use super::ClientSecretPair;
use super::cache_key::CacheKey;
use super::cached_token::{CachedToken, TokenClaims};
use super::caller_limits::{CallerLimits, ExchangeSlot};
use super::error::ObtainError;
use super::token_endpoint::{TokenAnswer, TokenEndpoint};
use super::token_store::TokenStore;
use super::trust::ClaimsReader;
use crate::clock::Clock;
use crate::shared::jwt;

/// Lifetime assumed when the provider gives neither `expires_in` nor a JWT `exp`.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);
/// Longest time a token is cached, whatever its lifetime.
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Largest renewal margin.
pub const MAX_MARGIN: Duration = Duration::from_secs(30);

type Flight = Shared<BoxFuture<'static, Result<CachedToken, ObtainError>>>;

/// Cache, provider and claims reading of one middleware.
pub struct TokenSource {
    middleware: String,
    endpoint: TokenEndpoint,
    /// `Some` when an option reads the token's claims.
    claims_reader: Option<ClaimsReader>,
    store: TokenStore,
    flights: Mutex<HashMap<CacheKey, Flight>>,
    clock: Arc<dyn Clock>,
    /// `Some` in caller mode.
    caller_limits: Option<Arc<CallerLimits>>,
    metrics: portcullis_proxy::metrics::AuthMetrics,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("middleware", &self.middleware)
            .field("endpoint", &self.endpoint)
            .field("store", &self.store)
            .field("in_flight", &self.flights().len())
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    pub fn new(
        middleware: &str,
        endpoint: TokenEndpoint,
        claims_reader: Option<ClaimsReader>,
        store: TokenStore,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            middleware: middleware.to_owned(),
            endpoint,
            claims_reader,
            store,
            flights: Mutex::new(HashMap::new()),
            clock,
            caller_limits: None,
            metrics: Default::default(),
        }
    }

    /// Counts token cache hits and misses in `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: portcullis_proxy::metrics::AuthMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Applies the limits of caller mode ([`super::caller_limits`]).
    #[must_use]
    pub fn with_caller_limits(mut self) -> Self {
        self.caller_limits = Some(Arc::new(CallerLimits::new(Arc::clone(&self.clock))));
        self
    }

    /// A token for `credentials`, from the cache when it holds a usable one.
    pub async fn token(
        self: &Arc<Self>,
        key: &CacheKey,
        credentials: &Arc<ClientSecretPair>,
    ) -> Result<CachedToken, ObtainError> {
        if let Some(refusal) = self
            .caller_limits
            .as_ref()
            .and_then(|limits| limits.remembered_refusal(key))
        {
            return Err(refusal);
        }
        let now = self.clock.now();
        let cached = self.store.get(key).await?;
        self.metrics.token_cache(&self.middleware, cached.is_some());
        if let Some(cached) = cached {
            if now >= cached.refresh_at {
                // Due for renewal but still valid: renew in the background and serve it
                // meanwhile. The flight runs as its own task; dropping the handle is fine. In
                // caller mode, the renewal is skipped when the client id has no free slot.
                let slot = match &self.caller_limits {
                    Some(limits) => limits.try_slot(&credentials.client_id).map(Some),
                    None => Some(None),
                };
                if let Some(slot) = slot {
                    drop(self.flight(key, credentials, slot));
                }
            }
            return Ok(cached);
        }
        if let Some(running) = self.running(key) {
            return running.await;
        }
        let slot = match &self.caller_limits {
            Some(limits) => Some(limits.slot(&credentials.client_id).await?),
            None => None,
        };
        self.flight(key, credentials, slot).await
    }

    /// The provider call running for `key`, if any.
    fn running(&self, key: &CacheKey) -> Option<Flight> {
        self.flights().get(key).cloned()
    }

    /// The provider call for `key`: the one already running, or a new one holding `slot` until
    /// it ends.
    fn flight(
        self: &Arc<Self>,
        key: &CacheKey,
        credentials: &Arc<ClientSecretPair>,
        slot: Option<ExchangeSlot>,
    ) -> Flight {
        let mut flights = self.flights();
        if let Some(running) = flights.get(key) {
            return running.clone();
        }
        let guard = FlightGuard {
            source: Arc::clone(self),
            key: key.clone(),
        };
        let credentials = Arc::clone(credentials);
        let task = tokio::spawn(async move {
            let outcome = guard.source.renew(&guard.key, &credentials).await;
            drop(slot);
            if let (Err(error), Some(limits)) = (&outcome, &guard.source.caller_limits) {
                limits.remember(&guard.key, error);
            }
            outcome
        });
        let flight = async move {
            task.await.unwrap_or_else(|e| {
                Err(ObtainError::Internal(format!(
                    "the token request task failed: {e}"
                )))
            })
        }
        .boxed()
        .shared();
        flights.insert(key.clone(), flight.clone());
        flight
    }

    fn flights(&self) -> MutexGuard<'_, HashMap<CacheKey, Flight>> {
        // Every operation on the map is a single insert, lookup or remove: it stays consistent.
        self.flights.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks the provider for a token and caches it.
    async fn renew(
        &self,
        key: &CacheKey,
        credentials: &ClientSecretPair,
    ) -> Result<CachedToken, ObtainError> {
        let started = self.clock.now();
        // A flight that ended just before this one began may have cached a fresh token.
        if let Some(cached) = self.store.get(key).await? {
            if started < cached.refresh_at {
                return Ok(cached);
            }
        }
        let answer = match self.endpoint.request(credentials).await {
            Ok(answer) => answer,
            Err(error) => {
                if matches!(error, ObtainError::Rejected(_)) {
                    if let Err(store_error) = self.store.remove(key).await {
                        tracing::warn!(middleware = %self.middleware, error = %store_error, "cannot forget a rejected client's token");
                    }
                }
                return Err(error);
            }
        };
        let claims = match &self.claims_reader {
            Some(reader) => reader.read(&answer.access_token).await?,
            None => TokenClaims::NotRead,
        };
        let lifetime = lifetime_seconds(&answer, &claims, started);
        let (refresh_at, expires_at) = schedule(started, lifetime);
        let token = CachedToken {
            access_token: answer.access_token.expose().into(),
            claims,
            refresh_at,
            expires_at,
        };
        tracing::debug!(
            middleware = %self.middleware,
            lifetime,
            cached = expires_at > started,
            "access token obtained"
        );
        if expires_at > started {
            if let Err(error) = self.store.put(key, &token).await {
                // The token is still good for the requests waiting for it.
                tracing::warn!(middleware = %self.middleware, %error, "cannot cache the access token");
            }
        }
        Ok(token)
    }
}

/// Removes a flight from the map when its task ends, even if the task panicked, so that a key
/// never stays attached to a finished call.
struct FlightGuard {
    source: Arc<TokenSource>,
    key: CacheKey,
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        self.source.flights().remove(&self.key);
    }
}

/// The token's lifetime in seconds from `started`: `expires_in`, else the JWT's `exp`, else
/// [`DEFAULT_LIFETIME`].
fn lifetime_seconds(answer: &TokenAnswer, claims: &TokenClaims, started: i64) -> i64 {
    if let Some(seconds) = answer.expires_in {
        return seconds;
    }
    let exp = match claims {
        TokenClaims::Jwt(claims) => claims.get("exp").and_then(serde_json::Value::as_i64),
        // Read without verification: it only decides how long the token is cached.
        TokenClaims::NotRead => jwt::trusted_claims(&answer.access_token)
            .and_then(|claims| claims.get("exp").and_then(serde_json::Value::as_i64)),
        TokenClaims::Opaque => None,
    };
    match exp {
        Some(exp) => exp.saturating_sub(started),
        None => seconds(DEFAULT_LIFETIME),
    }
}

/// `(refresh_at, expires_at)` for a token obtained at `started` that lives `lifetime` seconds:
/// renewal starts 10% of the lifetime before the end (at least 1 s, at most [`MAX_MARGIN`]),
/// and the last second is never served. A lifetime of one second or less is not cached.
pub fn schedule(started: i64, lifetime: i64) -> (i64, i64) {
    let lifetime = lifetime.clamp(0, seconds(MAX_LIFETIME));
    let margin = (lifetime.saturating_add(9) / 10).clamp(1, seconds(MAX_MARGIN));
    let end = started.saturating_add(lifetime);
    (end.saturating_sub(margin), end.saturating_sub(1))
}

fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_starts_ten_percent_early_within_bounds() {
        assert_eq!(schedule(1_000, 300), (1_270, 1_299));
        assert_eq!(schedule(1_000, 3_600), (4_570, 4_599));
        assert_eq!(schedule(1_000, 60), (1_054, 1_059));
        assert_eq!(schedule(1_000, 5), (1_004, 1_004));
        // Too short to cache: expires_at is not after the start.
        assert_eq!(schedule(1_000, 1), (1_000, 1_000));
        assert_eq!(schedule(1_000, -5), (999, 999));
        assert_eq!(schedule(0, i64::MAX).1, 86_399);
    }

    #[test]
    fn lifetime_prefers_expires_in_then_exp() {
        let answer = |expires_in| TokenAnswer {
            access_token: "opaque".into(),
            expires_in,
        };
        let jwt = TokenClaims::Jwt(Arc::new(serde_json::json!({"exp": 1_120})));
        assert_eq!(lifetime_seconds(&answer(Some(30)), &jwt, 1_000), 30);
        assert_eq!(lifetime_seconds(&answer(None), &jwt, 1_000), 120);
        assert_eq!(
            lifetime_seconds(&answer(None), &TokenClaims::Opaque, 1_000),
            60
        );
        assert_eq!(
            lifetime_seconds(&answer(None), &TokenClaims::NotRead, 1_000),
            60
        );
    }
}
