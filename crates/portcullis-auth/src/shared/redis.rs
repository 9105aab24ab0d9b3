//! The Redis client of a `redis` block, built without a connection and, outside a Tokio
//! runtime, without a runtime: the one constructor for every store of the authentication
//! middlewares (`session.store.redis`, the client credentials `store.redis`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use portcullis_config::SecretResolver;
use portcullis_config::plugin::common::RedisConfig;
use portcullis_store::{RedisStore, Store, StoreError};

use crate::shared::recorded_secrets::{Recorded, Recorder};

/// The Redis client of `store.redis`, with its secrets resolved by `secrets` in `namespace`.
/// Opens no connection: Redis may be down when the middleware is built.
///
/// The client spawns background tasks, so it needs a Tokio runtime. Within one it is built at
/// once. Without one (`portcullis check` builds middlewares outside any runtime), the
/// configuration is checked in a throwaway runtime and the client is built on first use, from
/// the secrets resolved now.
pub fn connect(
    config: &RedisConfig,
    secrets: &dyn SecretResolver,
    namespace: Option<&str>,
) -> Result<Arc<dyn Store>, StoreError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Ok(Arc::new(RedisStore::new(config, secrets, namespace)?));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StoreError::Config(format!("no async runtime: {e}")))?;
    let recorded = Recorded::default();
    {
        let recorder = Recorder {
            inner: secrets,
            recorded: &recorded,
        };
        let _entered = runtime.enter();
        drop(RedisStore::new(config, &recorder, namespace)?);
    }
    Ok(Arc::new(Deferred {
        config: config.clone(),
        namespace: namespace.map(str::to_owned),
        secrets: recorded,
        store: tokio::sync::OnceCell::new(),
    }))
}

/// A Redis client built on first use, inside the runtime that uses it.
struct Deferred {
    config: RedisConfig,
    namespace: Option<String>,
    secrets: Recorded,
    store: tokio::sync::OnceCell<RedisStore>,
}

impl fmt::Debug for Deferred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deferred")
            .field("endpoints", &self.config.endpoints)
            .field("store", &self.store.get())
            .finish_non_exhaustive()
    }
}

impl Deferred {
    async fn store(&self) -> Result<&RedisStore, StoreError> {
        self.store
            .get_or_try_init(|| async {
                RedisStore::new(&self.config, &self.secrets, self.namespace.as_deref())
            })
            .await
    }
}

type StoreResult<'a, T> = BoxFuture<'a, Result<T, StoreError>>;

impl Store for Deferred {
    fn get<'a>(&'a self, key: &'a str) -> StoreResult<'a, Option<Vec<u8>>> {
        Box::pin(async move { self.store().await?.get(key).await })
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
