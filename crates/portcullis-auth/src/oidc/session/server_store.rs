//! Sessions kept server-side (`session.store.redis`): the session lives in the shared store
//! under a random id and the browser's cookie carries only that id, sealed.
//!
//! What it protects against, and how:
//! - stolen or guessed session ids: the id is 128 random bits and the cookie holding it is
//!   sealed (AES-256-GCM with the session key), so a cookie cannot be forged or pointed at
//!   another session, and a store key is never derived from anything the browser chose;
//! - tokens readable in the store: the stored session is sealed with the same key, so a dump of
//!   Redis reveals no token to someone without the client secret;
//! - a store outage read as "logged out": every store failure is a [`StoreError`] (503 for the
//!   request), never `None`; only a missing entry (expired, logged out, revoked) is no session;
//! - logout not reaching other replicas: logout deletes the entry, which every replica reads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::HeaderValue;
use portcullis_store::Store;

use crate::oidc::session::opened_cache::OpenedSessions;
use crate::oidc::session::store_keys::StoreKeys;
use crate::oidc::session::{Session, SessionStore, StoreError};
use crate::shared::cookies::{self, CookieAttributes, CookieJar};
use crate::shared::seal::Sealer;

/// Subjects remembered at most; past it, the memory starts over.
const SUBJECTS_CAPACITY: usize = 100_000;

/// Sessions in a shared [`Store`], referenced by a sealed id in the cookie.
#[derive(Debug)]
pub struct ServerSessionStore {
    store: Arc<dyn Store>,
    keys: StoreKeys,
    name: String,
    attributes: CookieAttributes,
    sealer: Sealer,
    /// Stored values already opened (see [`OpenedSessions`]: keyed by a digest of the exact
    /// sealed value, so a changed entry is opened again).
    opened: OpenedSessions,
    /// The `sub` and `sid` of sessions seen by this replica, by session id: they never change
    /// for a session, and knowing them lets one request read the session and its revocation
    /// records in a single round trip.
    subjects: Mutex<HashMap<String, Subject>>,
}

/// Who a session belongs to, as revocations address it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub sub: String,
    pub sid: Option<String>,
}

impl Subject {
    pub fn of(session: &Session) -> Self {
        Self {
            sub: session.sub.clone(),
            sid: session.sid.clone(),
        }
    }
}

pub(crate) fn unavailable(error: portcullis_store::StoreError) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

impl ServerSessionStore {
    pub fn new(
        store: Arc<dyn Store>,
        keys: StoreKeys,
        name: String,
        attributes: CookieAttributes,
        sealer: Sealer,
    ) -> Self {
        Self {
            store,
            keys,
            name,
            attributes,
            sealer,
            opened: OpenedSessions::default(),
            subjects: Mutex::new(HashMap::new()),
        }
    }

    /// The subject of session `id`, when this replica has seen it.
    pub fn known_subject(&self, id: &str) -> Option<Subject> {
        self.subjects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    fn remember_subject(&self, session: &Session) {
        let mut subjects = self.subjects.lock().unwrap_or_else(PoisonError::into_inner);
        if subjects.len() >= SUBJECTS_CAPACITY {
            subjects.clear();
        }
        subjects.insert(session.id.clone(), Subject::of(session));
    }

    /// The store key of session `id`.
    pub fn key(&self, id: &str) -> String {
        self.keys.session(id)
    }

    /// The session id the request's cookie names, when the cookie opens.
    pub fn session_id(&self, jar: &CookieJar) -> Option<String> {
        let opened = jar
            .reassemble_all(&self.name)
            .into_iter()
            .filter_map(|sealed| {
                let id = self.sealer.open(&sealed).ok()?;
                String::from_utf8(id).ok()
            });
        crate::oidc::session::only_one(opened, |id| id.as_str())
    }

    /// Reads the session `id` from the store.
    pub async fn read(&self, id: &str) -> Result<Option<Session>, StoreError> {
        let stored = self
            .store
            .get(&self.keys.session(id))
            .await
            .map_err(unavailable)?;
        Ok(stored.and_then(|stored| self.decode(id, &stored)))
    }

    /// Opens a stored value of session `id`. An entry that does not open (sealed with a key we
    /// no longer have, or written by something else) is no session, like an unreadable cookie.
    pub fn decode(&self, id: &str, stored: &[u8]) -> Option<Session> {
        let sealed = std::str::from_utf8(stored).ok()?;
        if let Some((session, until)) = self.opened.get(sealed) {
            return (session.id == id && self.sealer.still_opens(until)).then_some(session);
        }
        let opened = self.sealer.open_detailed(sealed).ok();
        let until = opened.as_ref().and_then(|opened| opened.until);
        let session = opened
            .and_then(|opened| {
                let mut session = serde_json::from_slice::<Session>(&opened.plaintext).ok()?;
                session.sealed_with = opened.root;
                Some(session)
            })
            .filter(|session| session.id == id);
        match &session {
            Some(session) => {
                self.opened.insert(sealed, session, until);
                self.remember_subject(session);
            }
            None => tracing::warn!("a stored session could not be opened; treated as no session"),
        }
        session
    }
}

impl ServerSessionStore {
    /// Writes `session` to the store for `max_age` seconds.
    pub async fn write(&self, session: &Session, max_age: i64) -> Result<(), StoreError> {
        let plaintext =
            serde_json::to_vec(session).map_err(|e| StoreError::Encoding(e.to_string()))?;
        // Not compressed: the store holds it, and sealing stays cheap on every renewal.
        let sealed = self.sealer.seal(&plaintext, false)?;
        let ttl = Duration::from_secs(u64::try_from(max_age.max(1)).unwrap_or(1));
        self.store
            .set(&self.keys.session(&session.id), sealed.as_bytes(), ttl)
            .await
            .map_err(unavailable)?;
        self.opened.insert(&sealed, session, None);
        self.remember_subject(session);
        Ok(())
    }
}

impl SessionStore for ServerSessionStore {
    fn load<'a>(
        &'a self,
        jar: &'a CookieJar,
    ) -> BoxFuture<'a, Result<Option<Session>, StoreError>> {
        Box::pin(async move {
            match self.session_id(jar) {
                Some(id) => self.read(&id).await,
                None => Ok(None),
            }
        })
    }

    fn save<'a>(
        &'a self,
        session: &'a Session,
        max_age: i64,
        jar: &'a CookieJar,
    ) -> BoxFuture<'a, Result<Vec<HeaderValue>, StoreError>> {
        Box::pin(async move {
            self.write(session, max_age).await?;
            let cookie = self.sealer.seal(session.id.as_bytes(), false)?;
            Ok(cookies::write_chunked(
                &self.name,
                &cookie,
                &self.attributes,
                Some(max_age),
                jar,
            )?)
        })
    }

    fn delete<'a>(
        &'a self,
        session: Option<&'a Session>,
        jar: &'a CookieJar,
    ) -> BoxFuture<'a, Result<Vec<HeaderValue>, StoreError>> {
        Box::pin(async move {
            let id = session
                .map(|session| session.id.clone())
                .or_else(|| self.session_id(jar));
            if let Some(id) = id {
                self.store
                    .delete(&self.keys.session(&id))
                    .await
                    .map_err(unavailable)?;
            }
            Ok(cookies::delete_chunked(&self.name, &self.attributes, jar))
        })
    }

    fn is_own_cookie(&self, name: &str) -> bool {
        CookieJar::is_chunk_of(name, &self.name)
    }
}
