//! Traefik's `rateLimit`: a token bucket per source, `average` requests per `period` with
//! bursts of `burst`.
//!
//! Protects upstreams from a source that sends too much. As Traefik, a request that is early by
//! at most a little (half the time between two tokens, at most 500 ms when the rate is below one
//! a second) waits for its token; one earlier than that gets 429 with `Retry-After` (whole
//! seconds, rounded up) and `X-Retry-In`. Memory stays bounded whatever the number of sources:
//! each of the shards holds at most its share of [`MAX_SOURCES`]; a full shard first forgets
//! buckets that have refilled (forgetting them changes nothing), then, under a flood of distinct
//! sources, arbitrary ones (those sources get a fresh bucket).
//!
//! With `redis`, the bucket lives in Redis (single server, or Cluster when several endpoints
//! are listed, as Traefik's client does) and every replica takes from the same one; its
//! schedule runs on the Redis server's clock. A Redis outage answers 503 rather than letting
//! requests through unlimited or refusing them all as over the limit.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use http::{HeaderValue, Request, Response, StatusCode, header};
use portcullis_config::middleware_traffic::{RateLimitConfig, SourceCriterion};

use portcullis_config::LocalResolver;
use portcullis_store::{LazyRedis, TokenGrant};

use super::client_ip::source;
use crate::body::{self, Body};
use crate::error::{ErrorKind, GatewayError};
use crate::middleware::{Decision, Middleware, RequestContext};

/// Most sources tracked at once by one middleware.
pub const MAX_SOURCES: usize = 65_536;
const SHARDS: usize = 16;

/// Builds an in-memory limiter; one with `redis` needs [`build_for`].
pub fn build(config: &RateLimitConfig) -> Result<Arc<dyn Middleware>, String> {
    if config.redis.is_some() {
        return Err("redis: needs the secret resolver; built through build_for".into());
    }
    Ok(Arc::new(RateLimit::new(config, MAX_SOURCES)))
}

/// Builds the middleware `name`; with `redis`, its secrets are resolved in `namespace` through
/// the resolver of `plugins`. No connection is opened here (Redis may be down at start), and
/// outside a Tokio runtime the client is built on first use ([`LazyRedis`]).
pub fn build_for(
    name: &str,
    config: &RateLimitConfig,
    namespace: Option<&str>,
    plugins: &dyn crate::runtime::PluginBuilder,
) -> Result<Arc<dyn Middleware>, String> {
    let Some(redis) = &config.redis else {
        return build(config);
    };
    let resolver = plugins
        .secret_resolver()
        .unwrap_or_else(|| Arc::new(LocalResolver::new()));
    let store =
        LazyRedis::new(redis, resolver.as_ref(), namespace).map_err(|e| format!("redis: {e}"))?;
    let mut limit = RateLimit::new(config, 0);
    limit.redis = Some((Arc::new(store), format!("portcullis:ratelimit:{name}:")));
    Ok(Arc::new(limit))
}

pub struct RateLimit {
    source: SourceCriterion,
    /// Time between two tokens; `None`: no limit (`average: 0`).
    interval: Option<Duration>,
    /// `burst` intervals: how far ahead of now a bucket's schedule may run.
    tolerance: Duration,
    max_delay: Duration,
    buckets: Buckets,
    /// The shared store and this middleware's key prefix.
    redis: Option<(Arc<LazyRedis>, String)>,
}

impl RateLimit {
    fn new(config: &RateLimitConfig, capacity: usize) -> Self {
        let rate = if config.average == 0 {
            None
        } else {
            Some(config.average as f64 / config.period.as_secs_f64())
        };
        let interval = rate.map(|r| Duration::from_secs_f64(1.0 / r));
        let max_delay = match rate {
            None => Duration::ZERO,
            Some(r) if r < 1.0 => Duration::from_millis(500),
            // Traefik: a second divided by twice the whole rate.
            Some(r) => Duration::from_secs(1) / ((r as u32).saturating_mul(2)).max(1),
        };
        let tolerance = interval
            .map(|i| i.saturating_mul(u32::try_from(config.burst).unwrap_or(u32::MAX)))
            .unwrap_or_default();
        Self {
            source: config.source.clone(),
            interval,
            tolerance,
            max_delay,
            buckets: Buckets::new(capacity),
            redis: None,
        }
    }

    /// Takes a token for `key` at `now`: `Ok(wait)` when the request may go after `wait`,
    /// `Err(wait)` when it would have to wait longer than allowed (nothing is taken then).
    fn take(&self, key: &str, now: Instant) -> Result<Duration, Duration> {
        let Some(interval) = self.interval else {
            return Ok(Duration::ZERO);
        };
        self.buckets.with(key, now, |next_free| {
            // GCRA, the token bucket's equivalent: `next_free` is when the bucket is full again.
            let start = (*next_free).max(now);
            let after = start + interval;
            let allowed_from = after.checked_sub(self.tolerance).unwrap_or(now);
            let wait = allowed_from.saturating_duration_since(now);
            if wait > self.max_delay {
                return Err(wait);
            }
            *next_free = after;
            Ok(wait)
        })
    }
}

