//! Sessions and where they live.
//!
//! A [`Session`] holds the tokens of one login. The [`SessionStore`] trait is the seam between
//! the middleware and the storage: [`CookieSessionStore`] (the default) keeps the whole session
//! in the browser, sealed; a Redis store will keep it server-side with only an id in the
//! cookie.
//!
//! What the cookie store protects against, and how: the session is sealed with AES-256-GCM
//! (see [`crate::shared::seal`]), so the browser can neither read the tokens nor change a byte;
//! the expiry is inside the sealed value and checked by the middleware, so replaying an old
//! cookie after its `Max-Age` does not revive it; a session that opens is still not trusted
//! blindly: its tokens are verified again when first seen ([`crate::oidc::protected::stored_tokens`]), since
//! the key's root secret may be known to others (the client secret); a cookie that does not
//! open (tampered,
//! truncated, sealed with a key we no longer have) is treated as no session and deleted.

pub mod opened_cache;
pub mod revocations;
pub mod server_store;
pub mod shared_sessions;
pub mod store_keys;

use futures_util::future::BoxFuture;
use http::HeaderValue;
use serde::{Deserialize, Serialize};

use crate::oidc::protected::csrf::CsrfGeneration;
use crate::shared::cookies::{self, CookieAttributes, CookieError, CookieJar};
use crate::shared::redacted::{AccessToken, IdToken, RefreshToken};
use crate::shared::seal::{KeyRoot, SealError, Sealer};

/// The state of one login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Random id: binds the CSRF token, keys refresh single-flight and revocation.
    pub id: String,
    /// The ID token's `sub`.
    pub sub: String,
    /// The ID token's `sid` (provider session), for back-channel logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The raw ID token (verified when stored), for claims and `id_token_hint`.
    pub id_token: IdToken,
    pub access_token: AccessToken,
    /// True when the access token is a JWT whose signature was verified with the provider's
    /// keys, so its claims may be read.
    #[serde(default)]
    pub access_token_is_jwt: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// When the access token expires (Unix seconds), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_expires_at: Option<i64>,
    /// When the session was created (Unix seconds).
    pub created_at: i64,
    /// When the session ends (Unix seconds); moved forward by sliding renewal.
    pub expires_at: i64,
    /// The CSRF token generation ([`crate::oidc::protected::csrf`]): each refresh starts the next one.
    #[serde(default, skip_serializing_if = "CsrfGeneration::is_first")]
    pub csrf: CsrfGeneration,
    /// The root of the key that opened the stored value (not stored: set when opened). It
    /// decides how a stored ID token that can no longer be verified is treated
    /// ([`crate::oidc::protected::stored_tokens`]).
    #[serde(skip)]
    pub sealed_with: KeyRoot,
}

/// Why the store failed (a store that cannot answer gives 503; nothing is treated as logged
/// out or logged in by accident).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The store's own error says what was unavailable; the request's error adds that it was
    /// the session store.
    #[error("{0}")]
    Unavailable(String),
    #[error("session cannot be stored: {0}")]
    Encoding(String),
}

impl From<CookieError> for StoreError {
    fn from(error: CookieError) -> Self {
        StoreError::Encoding(error.to_string())
    }
}

impl From<SealError> for StoreError {
    fn from(error: SealError) -> Self {
        StoreError::Encoding(error.to_string())
    }
}

/// Where sessions live. Implementations return the `Set-Cookie` headers the browser needs.
pub trait SessionStore: Send + Sync + std::fmt::Debug {
    /// The session the request carries, if any and if it can be read.
    fn load<'a>(&'a self, jar: &'a CookieJar)
    -> BoxFuture<'a, Result<Option<Session>, StoreError>>;

    /// Stores `session`, valid for `max_age` seconds.
    fn save<'a>(
        &'a self,
        session: &'a Session,
        max_age: i64,
        jar: &'a CookieJar,
    ) -> BoxFuture<'a, Result<Vec<HeaderValue>, StoreError>>;

    /// Deletes the session (`None` when the request carried none that could be read).
    fn delete<'a>(
        &'a self,
        session: Option<&'a Session>,
        jar: &'a CookieJar,
    ) -> BoxFuture<'a, Result<Vec<HeaderValue>, StoreError>>;

    /// True for the names of the cookies this store writes (never sent upstream).
    fn is_own_cookie(&self, name: &str) -> bool;

    /// True when the request carries any cookie of this store.
    fn carries_session(&self, jar: &CookieJar) -> bool {
        jar.names().any(|name| self.is_own_cookie(name))
    }
}

