//! One refresh per session across replicas (`session.store.redis`).
//!
//! What it protects against, and how: with server-side sessions, requests of one session can
//! reach several replicas at once, each holding the same refresh token; a provider that
//! rotates refresh tokens would accept only the first and may revoke the grant when the
//! second arrives. A replica refreshes only while it holds the session's lock in the shared
//! store (`set_if_absent` with a TTL, released with `delete_if_equals` so an expired lock taken
//! over by another replica is never released by the old holder). After taking the lock it
//! re-reads the session: when another replica already refreshed it, that result is used. It
//! saves the refreshed session before releasing the lock, so the next holder sees it. Replicas
//! that find the lock taken poll the session until its refresh token changes (another replica
//! refreshed it), the session disappears (the refresh was refused: the session ended), or the
//! lock is free again (its holder failed: they try to take it).

use std::sync::Arc;
use std::time::Duration;

use portcullis_store::Store;
use tokio::time::Instant;

use crate::oidc::protected::refresh::RefreshFailure;
use crate::oidc::session::revocations::Revocations;
use crate::oidc::session::server_store::ServerSessionStore;
use crate::oidc::session::store_keys::StoreKeys;
use crate::oidc::session::{Session, random_id};

/// How often a waiting replica looks at the session again.
const POLL: Duration = Duration::from_millis(50);

/// The shared store of a middleware with `session.store`.
#[derive(Debug)]
pub struct SharedSessions {
    pub store: Arc<dyn Store>,
    pub keys: StoreKeys,
    pub sessions: Arc<ServerSessionStore>,
    pub revocations: Arc<Revocations>,
    /// How long one refresh may take (lock TTL and waiting limit).
    pub refresh_budget: Duration,
}

fn store_failure(error: impl std::fmt::Display) -> RefreshFailure {
    RefreshFailure::StoreUnavailable(error.to_string())
}

impl SharedSessions {
    /// The request's session and whether it is revoked. When this replica has seen the
    /// session before (it knows its `sub` and `sid`), the session and its revocation records
    /// are read in one round trip; otherwise in two.
    pub async fn load_checked(
        &self,
        jar: &crate::shared::cookies::CookieJar,
    ) -> Result<Option<(Session, bool)>, crate::oidc::session::StoreError> {
        use crate::oidc::session::server_store::unavailable;
        let Some(id) = self.sessions.session_id(jar) else {
            return Ok(None);
        };
        if let Some(subject) = self.sessions.known_subject(&id) {
            let [by_id, by_sub, by_sid] = self.revocations.keys_for(&id, &subject);
            let keys = [self.sessions.key(&id), by_id, by_sub, by_sid];
            let mut values = self.store.get_many(&keys).await.map_err(unavailable)?;
            let stored = values.first_mut().and_then(Option::take);
            let Some(session) = stored.and_then(|stored| self.sessions.decode(&id, &stored)) else {
                return Ok(None);
            };
            if crate::oidc::session::server_store::Subject::of(&session) == subject {
                let revoked =
                    Revocations::revoked_by(&session, values.get(1..).unwrap_or_default())?;
                return Ok(Some((session, revoked)));
            }
        }
        let Some(session) = self.sessions.read(&id).await? else {
            return Ok(None);
        };
        let revoked = self.revocations.is_revoked(&session).await?;
        Ok(Some((session, revoked)))
    }

    /// Refreshes `session` with `run` unless another replica does it, and returns the session
    /// to continue with (saved in the store; `now` in Unix seconds).
    pub async fn refresh<F, Fut>(
        &self,
        session: &Session,
        now: i64,
        run: F,
    ) -> Result<Arc<Session>, RefreshFailure>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Arc<Session>, RefreshFailure>>,
    {
        let lock = self.keys.refresh_lock(&session.id);
        let owner = random_id().map_err(store_failure)?;
        let deadline = Instant::now() + self.refresh_budget;
        loop {
            let taken = self
                .store
                .set_if_absent(&lock, owner.as_bytes(), self.refresh_budget)
                .await
                .map_err(store_failure)?;
            if taken {
                let outcome = self.refresh_holding_lock(session, now, run).await;
                if let Err(error) = self.store.delete_if_equals(&lock, owner.as_bytes()).await {
                    // The lock expires by itself; the others wait at most its TTL.
                    tracing::warn!(%error, "refresh lock could not be released");
                }
                return outcome;
            }
            // Another replica is refreshing: wait for its result.
            loop {
                if Instant::now() >= deadline {
                    return Err(RefreshFailure::Timeout(
                        "another replica's refresh of this session did not finish in time".into(),
                    ));
                }
                tokio::time::sleep(POLL).await;
                if let Some(current) = self
                    .refreshed_elsewhere(session, "during a refresh by another replica")
                    .await?
                {
                    return Ok(current);
                }
                let held = self.store.get(&lock).await.map_err(store_failure)?;
                if held.is_none() {
                    break;
                }
            }
        }
    }

    /// The stored session when another replica has already refreshed it (its refresh token
    /// changed), `None` while it has not, and a refusal when the session is gone (`when` says
    /// at which point, for the log).
    async fn refreshed_elsewhere(
        &self,
        session: &Session,
        when: &str,
    ) -> Result<Option<Arc<Session>>, RefreshFailure> {
        match self
            .sessions
            .read(&session.id)
            .await
            .map_err(store_failure)?
        {
            None => Err(RefreshFailure::Refused(format!("the session ended {when}"))),
            Some(current) if current.refresh_token != session.refresh_token => {
                Ok(Some(Arc::new(current)))
            }
            Some(_) => Ok(None),
        }
    }

    async fn refresh_holding_lock<F, Fut>(
        &self,
        session: &Session,
        now: i64,
        run: F,
    ) -> Result<Arc<Session>, RefreshFailure>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Arc<Session>, RefreshFailure>>,
    {
        if let Some(current) = self
            .refreshed_elsewhere(session, "before its refresh")
            .await?
        {
            return Ok(current);
        }
        let refreshed = run().await?;
        self.sessions
            .write(&refreshed, refreshed.expires_at.saturating_sub(now))
            .await
            .map_err(store_failure)?;
        Ok(refreshed)
    }
}
