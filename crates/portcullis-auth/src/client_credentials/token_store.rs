//! Where obtained tokens are kept until shortly before they expire: a [`Store`], Redis with
//! `store.redis` (one cache shared by every replica of the gateway, so that a client's token
//! obtained by one replica is served by all of them), a bounded
//! [`portcullis_store::MemoryStore`] of this process otherwise.
//!
//! What it protects against, and how:
//! - secrets and tokens readable by whoever reads Redis: an entry's key is `store.keyPrefix`, a
//!   colon and the hex [`CacheKey`] tag (a keyed hash, never a secret); its value is sealed with
//!   AES-256-GCM under the entry's own key ([`CacheKey::sealing_key`]), derived from the client
//!   id and secret and from `store.secret` when set, none of which is stored;
//! - altered, planted or swapped values: the Redis key is authenticated data and each entry has
//!   its own key, so a value that was changed or copied from another key does not open; it is
//!   a cache miss (logged at debug), a new token is obtained and overwrites it. Values above
//!   [`MAX_VALUE_LEN`] are misses without being decrypted;
//! - an outage read as a miss: a failed Redis operation is a [`StoreError`] (503), never "no
//!   token", so no request is served from a read that did not happen;
//! - expired tokens: an entry lives in Redis until the token's `expires_at` (at least one
//!   second), and a token read at or after its `expires_at` is not served even if Redis still
//!   holds it.
//!
//! - memory exhaustion (many distinct clients in caller mode): the memory store is bounded;
//!   expired entries are dropped first, then those expiring soonest;
//! - opening cost on every request: a stored value already opened by this instance is found
//!   again by its exact bytes and its key (`crate::shared::exact_memory`), and its expiry is
//!   still checked.
//!
//! Single flight stays per replica: replicas that miss at the same moment may each ask the
//! provider once; the last token stored wins and the others stay valid until they expire.

use std::sync::Arc;
use std::time::Duration;

use portcullis_store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cache_key::{CacheKey, SEALING_KEY_LEN};
use super::cached_token::{CachedToken, TokenClaims};
use crate::clock::Clock;
use crate::shared::exact_memory::ExactMemory;
use crate::shared::seal::{AeadKey, SealError};

/// Format of a stored value: `VERSION ||` the crate's AEAD envelope ([`AeadKey`]:
/// `nonce (12) || ciphertext || tag (16)`).
const VERSION: u8 = 1;
/// Largest value read back; a token with its claims stays far below.
pub const MAX_VALUE_LEN: usize = 1024 * 1024;

/// Cached tokens in a [`Store`], sealed.
#[derive(Debug)]
pub struct TokenStore {
    backend: Arc<dyn Store>,
    key_prefix: String,
    clock: Arc<dyn Clock>,
    /// Stored values already opened, with the backend key they were opened under.
    opened: ExactMemory<(Arc<str>, CachedToken)>,
}

impl TokenStore {
    /// Tokens in `backend` under `key_prefix` (`store.keyPrefix`, may be empty).
    pub fn new(backend: Arc<dyn Store>, key_prefix: &str, clock: Arc<dyn Clock>) -> Self {
        Self {
            backend,
            key_prefix: key_prefix.to_owned(),
            clock,
            opened: ExactMemory::default(),
        }
    }

    /// The key of `key`'s entry in the backend.
    pub fn redis_key(&self, key: &CacheKey) -> String {
        if self.key_prefix.is_empty() {
            key.as_str().to_owned()
        } else {
            format!("{}:{}", self.key_prefix, key.as_str())
        }
    }

