//! Why a token could not be obtained. What the client sees for it is [`crate::error::AuthError::Token`].

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
    fn only_a_provider_or_store_outage_lets_a_cached_token_serve() {
        assert!(ObtainError::Timeout("t".into()).is_outage());
        assert!(ObtainError::Store(StoreError::Config("down".into())).is_outage());
        assert!(!ObtainError::Rejected("r".into()).is_outage());
        assert!(!ObtainError::Untrusted("r".into()).is_outage());
    }
}
