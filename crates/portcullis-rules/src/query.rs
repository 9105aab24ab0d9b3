//! Query-string lookup with the semantics of Go's `url.ParseQuery`, which Traefik's `Query` and
//! `QueryRegexp` matchers use.
//!
//! Pairs are separated by `&` only; a pair containing `;` is dropped (Go rejects semicolon
//! separators since 1.17), as is a pair whose key or value has a malformed `%` escape. `+` decodes
//! to a space. Decoding allocates only for pairs that actually contain `%` or `+`.

use std::borrow::Cow;

/// Whether some value of parameter `key` in `query` satisfies `pred`.
pub(crate) fn any_value(
    query: Option<&str>,
    key: &str,
    mut pred: impl FnMut(&[u8]) -> bool,
) -> bool {
    let Some(query) = query else {
        return false;
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.contains(';'))
        .any(|pair| {
            let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            match (unescape(raw_key), unescape(raw_value)) {
                (Some(k), Some(v)) => *k == *key.as_bytes() && pred(&v),
                _ => false,
            }
        })
}

/// Go's `url.QueryUnescape`: `+` is a space, `%XX` a byte; `None` on a malformed escape.
pub(crate) fn unescape(s: &str) -> Option<Cow<'_, [u8]>> {
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b == b'%' || b == b'+') {
        return Some(Cow::Borrowed(bytes));
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut iter = bytes.iter().copied();
    while let Some(b) = iter.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = iter.next().and_then(hex_value)?;
                let lo = iter.next().and_then(hex_value)?;
                out.push(hi << 4 | lo);
            }
            other => out.push(other),
        }
    }
    Some(Cow::Owned(out))
}

/// Value of one ASCII hex digit.
pub(crate) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