    /// The token stored under `key`, if it has not expired.
    pub async fn get(&self, key: &CacheKey) -> Result<Option<CachedToken>, StoreError> {
        let sealing = sealing_key(key)?;
        let redis_key = self.redis_key(key);
        let Some(value) = self.backend.get(&redis_key).await? else {
            return Ok(None);
        };
        let token = match self.opened.get(&value) {
            // A value is bound to its key: the same bytes under another key do not open.
            Some((opened_under, token)) if *opened_under == *redis_key => token,
            _ => match open(sealing, &redis_key, &value) {
                Ok(token) => {
                    self.opened
                        .insert(&value, (redis_key.as_str().into(), token.clone()));
                    token
                }
                Err(reason) => {
                    tracing::debug!(?key, %reason, "cached token ignored: a new one will be obtained");
                    return Ok(None);
                }
            },
        };
        Ok((self.clock.now() < token.expires_at).then_some(token))
    }

    /// Stores `token` under `key` until its `expires_at`, replacing any previous one.
    pub async fn put(&self, key: &CacheKey, token: &CachedToken) -> Result<(), StoreError> {
        let sealing = sealing_key(key)?;
        let redis_key = self.redis_key(key);
        let value = seal(sealing, &redis_key, token)?;
        let seconds = token.expires_at.saturating_sub(self.clock.now()).max(1);
        let ttl = Duration::from_secs(u64::try_from(seconds).unwrap_or(1));
        self.backend.set(&redis_key, &value, ttl).await
    }

    /// Forgets the token under `key` (its credentials were rejected).
    pub async fn remove(&self, key: &CacheKey) -> Result<(), StoreError> {
        self.backend.delete(&self.redis_key(key)).await.map(drop)
    }
}

/// The token could not be sealed for the store.
fn unsealable(reason: &str) -> StoreError {
    StoreError::Refused {
        operation: "seal",
        reason: reason.to_owned(),
    }
}

/// A key from a keyer private to one process has no sealing key: storing with it would be a
/// wiring mistake, refused rather than stored in clear.
fn sealing_key(key: &CacheKey) -> Result<&[u8; SEALING_KEY_LEN], StoreError> {
    key.sealing_key()
        .ok_or_else(|| unsealable("the cache key has no sealing key"))
}

/// A stored token, as written.
#[derive(Serialize)]
struct StoredRef<'a> {
    access_token: &'a str,
    claims: ClaimsRef<'a>,
    refresh_at: i64,
    expires_at: i64,
}

#[derive(Serialize)]
#[serde(tag = "state", content = "values", rename_all = "snake_case")]
enum ClaimsRef<'a> {
    NotRead,
    Opaque,
    Jwt(&'a Value),
}

/// A stored token, as read.
#[derive(Deserialize)]
struct Stored {
    access_token: String,
    claims: StoredClaims,
    refresh_at: i64,
    expires_at: i64,
}

#[derive(Deserialize)]
#[serde(tag = "state", content = "values", rename_all = "snake_case")]
enum StoredClaims {
    NotRead,
    Opaque,
    Jwt(Value),
}

/// Why a stored value was ignored. Coarse on purpose: it only goes to a debug log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum Unreadable {
    #[error("the stored value is too large")]
    TooLarge,
    #[error("the stored value is malformed")]
    Malformed,
    #[error("the stored value does not open with this entry's key")]
    Tampered,
    #[error("the stored value opens but does not parse")]
    Unparsable,
}

/// Binds a value to its Redis key and format version.
fn associated_data(redis_key: &str) -> Vec<u8> {
    [&[VERSION], redis_key.as_bytes()].concat()
}

fn seal(
    key: &[u8; SEALING_KEY_LEN],
    redis_key: &str,
    token: &CachedToken,
) -> Result<Vec<u8>, StoreError> {
    let stored = StoredRef {
        access_token: &token.access_token,
        claims: match &token.claims {
            TokenClaims::NotRead => ClaimsRef::NotRead,
            TokenClaims::Opaque => ClaimsRef::Opaque,
            TokenClaims::Jwt(values) => ClaimsRef::Jwt(values),
        },
        refresh_at: token.refresh_at,
        expires_at: token.expires_at,
    };
    let body = serde_json::to_vec(&stored)
        .map_err(|e| unsealable(&format!("cannot serialize the token: {e}")))?;
    let mut value = Vec::with_capacity(1 + AeadKey::OVERHEAD + body.len());
    value.push(VERSION);
    AeadKey::new(key)
        .and_then(|aead| aead.seal_into(&associated_data(redis_key), body, &mut value))
        .map_err(|_| unsealable("cannot seal the token"))?;
    Ok(value)
}

