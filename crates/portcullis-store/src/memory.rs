//! The store in this process's memory: for a single replica and for tests.
//!
//! What it protects against, and how: memory exhaustion (many sessions or clients) by a bound on
//! the number of entries; when full, expired entries go first, then those expiring soonest.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

use crate::{Store, StoreError};

/// Most entries kept by [`MemoryStore::new`].
pub const DEFAULT_CAPACITY: usize = 100_000;

#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    expires_at: Instant,
}

/// Entries in this process, bounded in number.
#[derive(Debug)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, Entry>>,
    capacity: usize,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// A store holding at most `capacity` entries (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // A panic elsewhere while holding the lock leaves the map consistent (every mutation is
        // a single insert or remove), so the poisoned guard is safe to use.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn live<'m>(map: &'m HashMap<String, Entry>, key: &str, now: Instant) -> Option<&'m Entry> {
        map.get(key).filter(|entry| entry.expires_at > now)
    }

    fn insert(&self, map: &mut HashMap<String, Entry>, key: &str, value: &[u8], ttl: Duration) {
        let now = Instant::now();
        if !map.contains_key(key) && map.len() >= self.capacity {
            map.retain(|_, entry| entry.expires_at > now);
            if map.len() >= self.capacity
                && let Some(soonest) = map
                    .iter()
                    .min_by_key(|(_, entry)| entry.expires_at)
                    .map(|(key, _)| key.clone())
            {
                map.remove(&soonest);
            }
        }
        // Ten years stands for "practically forever" without risking an Instant overflow.
        let ttl = Duration::from_millis(crate::ttl_millis(ttl))
            .min(Duration::from_secs(10 * 365 * 24 * 3600));
        let expires_at = now.checked_add(ttl).unwrap_or(now);
        map.insert(
            key.to_owned(),
            Entry {
                value: value.to_vec(),
                expires_at,
            },
        );
    }
}

impl Store for MemoryStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        let map = self.lock();
        let value = Self::live(&map, key, Instant::now()).map(|entry| entry.value.clone());
        drop(map);
        Box::pin(async move { Ok(value) })
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut map = self.lock();
        self.insert(&mut map, key, value, ttl);
        drop(map);
        Box::pin(async { Ok(()) })
    }

    fn set_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut map = self.lock();
        let stored = if Self::live(&map, key, Instant::now()).is_some() {
            false
        } else {
            self.insert(&mut map, key, value, ttl);
            true
        };
        drop(map);
        Box::pin(async move { Ok(stored) })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let removed = self
            .lock()
            .remove(key)
            .is_some_and(|entry| entry.expires_at > Instant::now());
        Box::pin(async move { Ok(removed) })
    }

    fn delete_if_equals<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut map = self.lock();
        let matches =
            Self::live(&map, key, Instant::now()).is_some_and(|entry| entry.value == value);
        if matches {
            map.remove(key);
        }
        drop(map);
        Box::pin(async move { Ok(matches) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() {
        crate::conformance::run(&MemoryStore::new()).await.unwrap();
    }

    #[tokio::test]
    async fn bounded_evicts_soonest_expiring() {
        let store = MemoryStore::with_capacity(2);
        store.set("a", b"1", Duration::from_secs(10)).await.unwrap();
        store
            .set("b", b"2", Duration::from_secs(100))
            .await
            .unwrap();
        store
            .set("c", b"3", Duration::from_secs(100))
            .await
            .unwrap();
        assert_eq!(store.get("a").await.unwrap(), None);
        assert_eq!(store.get("b").await.unwrap(), Some(b"2".to_vec()));
        assert_eq!(store.get("c").await.unwrap(), Some(b"3".to_vec()));
    }
}
