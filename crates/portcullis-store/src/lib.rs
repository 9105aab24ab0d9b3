//! The key-value store shared by the gateway's replicas: sessions, cached tokens, revocations,
//! replay guards (`jti`) and short locks.
//!
//! One [`Store`] trait with two implementations: [`MemoryStore`] (one process) and
//! [`RedisStore`] (single instance, Redis Cluster or Sentinel, with TLS and ACL users), which
//! every middleware builds through [`LazyRedis`] (no connection, and no runtime needed, when
//! built).
//!
//! What it protects against, and how: a store outage must never be read as "no session" or
//! "not revoked". Every operation therefore returns either a definite answer or a
//! [`StoreError`] (which the gateway answers with 503), and every Redis operation is bounded by a
//! timeout so an unreachable server cannot hold requests. One [`conformance`] suite states the
//! behaviour every implementation must have.

pub mod conformance;
mod error;
mod lazy;
mod memory;
pub mod recorded_secrets;
mod redis;
#[cfg(feature = "testing")]
pub mod testing;

use std::fmt;
use std::time::Duration;

use futures_util::future::BoxFuture;

pub use error::StoreError;
pub use lazy::LazyRedis;
pub use memory::MemoryStore;
pub use redis::{RedisMode, RedisStore, RedisStoreOptions, TokenGrant};

/// An async key-value store whose entries all carry a time to live.
///
/// Keys are UTF-8 text; values are bytes. A TTL below one millisecond counts as one millisecond
/// (an entry is never stored without expiry).
pub trait Store: Send + Sync + fmt::Debug {
    /// The value under `key`, or `None` when there is none (or it has expired).
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>>;

    /// The values under `keys`, in order, in one round trip where the store allows it (the
    /// per-request revocation check reads several records at once). Keys may live on different
    /// Cluster nodes.
    fn get_many<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Option<Vec<u8>>>, StoreError>> {
        Box::pin(async move {
            let mut values = Vec::with_capacity(keys.len());
            for key in keys {
                values.push(self.get(key).await?);
            }
            Ok(values)
        })
    }

    /// Stores `value` under `key` for `ttl`, replacing any previous value and TTL.
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Stores `value` under `key` for `ttl` only when `key` holds nothing. True when it was
    /// stored: the caller won the lock, or saw this `jti` first.
    fn set_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Removes `key`. True when it held a value.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Removes `key` only when it holds exactly `value`, atomically: releases a lock without
    /// releasing one that expired and was taken by someone else meanwhile. True when removed.
    fn delete_if_equals<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
}

/// The TTL in whole milliseconds, at least 1 (Redis refuses `PX 0`, and a zero TTL must not mean
/// "forever").
pub(crate) fn ttl_millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}
