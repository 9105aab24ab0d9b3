//! The Redis client of a `redis` block, built without a connection and, outside a Tokio
//! runtime, without a runtime: the one constructor for every Redis-backed store (OIDC
//! sessions, client credentials tokens, revocations, rate limits).

use std::fmt;
use std::time::Duration;

use futures_util::future::BoxFuture;
use portcullis_config::SecretResolver;
use portcullis_config::plugin::common::RedisConfig;

use crate::recorded_secrets::{Recorded, Recorder};
use crate::{RedisStore, Store, StoreError};

/// A Redis client that opens no connection when built: Redis may be down when a middleware is.
///
/// The client spawns background tasks, so it needs a Tokio runtime. Within one it is built at
/// once. Without one (`portcullis check` builds middlewares outside any runtime), the
/// configuration is checked in a throwaway runtime and the client is built on first use, from
/// the secrets resolved now.
pub struct LazyRedis {
    config: RedisConfig,
    namespace: Option<String>,
    secrets: Recorded,
    store: tokio::sync::OnceCell<RedisStore>,
}

impl LazyRedis {
    /// The client of `config`, with its secrets resolved by `secrets` in `namespace`.
    pub fn new(
        config: &RedisConfig,
        secrets: &dyn SecretResolver,
        namespace: Option<&str>,
    ) -> Result<Self, StoreError> {
        let store = tokio::sync::OnceCell::new();
        let recorded = Recorded::default();
        if tokio::runtime::Handle::try_current().is_ok() {
            let built = RedisStore::new(config, secrets, namespace)?;
            let _ = store.set(built);
        } else {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| StoreError::Config(format!("no async runtime: {e}")))?;
            let recorder = Recorder {
                inner: secrets,
                recorded: &recorded,
            };
            let _entered = runtime.enter();
            drop(RedisStore::new(config, &recorder, namespace)?);
        }
        Ok(Self {
            config: config.clone(),
            namespace: namespace.map(str::to_owned),
            secrets: recorded,
            store,
        })
    }

    /// The client, built now when it was not yet.
    pub async fn store(&self) -> Result<&RedisStore, StoreError> {
        self.store
            .get_or_try_init(|| async {
                RedisStore::new(&self.config, &self.secrets, self.namespace.as_deref())
            })
            .await
    }
}

impl fmt::Debug for LazyRedis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyRedis")
            .field("endpoints", &self.config.endpoints)
            .field("store", &self.store.get())
            .finish_non_exhaustive()
    }
}

type StoreResult<'a, T> = BoxFuture<'a, Result<T, StoreError>>;

impl Store for LazyRedis {
    fn get<'a>(&'a self, key: &'a str) -> StoreResult<'a, Option<Vec<u8>>> {
        Box::pin(async move { self.store().await?.get(key).await })
    }

    fn get_many<'a>(&'a self, keys: &'a [String]) -> StoreResult<'a, Vec<Option<Vec<u8>>>> {
        Box::pin(async move { self.store().await?.get_many(keys).await })
    }

    fn set<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreResult<'a, ()> {
        Box::pin(async move { self.store().await?.set(key, value, ttl).await })
    }

    fn set_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> StoreResult<'a, bool> {
        Box::pin(async move { self.store().await?.set_if_absent(key, value, ttl).await })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreResult<'a, bool> {
        Box::pin(async move { self.store().await?.delete(key).await })
    }

    fn delete_if_equals<'a>(&'a self, key: &'a str, value: &'a [u8]) -> StoreResult<'a, bool> {
        Box::pin(async move { self.store().await?.delete_if_equals(key, value).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_config::{LocalResolver, SecretRef};

    /// A server nobody listens on: nothing here connects.
    fn config() -> RedisConfig {
        crate::testing::config(vec!["127.0.0.1:1".to_owned()])
    }

    /// `portcullis check` builds middlewares outside any runtime: a Redis block is checked and
    /// its client deferred to first use, inside the runtime that uses it.
    #[test]
    fn outside_a_runtime_the_client_is_checked_now_and_built_on_first_use() {
        let lazy = LazyRedis::new(&config(), &LocalResolver::new(), None).unwrap();
        assert!(lazy.store.get().is_none());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            assert!(lazy.store().await.is_ok());
        });
        assert!(lazy.store.get().is_some());
    }

    #[tokio::test]
    async fn inside_a_runtime_the_client_is_built_at_once() {
        let lazy = LazyRedis::new(&config(), &LocalResolver::new(), None).unwrap();
        assert!(lazy.store.get().is_some());
    }

    #[test]
    fn a_broken_redis_block_is_refused_outside_a_runtime_too() {
        let mut broken = config();
        broken.password = Some(SecretRef::Env(
            "PORTCULLIS_TEST_NO_SUCH_VARIABLE".to_owned(),
        ));
        let error = LazyRedis::new(&broken, &LocalResolver::new(), None).unwrap_err();
        assert!(!error.to_string().is_empty());
    }
}
