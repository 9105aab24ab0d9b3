//! A bounded memory of session cookies this replica has already opened.
//!
//! Why: opening a sealed session (AES-GCM, inflate, JSON) on every request costs more than
//! everything else the middleware does, while a browser sends the same sealed value until the
//! session is renewed.
//!
//! What it must not weaken, and how: an entry is found only by the exact same value (the whole
//! value is compared), so a modified, truncated or forged cookie never matches and goes through
//! the full authenticated decryption. Lookups bucket values by a keyed hash (random per process)
//! of their length and ends — sealed values and JWTs end with their authentication tag or
//! signature and start with a random nonce or a header, so the ends tell them apart, and hashing
//! a few kilobytes per request would cost more than the comparison. An entry holds exactly what
//! opening returned; the caller still checks the session's expiry and asks the revocation hook
//! on every request, so a logged-out or expired session is refused whether it came from here or
//! not. The memory is per middleware instance, so a rotated key (a new instance) starts empty.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use super::session::Session;
use crate::shared::jwt;

/// Values kept at most; past it, the memory starts over (cheap, and a miss only costs one
/// normal open).
const CAPACITY: usize = 4096;

/// Bytes of each end of a value that select its bucket.
const ENDS: usize = 48;

/// A map from exact string values to what they opened to.
#[derive(Debug)]
struct ExactMemory<T> {
    entries: Mutex<HashMap<u64, (Box<str>, T)>>,
    hasher: RandomState,
}

impl<T> Default for ExactMemory<T> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            hasher: RandomState::new(),
        }
    }
}

impl<T: Clone> ExactMemory<T> {
    fn bucket(&self, value: &str) -> u64 {
        let bytes = value.as_bytes();
        let head = bytes.get(..ENDS).unwrap_or(bytes);
        let tail = bytes
            .get(bytes.len().saturating_sub(ENDS)..)
            .unwrap_or(bytes);
        self.hasher.hash_one((bytes.len(), head, tail))
    }

    fn get(&self, value: &str) -> Option<T> {
        let bucket = self.bucket(value);
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        match entries.get(&bucket) {
            Some((kept, found)) if **kept == *value => Some(found.clone()),
            _ => None,
        }
    }

    fn insert(&self, value: &str, found: T) {
        let bucket = self.bucket(value);
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(bucket, (value.into(), found));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Sessions already opened, by their exact sealed value.
#[derive(Debug, Default)]
pub struct OpenedSessions {
    memory: ExactMemory<Session>,
}

impl OpenedSessions {
    /// The session opened earlier from exactly `sealed`.
    pub fn get(&self, sealed: &str) -> Option<Session> {
        self.memory.get(sealed)
    }

    /// Remembers that `sealed` opened to `session`.
    pub fn insert(&self, sealed: &str, session: &Session) {
        self.memory.insert(sealed, session.clone());
    }
}

/// Claims already decoded from a token this replica has seen: decoding a JWT payload (base64 and
/// JSON) on every request is the next largest cost after opening the session. Only the exact
/// same token reuses an entry; the token itself was verified when the session was created, as
/// without this memory.
#[derive(Debug, Default)]
pub struct DecodedClaims {
    memory: ExactMemory<Option<Arc<Value>>>,
}

impl DecodedClaims {
    /// The claims of `token`, decoded once.
    pub fn get_or_decode(&self, token: &str) -> Option<Arc<Value>> {
        if let Some(found) = self.memory.get(token) {
            return found;
        }
        let decoded = jwt::trusted_claims(token).map(|map| Arc::new(Value::Object(map)));
        self.memory.insert(token, decoded.clone());
        decoded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn session(id: &str) -> Session {
        Session {
            id: id.into(),
            sub: "alice".into(),
            sid: None,
            id_token: "h.p.s".into(),
            access_token: "opaque".into(),
            access_token_is_jwt: false,
            refresh_token: None,
            access_expires_at: None,
            created_at: 0,
            expires_at: 100,
        }
    }

    #[test]
    fn only_the_exact_sealed_value_is_remembered() {
        let opened = OpenedSessions::default();
        opened.insert("sealed-value", &session("s1"));
        assert_eq!(opened.get("sealed-value").map(|s| s.id), Some("s1".into()));
        assert!(opened.get("sealed-valuE").is_none());
        assert!(opened.get("sealed-valu").is_none());
        assert!(opened.get("").is_none());
        // Same length and ends, different middle: not the same value.
        let long = format!("{}{}{}", "a".repeat(60), "middle-1", "z".repeat(60));
        let other = format!("{}{}{}", "a".repeat(60), "middle-2", "z".repeat(60));
        opened.insert(&long, &session("s2"));
        assert!(opened.get(&other).is_none());
        assert_eq!(opened.get(&long).map(|s| s.id), Some("s2".into()));
    }

    #[test]
    fn memory_stays_bounded() {
        let opened = OpenedSessions::default();
        for i in 0..(CAPACITY + 10) {
            opened.insert(&format!("v{i}"), &session("s"));
        }
        let len = opened.memory.len();
        assert!(len <= CAPACITY, "{len}");
    }

    #[test]
    fn claims_are_decoded_per_token() {
        let encode = |json: &str| {
            let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
            format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln")
        };
        let decoded = DecodedClaims::default();
        let alice = decoded
            .get_or_decode(&encode(r#"{"sub":"alice"}"#))
            .unwrap();
        let bob = decoded.get_or_decode(&encode(r#"{"sub":"bob"}"#)).unwrap();
        assert_eq!(alice["sub"], "alice");
        assert_eq!(bob["sub"], "bob");
        assert!(decoded.get_or_decode("not a token").is_none());
        let again = decoded
            .get_or_decode(&encode(r#"{"sub":"alice"}"#))
            .unwrap();
        assert!(Arc::ptr_eq(&alice, &again));
    }
}