/// The session sealed in the browser's cookies (chunked above 4 KB).
#[derive(Debug)]
pub struct CookieSessionStore {
    name: String,
    attributes: CookieAttributes,
    sealer: Sealer,
    opened: crate::oidc::session::opened_cache::OpenedSessions,
}

impl CookieSessionStore {
    pub fn new(name: String, attributes: CookieAttributes, sealer: Sealer) -> Self {
        Self {
            name,
            attributes,
            sealer,
            opened: Default::default(),
        }
    }

    /// The session cookie's base name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Opens a session cookie value (exposed for tests of the format).
    pub fn open(&self, sealed: &str) -> Option<Session> {
        self.open_until(sealed).map(|(session, _)| session)
    }

    /// Opens a value, with the time until which its key opens anything (a previous key).
    fn open_until(&self, sealed: &str) -> Option<(Session, Option<i64>)> {
        let opened = self.sealer.open_detailed(sealed).ok()?;
        let mut session: Session = serde_json::from_slice(&opened.plaintext).ok()?;
        session.sealed_with = opened.root;
        Some((session, opened.until))
    }

    fn open_cached(&self, sealed: &str) -> Option<Session> {
        if let Some((session, until)) = self.opened.get(sealed) {
            // A value opened with a previous key stops opening when that key's time is up.
            return self.sealer.still_opens(until).then_some(session);
        }
        let (session, until) = self.open_until(sealed)?;
        self.opened.insert(sealed, &session, until);
        Some(session)
    }

    /// Seals a session into a cookie value.
    pub fn seal(&self, session: &Session) -> Result<String, StoreError> {
        let plaintext =
            serde_json::to_vec(session).map_err(|e| StoreError::Encoding(e.to_string()))?;
        Ok(self.sealer.seal(&plaintext, true)?)
    }
}

impl SessionStore for CookieSessionStore {
    fn load<'a>(
        &'a self,
        jar: &'a CookieJar,
    ) -> BoxFuture<'a, Result<Option<Session>, StoreError>> {
        Box::pin(async move {
            let candidates = jar.reassemble_all(&self.name);
            Ok(only_one(
                candidates
                    .iter()
                    .filter_map(|sealed| self.open_cached(sealed)),
                |session| &session.id,
            ))
        })
    }

    fn save<'a>(
        &'a self,
        session: &'a Session,
        max_age: i64,
        jar: &'a CookieJar,
    ) -> BoxFuture<'a, Result<Vec<HeaderValue>, StoreError>> {
        Box::pin(async move {
            let sealed = self.seal(session)?;
            Ok(cookies::write_chunked(
                &self.name,
                &sealed,
                &self.attributes,
                Some(max_age),
                jar,
            )?)
        })
    }

    fn delete<'a>(
        &'a self,
        _session: Option<&'a Session>,
        jar: &'a CookieJar,
    ) -> BoxFuture<'a, Result<Vec<HeaderValue>, StoreError>> {
        Box::pin(async move { Ok(cookies::delete_chunked(&self.name, &self.attributes, jar)) })
    }

    fn is_own_cookie(&self, name: &str) -> bool {
        CookieJar::is_chunk_of(name, &self.name)
    }
}

/// The one session the request's cookies designate. Values that do not open are ignored (a
/// stale cookie of another path or an old key must not lock the user out), but two values
/// that open to different sessions are refused: a cookie planted from a sibling host (cookie
/// tossing) would otherwise choose, by its order, whose session the browser uses.
pub(crate) fn only_one<T>(opened: impl Iterator<Item = T>, id: impl Fn(&T) -> &str) -> Option<T> {
    let mut found: Option<T> = None;
    for candidate in opened {
        match &found {
            None => found = Some(candidate),
            Some(first) if id(first) == id(&candidate) => {}
            Some(_) => {
                tracing::info!("several different session cookies in one request: none is used");
                return None;
            }
        }
    }
    found
}

/// A fresh random id (128 bits, base64url).
pub fn random_id() -> Result<String, SealError> {
    use base64::Engine;
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| SealError::Crypto)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}
