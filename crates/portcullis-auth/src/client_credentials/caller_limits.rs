//! What a caller can make the gateway ask of the token endpoint (caller mode, where each
//! request's HTTP Basic credentials are exchanged for a token).
//!
//! What it protects against, and how:
//! - a caller repeating a wrong secret: each exchange costs up to two token-endpoint calls
//!   (`client_secret_basic`, then `client_secret_post`) plus retries. When the provider refuses
//!   a caller's credentials, the refusal is remembered for [`REFUSAL_MEMORY`] under the
//!   credentials' cache key (a keyed hash, never the secret): repeats get the same answer (401)
//!   without a provider call;
//! - a flood of different secrets for one client id (each a new cache key, so neither the
//!   cache, the single flight nor the refusal memory helps): at most
//!   [`MAX_EXCHANGES_PER_CLIENT`] exchanges of one client id run at once; others wait up to
//!   [`EXCHANGE_WAIT`], then get 503 with `Retry-After`. Other client ids are not held up;
//! - memory growth: at most [`MAX_REMEMBERED_REFUSALS`] refusals are kept (when full, the ones
//!   closest to their end go first), and a client id has an entry only while exchanges of it
//!   run or wait.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::cache_key::CacheKey;
use super::error::ObtainError;
use crate::clock::Clock;

/// How long a refusal of the provider is remembered.
pub const REFUSAL_MEMORY: Duration = Duration::from_secs(30);
/// Most token requests of one client id at once.
pub const MAX_EXCHANGES_PER_CLIENT: usize = 2;
/// Longest wait for a free exchange slot before answering 503.
pub const EXCHANGE_WAIT: Duration = Duration::from_secs(1);
/// Most refusals remembered.
pub const MAX_REMEMBERED_REFUSALS: usize = 10_000;

/// The refusal memory and exchange slots of one middleware in caller mode.
#[derive(Debug)]
pub struct CallerLimits {
    /// cache key -> (remembered until, the provider's refusal)
    refusals: Mutex<HashMap<CacheKey, (i64, ObtainError)>>,
    /// client id -> its exchange slots, while any are taken or awaited
    exchanges: Mutex<HashMap<String, Arc<Semaphore>>>,
    clock: Arc<dyn Clock>,
}

/// A taken exchange slot; freed (and the client id's entry dropped when unused) on drop.
#[derive(Debug)]
pub struct ExchangeSlot {
    limits: Arc<CallerLimits>,
    client_id: String,
    permit: Option<OwnedSemaphorePermit>,
}

