//! The Redis store: single instance, Redis Cluster or Sentinel, with ACL users and TLS, built
//! from a validated [`RedisConfig`].
//!
//! What it protects against, and how:
//! - hung requests when Redis is unreachable: every operation runs under a timeout and every
//!   connection has connect and response timeouts, so callers get a [`StoreError`] quickly;
//! - an outage read as an answer: replies are matched exactly (`OK`, nil, integers); anything
//!   else is an error, never "absent";
//! - a gateway that must be restarted after Redis returns: connections are opened lazily and
//!   re-opened by the client (single instance, Cluster) or by [`sentinel`] (Sentinel), so a
//!   store built while Redis is down starts working when it comes up;
//! - writes lost to a failover: in Sentinel mode the master is re-asked from the sentinels on a
//!   connection error and on `READONLY` (the old master demoted to replica);
//! - credentials in logs: secrets are resolved into [`portcullis_config::Secret`] and handed to
//!   the client only; no message prints them.

mod connect;
mod rate;
mod sentinel;

pub use rate::TokenGrant;

use std::fmt;
use std::time::Duration;

use futures_util::future::BoxFuture;
use portcullis_config::SecretResolver;
use portcullis_config::plugin::common::RedisConfig;
use redis::{Cmd, FromRedisValue, RedisError, Value};

use crate::{Store, StoreError, ttl_millis};

/// Which kind of deployment the store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisMode {
    Single,
    Cluster,
    Sentinel,
}

/// Timeouts of the Redis store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisStoreOptions {
    /// Longest wait for one operation, connection included.
    pub operation_timeout: Duration,
    /// Longest wait for one TCP (and TLS) connection.
    pub connect_timeout: Duration,
}

impl Default for RedisStoreOptions {
    fn default() -> Self {
        Self {
            operation_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
        }
    }
}

pub(crate) enum Backend {
    Single(redis::aio::ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
    Sentinel(Box<sentinel::SentinelBackend>),
}

/// A [`Store`] in Redis.
pub struct RedisStore {
    backend: Backend,
    mode: RedisMode,
    endpoints: Vec<String>,
    options: RedisStoreOptions,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("mode", &self.mode)
            .field("endpoints", &self.endpoints)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Deletes the key only when it holds the given value, in one step on the server.
const DELETE_IF_EQUALS: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

impl RedisStore {
    /// Builds the store with default timeouts. Secrets are resolved with `resolver` in
    /// `namespace`. No connection is opened yet, so Redis may be down; must be called within a
    /// Tokio runtime.
    pub fn new(
        config: &RedisConfig,
        resolver: &dyn SecretResolver,
        namespace: Option<&str>,
    ) -> Result<Self, StoreError> {
        Self::with_options(config, resolver, namespace, RedisStoreOptions::default())
    }

    /// Builds the store with the given timeouts.
    pub fn with_options(
        config: &RedisConfig,
        resolver: &dyn SecretResolver,
        namespace: Option<&str>,
        options: RedisStoreOptions,
    ) -> Result<Self, StoreError> {
        let (backend, mode) = connect::backend(config, resolver, namespace, options)?;
        Ok(Self {
            backend,
            mode,
            endpoints: config.endpoints.clone(),
            options,
        })
    }

    pub fn mode(&self) -> RedisMode {
        self.mode
    }

