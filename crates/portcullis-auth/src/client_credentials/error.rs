//! Why a token could not be obtained, and what the client sees for it.

use portcullis_proxy::error::{ErrorKind, GatewayError};

use crate::shared::jwks::JwksError;
use crate::shared::provider_client::ProviderError;
use portcullis_store::StoreError;

/// A failure to obtain a token. `Clone`, because one failure is shared by every request that
/// waited for the same provider call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObtainError {
    /// The provider refused the client credentials (`invalid_client`, `invalid_grant`,
    /// `unauthorized_client`, or a 401).
    #[error("the token endpoint rejected the client credentials: {0}")]
    Rejected(String),
    /// The provider refused the request for another reason (`invalid_scope`, a 403, ...): a
    /// configuration problem the caller cannot fix.
    #[error("the token endpoint refused the request: {0}")]
    Refused(String),
    /// No answer in time.
    #[error("{0}")]
    Timeout(String),
    /// Unreachable, or a 5xx after the retries.
    #[error("{0}")]
    Unavailable(String),
    /// An answer that cannot be used (not JSON, no token, a token type other than Bearer).
    #[error("{0}")]
    InvalidAnswer(String),
    /// A JWT from a trusted issuer whose signature does not verify, or an unsigned one.
    #[error("the access token cannot be trusted: {0}")]
    Untrusted(String),
    /// The token store is down.
    #[error("token store unavailable: {0}")]
    Store(#[from] StoreError),
    /// Too many token requests of one client id at once (caller mode): try again shortly.
    #[error("{0}")]
    Busy(String),
    /// A bug (a background task failed).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ObtainError {
    /// True when the provider (or the store) is temporarily unusable, so a cached token that is
    /// still valid may be served instead; false when the credentials or the token were refused.
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            ObtainError::Timeout(_)
                | ObtainError::Unavailable(_)
                | ObtainError::InvalidAnswer(_)
                | ObtainError::Store(_)
        )
    }

    /// The error the client sees, except for [`ObtainError::Rejected`], whose status depends on
    /// the credential mode (the middleware decides).
    pub fn into_gateway_error(self) -> GatewayError {
        let kind = match &self {
            ObtainError::Rejected(_)
            | ObtainError::Refused(_)
            | ObtainError::Unavailable(_)
            | ObtainError::InvalidAnswer(_)
            | ObtainError::Untrusted(_) => ErrorKind::BadGateway,
            ObtainError::Timeout(_) => ErrorKind::GatewayTimeout,
            ObtainError::Store(_) | ObtainError::Busy(_) => ErrorKind::ServiceUnavailable,
            ObtainError::Internal(_) => ErrorKind::Internal,
        };
        GatewayError::new(kind, self.to_string())
    }
}

impl From<ProviderError> for ObtainError {
    fn from(error: ProviderError) -> Self {
        match error {
            ProviderError::Timeout { .. } => ObtainError::Timeout(error.to_string()),
            ProviderError::Unreachable { .. } | ProviderError::Status { .. } => {
                ObtainError::Unavailable(error.to_string())
            }
            ProviderError::InvalidResponse { .. } => ObtainError::InvalidAnswer(error.to_string()),
        }
    }
}

impl From<JwksError> for ObtainError {
    fn from(error: JwksError) -> Self {
        match error {
            JwksError::Fetch(provider) => provider.into(),
            JwksError::Token(token) => ObtainError::Untrusted(token.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_table() {
        let status = |e: ObtainError| e.into_gateway_error().status().as_u16();
        assert_eq!(status(ObtainError::Timeout("t".into())), 504);
        assert_eq!(status(ObtainError::Unavailable("u".into())), 502);
        assert_eq!(status(ObtainError::InvalidAnswer("i".into())), 502);
        assert_eq!(status(ObtainError::Untrusted("x".into())), 502);
        assert_eq!(status(ObtainError::Refused("r".into())), 502);
        assert_eq!(
            status(ObtainError::Store(StoreError::Config("down".into()))),
            503
        );
        assert_eq!(status(ObtainError::Busy("busy".into())), 503);
        assert!(ObtainError::Timeout("t".into()).is_outage());
        assert!(!ObtainError::Rejected("r".into()).is_outage());
        assert!(!ObtainError::Untrusted("r".into()).is_outage());
    }
}