impl RateLimit {
    async fn take_shared(
        &self,
        store: &LazyRedis,
        key: &str,
    ) -> Result<Result<Duration, Duration>, GatewayError> {
        let Some(interval) = self.interval else {
            return Ok(Ok(Duration::ZERO));
        };
        let taken = match store.store().await {
            Ok(store) => {
                store
                    .take_token(key, interval, self.tolerance, self.max_delay)
                    .await
            }
            Err(error) => Err(error),
        };
        match taken {
            Ok(TokenGrant::Granted(wait)) => Ok(Ok(wait)),
            Ok(TokenGrant::Refused(wait)) => Ok(Err(wait)),
            Err(error) => Err(GatewayError::new(
                ErrorKind::ServiceUnavailable,
                format!("rateLimit: {error}"),
            )),
        }
    }
}

/// Sharded, bounded map from source to the instant its bucket is full again.
struct Buckets {
    shards: Vec<Mutex<HashMap<String, Instant>>>,
    per_shard: usize,
    hasher: RandomState,
}

impl Buckets {
    fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: (capacity / SHARDS).max(1),
            hasher: RandomState::new(),
        }
    }

    fn with<T>(&self, key: &str, now: Instant, f: impl FnOnce(&mut Instant) -> T) -> T {
        let index = (self.hasher.hash_one(key) as usize) % SHARDS;
        let Some(shard) = self.shards.get(index) else {
            let mut fresh = now;
            return f(&mut fresh);
        };
        let mut map = shard
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(next_free) = map.get_mut(key) {
            return f(next_free);
        }
        if map.len() >= self.per_shard {
            // Full buckets are the same as absent ones: forgetting them loses nothing.
            map.retain(|_, next_free| *next_free > now);
            if map.len() >= self.per_shard * 3 / 4 {
                let excess = map.len() + 1 - self.per_shard * 3 / 4;
                let doomed: Vec<String> = map.keys().take(excess).cloned().collect();
                for k in doomed {
                    map.remove(&k);
                }
            }
        }
        let mut next_free = now;
        let result = f(&mut next_free);
        map.insert(key.to_owned(), next_free);
        result
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|m| m.len()).unwrap_or(0))
            .sum()
    }
}

/// A duration written as Go prints one (`X-Retry-In`), e.g. `1.5s`, `250ms`, `2m0s`.
fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    let trim = |value: f64, unit: &str| {
        let text = format!("{value:.9}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        format!("{text}{unit}")
    };
    if nanos == 0 {
        "0s".to_owned()
    } else if nanos < 1_000 {
        format!("{nanos}ns")
    } else if nanos < 1_000_000 {
        trim(nanos as f64 / 1e3, "µs")
    } else if nanos < 1_000_000_000 {
        trim(nanos as f64 / 1e6, "ms")
    } else {
        let secs = d.as_secs();
        let (h, m) = (secs / 3600, (secs % 3600) / 60);
        let s = trim((secs % 60) as f64 + f64::from(d.subsec_nanos()) / 1e9, "s");
        let s = if s == "s" { "0s".to_owned() } else { s };
        match (h, m) {
            (0, 0) => s,
            (0, m) => format!("{m}m{s}"),
            (h, m) => format!("{h}h{m}m{s}"),
        }
    }
}

fn too_many(wait: Duration) -> Response<Body> {
    let mut response = Response::new(body::full("Too Many Requests"));
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let headers = response.headers_mut();
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    if let Ok(value) = HeaderValue::from_str(&go_duration(wait)) {
        headers.insert("x-retry-in", value);
    }
    response
}

impl Middleware for RateLimit {
    fn handle<'a>(
        &'a self,
        request: Request<Body>,
        ctx: &'a mut RequestContext,
    ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
        Box::pin(async move {
            if self.interval.is_none() {
                return Ok(Decision::Forward(request));
            }
            let key = source(&self.source, request.headers(), ctx);
            let taken = match &self.redis {
                None => self.take(&key, Instant::now()),
                Some((store, prefix)) => self.take_shared(store, &format!("{prefix}{key}")).await?,
            };
            match taken {
                Ok(wait) if wait.is_zero() => Ok(Decision::Forward(request)),
                Ok(wait) => {
                    tokio::time::sleep(wait).await;
                    Ok(Decision::Forward(request))
                }
                Err(wait) => Ok(Decision::Respond(too_many(wait))),
            }
        })
    }
}

#[cfg(test)]
mod tests;
