//! The names of the OIDC middleware's entries in the shared store.
//!
//! Every key starts with `session.store.keyPrefix` (default `portcullis:oidc`) and a colon, so
//! several gateways or middlewares can share one Redis by choosing distinct prefixes. Parts
//! that come from tokens (`sid`, `sub`, `jti`) are hashed: they can be long or contain any
//! character, and the key should not reveal them.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Prefix used when `session.store.keyPrefix` is empty.
pub const DEFAULT_PREFIX: &str = "portcullis:oidc";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreKeys {
    prefix: String,
}

fn hashed(value: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, value.as_bytes()))
}

impl StoreKeys {
    pub fn new(key_prefix: &str) -> Self {
        let base = if key_prefix.is_empty() {
            DEFAULT_PREFIX
        } else {
            key_prefix.strip_suffix(':').unwrap_or(key_prefix)
        };
        Self {
            prefix: format!("{base}:"),
        }
    }

    /// The session with this (random) id.
    pub fn session(&self, id: &str) -> String {
        format!("{}session:{id}", self.prefix)
    }

    /// Cross-replica lock of one session's refresh.
    pub fn refresh_lock(&self, id: &str) -> String {
        format!("{}refresh:{id}", self.prefix)
    }

    /// Revocation of one session (logout of a session held elsewhere).
    pub fn revoked_session(&self, id: &str) -> String {
        format!("{}revoked:session:{id}", self.prefix)
    }

    /// Revocation of the sessions of one provider session.
    pub fn revoked_sid(&self, sid: &str) -> String {
        format!("{}revoked:sid:{}", self.prefix, hashed(sid))
    }

    /// Revocation of the sessions of one subject.
    pub fn revoked_sub(&self, sub: &str) -> String {
        format!("{}revoked:sub:{}", self.prefix, hashed(sub))
    }

    /// Revocation of the sessions of one subject that carry no provider `sid`.
    pub fn revoked_sub_without_sid(&self, sub: &str) -> String {
        format!("{}revoked:sub-without-sid:{}", self.prefix, hashed(sub))
    }

    /// A logout token already used.
    pub fn logout_jti(&self, jti: &str) -> String {
        format!("{}jti:{}", self.prefix, hashed(jti))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(
            StoreKeys::new("").session("abc"),
            "portcullis:oidc:session:abc"
        );
        assert_eq!(StoreKeys::new("app").session("abc"), "app:session:abc");
        assert_eq!(StoreKeys::new("app:").session("abc"), "app:session:abc");
    }

    #[test]
    fn token_values_are_hashed() {
        let keys = StoreKeys::new("p");
        let key = keys.revoked_sub("alice@example.com");
        assert!(key.starts_with("p:revoked:sub:"), "{key}");
        assert!(!key.contains("alice"), "{key}");
        assert_ne!(keys.revoked_sid("a"), keys.revoked_sid("b"));
    }
}
