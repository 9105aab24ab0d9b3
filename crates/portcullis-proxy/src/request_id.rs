//! Request ids: a short token that ties what a client saw (an error page, the `X-Request-Id`
//! response header) to the log line of the request.
//!
//! A client-sent `X-Request-Id` is reused only when it is short and made of letters, digits,
//! `-`, `_` and `.`, so it can be written into logs and pages without escaping surprises and
//! cannot grow them; anything else is replaced by a fresh id.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderMap, HeaderName};

/// `X-Request-Id`.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-sent id that is reused.
pub const MAX_LEN: usize = 64;

/// The client's `X-Request-Id` when it is well formed.
pub fn from_client(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(&X_REQUEST_ID)?.to_str().ok()?;
    let well_formed = !value.is_empty()
        && value.len() <= MAX_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    well_formed.then(|| value.to_owned())
}

/// A fresh id: 16 hex digits. Unpredictable enough to tell requests apart in logs (the
/// process's random hash keys mixed with a counter); not a secret.
pub fn generate() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static KEYS: RandomState = RandomState::new();
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let value = KEYS.with(|keys| {
        let mut hasher = keys.build_hasher();
        hasher.write_u64(n);
        hasher.finish()
    });
    format!("{value:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn well_formed_client_ids_are_reused_and_others_are_not() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(&X_REQUEST_ID, HeaderValue::from_static(v));
            from_client(&h)
        };
        assert_eq!(with("abc-123_x.y").as_deref(), Some("abc-123_x.y"));
        assert_eq!(with(""), None);
        assert_eq!(with("a b"), None);
        assert_eq!(with("<script>"), None);
        assert_eq!(with(Box::leak("a".repeat(65).into_boxed_str())), None);
        assert!(with(Box::leak("a".repeat(64).into_boxed_str())).is_some());
        assert_eq!(from_client(&HeaderMap::new()), None);
    }

    #[test]
    fn generated_ids_are_short_and_distinct() {
        let a = generate();
        let b = generate();
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
        assert!(
            from_client(&{
                let mut h = HeaderMap::new();
                h.insert(&X_REQUEST_ID, a.parse().unwrap());
                h
            })
            .is_some()
        );
    }
}
