//! The store in this process's memory: for a single replica and for tests.
//!
//! What it protects against, and how: memory exhaustion (many sessions or clients) by a bound on
//! the number of entries; when full, expired entries go first, then those expiring soonest, found
//! in an index ordered by expiry (no scan of the whole map under the lock).

use std::collections::{BTreeSet, HashMap};
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

/// The entries, and the same keys ordered by expiry: making room takes the first ones instead
/// of scanning the map.
#[derive(Debug, Default)]
struct Entries {
    map: HashMap<String, Entry>,
    by_expiry: BTreeSet<(Instant, String)>,
}

impl Entries {
    fn live(&self, key: &str, now: Instant) -> Option<&Entry> {
        self.map.get(key).filter(|entry| entry.expires_at > now)
    }

    fn remove(&mut self, key: &str) -> Option<Entry> {
        let entry = self.map.remove(key)?;
        self.by_expiry.remove(&(entry.expires_at, key.to_owned()));
        Some(entry)
    }

    /// Removes the entry expiring first; false when there is none.
    fn remove_soonest(&mut self) -> bool {
        match self.by_expiry.pop_first() {
            Some((_, key)) => {
                self.map.remove(&key);
                true
            }
            None => false,
        }
    }

    /// Makes room for one more entry: expired entries go first, then those expiring soonest.
    fn make_room(&mut self, capacity: usize, now: Instant) {
        while self
            .by_expiry
            .first()
            .is_some_and(|(expires_at, _)| *expires_at <= now)
        {
            self.remove_soonest();
        }
        while self.map.len() >= capacity && self.remove_soonest() {}
    }

    fn insert(&mut self, key: &str, entry: Entry) {
        self.by_expiry.insert((entry.expires_at, key.to_owned()));
        if let Some(previous) = self.map.insert(key.to_owned(), entry) {
            self.by_expiry
                .remove(&(previous.expires_at, key.to_owned()));
        }
    }
}

/// Entries in this process, bounded in number.
#[derive(Debug)]
pub struct MemoryStore {
    entries: Mutex<Entries>,
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
            entries: Mutex::new(Entries::default()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // A panic elsewhere while holding the lock leaves the entries consistent (the map and
        // its index change together in code that does not panic), so the poisoned guard is
        // safe to use.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn insert(&self, entries: &mut Entries, key: &str, value: &[u8], ttl: Duration) {
        let now = Instant::now();
        if !entries.map.contains_key(key) && entries.map.len() >= self.capacity {
            entries.make_room(self.capacity, now);
        }
        // Ten years stands for "practically forever" without risking an Instant overflow.
        let ttl = Duration::from_millis(crate::ttl_millis(ttl))
            .min(Duration::from_secs(10 * 365 * 24 * 3600));
        let expires_at = now.checked_add(ttl).unwrap_or(now);
        entries.insert(
            key,
            Entry {
                value: value.to_vec(),
                expires_at,
            },
        );
    }
}

impl Store for MemoryStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        let entries = self.lock();
        let value = entries
            .live(key, Instant::now())
            .map(|entry| entry.value.clone());
        drop(entries);
        Box::pin(async move { Ok(value) })
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Option<Vec<u8>>>, StoreError>> {
        let entries = self.lock();
        let now = Instant::now();
        let values = keys
            .iter()
            .map(|key| entries.live(key, now).map(|entry| entry.value.clone()))
            .collect();
        drop(entries);
        Box::pin(async move { Ok(values) })
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut entries = self.lock();
        self.insert(&mut entries, key, value, ttl);
        drop(entries);
        Box::pin(async { Ok(()) })
    }

    fn set_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut entries = self.lock();
        let stored = if entries.live(key, Instant::now()).is_some() {
            false
        } else {
            self.insert(&mut entries, key, value, ttl);
            true
        };
        drop(entries);
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
        let mut entries = self.lock();
        let matches = entries
            .live(key, Instant::now())
            .is_some_and(|entry| entry.value == value);
        if matches {
            entries.remove(key);
        }
        drop(entries);
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

    #[tokio::test]
    async fn a_replaced_entry_is_evicted_by_its_new_expiry() {
        let store = MemoryStore::with_capacity(2);
        let secs = Duration::from_secs;
        store.set("a", b"1", secs(10)).await.unwrap();
        store.set("a", b"1", secs(1000)).await.unwrap();
        store.set("b", b"2", secs(100)).await.unwrap();
        store.set("c", b"3", secs(100)).await.unwrap();
        assert_eq!(store.get("a").await.unwrap(), Some(b"1".to_vec()));
        assert_eq!(store.get("b").await.unwrap(), None);
        assert!(store.delete("a").await.unwrap());
        store.set("d", b"4", secs(1)).await.unwrap();
        let keys = ["c".to_owned(), "d".to_owned(), "a".to_owned()];
        assert_eq!(
            store.get_many(&keys).await.unwrap(),
            vec![Some(b"3".to_vec()), Some(b"4".to_vec()), None]
        );
    }
}
