//! Session revocation: the record checked on every authenticated request, written by logout
//! and back-channel logout, and its in-memory implementation (one replica).
//!
//! What it protects against, and how: a cookie session lives in the browser, so deleting the
//! cookie at logout does not invalidate a copy of it. Revocations are recorded (by session
//! id at logout, by provider `sid` or `sub` from a back-channel logout token) and every
//! authenticated request is checked against them until the sessions they name would have
//! expired anyway — a full `session.expiry` from the revocation, since a copy of the cookie
//! renewed by sliding before it can outlive the cookie presented at logout. A `sub` revocation only ends sessions created before it, so the user can log
//! in again at once. Logout token `jti`s are remembered to refuse replays.
//!
//! [`InMemoryRevocations`] is per process and bounded ([`MAX_RECORDS`]; when full, the
//! entries closest to expiry go first): with several replicas a revocation reaches only the
//! replica that received it. With `session.store.redis`, the records live in the shared store
//! instead ([`super::shared_revocations`]) and reach every replica.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use futures_util::future::BoxFuture;

use crate::oidc::session::{Session, StoreError};

/// Most records of each kind kept.
pub const MAX_RECORDS: usize = 100_000;

/// Where revocations are recorded and checked. Times are Unix seconds; `until` is when the
/// record may be forgotten (the sessions it names would have expired).
pub trait Revocations: Send + Sync + std::fmt::Debug {
    /// True when `session` has been revoked. Checked on every authenticated request.
    fn is_revoked<'a>(&'a self, session: &'a Session) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Revokes one session (logout).
    fn revoke_session<'a>(
        &'a self,
        session_id: &'a str,
        until: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Revokes the sessions of a provider session (back-channel logout with `sid`).
    fn revoke_sid<'a>(
        &'a self,
        sid: &'a str,
        until: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Revokes the sessions of a subject created up to `now` (back-channel logout naming a
    /// `sub`). With `without_sid_only`, only sessions that have no provider `sid` are affected
    /// (the token also named a `sid`, which covers the others).
    fn revoke_sub<'a>(
        &'a self,
        sub: &'a str,
        until: i64,
        now: i64,
        without_sid_only: bool,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Records a logout token id; false when it was seen before (a replay).
    fn first_use_of_jti<'a>(
        &'a self,
        jti: &'a str,
        until: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
}

#[derive(Debug, Default)]
struct Records {
    /// session id -> until
    session_ids: HashMap<String, i64>,
    /// provider sid -> until
    sids: HashMap<String, i64>,
    /// sub -> (revoked at, until, only sessions without a provider sid)
    subs: HashMap<String, (i64, i64, bool)>,
    /// logout token jti -> until
    jtis: HashMap<String, i64>,
}

/// Revocations kept in this process.
#[derive(Debug, Default)]
pub struct InMemoryRevocations {
    records: Mutex<Records>,
}

fn insert_bounded<V: Copy>(
    map: &mut HashMap<String, V>,
    key: &str,
    value: V,
    until: impl Fn(&V) -> i64,
    now: i64,
) {
    map.retain(|_, v| until(v) > now);
    if map.len() >= MAX_RECORDS {
        if let Some(oldest) = map
            .iter()
            .min_by_key(|(_, v)| until(v))
            .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
            // A record dropped before its time lets copies of that session work again: with
            // this many logouts per `session.expiry`, the shared store is the answer.
            tracing::warn!(
                max = MAX_RECORDS,
                "revocation record full: the record closest to expiry was dropped early"
            );
        }
    }
    map.insert(key.to_owned(), value);
}

impl InMemoryRevocations {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Records> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Revokes one session (logout).
    pub fn revoke_session(&self, session_id: &str, until: i64, now: i64) {
        insert_bounded(&mut self.lock().session_ids, session_id, until, |u| *u, now);
    }

    /// Revokes the sessions of a provider session (back-channel logout with `sid`).
    pub fn revoke_sid(&self, sid: &str, until: i64, now: i64) {
        insert_bounded(&mut self.lock().sids, sid, until, |u| *u, now);
    }

