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

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::HeaderValue;
use portcullis_store::Store;

use super::session::{Session, SessionStore, StoreError};
use super::store_keys::StoreKeys;
use crate::shared::cookies::{self, CookieAttributes, CookieJar};
use crate::shared::seal::Sealer;

/// Sessions in a shared [`Store`], referenced by a sealed id in the cookie.
#[derive(Debug)]
pub struct ServerSessionStore {
    store: Arc<dyn Store>,
    keys: StoreKeys,
    name: String,
    attributes: CookieAttributes,
    sealer: Sealer,
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
        }
    }

    /// The session id the request's cookie names, when the cookie opens.
    fn session_id(&self, jar: &CookieJar) -> Option<String> {
        let sealed = jar.reassemble(&self.name)?;
        let id = self.sealer.open(&sealed).ok()?;
        String::from_utf8(id).ok()
    }

    /// Reads the session `id` from the store.
    pub async fn read(&self, id: &str) -> Result<Option<Session>, StoreError> {
        let Some(stored) = self
            .store
            .get(&self.keys.session(id))
            .await
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        // An entry that does not open (sealed with a key we no longer have, or written by
        // something else) is no session, like an unreadable cookie.
        let session = std::str::from_utf8(&stored)
            .ok()
            .and_then(|sealed| self.sealer.open(sealed).ok())
            .and_then(|plaintext| serde_json::from_slice::<Session>(&plaintext).ok())
            .filter(|session| session.id == id);
        if session.is_none() {
            tracing::warn!("a stored session could not be opened; treated as no session");
        }
        Ok(session)
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
            .map_err(unavailable)
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
