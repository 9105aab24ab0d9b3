//! The provider as the middleware sees it: discovered in the background, cached, and never in
//! the way of the gateway's start.
//!
//! What it protects against, and how: a provider that is down when the gateway starts (or when
//! a configuration is reloaded) must neither crash the gateway nor block it. Discovery runs in
//! a background task, retried with exponential backoff until it succeeds; meanwhile requests
//! that need the provider get a 502 (504 when the last attempt timed out) at once instead of
//! waiting. Requests that arrive while an attempt is in flight wait for that attempt only. The
//! task holds a weak reference, so it stops when the middleware is dropped on reload.

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::Clock;
use crate::error::AuthError;
use crate::shared::discovery::{self, DiscoveryError, ProviderMetadata};
use crate::shared::jwks::JwksCache;
use crate::shared::provider_client::{ProviderClient, ProviderError};

/// A discovered provider: metadata and key set.
#[derive(Debug)]
pub struct Provider {
    pub metadata: ProviderMetadata,
    pub jwks: JwksCache,
}

#[derive(Debug, Clone)]
enum Status {
    NotStarted,
    InFlight,
    Ready(Arc<Provider>),
    Failed { message: String, timed_out: bool },
}

#[derive(Debug)]
struct Shared {
    client: ProviderClient,
    issuer: String,
    params: Vec<(String, String)>,
    jwks_refetch_interval: Duration,
    /// The clock the JWKS refetch interval is measured with.
    clock: Arc<dyn Clock>,
    retry_min: Duration,
    retry_max: Duration,
    /// Longest wait for an attempt in flight.
    attempt_budget: Duration,
    status: Mutex<Status>,
    changes: watch::Sender<u64>,
}

/// Shared handle on the provider's discovery state.
#[derive(Debug, Clone)]
pub struct ProviderHandle {
    shared: Arc<Shared>,
}

/// How discovery is retried.
#[derive(Debug, Clone, Copy)]
pub struct DiscoveryRetry {
    pub min: Duration,
    pub max: Duration,
}

impl ProviderHandle {
    /// A handle; discovery starts with [`ProviderHandle::start`] or the first request.
    pub fn new(
        client: ProviderClient,
        issuer: String,
        params: Vec<(String, String)>,
        jwks_refetch_interval: Duration,
        clock: Arc<dyn Clock>,
        retry: DiscoveryRetry,
        attempt_budget: Duration,
    ) -> Self {
        let (changes, _) = watch::channel(0);
        Self {
            shared: Arc::new(Shared {
                client,
                issuer,
                params,
                jwks_refetch_interval,
                clock,
                retry_min: retry.min,
                retry_max: retry.max,
                attempt_budget,
                status: Mutex::new(Status::NotStarted),
                changes,
            }),
        }
    }

    /// Starts background discovery when a Tokio runtime is running; otherwise the first
    /// request starts it. Never blocks.
    pub fn start(&self) {
        if tokio::runtime::Handle::try_current().is_ok() {
            self.ensure_started();
        }
    }

    fn ensure_started(&self) {
        {
            let mut status = self.lock();
            if !matches!(*status, Status::NotStarted) {
                return;
            }
            *status = Status::InFlight;
        }
        let weak = Arc::downgrade(&self.shared);
        tokio::spawn(discovery_loop(weak));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Status> {
        self.shared
            .status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The provider when it is discovered, if ever.
    pub fn ready(&self) -> Option<Arc<Provider>> {
        match &*self.lock() {
            Status::Ready(provider) => Some(Arc::clone(provider)),
            _ => None,
        }
    }

    /// The discovered provider; waits only for an attempt already in flight.
    pub async fn get(&self) -> Result<Arc<Provider>, AuthError> {
        self.ensure_started();
        let mut changes = self.shared.changes.subscribe();
        let deadline = tokio::time::Instant::now() + self.shared.attempt_budget;
        loop {
            match self.lock().clone() {
                Status::Ready(provider) => return Ok(provider),
                Status::Failed { message, timed_out } => {
                    return Err(AuthError::ProviderUnavailable { message, timed_out });
                }
                Status::NotStarted | Status::InFlight => {}
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => {
                    return Err(AuthError::ProviderUnavailable {
                        message: format!(
                            "discovery of {} is still in progress",
                            self.shared.issuer
                        ),
                        timed_out: true,
                    });
                }
            }
        }
    }
}

async fn discovery_loop(weak: Weak<Shared>) {
    let mut delay: Option<Duration> = None;
    loop {
        let Some(shared) = weak.upgrade() else { return };
        if delay.is_some() {
            set_status(&shared, Status::InFlight);
        }
        let outcome = discovery::discover(&shared.client, &shared.issuer, &shared.params).await;
        match outcome {
            Ok(metadata) => {
                tracing::info!(issuer = %shared.issuer, "provider discovered");
                let jwks = JwksCache::new(shared.client.clone(), metadata.jwks_uri.clone())
                    .with_refetch_interval(shared.jwks_refetch_interval)
                    .with_clock(Arc::clone(&shared.clock));
                set_status(
                    &shared,
                    Status::Ready(Arc::new(Provider { metadata, jwks })),
                );
                return;
            }
            Err(error) => {
                let next = delay.map_or(shared.retry_min, |d| {
                    d.saturating_mul(2).min(shared.retry_max)
                });
                tracing::warn!(issuer = %shared.issuer, %error, retry_in = ?next, "provider discovery failed");
                let timed_out = matches!(
                    error,
                    DiscoveryError::Provider(ProviderError::Timeout { .. })
                );
                set_status(
                    &shared,
                    Status::Failed {
                        message: error.to_string(),
                        timed_out,
                    },
                );
                delay = Some(next);
                drop(shared);
                tokio::time::sleep(next).await;
            }
        }
    }
}

fn set_status(shared: &Shared, status: Status) {
    *shared.status.lock().unwrap_or_else(PoisonError::into_inner) = status;
    shared
        .changes
        .send_modify(|version| *version = version.wrapping_add(1));
}
