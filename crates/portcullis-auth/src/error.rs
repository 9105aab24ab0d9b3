//! The one place where authentication failures become HTTP statuses.
//!
//! Every refusal on the request path is an [`AuthError`]; [`AuthError::into_gateway`] picks the
//! [`GatewayError`] kind (and so the status, from the gateway's single error table) and names
//! the middleware and the check that refused the request. The gateway logs it, once per
//! request, with the request id and the user: 401 and 403 at info level ("explained
//! denials"), provider trouble at warn level. Messages name checks, claim keys,
//! URLs without query strings and provider error codes — never a token, a cookie value or a
//! secret — so the log explains a denial without becoming a credential store.

use http::HeaderValue;
use http::header::SET_COOKIE;
use portcullis_proxy::error::{ErrorKind, GatewayError};

use crate::shared::jwks::JwksError;
use crate::shared::provider_client::ProviderError;

/// Which check refused a request that has no usable session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    /// `disableLogin` is set.
    LoginDisabled,
    /// `loginUrl` is set and this is not it.
    LoginUrlOnly,
    /// Not a browser navigation (API call, XHR/fetch, non-GET method).
    NotNavigation,
}

impl LoginRefusal {
    fn describe(self) -> &'static str {
        match self {
            LoginRefusal::LoginDisabled => "no session and disableLogin is set",
            LoginRefusal::LoginUrlOnly => "no session and only loginUrl starts a login",
            LoginRefusal::NotNavigation => {
                "no session and the request is not a browser navigation (not redirected)"
            }
        }
    }
}

/// A refusal or failure of an authentication middleware.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No usable session, and this request may not start a login (401).
    #[error("{}", .0.describe())]
    LoginRequired(LoginRefusal),
    /// The login could not complete: provider error answer, refused code, invalid ID token,
    /// refused refresh (401).
    #[error("login failed: {0}")]
    LoginFailed(String),
    /// A callback that does not belong to a login flow we started (400).
    #[error("invalid callback: {0}")]
    BadCallback(String),
    /// A malformed request (400).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The claims rule was false; says which part was false and which claims it reads are
    /// absent (403).
    #[error("claims rejected: {0}")]
    ClaimsRejected(String),
    /// CSRF token missing or wrong on an unsafe method (403).
    #[error("CSRF check failed: {0}")]
    Csrf(String),
    /// The provider could not be reached or answered nonsense (502), or too slowly (504).
    #[error("provider call failed: {0}")]
    Provider(#[from] ProviderError),
    /// The provider is not discovered yet, or discovery failed (502, or 504 on a timeout).
    #[error("provider unavailable: {message}")]
    ProviderUnavailable { message: String, timed_out: bool },
    /// The provider refused the gateway itself (bad client credentials, misconfiguration) or
    /// answered something unusable (502).
    #[error("provider refused the gateway: {0}")]
    ProviderRefused(String),
    /// The session store is down (503).
    #[error("session store unavailable: {0}")]
    StoreUnavailable(String),
    /// A bug or an impossible state (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<JwksError> for AuthError {
    fn from(error: JwksError) -> Self {
        match error {
            JwksError::Fetch(provider) => AuthError::Provider(provider),
            JwksError::Token(token) => AuthError::LoginFailed(format!("token refused: {token}")),
        }
    }
}

impl AuthError {
    /// The gateway error kind, i.e. the status.
    pub fn kind(&self) -> ErrorKind {
        match self {
            AuthError::LoginRequired(_) | AuthError::LoginFailed(_) => ErrorKind::Unauthorized,
            AuthError::BadCallback(_) | AuthError::BadRequest(_) => ErrorKind::BadRequest,
            AuthError::ClaimsRejected(_) | AuthError::Csrf(_) => ErrorKind::Forbidden,
            AuthError::Provider(ProviderError::Timeout { .. }) => ErrorKind::GatewayTimeout,
            AuthError::ProviderUnavailable {
                timed_out: true, ..
            } => ErrorKind::GatewayTimeout,
            AuthError::Provider(_)
            | AuthError::ProviderUnavailable { .. }
            | AuthError::ProviderRefused(_) => ErrorKind::BadGateway,
            AuthError::StoreUnavailable(_) => ErrorKind::ServiceUnavailable,
            AuthError::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The short name of the check, for logs and metrics.
    pub fn check(&self) -> &'static str {
        match self {
            AuthError::LoginRequired(LoginRefusal::LoginDisabled) => "disable_login",
            AuthError::LoginRequired(LoginRefusal::LoginUrlOnly) => "login_url_only",
            AuthError::LoginRequired(LoginRefusal::NotNavigation) => "not_navigation",
            AuthError::LoginFailed(_) => "login",
            AuthError::BadCallback(_) => "callback",
            AuthError::BadRequest(_) => "request",
            AuthError::ClaimsRejected(_) => "claims",
            AuthError::Csrf(_) => "csrf",
            AuthError::Provider(_) | AuthError::ProviderRefused(_) => "provider",
            AuthError::ProviderUnavailable { .. } => "discovery",
            AuthError::StoreUnavailable(_) => "session_store",
            AuthError::Internal(_) => "internal",
        }
    }

    /// Turns the refusal into the gateway's error (which the gateway logs), naming
    /// `middleware` and the check, with `set_cookies` (cookie deletions) attached to the
    /// response.
    pub fn into_gateway(self, middleware: &str, set_cookies: Vec<HeaderValue>) -> GatewayError {
        let mut error =
            GatewayError::new(self.kind(), self.to_string()).with_origin(middleware, self.check());
        for cookie in set_cookies {
            error = error.with_header(SET_COOKIE, cookie);
        }
        error
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn every_refusal_has_its_status() {
        let table: Vec<(AuthError, u16)> = vec![
            (AuthError::LoginRequired(LoginRefusal::LoginDisabled), 401),
            (AuthError::LoginRequired(LoginRefusal::NotNavigation), 401),
            (AuthError::LoginFailed("x".into()), 401),
            (AuthError::BadCallback("x".into()), 400),
            (
                AuthError::ClaimsRejected("Equals(`grp`, `admin`)".into()),
                403,
            ),
            (AuthError::Csrf("x".into()), 403),
            (
                AuthError::Provider(ProviderError::Timeout {
                    url: "u".into(),
                    timeout: Duration::from_secs(1),
                }),
                504,
            ),
            (
                AuthError::Provider(ProviderError::Unreachable {
                    url: "u".into(),
                    reason: "r".into(),
                }),
                502,
            ),
            (
                AuthError::ProviderUnavailable {
                    message: "m".into(),
                    timed_out: false,
                },
                502,
            ),
            (AuthError::ProviderRefused("invalid_client".into()), 502),
            (AuthError::StoreUnavailable("x".into()), 503),
        ];
        for (error, status) in table {
            let shown = error.to_string();
            let gateway = error.into_gateway("m", vec![HeaderValue::from_static("a=; Max-Age=0")]);
            assert_eq!(gateway.status().as_u16(), status, "{shown}");
        }
    }
}
