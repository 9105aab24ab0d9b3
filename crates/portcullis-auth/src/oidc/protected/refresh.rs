//! One refresh per session at a time.
//!
//! What it protects against, and how: providers that rotate refresh tokens revoke a token once
//! it is used, and some revoke the whole grant when a used token is presented again. When a
//! page fires several requests with an expired access token, each carrying the same refresh
//! token, only the first may spend it. Requests of one session (keyed by session id and the
//! refresh token they carry) share one refresh: the first runs it, the others wait for its
//! result, and for a short grace period afterwards requests still carrying the old cookie
//! reuse that result instead of spending the rotated-out token. Finished entries are swept, so
//! the table stays small.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::oidc::session::Session;

/// How a refresh failed, shared by every request waiting on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshFailure {
    /// The provider refused the refresh token: the session ends.
    Refused(String),
    /// The provider timed out (504).
    Timeout(String),
    /// The provider failed or answered nonsense (502).
    Provider(String),
    /// The shared session store could not be used (503).
    StoreUnavailable(String),
}

type Outcome = Result<Arc<Session>, RefreshFailure>;

#[derive(Debug)]
struct Slot {
    result: OnceCell<Outcome>,
    /// When the refresh finished, and whether it succeeded.
    finished: Mutex<Option<(Instant, bool)>>,
}

/// The per-session single-flight table of one middleware.
#[derive(Debug)]
pub struct RefreshCoordinator {
    slots: Mutex<HashMap<(String, String), Arc<Slot>>>,
    grace: Duration,
}

impl RefreshCoordinator {
    pub fn new(grace: Duration) -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
            grace,
        }
    }

    /// Runs `refresh` for `session`, unless a refresh of the same session and refresh token
    /// is running (then waits for it) or finished less than the grace period ago (then reuses
    /// its result).
    pub async fn refresh<F, Fut>(&self, session: &Session, refresh: F) -> Outcome
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Outcome>,
    {
        let key = (
            session.id.clone(),
            fingerprint(session.refresh_token.as_deref().unwrap_or_default()),
        );
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            let grace = self.grace;
            // Running refreshes stay; finished ones stay for the grace period when they
            // succeeded (a failure is shared only with the requests that waited for it).
            slots.retain(|_, slot| {
                slot.finished
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .is_none_or(|(at, ok)| ok && at.elapsed() < grace)
            });
            Arc::clone(slots.entry(key).or_insert_with(|| {
                Arc::new(Slot {
                    result: OnceCell::new(),
                    finished: Mutex::new(None),
                })
            }))
        };
        let outcome = slot
            .result
            .get_or_init(|| async {
                let outcome = refresh().await;
                *slot.finished.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some((Instant::now(), outcome.is_ok()));
                outcome
            })
            .await;
        outcome.clone()
    }

    /// Forgets a session's entries (logout).
    pub fn forget(&self, session_id: &str) {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(id, _), _| id != session_id);
    }

    /// Entries in the table.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A short digest of the refresh token, so the table never holds the token itself.
fn fingerprint(token: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    digest
        .as_ref()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn session(refresh: &str) -> Session {
        Session {
            id: "s".into(),
            sub: "alice".into(),
            sid: None,
            id_token: Default::default(),
            access_token: "old".into(),
            access_token_is_jwt: false,
            refresh_token: Some(refresh.into()),
            access_expires_at: Some(0),
            created_at: 0,
            expires_at: 100,
            csrf: Default::default(),
            sealed_with: Default::default(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_refreshes_of_one_session_run_once() {
        let coordinator = Arc::new(RefreshCoordinator::new(Duration::from_secs(10)));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let coordinator = Arc::clone(&coordinator);
            let calls = Arc::clone(&calls);
            tasks.push(tokio::spawn(async move {
                coordinator
                    .refresh(&session("r1"), || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        let mut new = session("r2");
                        new.access_token = "new".into();
                        Ok(Arc::new(new))
                    })
                    .await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap().access_token, "new");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        // Within the grace period, the old cookie reuses the result.
        tokio::time::advance(Duration::from_secs(5)).await;
        let again = coordinator
            .refresh(&session("r1"), || async {
                panic!("must not refresh again")
            })
            .await;
        assert_eq!(again.unwrap().access_token, "new");

        // After it, a new refresh runs (and the table was swept).
        tokio::time::advance(Duration::from_secs(10)).await;
        let later = coordinator
            .refresh(&session("r1"), || async {
                Err(RefreshFailure::Refused("invalid_grant".into()))
            })
            .await;
        assert!(matches!(later, Err(RefreshFailure::Refused(_))));
        assert_eq!(coordinator.len(), 1);
        coordinator.forget("s");
        assert!(coordinator.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn another_refresh_token_is_another_flight() {
        let coordinator = RefreshCoordinator::new(Duration::from_secs(10));
        let first = coordinator
            .refresh(&session("r1"), || async { Ok(Arc::new(session("r2"))) })
            .await
            .unwrap();
        assert_eq!(first.refresh_token.as_deref(), Some("r2"));
        let second = coordinator
            .refresh(&session("r2"), || async { Ok(Arc::new(session("r3"))) })
            .await
            .unwrap();
        assert_eq!(second.refresh_token.as_deref(), Some("r3"));
    }
}
