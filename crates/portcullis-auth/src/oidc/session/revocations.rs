//! Session revocation: the records checked on every authenticated request, written by logout
//! and back-channel logout, in a [`Store`]: the shared store with `session.store.redis` (every
//! replica sees them), a [`portcullis_store::MemoryStore`] of this process otherwise (only the
//! replica that received a revocation knows it).
//!
//! What it protects against, and how:
//! - a copy of a logged-out cookie: a cookie session lives in the browser, so deleting the
//!   cookie at logout does not invalidate a copy of it. Revocations are recorded (by session id
//!   at logout, by provider `sid` or `sub` from a back-channel logout token) and every
//!   authenticated request is checked against them until the sessions they name would have
//!   expired anyway — a full `session.expiry` from the revocation, since a copy of the cookie
//!   renewed by sliding before it can outlive the cookie presented at logout. A `sub`
//!   revocation only ends sessions created before it, so the user can log in again at once;
//! - a back-channel logout received by one replica and ignored by the others (shared store):
//!   the records are entries of the shared store, read on every authenticated request by every
//!   replica, in one round trip (`get_many`);
//! - a logout token replayed (to another replica): its `jti` is claimed with `set_if_absent`,
//!   so exactly one replica accepts it;
//! - a store outage read as "not revoked": any store failure is an error (503), never `false`;
//! - records piling up: each carries a TTL until the sessions it names would have expired, and
//!   the memory store is bounded (when full, the records closest to expiry go first).

use std::sync::Arc;
use std::time::Duration;

use portcullis_store::Store;

use crate::oidc::session::server_store::{Subject, unavailable};
use crate::oidc::session::store_keys::StoreKeys;
use crate::oidc::session::{Session, StoreError};

/// Revocation records in a [`Store`]. Times are Unix seconds; `until` is when a record may be
/// forgotten (the sessions it names would have expired).
#[derive(Debug)]
pub struct Revocations {
    store: Arc<dyn Store>,
    keys: StoreKeys,
}

fn ttl(until: i64, now: i64) -> Duration {
    Duration::from_secs(u64::try_from(until.saturating_sub(now)).unwrap_or(0).max(1))
}

/// The revocation time a `sub` record holds. A record that does not parse counts as a
/// revocation of every session so far: it can only come from a damaged store, and ending a
/// session wrongly is the safe mistake.
fn revoked_at(record: &[u8]) -> i64 {
    std::str::from_utf8(record)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(i64::MAX)
}

impl Revocations {
    pub fn new(store: Arc<dyn Store>, keys: StoreKeys) -> Self {
        Self { store, keys }
    }

    async fn record(
        &self,
        key: String,
        value: &[u8],
        until: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        self.store
            .set(&key, value, ttl(until, now))
            .await
            .map_err(unavailable)
    }
}

impl Revocations {
    /// The records that can revoke a session of `subject` with `id`, in the order
    /// [`Self::revoked_by`] reads them.
    pub fn keys_for(&self, id: &str, subject: &Subject) -> [String; 3] {
        [
            self.keys.revoked_session(id),
            self.keys.revoked_sub(&subject.sub),
            match &subject.sid {
                Some(sid) => self.keys.revoked_sid(sid),
                None => self.keys.revoked_sub_without_sid(&subject.sub),
            },
        ]
    }

    /// True when the records read for [`Self::keys_for`] revoke `session`.
    pub fn revoked_by(session: &Session, records: &[Option<Vec<u8>>]) -> Result<bool, StoreError> {
        let [by_id, by_sub, by_sid_or_sub_without_sid] = records else {
            return Err(StoreError::Unavailable(
                "revocation records: wrong number of values".into(),
            ));
        };
        let sub_covers = |record: &Option<Vec<u8>>| {
            record
                .as_deref()
                .is_some_and(|at| session.created_at <= revoked_at(at))
        };
        Ok(by_id.is_some()
            || sub_covers(by_sub)
            || match &session.sid {
                Some(_) => by_sid_or_sub_without_sid.is_some(),
                None => sub_covers(by_sid_or_sub_without_sid),
            })
    }
}

impl Revocations {
    /// True when `session` has been revoked. Checked on every authenticated request.
    pub async fn is_revoked(&self, session: &Session) -> Result<bool, StoreError> {
        let keys = self.keys_for(&session.id, &Subject::of(session));
        let records = self.store.get_many(&keys).await.map_err(unavailable)?;
        Self::revoked_by(session, &records)
    }

    /// Revokes one session (logout).
    pub async fn revoke_session(
        &self,
        session_id: &str,
        until: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        self.record(self.keys.revoked_session(session_id), b"1", until, now)
            .await
    }

    /// Revokes the sessions of a provider session (back-channel logout with `sid`).
    pub async fn revoke_sid(&self, sid: &str, until: i64, now: i64) -> Result<(), StoreError> {
        self.record(self.keys.revoked_sid(sid), b"1", until, now)
            .await
    }