impl CallerLimits {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            refusals: Mutex::new(HashMap::new()),
            exchanges: Mutex::new(HashMap::new()),
            clock,
        }
    }

    /// The provider's refusal of these credentials, when it is still remembered.
    pub fn remembered_refusal(&self, key: &CacheKey) -> Option<ObtainError> {
        let now = self.clock.now();
        let refusals = lock(&self.refusals);
        refusals
            .get(key)
            .filter(|(until, _)| *until > now)
            .map(|(_, refusal)| refusal.clone())
    }

    /// Remembers that the provider refused these credentials (`Rejected` or `Refused`; other
    /// failures are the provider's, not the caller's, and are not remembered).
    pub fn remember(&self, key: &CacheKey, error: &ObtainError) {
        if !matches!(error, ObtainError::Rejected(_) | ObtainError::Refused(_)) {
            return;
        }
        let now = self.clock.now();
        let until = now.saturating_add(i64::try_from(REFUSAL_MEMORY.as_secs()).unwrap_or(60));
        let mut refusals = lock(&self.refusals);
        if refusals.len() >= MAX_REMEMBERED_REFUSALS {
            refusals.retain(|_, (until, _)| *until > now);
        }
        if refusals.len() >= MAX_REMEMBERED_REFUSALS {
            if let Some(first_to_end) = refusals
                .iter()
                .min_by_key(|(_, (until, _))| *until)
                .map(|(key, _)| key.clone())
            {
                refusals.remove(&first_to_end);
            }
        }
        refusals.insert(key.clone(), (until, error.clone()));
    }

    /// A slot for one exchange of `client_id`, waiting up to [`EXCHANGE_WAIT`].
    pub async fn slot(self: &Arc<Self>, client_id: &str) -> Result<ExchangeSlot, ObtainError> {
        let mut slot = self.empty_slot(client_id);
        let semaphore = self.semaphore(client_id);
        match tokio::time::timeout(EXCHANGE_WAIT, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => {
                slot.permit = Some(permit);
                Ok(slot)
            }
            Ok(Err(_)) | Err(_) => Err(ObtainError::Busy(format!(
                "too many token requests for this client id at once (at most {MAX_EXCHANGES_PER_CLIENT})"
            ))),
        }
    }

    /// A slot when one is free at once (background renewals, which can be skipped).
    pub fn try_slot(self: &Arc<Self>, client_id: &str) -> Option<ExchangeSlot> {
        let mut slot = self.empty_slot(client_id);
        slot.permit = Some(self.semaphore(client_id).try_acquire_owned().ok()?);
        Some(slot)
    }

    /// A slot that holds no permit yet, so that its drop cleans the map up whatever happens.
    fn empty_slot(self: &Arc<Self>, client_id: &str) -> ExchangeSlot {
        ExchangeSlot {
            limits: Arc::clone(self),
            client_id: client_id.to_owned(),
            permit: None,
        }
    }

    fn semaphore(&self, client_id: &str) -> Arc<Semaphore> {
        let mut exchanges = lock(&self.exchanges);
        Arc::clone(
            exchanges
                .entry(client_id.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(MAX_EXCHANGES_PER_CLIENT))),
        )
    }

    /// Client ids with an entry (tests).
    pub fn tracked_client_ids(&self) -> usize {
        lock(&self.exchanges).len()
    }
}

impl Drop for ExchangeSlot {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut exchanges = lock(&self.limits.exchanges);
        // Only the map holds the semaphore: nobody runs or waits for this client id any more.
        if exchanges
            .get(&self.client_id)
            .is_some_and(|semaphore| Arc::strong_count(semaphore) == 1)
        {
            exchanges.remove(&self.client_id);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every operation on the maps is a single insert, lookup or remove: they stay consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_credentials::cache_key::CacheKeyer;
    use crate::clock::ManualClock;

    #[test]
    fn refusals_are_remembered_for_a_short_time_and_outages_not_at_all() {
        let clock = Arc::new(ManualClock::new());
        let limits = CallerLimits::new(clock.clone());
        let keyer = CacheKeyer::random("https://idp/token", None).unwrap();
        let wrong = keyer.key("alice", "guess");
        let down = keyer.key("bob", "secret");
        limits.remember(&wrong, &ObtainError::Rejected("401".into()));
        limits.remember(&down, &ObtainError::Unavailable("503".into()));
        assert_eq!(
            limits.remembered_refusal(&wrong),
            Some(ObtainError::Rejected("401".into()))
        );
        assert_eq!(limits.remembered_refusal(&down), None);
        assert_eq!(
            limits.remembered_refusal(&keyer.key("alice", "right")),
            None
        );
        clock.advance(REFUSAL_MEMORY);
        assert_eq!(limits.remembered_refusal(&wrong), None);
    }

    #[tokio::test(start_paused = true)]
    async fn slots_are_bounded_per_client_id_and_forgotten_when_free() {
        let limits = Arc::new(CallerLimits::new(Arc::new(ManualClock::new())));
        let first = limits.slot("alice").await.unwrap();
        let second = limits.slot("alice").await.unwrap();
        assert!(limits.try_slot("alice").is_none());
        assert!(matches!(
            limits.slot("alice").await,
            Err(ObtainError::Busy(_))
        ));
        let other = limits.slot("bob").await.unwrap();
        assert_eq!(limits.tracked_client_ids(), 2);
        drop(first);
        let third = limits.slot("alice").await.unwrap();
        drop((second, third, other));
        assert_eq!(limits.tracked_client_ids(), 0);
    }
}
