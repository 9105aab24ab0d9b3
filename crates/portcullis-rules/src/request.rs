//! The two request values rules are evaluated on: the canonical host and the routing path.
//!
//! Both come from untrusted clients. The routing path decodes only percent-escapes that cannot
//! change the structure of the path, so `/admin%2Fx` never routes as `/admin/x` while `/%61dmin`
//! routes as `/admin` (a rule cannot be bypassed by escaping letters). Malformed escapes are
//! refused rather than guessed at; the gateway answers them with 400.

use std::borrow::Cow;

use http::header::HOST;
use http::{HeaderMap, Uri};

use crate::error::InvalidPath;
use crate::query::hex_value;

/// Canonical host of a request, as Traefik computes it for `Host` and `HostRegexp`: from the URI
/// authority when it names a host or port (absolute-form requests, HTTP/2 `:authority`),
/// otherwise from the single `Host` header, as Go's server does; lowercased, port and IPv6
/// brackets stripped, a trailing dot kept (`HostRegexp` sees it; `Host` ignores it).
///
/// `None` when there is no usable host: none given, several `Host` headers, or a value that is
/// not a valid `host[:port]`.
pub fn canonical_host(uri: &Uri, headers: &HeaderMap) -> Option<String> {
    // Go takes the Host header when the target's authority is empty once user information is
    // removed (`http://@/`, `http://user@/`).
    let authority = uri
        .authority()
        .filter(|a| !a.as_str().rsplit('@').next().unwrap_or_default().is_empty());
    // Every request is routed by this: one allocation, for the result.
    let parsed;
    let host = match authority {
        Some(authority) => authority.host(),
        None => {
            let mut values = headers.get_all(HOST).iter();
            let value = values.next()?;
            // Two Host headers are ambiguous (request smuggling); Go's server refuses them too.
            if values.next().is_some() {
                return None;
            }
            let text = value.to_str().ok()?;
            // A Host header has no user information; accepting one would let `user@evil`
            // select a router by the part after `@`.
            if text.contains('@') {
                return None;
            }
            parsed = text.parse::<http::uri::Authority>().ok()?;
            parsed.host()
        }
    };
    let host = host.trim();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Characters whose escaped form keeps a distinct meaning in a path (RFC 3986 gen-delims and
/// sub-delims), plus `%` itself: decoding them would change how the path splits.
fn is_reserved(b: u8) -> bool {
    matches!(
        b,
        b':' | b'/'
            | b'?'
            | b'#'
            | b'['
            | b']'
            | b'@'
            | b'!'
            | b'$'
            | b'&'
            | b'\''
            | b'('
            | b')'
            | b'*'
            | b'+'
            | b','
            | b';'
            | b'='
            | b'%'
    )
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Traefik's routing path: `raw_path` (the path as sent, still escaped) with non-reserved `%XX`
/// sequences decoded and reserved ones kept encoded, their hex digits upper-cased so that `%2f`
/// and `%2F` route alike. Escaped bytes that do not form UTF-8 also stay encoded.
///
/// Borrows when the path has no `%`, which is the common case.
pub fn routing_path(raw_path: &str) -> Result<Cow<'_, str>, InvalidPath> {
    if !raw_path.contains('%') {
        return Ok(Cow::Borrowed(raw_path));
    }
    let bytes = raw_path.as_bytes();
    let mut out = String::with_capacity(raw_path.len());
    // Decoded non-ASCII bytes waiting to be checked as UTF-8 once their run ends.
    let mut pending: Vec<u8> = Vec::new();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'%' {
            flush(&mut pending, &mut out);
            let start = i;
            while bytes.get(i).is_some_and(|&c| c != b'%') {
                i += 1;
            }
            out.push_str(raw_path.get(start..i).unwrap_or_default());
            continue;
        }
        let decoded = match (
            bytes.get(i + 1).copied().and_then(hex_value),
            bytes.get(i + 2).copied().and_then(hex_value),
        ) {
            (Some(hi), Some(lo)) => hi << 4 | lo,
            _ => return Err(InvalidPath { offset: i }),
        };
        i += 3;
        if decoded >= 0x80 {
            pending.push(decoded);
            continue;
        }
        flush(&mut pending, &mut out);
        if is_reserved(decoded) {
            push_escaped(&mut out, decoded);
        } else {
            out.push(char::from(decoded));
        }
    }
    flush(&mut pending, &mut out);
    Ok(Cow::Owned(out))
}

/// Appends the decoded non-ASCII run: its valid UTF-8 as text, any other byte re-escaped.
fn flush(pending: &mut Vec<u8>, out: &mut String) {
    for chunk in pending.utf8_chunks() {
        out.push_str(chunk.valid());
        for &b in chunk.invalid() {
            push_escaped(out, b);
        }
    }
    pending.clear();
}

fn push_escaped(out: &mut String, b: u8) {
    out.push('%');
    for nibble in [b >> 4, b & 0x0f] {
        let digit = HEX_UPPER.get(usize::from(nibble)).copied().unwrap_or(b'0');
        out.push(char::from(digit));
    }
}
