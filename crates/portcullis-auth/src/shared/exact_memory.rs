//! A bounded memory from exact values (sealed cookies, sealed store entries, tokens) to what
//! opening or verifying them gave, so the work is done once per value instead of per request.
//!
//! What it must not weaken, and how: an entry is found only by the exact same value (the whole
//! value is compared), so a modified, truncated or forged value never matches and goes through
//! the full check. Lookups bucket values by a keyed hash (random per process) of their length
//! and ends — sealed values and JWTs end with their authentication tag or signature and start
//! with a random nonce or a header, so the ends tell them apart, and hashing a few kilobytes per
//! request would cost more than the comparison. Past [`CAPACITY`] values the memory starts over
//! (cheap, and a miss only costs one normal check).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, PoisonError};

/// Values kept at most.
pub(crate) const CAPACITY: usize = 4096;

/// Bytes of each end of a value that select its bucket.
const ENDS: usize = 48;

/// Entries by bucket: the exact value, and what it opened to.
type Buckets<T> = HashMap<u64, (Box<[u8]>, T)>;

/// A map from exact values to what they opened to.
#[derive(Debug)]
pub(crate) struct ExactMemory<T> {
    entries: Mutex<Buckets<T>>,
    hasher: RandomState,
}

impl<T> Default for ExactMemory<T> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            hasher: RandomState::new(),
        }
    }
}

impl<T: Clone> ExactMemory<T> {
    fn bucket(&self, value: &[u8]) -> u64 {
        let head = value.get(..ENDS).unwrap_or(value);
        let tail = value
            .get(value.len().saturating_sub(ENDS)..)
            .unwrap_or(value);
        self.hasher.hash_one((value.len(), head, tail))
    }

    /// What `value` opened to, when it is exactly a value remembered.
    pub(crate) fn get(&self, value: &[u8]) -> Option<T> {
        let bucket = self.bucket(value);
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        match entries.get(&bucket) {
            Some((kept, found)) if **kept == *value => Some(found.clone()),
            _ => None,
        }
    }

    /// Remembers that `value` opened to `found`.
    pub(crate) fn insert(&self, value: &[u8], found: T) {
        let bucket = self.bucket(value);
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(bucket, (value.into(), found));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