fn open(
    key: &[u8; SEALING_KEY_LEN],
    redis_key: &str,
    value: &[u8],
) -> Result<CachedToken, Unreadable> {
    if value.len() > MAX_VALUE_LEN {
        return Err(Unreadable::TooLarge);
    }
    let Some((&VERSION, rest)) = value.split_first() else {
        return Err(Unreadable::Malformed);
    };
    let plaintext = AeadKey::new(key)
        .and_then(|aead| aead.open(&associated_data(redis_key), rest))
        .map_err(|error| match error {
            SealError::Malformed => Unreadable::Malformed,
            _ => Unreadable::Tampered,
        })?;
    let stored: Stored = serde_json::from_slice(&plaintext).map_err(|_| Unreadable::Unparsable)?;
    Ok(CachedToken {
        access_token: stored.access_token.into(),
        claims: match stored.claims {
            StoredClaims::NotRead => TokenClaims::NotRead,
            StoredClaims::Opaque => TokenClaims::Opaque,
            StoredClaims::Jwt(values) => TokenClaims::Jwt(Arc::new(values)),
        },
        refresh_at: stored.refresh_at,
        expires_at: stored.expires_at,
    })
}

#[cfg(test)]
mod tests {
    use portcullis_store::MemoryStore;

    use super::*;
    use crate::client_credentials::cache_key::CacheKeyer;
    use crate::clock::ManualClock;

    const URL: &str = "https://idp.example.com/token";

    fn token(claims: TokenClaims) -> CachedToken {
        CachedToken {
            access_token: "the-access-token".into(),
            claims,
            refresh_at: 1_050,
            expires_at: 1_059,
        }
    }

    #[test]
    fn every_claims_state_round_trips_sealed() {
        let key = CacheKeyer::shared(b"0123456789abcdef", URL, None, true).key("c", "s");
        let sealing = key.sealing_key().unwrap();
        let jwt = TokenClaims::Jwt(Arc::new(serde_json::json!({"sub": "c", "grp": ["a"]})));
        for claims in [TokenClaims::NotRead, TokenClaims::Opaque, jwt] {
            let value = seal(sealing, "p:k", &token(claims.clone())).unwrap();
            assert!(!String::from_utf8_lossy(&value).contains("the-access-token"));
            assert_eq!(open(sealing, "p:k", &value).unwrap(), token(claims));
            // Bound to its Redis key and to its entry's key.
            assert_eq!(open(sealing, "p:x", &value), Err(Unreadable::Tampered));
            let other = CacheKeyer::shared(b"0123456789abcdef", URL, None, true).key("c", "t");
            let other = other.sealing_key().unwrap();
            assert_eq!(open(other, "p:k", &value), Err(Unreadable::Tampered));
            let mut flipped = value.clone();
            *flipped.last_mut().unwrap() ^= 1;
            assert_eq!(open(sealing, "p:k", &flipped), Err(Unreadable::Tampered));
        }
        assert_eq!(open(sealing, "p:k", b""), Err(Unreadable::Malformed));
        assert_eq!(
            open(sealing, "p:k", b"\x01short"),
            Err(Unreadable::Malformed)
        );
        assert_eq!(open(sealing, "p:k", &[2; 64]), Err(Unreadable::Malformed));
        let huge = vec![VERSION; MAX_VALUE_LEN + 1];
        assert_eq!(open(sealing, "p:k", &huge), Err(Unreadable::TooLarge));
    }

