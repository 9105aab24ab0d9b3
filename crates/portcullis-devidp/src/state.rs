//! The provider's shared state: configuration, keys, faults, counters, and the grants it has
//! handed out (login transactions, codes, refresh tokens, access tokens, provider sessions).
//!
//! Every grant carries its expiry and is checked against the injectable clock; expired entries
//! are pruned whenever a new one is stored, so a long-running demo does not grow without bound.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde_json::{Map, Value};

use crate::backchannel::BackchannelLog;
use crate::clock::Clock;
use crate::config::{ClientSpec, DevIdpConfig, GrantType, UserSpec};
use crate::faults::{Active, FaultSet};
use crate::keys::KeyRing;

/// Locks a mutex, recovering the data if a previous holder panicked: the state stays usable
/// and a request never panics because another one did.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// PKCE code challenge method (RFC 7636).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChallengeMethod {
    Plain,
    S256,
}

/// A validated authorization request, kept until the user logs in and then inside the code.
#[derive(Debug, Clone)]
pub(crate) struct AuthorizationRequest {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) scope: String,
    pub(crate) state: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) code_challenge: Option<(String, ChallengeMethod)>,
    pub(crate) login_hint: Option<String>,
}

/// A login form in progress.
#[derive(Debug, Clone)]
pub(crate) struct LoginTransaction {
    pub(crate) request: AuthorizationRequest,
    pub(crate) expires_at_ms: i64,
}

/// An authorization code. Redeemed codes are kept until expiry so that reuse can be detected
/// and the tokens issued from them revoked (RFC 6749 section 4.1.2).
#[derive(Debug, Clone)]
pub(crate) struct CodeGrant {
    pub(crate) request: AuthorizationRequest,
    pub(crate) username: String,
    pub(crate) sid: String,
    pub(crate) auth_time: i64,
    pub(crate) expires_at_ms: i64,
    pub(crate) redeemed: bool,
    pub(crate) issued_tokens: Vec<String>,
}

/// A refresh token, single-use: rotation replaces it on every use.
#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    pub(crate) client_id: String,
    pub(crate) username: String,
    pub(crate) sid: String,
    pub(crate) scope: String,
    pub(crate) auth_time: i64,
    pub(crate) expires_at_ms: i64,
}

/// An issued access token, for userinfo.
#[derive(Debug, Clone)]
pub(crate) struct AccessGrant {
    pub(crate) client_id: String,
    /// `None` for client-credentials tokens.
    pub(crate) username: Option<String>,
    pub(crate) sid: Option<String>,
    pub(crate) expires_at_ms: i64,
}

/// A login at the provider, shared by every client the user signed in to with it.
#[derive(Debug, Clone)]
pub(crate) struct ProviderSession {
    pub(crate) username: String,
    pub(crate) auth_time: i64,
    pub(crate) clients: BTreeSet<String>,
}

/// Grants handed out, keyed by their opaque value.
#[derive(Debug, Default)]
pub(crate) struct Grants {
    pub(crate) logins: HashMap<String, LoginTransaction>,
    pub(crate) codes: HashMap<String, CodeGrant>,
    pub(crate) refresh_tokens: HashMap<String, RefreshGrant>,
    pub(crate) access_tokens: HashMap<String, AccessGrant>,
    pub(crate) sessions: HashMap<String, ProviderSession>,
}

impl Grants {
    pub(crate) fn prune(&mut self, now_ms: i64) {
        self.logins.retain(|_, g| g.expires_at_ms > now_ms);
        self.codes.retain(|_, g| g.expires_at_ms > now_ms);
        self.refresh_tokens.retain(|_, g| g.expires_at_ms > now_ms);
        self.access_tokens.retain(|_, g| g.expires_at_ms > now_ms);
    }

    /// Removes a provider session and every refresh and access token bound to it.
    pub(crate) fn end_session(&mut self, sid: &str) -> Option<ProviderSession> {
        let session = self.sessions.remove(sid)?;
        self.refresh_tokens.retain(|_, g| g.sid != sid);
        self.access_tokens
            .retain(|_, g| g.sid.as_deref() != Some(sid));
        Some(session)
    }
}

/// Calls counted for tests.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) token: Mutex<HashMap<(String, GrantType), usize>>,
    pub(crate) jwks: AtomicUsize,
    pub(crate) discovery: AtomicUsize,
    pub(crate) userinfo: AtomicUsize,
}

impl Counters {
    pub(crate) fn count_token(&self, client_id: &str, grant: GrantType) {
        *lock(&self.token)
            .entry((client_id.to_owned(), grant))
            .or_default() += 1;
    }

    pub(crate) fn token_calls(&self, client_id: Option<&str>, grant: GrantType) -> usize {
        lock(&self.token)
            .iter()
            .filter(|((c, g), _)| *g == grant && client_id.is_none_or(|id| id == c))
            .map(|(_, n)| *n)
            .sum()
    }

    pub(crate) fn bump(counter: &AtomicUsize) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Everything the endpoints share.
#[derive(Debug)]
pub(crate) struct Provider {
    pub(crate) issuer: String,
    pub(crate) config: DevIdpConfig,
    pub(crate) clock: Clock,
    pub(crate) keys: Mutex<KeyRing>,
    pub(crate) faults: Mutex<FaultSet>,
    pub(crate) grants: Mutex<Grants>,
    pub(crate) counters: Counters,
    pub(crate) backchannel: BackchannelLog,
    pub(crate) http: reqwest::Client,
    pub(crate) cookie_name: String,
}

impl Provider {
    pub(crate) fn client(&self, id: &str) -> Option<&ClientSpec> {
        self.config.clients.iter().find(|c| c.id == id)
    }

    /// A configured user, or, when any username may log in, a user with default claims.
    pub(crate) fn user(&self, username: &str) -> Option<UserSpec> {
        if let Some(user) = self.config.users.iter().find(|u| u.username == username) {
            return Some(user.clone());
        }
        if !self.config.accept_any_username || username.is_empty() {
            return None;
        }
        let mut claims = Map::new();
        claims.insert("preferred_username".into(), Value::from(username));
        Some(UserSpec {
            claims,
            ..UserSpec::new(username)
        })
    }

    pub(crate) fn faults(&self, client_id: Option<&str>) -> Active {
        lock(&self.faults).active(client_id)
    }

    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// The default audience of access tokens.
    pub(crate) fn default_audience(&self) -> String {
        self.endpoint("/api")
    }
}
