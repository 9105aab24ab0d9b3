//! Bounded memories of what this replica has already opened or verified, per middleware
//! instance (a rotated key, a new instance, starts empty).
//!
//! Why: opening a sealed session (AES-GCM, inflate, JSON) on every request costs more than
//! everything else the middleware does, while a browser sends the same sealed value until the
//! session is renewed; decoding a JWT payload is the next largest cost.
//!
//! What it must not weaken, and how: only the exact same value finds an entry
//! (`crate::shared::exact_memory`); an entry holds exactly what opening returned; the caller
//! still checks the session's expiry and asks the revocation records on every request, so a
//! logged-out or expired session is refused whether it came from here or not.

use std::sync::Arc;

use serde_json::Value;

use crate::oidc::session::Session;
use crate::oidc::session::server_store::Subject;
use crate::shared::exact_memory::ExactMemory;
use crate::shared::jwt;

/// Sessions already opened, by their exact sealed value, with the time until which the key
/// that opened them opens anything (a previous key after a rotation; `None` for the current
/// key): the caller checks it, so a remembered value stops working with its key.
#[derive(Debug, Default)]
pub struct OpenedSessions {
    memory: ExactMemory<(Session, Option<i64>)>,
}

impl OpenedSessions {
    /// The session opened earlier from exactly `sealed`, and its key's time limit.
    pub fn get(&self, sealed: &str) -> Option<(Session, Option<i64>)> {
        self.memory.get(sealed.as_bytes())
    }

    /// Remembers that `sealed` opened to `session` with a key usable until `until`.
    pub fn insert(&self, sealed: &str, session: &Session, until: Option<i64>) {
        self.memory
            .insert(sealed.as_bytes(), (session.clone(), until));
    }
}

/// Tokens of stored sessions whose signature this replica has verified with the provider's
/// keys (or accepted under the rules of [`crate::oidc::protected::stored_tokens`]). Only the exact same token
/// reuses an entry, so checking costs one lookup per request after the first. An ID token is
/// remembered with the `sub` and `sid` it names, so a verified token placed in a session of
/// another subject does not pass for verified.
#[derive(Debug, Default)]
pub struct VerifiedTokens {
    memory: ExactMemory<Option<Arc<Subject>>>,
}

impl VerifiedTokens {
    /// True when `session`'s ID token was verified and names the session's `sub` and `sid`.
    pub fn has_id_token_of(&self, session: &Session) -> bool {
        self.memory
            .get(session.id_token.as_bytes())
            .flatten()
            .is_some_and(|named| {
                named.sub == session.sub
                    && named
                        .sid
                        .as_ref()
                        .is_none_or(|sid| session.sid.as_ref() == Some(sid))
            })
    }

    /// Remembers a verified ID token with the claims it carries.
    pub fn insert_id_token(&self, token: &str, claims: &serde_json::Map<String, Value>) {
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        if let Some(sub) = text("sub") {
            self.memory.insert(
                token.as_bytes(),
                Some(Arc::new(Subject {
                    sub,
                    sid: text("sid"),
                })),
            );
        }
    }

    /// True when the access token was verified.
    pub fn has_access_token(&self, token: &str) -> bool {
        self.memory.get(token.as_bytes()).is_some()
    }

    /// Remembers a verified access token.
    pub fn insert_access_token(&self, token: &str) {
        self.memory.insert(token.as_bytes(), None);
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
        if let Some(found) = self.memory.get(token.as_bytes()) {
            return found;
        }
        let decoded = jwt::trusted_claims(token).map(|map| Arc::new(Value::Object(map)));
        self.memory.insert(token.as_bytes(), decoded.clone());
        decoded
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;
    use crate::shared::exact_memory::CAPACITY;

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
            csrf: Default::default(),
            sealed_with: Default::default(),
        }
    }

    #[test]
    fn only_the_exact_sealed_value_is_remembered() {
        let opened = OpenedSessions::default();
        opened.insert("sealed-value", &session("s1"), None);
        assert_eq!(
            opened.get("sealed-value").map(|s| s.0.id),
            Some("s1".into())
        );
        assert!(opened.get("sealed-valuE").is_none());
        assert!(opened.get("sealed-valu").is_none());
        assert!(opened.get("").is_none());
        // Same length and ends, different middle: not the same value.
        let long = format!("{}{}{}", "a".repeat(60), "middle-1", "z".repeat(60));
        let other = format!("{}{}{}", "a".repeat(60), "middle-2", "z".repeat(60));
        opened.insert(&long, &session("s2"), None);
        assert!(opened.get(&other).is_none());
        assert_eq!(opened.get(&long).map(|s| s.0.id), Some("s2".into()));
    }

    #[test]
    fn memory_stays_bounded() {
        let opened = OpenedSessions::default();
        for i in 0..(CAPACITY + 10) {
            opened.insert(&format!("v{i}"), &session("s"), None);
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
