//! An obtained token with what the gateway knows of it, as the token store keeps it
//! ([`super::token_store`]).
//!
//! What it protects against, and how: tokens in logs: [`CachedToken`]'s `Debug` never prints
//! the token or its claims.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

/// What the gateway knows of a token's claims.
#[derive(Clone, PartialEq)]
pub enum TokenClaims {
    /// Nothing was read: no option needs the claims.
    NotRead,
    /// The token is not a JWT: it has no claims the gateway can read.
    Opaque,
    /// The claims of a JWT, verified or trusted as described in the module documentation of
    /// `trust`.
    Jwt(Arc<Value>),
}

impl fmt::Debug for TokenClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenClaims::NotRead => "NotRead",
            TokenClaims::Opaque => "Opaque",
            TokenClaims::Jwt(_) => "Jwt(***)",
        })
    }
}

/// An access token with its schedule, in seconds since the Unix epoch.
#[derive(Clone, PartialEq)]
pub struct CachedToken {
    /// The token, exactly as the token endpoint answered it.
    pub access_token: Arc<str>,
    pub claims: TokenClaims,
    /// From this time on the token is renewed in the background while it is still served.
    pub refresh_at: i64,
    /// From this time on the token is never served.
    pub expires_at: i64,
}

impl fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedToken")
            .field("access_token", &"***")
            .field("claims", &self.claims)
            .field("refresh_at", &self.refresh_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_token() {
        let token = CachedToken {
            access_token: "very-secret-token".into(),
            claims: TokenClaims::NotRead,
            refresh_at: 0,
            expires_at: 1,
        };
        let shown = format!("{token:?}");
        assert!(!shown.contains("very-secret-token"), "{shown}");
    }
}
