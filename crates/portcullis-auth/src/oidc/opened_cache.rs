//! A bounded memory of session cookies this replica has already opened.
//!
//! Why: opening a sealed session (AES-GCM, inflate, JSON) on every request costs more than
//! everything else the middleware does, while a browser sends the same sealed value until the
//! session is renewed.
//!
//! What it must not weaken, and how: entries are keyed by the SHA-256 of the exact sealed value,
//! so a modified, truncated or forged cookie never matches and goes through the full
//! authenticated decryption. An entry holds exactly what opening returned; the caller still
//! checks the session's expiry and asks the revocation hook on every request, so a logged-out or
//! expired session is refused whether it came from here or not. The memory is per middleware
//! instance, so a rotated key (a new instance) starts empty.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::digest;
use serde_json::Value;

use super::session::Session;
use crate::shared::jwt;

/// Sessions kept at most; past it, the memory starts over (cheap, and a miss only costs one
/// normal open).
const CAPACITY: usize = 4096;

#[derive(Debug, Default)]
pub struct OpenedSessions {
    entries: Mutex<HashMap<[u8; 32], Session>>,
}

fn key(sealed: &str) -> [u8; 32] {
    // SHA-256 digests are always 32 bytes; the fallback is unreachable.
    digest::digest(&digest::SHA256, sealed.as_bytes())
        .as_ref()
        .try_into()
        .unwrap_or([0u8; 32])
}

impl OpenedSessions {
    /// The session opened earlier from exactly `sealed`.
    pub fn get(&self, sealed: &str) -> Option<Session> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key(sealed))
            .cloned()
    }

    /// Remembers that `sealed` opened to `session`.
    pub fn insert(&self, sealed: &str, session: &Session) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(key(sealed), session.clone());
    }
}

/// Claims already decoded from a token this replica has seen: decoding a JWT payload (base64 and
/// JSON) on every request is the next largest cost after opening the session. Keyed by the
/// SHA-256 of the whole token, so only the exact same token reuses an entry; the token itself was
/// verified when the session was created, as without this memory.
#[derive(Debug, Default)]
pub struct DecodedClaims {
    entries: Mutex<HashMap<[u8; 32], Option<Arc<Value>>>>,
}

impl DecodedClaims {
    /// The claims of `token`, decoded once.
    pub fn get_or_decode(&self, token: &str) -> Option<Arc<Value>> {
        let digest = key(token);
        if let Some(found) = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&digest)
        {
            return found.clone();
        }
        let decoded = jwt::trusted_claims(token).map(|map| Arc::new(Value::Object(map)));
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(digest, decoded.clone());
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
    }

    #[test]
    fn memory_stays_bounded() {
        let opened = OpenedSessions::default();
        for i in 0..(CAPACITY + 10) {
            opened.insert(&format!("v{i}"), &session("s"));
        }
        let len = opened
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
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