    async fn query<T: FromRedisValue>(
        &self,
        operation: &'static str,
        cmd: &Cmd,
    ) -> Result<T, StoreError> {
        let attempt = async {
            match &self.backend {
                Backend::Single(manager) => cmd.query_async(&mut manager.clone()).await,
                Backend::Cluster(connection) => cmd.query_async(&mut connection.clone()).await,
                Backend::Sentinel(sentinel) => sentinel.query(cmd).await,
            }
        };
        match tokio::time::timeout(self.options.operation_timeout, attempt).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(map_error(operation, &error)),
            Err(_) => Err(StoreError::Timeout {
                operation,
                after: self.options.operation_timeout,
            }),
        }
    }
}

/// True for errors after which another server, or the same one later, may answer.
pub(crate) fn is_transient(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || error.is_cluster_error()
        || matches!(
            error.code(),
            Some("READONLY" | "LOADING" | "MASTERDOWN" | "TRYAGAIN" | "CLUSTERDOWN" | "BUSY")
        )
}

fn map_error(operation: &'static str, error: &RedisError) -> StoreError {
    // RedisError's text carries the server's reply or the I/O cause, never command arguments.
    let reason = error.to_string();
    if is_transient(error) {
        StoreError::Unavailable { operation, reason }
    } else {
        StoreError::Refused { operation, reason }
    }
}

fn unexpected(operation: &'static str, value: &Value) -> StoreError {
    StoreError::Refused {
        operation,
        reason: format!("unexpected reply {}", reply_kind(value)),
    }
}

/// The reply's type only: its content could be a stored value.
fn reply_kind(value: &Value) -> &'static str {
    match value {
        Value::Nil => "nil",
        Value::Int(_) => "integer",
        Value::BulkString(_) => "bulk string",
        Value::Array(_) => "array",
        Value::SimpleString(_) => "simple string",
        Value::Okay => "OK",
        _ => "other",
    }
}

fn set_command(key: &str, value: &[u8], ttl: Duration, only_if_absent: bool) -> Cmd {
    let mut cmd = redis::cmd("SET");
    cmd.arg(key).arg(value);
    if only_if_absent {
        cmd.arg("NX");
    }
    cmd.arg("PX").arg(ttl_millis(ttl));
    cmd
}

impl Store for RedisStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let value: Value = self.query("get", redis::cmd("GET").arg(key)).await?;
            match value {
                Value::Nil => Ok(None),
                Value::BulkString(bytes) => Ok(Some(bytes)),
                other => Err(unexpected("get", &other)),
            }
        })
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Option<Vec<u8>>>, StoreError>> {
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            if self.mode == RedisMode::Cluster {
                // Concurrent GETs, each routed to its slot's node: as fast as a multi-slot
                // MGET, and the client's MGET splitting miscounts replies when it retries
                // during a failover.
                return futures_util::future::try_join_all(keys.iter().map(|key| self.get(key)))
                    .await;
            }
            // MGET: one round trip.
            let reply: Value = self.query("get_many", redis::cmd("MGET").arg(keys)).await?;
            let Value::Array(items) = reply else {
                return Err(unexpected("get_many", &reply));
            };
            if items.len() != keys.len() {
                return Err(StoreError::Refused {
                    operation: "get_many",
                    reason: format!("{} values for {} keys", items.len(), keys.len()),
                });
            }
            items
                .into_iter()
                .map(|item| match item {
                    Value::Nil => Ok(None),
                    Value::BulkString(bytes) => Ok(Some(bytes)),
                    other => Err(unexpected("get_many", &other)),
                })
                .collect()
        })
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let reply: Value = self
                .query("set", &set_command(key, value, ttl, false))
                .await?;
            match reply {
                Value::Okay => Ok(()),
                Value::SimpleString(text) if text == "OK" => Ok(()),
                other => Err(unexpected("set", &other)),
            }
        })
    }

    fn set_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let reply: Value = self
                .query("set_if_absent", &set_command(key, value, ttl, true))
                .await?;
            match reply {
                Value::Okay => Ok(true),
                Value::SimpleString(text) if text == "OK" => Ok(true),
                Value::Nil => Ok(false),
                other => Err(unexpected("set_if_absent", &other)),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let reply: Value = self.query("delete", redis::cmd("DEL").arg(key)).await?;
            match reply {
                Value::Int(removed) => Ok(removed > 0),
                other => Err(unexpected("delete", &other)),
            }
        })
    }

    fn delete_if_equals<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(DELETE_IF_EQUALS).arg(1).arg(key).arg(value);
            let reply: Value = self.query("delete_if_equals", &cmd).await?;
            match reply {
                Value::Int(removed) => Ok(removed > 0),
                other => Err(unexpected("delete_if_equals", &other)),
            }
        })
    }
}
