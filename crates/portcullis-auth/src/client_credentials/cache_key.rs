//! The key a cached token is stored under.
//!
//! What it protects against, and how:
//! - a caller with a wrong secret receiving the token of the right one: the key is derived from
//!   the client id **and** the secret (plus the token endpoint and the audience), so a different
//!   secret gives a different key, a cache miss, and a call to the provider, which refuses it;
//! - secrets leaking through the cache (memory dumps, a shared store's key listing): the key is
//!   an HMAC-SHA256 tag, never the secret or a plain hash of it, so it cannot be reversed or
//!   brute-forced offline without the HMAC key (a shared store without `store.secret` has no
//!   secret HMAC key: whoever reads it can test guesses of weak client secrets, which is why the
//!   middleware warns about that configuration);
//! - collisions between fields (`id="a:b", secret="c"` against `id="a", secret="b:c"`): every
//!   field is length-prefixed before it enters the MAC.
//!
//! The in-memory cache uses a random HMAC key drawn once per middleware instance. A store shared
//! by several replicas needs the same key everywhere: [`CacheKeyer::shared`] takes it from
//! configured key material (`store.secret`). A shared keyer also derives, from the same inputs
//! under another context, a per-entry sealing key ([`CacheKey::sealing_key`]): opening a stored
//! token needs the client's secret (and `store.secret` when set), which the store never holds.

use std::fmt;

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// Domain separation: a tag computed here can never equal one computed for another purpose
/// with the same HMAC key.
const CONTEXT: &[u8] = b"portcullis client-credentials token cache v1";
/// Domain separation of the per-entry sealing keys from the tags, which a store reader sees.
const SEALING_CONTEXT: &[u8] = b"portcullis client-credentials token sealing v1";

/// Length of a per-entry sealing key (AES-256).
pub const SEALING_KEY_LEN: usize = 32;

/// The key of one cached token: a hex HMAC tag, safe to log in part and to store, with the
/// sealing key of its entry when it comes from a shared keyer.
#[derive(Clone)]
pub struct CacheKey {
    tag: String,
    sealing: Option<[u8; SEALING_KEY_LEN]>,
}

impl CacheKey {
    /// The hex tag.
    pub fn as_str(&self) -> &str {
        &self.tag
    }

    /// The key that seals this entry's value in a shared store; `None` from a keyer private to
    /// this process, whose entries never leave it.
    pub fn sealing_key(&self) -> Option<&[u8; SEALING_KEY_LEN]> {
        self.sealing.as_ref()
    }
}

// Both fields are computed from the same inputs, so the tag alone identifies a key.
impl PartialEq for CacheKey {
    fn eq(&self, other: &Self) -> bool {
        self.tag == other.tag
    }
}

impl Eq for CacheKey {}

impl std::hash::Hash for CacheKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.tag.hash(state);
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A prefix is enough to tell entries apart in logs.
        let shown = self.tag.get(..12).unwrap_or(&self.tag);
        write!(f, "CacheKey({shown}…)")
    }
}

/// Derives cache keys for one middleware: one token endpoint and one audience.
pub struct CacheKeyer {
    key: hmac::Key,
    scope: Vec<u8>,
    /// True for a shared store: every key carries its entry's sealing key.
    sealing: bool,
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
    /// A keyer with a fresh random HMAC key, whose keys carry their entry's sealing key: for a
    /// cache private to this process.
    pub fn random(token_url: &str, audience: Option<&str>) -> Result<Self, RandomUnavailable> {
        let mut material = [0u8; 32];
        SystemRandom::new()
            .fill(&mut material)
            .map_err(|_| RandomUnavailable)?;
        let mut keyer = Self::with_secret(&material, token_url, audience);
        keyer.sealing = true;
        Ok(keyer)
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
            sealing: false,
        }
    }

    /// A keyer for a store shared by replicas: its HMAC key is `material` (`store.secret`, or
    /// empty when none is configured, in which case only the client secret keeps entries
    /// sealed), and every key carries its entry's sealing key.
    ///
    /// `reads_claims` is part of the scope: a middleware that reads claims must never be served
    /// an entry cached by one that did not read them.
    pub fn shared(
        material: &[u8],
        token_url: &str,
        audience: Option<&str>,
        reads_claims: bool,
    ) -> Self {
        let mut keyer = Self::with_secret(material, token_url, audience);
        push_field(&mut keyer.scope, if reads_claims { b"claims" } else { b"" });
        keyer.sealing = true;
        keyer
    }

    /// The key for `client_id` with `secret`.
    pub fn key(&self, client_id: &str, secret: &str) -> CacheKey {
        let mut fields = Vec::with_capacity(client_id.len().saturating_add(secret.len()) + 16);
        push_field(&mut fields, client_id.as_bytes());
        push_field(&mut fields, secret.as_bytes());
        let tag = self.sign(CONTEXT, &fields);
        let sealing = self.sealing.then(|| {
            let mut key = [0u8; SEALING_KEY_LEN];
            // HMAC-SHA256 gives exactly SEALING_KEY_LEN bytes, uniformly distributed.
            key.copy_from_slice(self.sign(SEALING_CONTEXT, &fields).as_ref());
            key
        });
        CacheKey {
            tag: tag.as_ref().iter().map(|b| format!("{b:02x}")).collect(),
            sealing,
        }
    }

    fn sign(&self, context_label: &[u8], fields: &[u8]) -> hmac::Tag {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(context_label);
        context.update(&self.scope);
        context.update(fields);
        context.sign()
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
    fn shared_keys_carry_a_sealing_key_scoped_like_the_tag() {
        let keyer = CacheKeyer::shared(b"0123456789abcdef", URL, None, false);
        let key = keyer.key("client", "secret");
        let sealing = *key.sealing_key().unwrap();
        assert_eq!(key, keyer.key("client", "secret"));
        assert_eq!(Some(&sealing), keyer.key("client", "secret").sealing_key());
        assert_ne!(
            Some(&sealing),
            keyer.key("client", "secreT").sealing_key(),
            "the sealing key depends on the client secret"
        );
        assert_ne!(
            Some(&sealing),
            CacheKeyer::shared(b"fedcba9876543210", URL, None, false)
                .key("client", "secret")
                .sealing_key(),
            "and on store.secret"
        );
        // The sealing key is not the tag, which a store reader sees.
        let tag_bytes: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&key.as_str()[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        assert_ne!(tag_bytes.as_slice(), sealing.as_slice());
        // Reading claims or not gives distinct entries.
        assert_ne!(
            key,
            CacheKeyer::shared(b"0123456789abcdef", URL, None, true).key("client", "secret")
        );
        // Same material, same keys: what replicas need.
        assert_eq!(
            key,
            CacheKeyer::shared(b"0123456789abcdef", URL, None, false).key("client", "secret")
        );
        assert!(
            CacheKeyer::with_secret(b"k", URL, None)
                .key("c", "s")
                .sealing_key()
                .is_none()
        );
        assert!(!format!("{key:?} {keyer:?}").contains(key.as_str()));
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
