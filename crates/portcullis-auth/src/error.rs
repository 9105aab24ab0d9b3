//! The one place where authentication failures become HTTP statuses, for both middlewares.
//!
//! Every refusal on the request path, of the OIDC and of the client credentials middleware, is
//! an [`AuthError`]; [`AuthError::into_gateway`] picks the
//! [`GatewayError`] kind (and so the status, from the gateway's single error table) and names
//! the middleware and the check that refused the request. The gateway logs it, once per
//! request, with the request id and the user: 401 and 403 at info level ("explained
//! denials"), provider trouble at warn level. Messages name checks, claim keys,
//! URLs without query strings and provider error codes — never a token, a cookie value or a
//! secret — so the log explains a denial without becoming a credential store.

use http::HeaderValue;
use http::header::RETRY_AFTER;
use portcullis_proxy::error::{ErrorKind, GatewayError};

use crate::client_credentials::error::ObtainError;
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
    /// The caller sent no usable client credentials (401; the client credentials middleware
    /// adds its Basic challenge).
    #[error("no usable client credentials: {0}")]
    CredentialsMissing(String),
    /// The provider rejected the caller's client credentials (401, with the Basic challenge).
    #[error("{0}")]
    CredentialsRejected(String),
    /// `claims` or `forwardHeaders` need a JWT, and the token endpoint issued an opaque access
    /// token (403).
    #[error(
        "claims and forwardHeaders need a JWT access token, and the token endpoint issued an opaque one"
    )]
    OpaqueToken,
    /// Too many token requests of one client id at once (503, with `Retry-After: 1`).
    #[error("{0}")]
    Busy(String),
    /// No access token could be obtained from the token endpoint: its own status (502, 504 on a
    /// timeout, 503 when the token store is down).
    #[error(transparent)]
    Token(ObtainError),
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
            AuthError::CredentialsMissing(_) | AuthError::CredentialsRejected(_) => {
                ErrorKind::Unauthorized
            }
            AuthError::ClaimsRejected(_) | AuthError::Csrf(_) | AuthError::OpaqueToken => {
                ErrorKind::Forbidden
            }
            AuthError::Provider(ProviderError::Timeout { .. }) => ErrorKind::GatewayTimeout,
            AuthError::ProviderUnavailable {
                timed_out: true, ..
            } => ErrorKind::GatewayTimeout,
            AuthError::Provider(_)
            | AuthError::ProviderUnavailable { .. }
            | AuthError::ProviderRefused(_) => ErrorKind::BadGateway,
            AuthError::StoreUnavailable(_) | AuthError::Busy(_) => ErrorKind::ServiceUnavailable,
            AuthError::Internal(_) => ErrorKind::Internal,
            AuthError::Token(error) => match error {
                ObtainError::Timeout(_) => ErrorKind::GatewayTimeout,
                ObtainError::Store(_) | ObtainError::Busy(_) => ErrorKind::ServiceUnavailable,
                ObtainError::Internal(_) => ErrorKind::Internal,
                ObtainError::Rejected(_)
                | ObtainError::Refused(_)
                | ObtainError::Unavailable(_)
                | ObtainError::InvalidAnswer(_)
                | ObtainError::Untrusted(_) => ErrorKind::BadGateway,
            },
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
            AuthError::Provider(_) | AuthError::ProviderRefused(_) | AuthError::Token(_) => {
                "provider"
            }
            AuthError::ProviderUnavailable { .. } => "discovery",
            AuthError::StoreUnavailable(_) => "session_store",
            AuthError::Internal(_) => "internal",
            AuthError::CredentialsMissing(_) => "credentials",
            AuthError::CredentialsRejected(_) => "provider_rejected",
            AuthError::OpaqueToken => "opaque_token",
            AuthError::Busy(_) => "busy",
        }
    }

    /// Turns the refusal into the gateway's error, naming `middleware` and the check. The
    /// gateway logs it, once; the middleware attaches what only it knows (cookie deletions, its
    /// challenge) with [`GatewayError::with_header`].
    pub fn into_gateway(self, middleware: &str) -> GatewayError {
        let busy = matches!(self, AuthError::Busy(_));
        let error =
            GatewayError::new(self.kind(), self.to_string()).with_origin(middleware, self.check());
        if busy {
            error.with_header(RETRY_AFTER, HeaderValue::from_static("1"))
        } else {
            error
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use portcullis_store::StoreError;

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
            (AuthError::CredentialsMissing("x".into()), 401),
            (AuthError::CredentialsRejected("x".into()), 401),
            (AuthError::OpaqueToken, 403),
            (AuthError::Busy("x".into()), 503),
            (AuthError::Token(ObtainError::Timeout("t".into())), 504),
            (AuthError::Token(ObtainError::Unavailable("u".into())), 502),
            (
                AuthError::Token(ObtainError::InvalidAnswer("i".into())),
                502,
            ),
            (AuthError::Token(ObtainError::Untrusted("x".into())), 502),
            (AuthError::Token(ObtainError::Refused("r".into())), 502),
            (AuthError::Token(ObtainError::Rejected("r".into())), 502),
            (
                AuthError::Token(ObtainError::Store(StoreError::Config("down".into()))),
                503,
            ),
            (AuthError::Token(ObtainError::Busy("busy".into())), 503),
            (AuthError::Token(ObtainError::Internal("bug".into())), 500),
        ];
        for (error, status) in table {
            let shown = error.to_string();
            let gateway = error.into_gateway("m");
            assert_eq!(gateway.status().as_u16(), status, "{shown}");
        }
    }

    #[test]
    fn a_busy_refusal_says_when_to_retry() {
        let response = AuthError::Busy("x".into())
            .into_gateway("m")
            .into_response();
        assert_eq!(response.headers()[RETRY_AFTER], "1");
        let response = AuthError::Csrf("x".into())
            .into_gateway("m")
            .into_response();
        assert!(!response.headers().contains_key(RETRY_AFTER));
    }

    #[test]
    fn a_token_failure_shows_the_token_sources_words() {
        let error = AuthError::Token(ObtainError::Store(StoreError::Config("down".into())));
        assert_eq!(
            error.to_string(),
            "token store unavailable: invalid store configuration: down"
        );
        assert_eq!(error.check(), "provider");
    }
}