    /// Revokes the sessions of a subject created up to `now` (back-channel logout naming a
    /// `sub`). With `without_sid_only`, only sessions that have no provider `sid` are affected
    /// (the token also named a `sid`, which covers the others).
    pub fn revoke_sub(&self, sub: &str, until: i64, now: i64, without_sid_only: bool) {
        insert_bounded(
            &mut self.lock().subs,
            sub,
            (now, until, without_sid_only),
            |(_, u, _)| *u,
            now,
        );
    }

    /// Records a logout token id; false when it was seen before (a replay).
    pub fn first_use_of_jti(&self, jti: &str, until: i64, now: i64) -> bool {
        let mut records = self.lock();
        if records.jtis.get(jti).is_some_and(|u| *u > now) {
            return false;
        }
        insert_bounded(&mut records.jtis, jti, until, |u| *u, now);
        true
    }

    /// The synchronous check behind [`RevocationCheck::is_revoked`].
    pub fn revoked(&self, session: &Session) -> bool {
        let records = self.lock();
        records.session_ids.contains_key(&session.id)
            || session
                .sid
                .as_ref()
                .is_some_and(|sid| records.sids.contains_key(sid))
            || records
                .subs
                .get(&session.sub)
                .is_some_and(|(at, _, without_sid_only)| {
                    session.created_at <= *at && !(*without_sid_only && session.sid.is_some())
                })
    }
}

impl Revocations for InMemoryRevocations {
    fn is_revoked<'a>(&'a self, session: &'a Session) -> BoxFuture<'a, Result<bool, StoreError>> {
        let revoked = self.revoked(session);
        Box::pin(async move { Ok(revoked) })
    }

    fn revoke_session<'a>(
        &'a self,
        session_id: &'a str,
        until: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        InMemoryRevocations::revoke_session(self, session_id, until, now);
        Box::pin(async { Ok(()) })
    }

    fn revoke_sid<'a>(
        &'a self,
        sid: &'a str,
        until: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        InMemoryRevocations::revoke_sid(self, sid, until, now);
        Box::pin(async { Ok(()) })
    }

    fn revoke_sub<'a>(
        &'a self,
        sub: &'a str,
        until: i64,
        now: i64,
        without_sid_only: bool,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        InMemoryRevocations::revoke_sub(self, sub, until, now, without_sid_only);
        Box::pin(async { Ok(()) })
    }

    fn first_use_of_jti<'a>(
        &'a self,
        jti: &'a str,
        until: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let first = InMemoryRevocations::first_use_of_jti(self, jti, until, now);
        Box::pin(async move { Ok(first) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::session;

    #[test]
    fn revocations_by_id_sid_and_sub() {
        let r = InMemoryRevocations::new();
        let a = session("a", "alice", Some("sid-1"), 10);
        let b = session("b", "bob", None, 10);
        assert!(!r.revoked(&a) && !r.revoked(&b));
        r.revoke_session("a", 1000, 20);
        assert!(r.revoked(&a) && !r.revoked(&b));
        let r = InMemoryRevocations::new();
        r.revoke_sid("sid-1", 1000, 20);
        assert!(r.revoked(&a) && !r.revoked(&b));
        r.revoke_sub("bob", 1000, 20, false);
        assert!(r.revoked(&b));
        // A session created after the revocation is not affected.
        assert!(!r.revoked(&session("c", "bob", None, 21)));
        // sid + sub: the sub record only reaches sessions without a sid.
        r.revoke_sub("alice", 1000, 20, true);
        assert!(!r.revoked(&session("d", "alice", Some("sid-2"), 10)));
        assert!(r.revoked(&session("e", "alice", None, 10)));
    }

    #[test]
    fn jtis_are_single_use_until_they_expire() {
        let r = InMemoryRevocations::new();
        assert!(r.first_use_of_jti("j", 100, 10));
        assert!(!r.first_use_of_jti("j", 100, 50));
        assert!(r.first_use_of_jti("j", 200, 150));
    }
}
