//! The key a cached token is stored under.
//!
//! What it protects against, and how:
//! - a caller with a wrong secret receiving the token of the right one: the key is derived from
//!   the client id **and** the secret (plus the token endpoint and the audience), so a different
//!   secret gives a different key, a cache miss, and a call to the provider, which refuses it;
//! - secrets leaking through the cache (memory dumps, a shared store's key listing): the key is
//!   an HMAC-SHA256 tag, never the secret or a plain hash of it, so it cannot be reversed or
//!   brute-forced offline without the HMAC key;
//! - collisions between fields (`id="a:b", secret="c"` against `id="a", secret="b:c"`): every
//!   field is length-prefixed before it enters the MAC.
//!
//! The in-memory cache uses a random HMAC key drawn once per middleware instance. A store shared
//! by several replicas needs the same key everywhere: [`CacheKeyer::with_secret`] derives it
//! from configured key material.

use std::fmt;

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// Domain separation: a tag computed here can never equal one computed for another purpose
/// with the same HMAC key.
const CONTEXT: &[u8] = b"portcullis client-credentials token cache v1";

/// The key of one cached token: a hex HMAC tag, safe to log in part and to store.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(String);

impl CacheKey {
    /// The hex tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A prefix is enough to tell entries apart in logs.
        let shown = self.0.get(..12).unwrap_or(&self.0);
        write!(f, "CacheKey({shown}…)")
    }
}

/// Derives cache keys for one middleware: one token endpoint and one audience.
pub struct CacheKeyer {
    key: hmac::Key,
    scope: Vec<u8>,
}

impl fmt::Debug for CacheKeyer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CacheKeyer(***)")
    }
}

/// The system random generator failed (no entropy source).
#[derive(Debug, thiserror::Error)]
#[error("cannot draw a random cache key: the system random generator failed")]
pub struct RandomUnavailable;

impl CacheKeyer {
    /// A keyer with a fresh random HMAC key: for a cache private to this process.
    pub fn random(token_url: &str, audience: Option<&str>) -> Result<Self, RandomUnavailable> {
        let mut material = [0u8; 32];
        SystemRandom::new()
            .fill(&mut material)
            .map_err(|_| RandomUnavailable)?;
        Ok(Self::with_secret(&material, token_url, audience))
    }

    /// A keyer whose HMAC key is derived from `secret`: every replica configured with the same
    /// secret derives the same keys, as a shared store requires.
    pub fn with_secret(secret: &[u8], token_url: &str, audience: Option<&str>) -> Self {
        let mut scope = Vec::new();
        push_field(&mut scope, token_url.as_bytes());
        // "no audience" and "empty audience" both send nothing, so they share a key.
        push_field(&mut scope, audience.unwrap_or_default().as_bytes());
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            scope,
        }
    }

    /// The key for `client_id` with `secret`.
    pub fn key(&self, client_id: &str, secret: &str) -> CacheKey {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(CONTEXT);
        context.update(&self.scope);
        let mut fields = Vec::with_capacity(client_id.len().saturating_add(secret.len()) + 16);
        push_field(&mut fields, client_id.as_bytes());
        push_field(&mut fields, secret.as_bytes());
        context.update(&fields);
        let tag = context.sign();
        CacheKey(tag.as_ref().iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// Appends `field` with its length, so that field boundaries are unambiguous.
fn push_field(buffer: &mut Vec<u8>, field: &[u8]) {
    buffer.extend_from_slice(&(field.len() as u64).to_be_bytes());
    buffer.extend_from_slice(field);
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://idp.example.com/oauth/token";

    #[test]
    fn the_secret_the_endpoint_and_the_audience_change_the_key() {
        let keyer = CacheKeyer::with_secret(b"k", URL, Some("api"));
        let base = keyer.key("client", "secret");
        assert_eq!(base, keyer.key("client", "secret"));
        assert_ne!(base, keyer.key("client", "secreT"));
        assert_ne!(base, keyer.key("clienT", "secret"));
        assert_ne!(
            base,
            CacheKeyer::with_secret(b"k", URL, Some("api2")).key("client", "secret")
        );
        assert_ne!(
            base,
            CacheKeyer::with_secret(b"k", "https://x/t", Some("api")).key("client", "secret")
        );
        assert_ne!(
            base,
            CacheKeyer::with_secret(b"other", URL, Some("api")).key("client", "secret")
        );
        assert_eq!(base.as_str().len(), 64);
        assert!(!base.as_str().contains("secret"));
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let keyer = CacheKeyer::with_secret(b"k", URL, None);
        assert_ne!(keyer.key("a:b", "c"), keyer.key("a", "b:c"));
        assert_ne!(keyer.key("ab", "c"), keyer.key("a", "bc"));
    }

    #[test]
    fn random_keyers_differ_and_debug_hides_the_tag() {
        let one = CacheKeyer::random(URL, None).unwrap();
        let two = CacheKeyer::random(URL, None).unwrap();
        assert_ne!(one.key("c", "s"), two.key("c", "s"));
        let key = one.key("c", "s");
        let shown = format!("{key:?} {one:?}");
        assert!(!shown.contains(key.as_str()), "{shown}");
    }
}
