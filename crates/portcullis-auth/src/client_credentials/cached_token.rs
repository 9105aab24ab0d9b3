//! Where obtained tokens are kept until shortly before they expire: a small async trait, so that
//! a shared (Redis) store can replace the in-memory one without touching the middleware.
//!
//! What it protects against, and how:
//! - memory exhaustion (many distinct clients in Basic mode): the memory store holds at most
//!   [`DEFAULT_CAPACITY`] entries; expired entries are dropped first, then those expiring soonest;
//! - serving an expired token: an entry is never returned at or after its `expires_at`;
//! - tokens in logs: [`CachedToken`]'s `Debug` never prints the token or its claims.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::BoxFuture;
use serde_json::Value;

use super::cache_key::CacheKey;
use crate::clock::Clock;

/// Most tokens the memory store holds.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// What the gateway knows of a token's claims.
#[derive(Clone, PartialEq)]
pub enum TokenClaims {
    /// Nothing was read: no option needs the claims.
    NotRead,
    /// The token is not a JWT: it has no claims the gateway can read.
    Opaque,
    /// The claims of a JWT, verified or trusted as described in the module documentation of
    /// `trust`.
    Jwt(Arc<Value>),
}

impl fmt::Debug for TokenClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenClaims::NotRead => "NotRead",
            TokenClaims::Opaque => "Opaque",
            TokenClaims::Jwt(_) => "Jwt(***)",
        })
    }
}

/// An access token with its schedule, in seconds since the Unix epoch.
#[derive(Clone, PartialEq)]
pub struct CachedToken {
    /// The token, exactly as the token endpoint answered it.
    pub access_token: Arc<str>,
    pub claims: TokenClaims,
    /// From this time on the token is renewed in the background while it is still served.
    pub refresh_at: i64,
    /// From this time on the token is never served.
    pub expires_at: i64,
}

impl fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedToken")
            .field("access_token", &"***")
            .field("claims", &self.claims)
            .field("refresh_at", &self.refresh_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The store could not be used (maps to 503).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("token store unavailable: {0}")]
pub struct StoreError(pub String);

/// A cache of tokens by [`CacheKey`]. Implementations drop entries at their `expires_at`.
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// The token stored under `key`, if it has not expired.
    fn get<'a>(
        &'a self,
        key: &'a CacheKey,
    ) -> BoxFuture<'a, Result<Option<CachedToken>, StoreError>>;

    /// Stores `token` under `key` until its `expires_at`, replacing any previous one.
    fn put<'a>(
        &'a self,
        key: &'a CacheKey,
        token: CachedToken,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Forgets the token under `key` (its credentials were rejected).
    fn remove<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// Tokens in this process's memory, bounded in number.
#[derive(Debug)]
pub struct MemoryTokenStore {
    entries: Mutex<HashMap<CacheKey, CachedToken>>,
    capacity: usize,
    clock: Arc<dyn Clock>,
}

impl MemoryTokenStore {
    /// A store holding at most `capacity` tokens (at least one).
    pub fn new(capacity: usize, clock: Arc<dyn Clock>) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            clock,
        }
    }

    /// Number of tokens held (expired ones included until they are swept).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no token is held.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, CachedToken>> {
        // The map stays consistent even if a holder panicked: every operation is one call.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get_now(&self, key: &CacheKey) -> Option<CachedToken> {
        let now = self.clock.now();
        let mut entries = self.lock();
        match entries.get(key) {
            Some(token) if now < token.expires_at => Some(token.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn put_now(&self, key: &CacheKey, token: CachedToken) {
        let now = self.clock.now();
        let mut entries = self.lock();
        if !entries.contains_key(key) && entries.len() >= self.capacity {
            entries.retain(|_, t| now < t.expires_at);
            if entries.len() >= self.capacity {
                let soonest = entries
                    .iter()
                    .min_by_key(|(_, t)| t.expires_at)
                    .map(|(k, _)| k.clone());
                if let Some(soonest) = soonest {
                    entries.remove(&soonest);
                }
            }
        }
        entries.insert(key.clone(), token);
    }
}

impl TokenStore for MemoryTokenStore {
    fn get<'a>(
        &'a self,
        key: &'a CacheKey,
    ) -> BoxFuture<'a, Result<Option<CachedToken>, StoreError>> {
        Box::pin(async move { Ok(self.get_now(key)) })
    }

    fn put<'a>(
        &'a self,
        key: &'a CacheKey,
        token: CachedToken,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.put_now(key, token);
            Ok(())
        })
    }

    fn remove<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.lock().remove(key);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::client_credentials::cache_key::CacheKeyer;
    use crate::clock::ManualClock;

    fn token(name: &str, expires_at: i64) -> CachedToken {
        CachedToken {
            access_token: name.into(),
            claims: TokenClaims::NotRead,
            refresh_at: expires_at - 10,
            expires_at,
        }
    }

    #[tokio::test]
    async fn expired_entries_are_never_served() {
        let clock = Arc::new(ManualClock::at(1_000));
        let store = MemoryTokenStore::new(10, clock.clone());
        let key = CacheKeyer::with_secret(b"k", "u", None).key("c", "s");
        store.put(&key, token("t", 1_060)).await.unwrap();
        assert_eq!(
            store
                .get(&key)
                .await
                .unwrap()
                .unwrap()
                .access_token
                .as_ref(),
            "t"
        );
        clock.advance(Duration::from_secs(60));
        assert!(store.get(&key).await.unwrap().is_none());
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn capacity_evicts_expired_then_soonest_expiring() {
        let clock = Arc::new(ManualClock::at(1_000));
        let store = MemoryTokenStore::new(3, clock.clone());
        let keyer = CacheKeyer::with_secret(b"k", "u", None);
        let key = |n: &str| keyer.key(n, "s");
        store.put(&key("expired"), token("e", 1_001)).await.unwrap();
        store.put(&key("late"), token("l", 5_000)).await.unwrap();
        store.put(&key("soon"), token("s", 2_000)).await.unwrap();
        clock.advance(Duration::from_secs(5));
        store.put(&key("new1"), token("n1", 4_000)).await.unwrap();
        assert_eq!(store.len(), 3);
        assert!(store.get(&key("soon")).await.unwrap().is_some());
        store.put(&key("new2"), token("n2", 4_000)).await.unwrap();
        assert_eq!(store.len(), 3);
        assert!(store.get(&key("soon")).await.unwrap().is_none());
        assert!(store.get(&key("late")).await.unwrap().is_some());
        store.remove(&key("late")).await.unwrap();
        assert!(store.get(&key("late")).await.unwrap().is_none());
    }

    #[test]
    fn debug_hides_the_token() {
        let shown = format!("{:?}", token("very-secret-token", 1));
        assert!(!shown.contains("very-secret-token"), "{shown}");
    }
}