    /// Revokes the sessions of a subject created up to `now` (back-channel logout naming a
    /// `sub`). With `without_sid_only`, only sessions that have no provider `sid` are affected
    /// (the token also named a `sid`, which covers the others).
    pub async fn revoke_sub(
        &self,
        sub: &str,
        until: i64,
        now: i64,
        without_sid_only: bool,
    ) -> Result<(), StoreError> {
        // Two records, so that a later revocation of one kind never narrows an earlier one of
        // the other kind; a later revocation of the same kind covers more, so it may replace.
        let key = if without_sid_only {
            self.keys.revoked_sub_without_sid(sub)
        } else {
            self.keys.revoked_sub(sub)
        };
        self.record(key, now.to_string().as_bytes(), until, now)
            .await
    }

    /// Records a logout token id; false when it was seen before (a replay).
    pub async fn first_use_of_jti(
        &self,
        jti: &str,
        until: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.store
            .set_if_absent(&self.keys.logout_jti(jti), b"1", ttl(until, now))
            .await
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use portcullis_store::MemoryStore;

    use super::*;
    use crate::test_support::session;

    fn revocations() -> Revocations {
        Revocations::new(Arc::new(MemoryStore::new()), StoreKeys::new("t"))
    }

    #[tokio::test]
    async fn by_session_id_sid_and_sub() {
        let r = revocations();
        let plain = session("s1", "alice", None, 10);
        let with_sid = session("s2", "bob", Some("p1"), 10);
        assert!(!r.is_revoked(&plain).await.unwrap());
        r.revoke_session("s1", 200, 20).await.unwrap();
        assert!(r.is_revoked(&plain).await.unwrap());

        assert!(!r.is_revoked(&with_sid).await.unwrap());
        r.revoke_sid("p1", 200, 20).await.unwrap();
        assert!(r.is_revoked(&with_sid).await.unwrap());

        let old = session("s3", "carol", None, 10);
        let new = session("s4", "carol", None, 30);
        r.revoke_sub("carol", 200, 20, false).await.unwrap();
        assert!(r.is_revoked(&old).await.unwrap());
        assert!(
            !r.is_revoked(&new).await.unwrap(),
            "created after the revocation"
        );
    }

    #[tokio::test]
    async fn sub_with_sid_only_reaches_sessions_without_sid() {
        let r = revocations();
        r.revoke_sub("dave", 200, 20, true).await.unwrap();
        assert!(r.is_revoked(&session("a", "dave", None, 10)).await.unwrap());
        assert!(
            !r.is_revoked(&session("b", "dave", Some("other"), 10))
                .await
                .unwrap()
        );
        // A later sub-only revocation is not narrowed by the earlier one.
        r.revoke_sub("dave", 200, 25, false).await.unwrap();
        assert!(
            r.is_revoked(&session("b", "dave", Some("other"), 10))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn revocations_by_id_sid_and_sub() {
        let r = revocations();
        let a = session("a", "alice", Some("sid-1"), 10);
        let b = session("b", "bob", None, 10);
        assert!(!r.is_revoked(&a).await.unwrap() && !r.is_revoked(&b).await.unwrap());
        r.revoke_session("a", 1000, 20).await.unwrap();
        assert!(r.is_revoked(&a).await.unwrap() && !r.is_revoked(&b).await.unwrap());
        let r = revocations();
        r.revoke_sid("sid-1", 1000, 20).await.unwrap();
        assert!(r.is_revoked(&a).await.unwrap() && !r.is_revoked(&b).await.unwrap());
        r.revoke_sub("bob", 1000, 20, false).await.unwrap();
        assert!(r.is_revoked(&b).await.unwrap());
        // A session created after the revocation is not affected.
        assert!(!r.is_revoked(&session("c", "bob", None, 21)).await.unwrap());
        // sid + sub: the sub record only reaches sessions without a sid.
        r.revoke_sub("alice", 1000, 20, true).await.unwrap();
        let with_sid = session("d", "alice", Some("sid-2"), 10);
        assert!(!r.is_revoked(&with_sid).await.unwrap());
        assert!(
            r.is_revoked(&session("e", "alice", None, 10))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_logout_token_is_accepted_once() {
        let r = revocations();
        assert!(r.first_use_of_jti("j", 200, 20).await.unwrap());
        assert!(!r.first_use_of_jti("j", 200, 20).await.unwrap());
        assert!(r.first_use_of_jti("k", 200, 20).await.unwrap());
    }

    #[test]
    fn a_damaged_sub_record_revokes() {
        assert_eq!(revoked_at(b"123"), 123);
        assert_eq!(revoked_at(b"garbage"), i64::MAX);
    }
}
