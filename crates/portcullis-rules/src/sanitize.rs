//! Path sanitisation before routing (Traefik's entry point option `http.sanitizePath`).
//!
//! Protects against routing one path and forwarding another: `/public/../admin` matches a
//! `PathPrefix(`/public`)` router, but an upstream that resolves dot-segments serves `/admin`.
//! The gateway therefore resolves `.` and `..` segments (also when written `%2e`) and merges
//! empty segments (`//`) once, per RFC 3986 section 5.2.4, and both routes and forwards the
//! result.
//!
//! What cannot be cleaned without guessing how the upstream decodes is refused: a dot-segment
//! hidden behind an encoded separator (`..%2f`, `..%5c`, `..\`), which an upstream that decodes
//! `%2F` or treats `\` as `/` would resolve, and a dot-segment carrying `;` parameters (`..;`),
//! which servlet containers resolve after dropping the parameters.
//!
//! A path with nothing to clean is returned borrowed, after one scan and no allocation.

use std::borrow::Cow;

/// A path whose meaning depends on how the upstream decodes it; the gateway answers 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ambiguous request path: {reason}")]
pub struct UnsafePath {
    pub reason: &'static str,
}

/// The raw (still percent-encoded) request path with dot-segments resolved and `//` merged;
/// a trailing slash is kept. Paths that do not start with `/` (`*`) are returned as they are.
pub fn sanitize_path(raw: &str) -> Result<Cow<'_, str>, UnsafePath> {
    let Some(rest) = raw.strip_prefix('/') else {
        return Ok(Cow::Borrowed(raw));
    };
    if !needs_cleaning(raw.as_bytes()) {
        return Ok(Cow::Borrowed(raw));
    }
    let mut kept: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        check_hidden_dot_segments(segment)?;
        let last = segments.peek().is_none();
        match dot_segment(segment)? {
            Some(DotSegment::Dot) => {}
            Some(DotSegment::DotDot) => {
                kept.pop();
            }
            None if segment.is_empty() => {}
            None => {
                kept.push(segment);
                continue;
            }
        }
        // `/a/`, `/a/.` and `/a/b/..` all end in a directory.
        trailing_slash = last;
    }
    let mut out = String::with_capacity(raw.len());
    for segment in &kept {
        out.push('/');
        out.push_str(segment);
    }
    if trailing_slash || kept.is_empty() {
        out.push('/');
    }
    Ok(if out == raw {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned(out)
    })
}

/// One pass over the bytes: whether anything could need cleaning or refusing (`//`, a segment
/// starting with `.` or `%2e`, a backslash, an encoded `.`, `/` or `\`).
fn needs_cleaning(bytes: &[u8]) -> bool {
    let mut previous = 0u8;
    for (i, &b) in bytes.iter().enumerate() {
        let suspicious = match b {
            b'/' | b'.' => previous == b'/',
            b'\\' => true,
            b'%' => matches!(
                (
                    bytes.get(i + 1),
                    bytes.get(i + 2).map(u8::to_ascii_lowercase)
                ),
                (Some(b'2'), Some(b'e' | b'f')) | (Some(b'5'), Some(b'c'))
            ),
            _ => false,
        };
        if suspicious {
            return true;
        }
        previous = b;
    }
    false
}

enum DotSegment {
    Dot,
    DotDot,
}

/// Classifies a segment whose only characters are `.` or `%2e`; a dot-segment with `;`
/// parameters is refused.
fn dot_segment(segment: &str) -> Result<Option<DotSegment>, UnsafePath> {
    let (name, params) = match segment.split_once(';') {
        Some((name, _)) => (name, true),
        None => (segment, false),
    };
    let kind = match count_dots(name) {
        Some(1) => DotSegment::Dot,
        Some(2) => DotSegment::DotDot,
        _ => return Ok(None),
    };
    if params {
        return Err(UnsafePath {
            reason: "dot-segment with parameters",
        });
    }
    Ok(Some(kind))
}

/// The number of dots when `text` is made only of `.` and `%2e` (any case), else `None`.
fn count_dots(text: &str) -> Option<usize> {
    let mut rest = text.as_bytes();
    let mut dots = 0;
    while !rest.is_empty() {
        rest = match rest {
            [b'.', tail @ ..] => tail,
            [b'%', b'2', b'e' | b'E', tail @ ..] => tail,
            _ => return None,
        };
        dots += 1;
        if dots > 2 {
            return None;
        }
    }
    (dots > 0).then_some(dots)
}

