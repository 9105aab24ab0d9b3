//! Sentinel mode that follows failovers.
//!
//! The client library's Sentinel connection keeps talking to the address it first resolved, so
//! after a failover every write fails with `READONLY` (the old master, now a replica) or with a
//! connection error (the old master is gone). This wrapper keeps one multiplexed connection to
//! the master and drops it on such errors, so the next operation asks the sentinels again; a
//! command refused with `READONLY` was not executed, so it is retried once on the new master.

use redis::aio::MultiplexedConnection;
use redis::sentinel::SentinelClient;
use redis::{AsyncConnectionConfig, Cmd, FromRedisValue, RedisError, RedisResult};
use tokio::sync::{Mutex, RwLock};

pub(crate) struct SentinelBackend {
    /// Asks the sentinels for the current master (and verifies its role).
    client: Mutex<SentinelClient>,
    /// The connection in use, with a generation so that a stale failure cannot drop a newer
    /// connection.
    current: RwLock<(u64, Option<MultiplexedConnection>)>,
    connection_config: AsyncConnectionConfig,
}

impl SentinelBackend {
    pub(crate) fn new(client: SentinelClient, connection_config: AsyncConnectionConfig) -> Self {
        Self {
            client: Mutex::new(client),
            current: RwLock::new((0, None)),
            connection_config,
        }
    }

    async fn connection(&self) -> RedisResult<(u64, MultiplexedConnection)> {
        if let (generation, Some(connection)) = &*self.current.read().await {
            return Ok((*generation, connection.clone()));
        }
        let mut current = self.current.write().await;
        if let (generation, Some(connection)) = &*current {
            return Ok((*generation, connection.clone()));
        }
        let master = self.client.lock().await.async_get_client().await?;
        let connection = master
            .get_multiplexed_async_connection_with_config(&self.connection_config)
            .await?;
        let generation = current.0.wrapping_add(1);
        *current = (generation, Some(connection.clone()));
        Ok((generation, connection))
    }

    async fn forget(&self, generation: u64) {
        let mut current = self.current.write().await;
        if current.0 == generation {
            current.1 = None;
        }
    }

    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> RedisResult<T> {
        let mut retried = false;
        loop {
            let (generation, mut connection) = self.connection().await?;
            match cmd.query_async::<T>(&mut connection).await {
                Ok(value) => return Ok(value),
                Err(error) if needs_new_master(&error) => {
                    self.forget(generation).await;
                    if is_read_only(&error) && !retried {
                        retried = true;
                        continue;
                    }
                    return Err(error);
                }
                Err(error) => return Err(error),
            }
        }
    }
}

fn is_read_only(error: &RedisError) -> bool {
    error.code() == Some("READONLY")
}

fn needs_new_master(error: &RedisError) -> bool {
    is_read_only(error)
        || error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || matches!(error.code(), Some("MASTERDOWN" | "LOADING"))
}