    #[tokio::test]
    async fn entries_expire_with_their_token_and_garbage_is_a_miss() {
        let clock = Arc::new(ManualClock::at(1_000));
        let backend = Arc::new(MemoryStore::new());
        let store = TokenStore::new(backend.clone(), "cc", clock.clone());
        let key = CacheKeyer::shared(b"", URL, None, false).key("c", "s");
        let redis_key = store.redis_key(&key);
        assert_eq!(redis_key, format!("cc:{}", key.as_str()));
        store.put(&key, &token(TokenClaims::Opaque)).await.unwrap();
        let stored = backend.get(&redis_key).await.unwrap().unwrap();
        assert!(!String::from_utf8_lossy(&stored).contains("the-access-token"));
        assert_eq!(
            store.get(&key).await.unwrap(),
            Some(token(TokenClaims::Opaque))
        );
        clock.advance(Duration::from_secs(59));
        assert_eq!(store.get(&key).await.unwrap(), None, "expired");

        backend
            .set(&redis_key, b"garbage", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(store.get(&key).await.unwrap(), None, "unreadable");
        store.remove(&key).await.unwrap();
        assert_eq!(backend.get(&redis_key).await.unwrap(), None);

        let private = CacheKeyer::with_secret(b"k", URL, None).key("c", "s");
        assert!(store.get(&private).await.is_err());
        let unprefixed = TokenStore::new(backend, "", clock);
        assert_eq!(unprefixed.redis_key(&key), key.as_str());
    }

    fn memory_store(capacity: usize, clock: Arc<ManualClock>) -> TokenStore {
        TokenStore::new(Arc::new(MemoryStore::with_capacity(capacity)), "", clock)
    }

    fn expiring(name: &str, expires_at: i64) -> CachedToken {
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
        let store = memory_store(10, clock.clone());
        let key = CacheKeyer::random("u", None).unwrap().key("c", "s");
        store.put(&key, &expiring("t", 1_060)).await.unwrap();
        let served = store.get(&key).await.unwrap().unwrap();
        assert_eq!(served.access_token.as_ref(), "t");
        clock.advance(Duration::from_secs(60));
        assert!(store.get(&key).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn capacity_evicts_expired_then_soonest_expiring() {
        let clock = Arc::new(ManualClock::at(1_000));
        let store = memory_store(3, clock.clone());
        let keyer = CacheKeyer::random("u", None).unwrap();
        let key = |n: &str| keyer.key(n, "s");
        store
            .put(&key("expired"), &expiring("e", 1_001))
            .await
            .unwrap();
        store
            .put(&key("late"), &expiring("l", 5_000))
            .await
            .unwrap();
        store
            .put(&key("soon"), &expiring("s", 2_000))
            .await
            .unwrap();
        clock.advance(Duration::from_secs(5));
        store
            .put(&key("new1"), &expiring("n1", 4_000))
            .await
            .unwrap();
        assert!(store.get(&key("soon")).await.unwrap().is_some());
        store
            .put(&key("new2"), &expiring("n2", 4_000))
            .await
            .unwrap();
        assert!(store.get(&key("soon")).await.unwrap().is_none());
        assert!(store.get(&key("late")).await.unwrap().is_some());
        assert!(store.get(&key("new1")).await.unwrap().is_some());
        assert!(store.get(&key("new2")).await.unwrap().is_some());
        store.remove(&key("late")).await.unwrap();
        assert!(store.get(&key("late")).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_value_opened_once_is_not_served_under_another_key() {
        let clock = Arc::new(ManualClock::at(1_000));
        let backend = Arc::new(MemoryStore::new());
        let store = TokenStore::new(backend.clone(), "cc", clock);
        let keyer = CacheKeyer::shared(b"", URL, None, false);
        let (alice, mallory) = (keyer.key("alice", "s"), keyer.key("mallory", "s"));
        store
            .put(&alice, &token(TokenClaims::Opaque))
            .await
            .unwrap();
        assert!(store.get(&alice).await.unwrap().is_some());
        let copied = backend
            .get(&store.redis_key(&alice))
            .await
            .unwrap()
            .unwrap();
        backend
            .set(&store.redis_key(&mallory), &copied, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(store.get(&mallory).await.unwrap(), None);
    }
}
