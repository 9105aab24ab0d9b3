//! Starting a login: the per-flow state cookie and the authorization request.
//!
//! What it protects against, and how:
//! - login CSRF and code injection: a random single-use `state` ties the callback to the
//!   browser that started the flow (its state cookie), a random `nonce` ties the ID token to
//!   this flow, and PKCE S256 (`pkce: true`) ties the code to this gateway;
//! - tampering with the flow: the state, nonce, PKCE verifier, redirect URI and the URL to
//!   return to are sealed together in the state cookie (purpose-bound AES-256-GCM), so none of
//!   them can be read or replaced by the browser;
//! - parallel tabs overwriting each other's flow: each flow has its own cookie
//!   (`<stateCookie.name>-<8 characters of the state>`); at most
//!   [`crate::oidc::OidcOptions::max_state_cookies`] are kept (the oldest are deleted first),
//!   so abandoned flows never pile up into an oversized `Cookie` header.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderValue;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::shared::cookies::{self, CookieAttributes, CookieJar};
use crate::shared::redacted::{Nonce, PkceVerifier, State};
use crate::shared::seal::{SealError, Sealer};

/// Characters of the state used as the cookie-name suffix.
pub const STATE_SUFFIX_LEN: usize = 8;

/// Everything the callback needs to finish the flow, sealed in the state cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginState {
    pub state: State,
    pub nonce: Nonce,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_verifier: Option<PkceVerifier>,
    /// The exact `redirect_uri` sent, to send it again with the code.
    pub redirect_uri: String,
    /// Where to go after the login: the request's own origin and path.
    pub return_to: ReturnTo,
    /// True when the flow started at `loginUrl`.
    pub from_login_url: bool,
    pub created_at: i64,
}

/// The URL a login returns to, kept as origin parts and a path so it can only ever designate
/// the origin the request was sent to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnTo {
    pub https: bool,
    pub authority: String,
    pub path_and_query: String,
}

impl ReturnTo {
    /// The absolute URL (never scheme-relative, so `//evil.example` as a path stays a path).
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let path = if self.path_and_query.starts_with('/') {
            self.path_and_query.clone()
        } else {
            format!("/{}", self.path_and_query)
        };
        format!("{scheme}://{}{path}", self.authority)
    }
}

/// 32 random bytes, base64url: 43 characters.
pub fn random_token() -> Result<String, SealError> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| SealError::Crypto)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The PKCE S256 challenge of a verifier (RFC 7636 section 4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// The state cookie of the flow whose state starts with `suffix`.
pub fn state_cookie_name(base: &str, state: &str) -> String {
    let suffix: String = state.chars().take(STATE_SUFFIX_LEN).collect();
    format!("{base}-{suffix}")
}

/// True for the name of one of this middleware's state cookies.
pub fn is_state_cookie(base: &str, name: &str) -> bool {
    name.strip_prefix(base)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|suffix| {
            suffix.len() == STATE_SUFFIX_LEN
                && suffix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The state cookies of this middleware, and how to write and find them.
#[derive(Debug)]
pub struct StateCookies {
    pub base: String,
    pub attributes: CookieAttributes,
    pub max_age: i64,
    pub max_kept: usize,
    pub sealer: Sealer,
}

impl StateCookies {
    /// The `Set-Cookie` headers for a new flow: its cookie, plus deletions of the oldest
    /// flows beyond the limit (and of any state cookie that no longer opens).
    pub fn write(
        &self,
        login: &LoginState,
        jar: &CookieJar,
    ) -> Result<Vec<HeaderValue>, SealError> {
        let plaintext = serde_json::to_vec(login).map_err(|_| SealError::Crypto)?;
        let sealed = self.sealer.seal(&plaintext, false)?;
        let name = state_cookie_name(&self.base, &login.state);
        let mut headers = Vec::new();
        let mut existing: Vec<(i64, &str)> = Vec::new();
        for (cookie_name, value) in jar.iter() {
            if cookie_name == name || !is_state_cookie(&self.base, cookie_name) {
                continue;
            }
            match self.open(value) {
                Some(old) => existing.push((old.created_at, cookie_name)),
                None => headers.extend(cookies::delete_cookie(cookie_name, &self.attributes).ok()),
            }
        }
        existing.sort();
        let keep = self.max_kept.saturating_sub(1);
        let evict = existing.len().saturating_sub(keep);
        for (_, old_name) in existing.iter().take(evict) {
            headers.extend(cookies::delete_cookie(old_name, &self.attributes).ok());
        }
        let cookie = cookies::set_cookie(&name, &sealed, &self.attributes, Some(self.max_age))
            .map_err(|_| SealError::Crypto)?;
        headers.insert(0, cookie);
        Ok(headers)
    }

    /// The flow a callback's `state` belongs to, with its cookie name.
    pub fn find(&self, jar: &CookieJar, state: &str) -> Option<(String, LoginState)> {
        let name = state_cookie_name(&self.base, state);
        let login = self.open(jar.get(&name)?)?;
        let same: bool =
            subtle::ConstantTimeEq::ct_eq(login.state.as_bytes(), state.as_bytes()).into();
        same.then_some((name, login))
    }

    /// Deletion of one flow's cookie.
    pub fn delete(&self, name: &str) -> Option<HeaderValue> {
        cookies::delete_cookie(name, &self.attributes).ok()
    }

    fn open(&self, sealed: &str) -> Option<LoginState> {
        let plaintext = self.sealer.open(sealed).ok()?;
        serde_json::from_slice(&plaintext).ok()
    }
}

/// Parameters of an authorization request. `Debug` shows neither the state nor the nonce.
pub struct AuthorizationRequest<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scopes: &'a [String],
    pub state: &'a str,
    pub nonce: &'a str,
    pub code_challenge: Option<&'a str>,
    pub extra: &'a [(String, String)],
}

impl std::fmt::Debug for AuthorizationRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationRequest")
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("scopes", &self.scopes)
            .field("state", &"***")
            .field("nonce", &"***")
            .field("code_challenge", &self.code_challenge)
            .field("extra", &self.extra)
            .finish()
    }
}

/// The provider's authorization URL for this request (the endpoint's own query is kept).
pub fn authorization_url(endpoint: &Url, request: &AuthorizationRequest<'_>) -> Url {
    let mut url = endpoint.clone();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", request.client_id)
            .append_pair("redirect_uri", request.redirect_uri)
            .append_pair("scope", &request.scopes.join(" "))
            .append_pair("state", request.state)
            .append_pair("nonce", request.nonce);
        if let Some(challenge) = request.code_challenge {
            query
                .append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
        }
        for (key, value) in request.extra {
            query.append_pair(key, value);
        }
    }
    url
}

#[cfg(test)]
mod tests;
