//! What the middleware needs to know about a request: the origin it was sent to (the entry
//! point's scheme and the request's host), its path and query, and its cookies.
//!
//! The scheme is the entry point's, never a client header's: `X-Forwarded-Proto` is not
//! trusted, so a client cannot make the gateway build `https` URLs for a plain-text request or
//! the reverse.

use http::{Method, Request, header::HOST};
use portcullis_proxy::middleware::{RequestContext, Scheme};

use crate::shared::cookies::CookieJar;

/// The parts of a request the middleware looks at.
#[derive(Debug, Clone)]
pub struct OidcRequest {
    pub https: bool,
    /// `host[:port]`, lower-cased, without the scheme's default port.
    pub authority: String,
    pub path: String,
    pub query: Option<String>,
    pub method: Method,
    pub jar: CookieJar,
}

impl OidcRequest {
    /// `None` when the request names no usable host.
    pub fn new<B>(request: &Request<B>, ctx: &RequestContext) -> Option<Self> {
        let https = ctx.scheme == Scheme::Https;
        let raw_authority = match request.uri().authority() {
            Some(authority) => authority.as_str().to_owned(),
            None => request.headers().get(HOST)?.to_str().ok()?.to_owned(),
        };
        let authority = normalize_authority(&raw_authority, https)?;
        Some(Self {
            https,
            authority,
            path: request.uri().path().to_owned(),
            query: request.uri().query().map(str::to_owned),
            method: request.method().clone(),
            jar: CookieJar::from_headers(request.headers()),
        })
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }

    /// `scheme://authority`.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme(), self.authority)
    }

    /// The path with its query.
    pub fn path_and_query(&self) -> String {
        match &self.query {
            Some(query) => format!("{}?{query}", self.path),
            None => self.path.clone(),
        }
    }

    /// The query parameters, decoded.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .as_deref()
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Lower-cases a `host[:port]`, drops the default port of the scheme, and refuses anything
/// that is not a plain host and port (user info, paths, spaces).
pub fn normalize_authority(raw: &str, https: bool) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty()
        || raw
            .bytes()
            .any(|b| matches!(b, b'/' | b'\\' | b'@' | b'?' | b'#' | b' ') || !b.is_ascii_graphic())
    {
        return None;
    }
    let lower = raw.to_ascii_lowercase();
    let default_port = if https { ":443" } else { ":80" };
    let trimmed = lower.strip_suffix(default_port).unwrap_or(&lower);
    // A port must be digits; an IPv6 literal keeps its brackets.
    if let Some((host, port)) = trimmed.rsplit_once(':') {
        if !host.ends_with(']') && host.contains(':') {
            return None;
        }
        if !host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
            return Some(trimmed.to_owned());
        }
        if !(trimmed.starts_with('[') && trimmed.ends_with(']')) {
            return None;
        }
    }
    Some(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_are_normalized() {
        assert_eq!(
            normalize_authority("Expl.CO", false).as_deref(),
            Some("expl.co")
        );
        assert_eq!(
            normalize_authority("expl.co:80", false).as_deref(),
            Some("expl.co")
        );
        assert_eq!(
            normalize_authority("expl.co:443", true).as_deref(),
            Some("expl.co")
        );
        assert_eq!(
            normalize_authority("expl.co:8080", true).as_deref(),
            Some("expl.co:8080")
        );
        assert_eq!(
            normalize_authority("[::1]:8080", false).as_deref(),
            Some("[::1]:8080")
        );
        for bad in ["", "a/b", "user@host", "host:port", "a b", "evil.com\\x"] {
            assert!(normalize_authority(bad, false).is_none(), "{bad}");
        }
    }
}