/// Refuses a segment that holds a dot-segment behind an encoded `/`, an encoded `\` or a `\`:
/// such a path routes as one segment here but can resolve upwards in the upstream.
fn check_hidden_dot_segments(segment: &str) -> Result<(), UnsafePath> {
    let bytes = segment.as_bytes();
    let mut start = 0;
    let mut i = 0;
    let mut split = false;
    while let Some(&b) = bytes.get(i) {
        let separator_len = match b {
            b'\\' => 1,
            b'%' if matches!(
                (
                    bytes.get(i + 1),
                    bytes.get(i + 2).map(u8::to_ascii_lowercase)
                ),
                (Some(b'2'), Some(b'f')) | (Some(b'5'), Some(b'c'))
            ) =>
            {
                3
            }
            _ => 0,
        };
        if separator_len == 0 {
            i += 1;
            continue;
        }
        split = true;
        if is_dot_part(segment.get(start..i).unwrap_or_default()) {
            return Err(hidden());
        }
        i += separator_len;
        start = i;
    }
    if split && is_dot_part(segment.get(start..).unwrap_or_default()) {
        return Err(hidden());
    }
    Ok(())
}

fn is_dot_part(part: &str) -> bool {
    let name = part.split_once(';').map_or(part, |(name, _)| name);
    count_dots(name).is_some()
}

fn hidden() -> UnsafePath {
    UnsafePath {
        reason: "dot-segment behind an encoded slash or a backslash",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(path: &str) -> String {
        sanitize_path(path).unwrap().into_owned()
    }

    #[test]
    fn clean_paths_are_borrowed_unchanged() {
        for path in [
            "/",
            "/a/b",
            "/a/b/",
            "/a%20b/c.txt",
            "/.well-known/x",
            "*",
            "/a/b%2Fc",
        ] {
            let result = sanitize_path(path).unwrap();
            assert!(matches!(result, Cow::Borrowed(_)), "{path}");
            assert_eq!(result, path);
        }
    }

    #[test]
    fn dot_segments_are_resolved_in_plain_and_encoded_form() {
        assert_eq!(clean("/public/../my-app/secret"), "/my-app/secret");
        assert_eq!(clean("/public/%2e%2e/my-app/secret"), "/my-app/secret");
        assert_eq!(clean("/public/%2E./my-app/secret"), "/my-app/secret");
        assert_eq!(clean("/public/.%2e/my-app/secret"), "/my-app/secret");
        assert_eq!(clean("/a/./b/%2e/c"), "/a/b/c");
        assert_eq!(clean("/../../etc/passwd"), "/etc/passwd");
        assert_eq!(clean("/a/b/.."), "/a/");
        assert_eq!(clean("/a/."), "/a/");
        assert_eq!(clean("/.."), "/");
        assert_eq!(clean("/..."), "/...");
        assert_eq!(clean("/a/...b/..c"), "/a/...b/..c");
    }

    #[test]
    fn empty_segments_are_merged_and_trailing_slashes_kept() {
        assert_eq!(clean("//my-app///secret"), "/my-app/secret");
        assert_eq!(clean("/a//"), "/a/");
        assert_eq!(clean("//"), "/");
    }

    #[test]
    fn dot_segments_behind_encoded_separators_are_refused() {
        for path in [
            "/public/..%2fmy-app/secret",
            "/public/..%2Fmy-app/secret",
            "/public/%2e%2e%2fmy-app",
            "/public/x%2f..%2fmy-app",
            "/public/..%5cmy-app",
            "/public/..\\my-app",
            "/public/a%2f..",
            "/public/..;/my-app",
            "/public/.;x/my-app",
        ] {
            assert!(sanitize_path(path).is_err(), "{path}");
        }
    }

    #[test]
    fn encoded_separators_without_dot_segments_stay() {
        assert_eq!(clean("/a%2fb/../c"), "/c");
        assert_eq!(clean("/a/b%2F.c"), "/a/b%2F.c");
        assert_eq!(clean("/a/x;y/./b"), "/a/x;y/b");
    }
}
