//! Path rewriting and regex redirects: `addPrefix`, `replacePath`, `replacePathRegex`,
//! `stripPrefixRegex` and `redirectRegex`, as Traefik does them.
//!
//! They work on the path as it was sent (percent-encoded), and keep the query. A rewrite that
//! would leave dot segments or empty segments in the path is refused with 400, as in Traefik, so
//! that a rewrite cannot send the upstream a path the entry point's sanitizing would not have let
//! through.

use futures_util::future::BoxFuture;
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use percent_encoding::percent_decode_str;
use portcullis_config::RegexReplace;

use crate::body::{self, Body};
use crate::error::GatewayError;
use crate::middleware::{Decision, Middleware, RequestContext, Scheme};

static X_REPLACED_PATH: HeaderName = HeaderName::from_static("x-replaced-path");
static X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");

/// Replaces the path of `request`, keeping its query.
/// The status of a redirect, as Traefik's redirect middlewares answer: 302 or 301 for GET, and
/// 307 or 308 for any other method, so the browser repeats the request with its method and body.
pub(crate) fn redirect_status(permanent: bool, method: &Method) -> StatusCode {
    match (permanent, method == Method::GET) {
        (false, true) => StatusCode::FOUND,
        (false, false) => StatusCode::TEMPORARY_REDIRECT,
        (true, true) => StatusCode::MOVED_PERMANENTLY,
        (true, false) => StatusCode::PERMANENT_REDIRECT,
    }
}

fn set_path(request: &mut Request<Body>, path: &str, what: &str) -> Result<(), GatewayError> {
    let path = if path.is_empty() { "/" } else { path };
    let pq = match request.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let mut parts = request.uri().clone().into_parts();
    parts.path_and_query = Some(
        pq.parse()
            .map_err(|e| GatewayError::bad_request(format!("{what}: {e}")))?,
    );
    *request.uri_mut() =
        Uri::from_parts(parts).map_err(|e| GatewayError::bad_request(format!("{what}: {e}")))?;
    Ok(())
}

fn ensure_leading_slash(path: String) -> String {
    if path.is_empty() || path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    }
}

/// Whether `path` has no `.` or `..` segment and no empty segment but a final one: what Go's
/// `URL.JoinPath` leaves unchanged.
fn is_clean(path: &str) -> bool {
    let body = path.strip_prefix('/').unwrap_or(path);
    let mut segments = body.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if segment == "." || segment == ".." || (segment.is_empty() && !last) {
            return false;
        }
    }
    true
}

/// Whether every `%` of `path` starts a valid escape (Go's `url.PathUnescape`).
fn unescapes(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.iter().enumerate().all(|(i, b)| {
        *b != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    })
}

fn header_value(text: &[u8]) -> Option<HeaderValue> {
    HeaderValue::from_bytes(text).ok()
}

/// `addPrefix`: puts `prefix` before the path.
pub struct AddPrefix {
    pub prefix: String,
}

impl Middleware for AddPrefix {
    fn handle<'a>(
        &'a self,
        mut request: Request<Body>,
        _ctx: &'a mut RequestContext,
    ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
        Box::pin(async move {
            let path = ensure_leading_slash(format!("{}{}", self.prefix, request.uri().path()));
            set_path(&mut request, &path, "addPrefix")?;
            Ok(Decision::Forward(request))
        })
    }
}

/// `replacePath`: replaces the path, the old one goes to `X-Replaced-Path`.
pub struct ReplacePath {
    pub path: String,
}

impl Middleware for ReplacePath {
    fn handle<'a>(
        &'a self,
        mut request: Request<Body>,
        _ctx: &'a mut RequestContext,
    ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
        Box::pin(async move {
            if let Some(old) = header_value(request.uri().path().as_bytes()) {
                request.headers_mut().append(X_REPLACED_PATH.clone(), old);
            }
            set_path(&mut request, &self.path, "replacePath")?;
            Ok(Decision::Forward(request))
        })
    }
}

/// `replacePathRegex`: rewrites a matching path with the replacement (`$1`, `${name}`).
pub struct ReplacePathRegex {
    pub rewrite: RegexReplace,
}

impl Middleware for ReplacePathRegex {
    fn handle<'a>(
        &'a self,
        mut request: Request<Body>,
        _ctx: &'a mut RequestContext,
    ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
        Box::pin(async move {
            let current = request.uri().path();
            if !self.rewrite.regex.is_match(current) {
                return Ok(Decision::Forward(request));
            }
            let new_path = self
                .rewrite
                .regex
                .replace_all(current, self.rewrite.replacement.as_str())
                .into_owned();
            if let Some(old) = header_value(current.as_bytes()) {
                request.headers_mut().append(X_REPLACED_PATH.clone(), old);
            }
            if !unescapes(&new_path) {
                return Err(GatewayError::internal(format!(
                    "replacePathRegex: {new_path:?} is not a valid escaped path"
                )));
            }
            if !new_path.is_empty() && !is_clean(&new_path) {
                return Err(GatewayError::bad_request(format!(
                    "replacePathRegex: {new_path:?} is not a clean path"
                )));
            }
            set_path(&mut request, &new_path, "replacePathRegex")?;
            Ok(Decision::Forward(request))
        })
    }
}

/// `stripPrefixRegex`: removes the first regex match that is a prefix of the decoded path; the
/// prefix goes to `X-Forwarded-Prefix`.
pub struct StripPrefixRegex {
    pub regexes: Vec<regex::bytes::Regex>,
}

/// How many bytes of `raw` encode the first `decoded_len` bytes of its decoding.
fn encoded_prefix_len(raw: &str, decoded_len: usize) -> usize {
    let bytes = raw.as_bytes();
    let (mut i, mut decoded) = (0, 0);
    while i < bytes.len() && decoded < decoded_len {
        i += if bytes.get(i) == Some(&b'%') && i + 2 < bytes.len() {
            3
        } else {
            1
        };
        decoded += 1;
    }
    i
}

impl Middleware for StripPrefixRegex {
    fn handle<'a>(
        &'a self,
        mut request: Request<Body>,
        _ctx: &'a mut RequestContext,
    ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
        Box::pin(async move {
            let raw = request.uri().path();
            // Borrowed, not copied, when the path has no escapes.
            let decoded: std::borrow::Cow<'_, [u8]> = percent_decode_str(raw).into();
            for regex in &self.regexes {
                let Some(found) = regex.find(&decoded) else {
                    continue;
                };
                if found.is_empty() || found.start() != 0 {
                    continue;
                }
                let prefix = found.as_bytes();
                let rest = raw
                    .get(encoded_prefix_len(raw, prefix.len())..)
                    .unwrap_or_default();
                let new_path = ensure_leading_slash(rest.to_owned());
                if !new_path.is_empty() && !is_clean(&new_path) {
                    return Err(GatewayError::bad_request(format!(
                        "stripPrefixRegex: {new_path:?} is not a clean path"
                    )));
                }
                if let Some(value) = header_value(prefix) {
                    request
                        .headers_mut()
                        .append(X_FORWARDED_PREFIX.clone(), value);
                }
                set_path(&mut request, &new_path, "stripPrefixRegex")?;
                break;
            }
            Ok(Decision::Forward(request))
        })
    }
}

/// `redirectRegex`: redirects when the request URL matches and the replacement changes it.
pub struct RedirectRegex {
    pub rewrite: RegexReplace,
    pub permanent: bool,
}

impl RedirectRegex {
    /// The URL as Traefik sees it: `scheme://host` plus the request target.
    fn request_url(request: &Request<Body>, ctx: &RequestContext) -> String {
        let scheme = if ctx.scheme == Scheme::Https {
            "https"
        } else {
            "http"
        };
        let host = request
            .uri()
            .authority()
            .map(|a| a.as_str())
            .or_else(|| {
                request
                    .headers()
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
            })
            .unwrap_or_default();
        let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
        format!("{scheme}://{host}{target}")
    }
}

impl Middleware for RedirectRegex {
    fn handle<'a>(
        &'a self,
        request: Request<Body>,
        ctx: &'a mut RequestContext,
    ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
        Box::pin(async move {
            let old = Self::request_url(&request, ctx);
            if !self.rewrite.regex.is_match(&old) {
                return Ok(Decision::Forward(request));
            }
            let new = self
                .rewrite
                .regex
                .replace_all(&old, self.rewrite.replacement.as_str());
            if new == old {
                return Ok(Decision::Forward(request));
            }
            let location = HeaderValue::from_str(&new).map_err(|_| {
                GatewayError::internal(format!("redirectRegex: invalid location {new:?}"))
            })?;
            let status = redirect_status(self.permanent, request.method());
            let mut response = Response::new(body::full(status.canonical_reason().unwrap_or("")));
            *response.status_mut() = status;
            response.headers_mut().insert(header::LOCATION, location);
            Ok(Decision::Respond(response))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(scheme: Scheme) -> RequestContext {
        RequestContext::for_test(scheme)
    }

    fn rewrite(regex: &str, replacement: &str) -> RegexReplace {
        RegexReplace {
            regex: regex::Regex::new(&portcullis_rules::go_regex_capturing(regex).unwrap())
                .unwrap(),
            replacement: replacement.into(),
        }
    }

    async fn forward(m: &dyn Middleware, uri: &str) -> Request<Body> {
        let req = Request::get(uri).body(body::empty()).unwrap();
        match m.handle(req, &mut ctx(Scheme::Http)).await.unwrap() {
            Decision::Forward(r) => r,
            Decision::Respond(r) => panic!("unexpected response {}", r.status()),
        }
    }

    async fn status(m: &dyn Middleware, uri: &str) -> StatusCode {
        let req = Request::get(uri).body(body::empty()).unwrap();
        match m.handle(req, &mut ctx(Scheme::Http)).await {
            Ok(Decision::Respond(r)) => r.status(),
            Ok(Decision::Forward(_)) => StatusCode::OK,
            Err(e) => e.status(),
        }
    }

    #[tokio::test]
    async fn add_prefix_prefixes_the_path_and_keeps_the_query() {
        let m = AddPrefix {
            prefix: "/foo".into(),
        };
        assert_eq!(forward(&m, "/bar?x=1").await.uri(), "/foo/bar?x=1");
        assert_eq!(forward(&m, "/").await.uri(), "/foo/");
    }

    #[tokio::test]
    async fn replace_path_replaces_and_records_the_old_path() {
        let m = ReplacePath {
            path: "/foo".into(),
        };
        let out = forward(&m, "/bar/baz%20q?x=1").await;
        assert_eq!(out.uri(), "/foo?x=1");
        assert_eq!(out.headers()["x-replaced-path"], "/bar/baz%20q");
    }

    #[tokio::test]
    async fn replace_path_regex_expands_captures_only_on_a_match() {
        let m = ReplacePathRegex {
            rewrite: rewrite("^/foo/(.*)", "/bar/$1"),
        };
        let out = forward(&m, "/foo/a/b?q=1").await;
        assert_eq!(out.uri(), "/bar/a/b?q=1");
        assert_eq!(out.headers()["x-replaced-path"], "/foo/a/b");
        let out = forward(&m, "/other").await;
        assert_eq!(out.uri(), "/other");
        assert!(!out.headers().contains_key("x-replaced-path"));
        // Named groups, as in Go.
        let m = ReplacePathRegex {
            rewrite: rewrite("^/(?P<v>v[0-9]+)/(.*)", "/${2}/${v}"),
        };
        assert_eq!(forward(&m, "/v2/items").await.uri(), "/items/v2");
    }

    #[tokio::test]
    async fn replace_path_regex_refuses_unclean_results() {
        let m = ReplacePathRegex {
            rewrite: rewrite("^/foo/(.*)", "/bar/../$1"),
        };
        assert_eq!(status(&m, "/foo/x").await, StatusCode::BAD_REQUEST);
        let m = ReplacePathRegex {
            rewrite: rewrite("^/foo/(.*)", "/bar//$1"),
        };
        assert_eq!(status(&m, "/foo/x").await, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn strip_prefix_regex_strips_a_matching_prefix() {
        let m = StripPrefixRegex {
            regexes: vec![
                regex::bytes::Regex::new(
                    &portcullis_rules::go_regex_capturing("/foo/[a-z0-9]+/[0-9]+/").unwrap(),
                )
                .unwrap(),
            ],
        };
        let out = forward(&m, "/foo/abc/123/bar?x=1").await;
        assert_eq!(out.uri(), "/bar?x=1");
        assert_eq!(out.headers()["x-forwarded-prefix"], "/foo/abc/123/");
        // A match that is not a prefix strips nothing.
        let out = forward(&m, "/x/foo/abc/123/bar").await;
        assert_eq!(out.uri(), "/x/foo/abc/123/bar");
        assert!(!out.headers().contains_key("x-forwarded-prefix"));
    }

    #[tokio::test]
    async fn strip_prefix_regex_counts_escapes_in_the_raw_path() {
        let m = StripPrefixRegex {
            regexes: vec![regex::bytes::Regex::new("^/caf\u{e9}").unwrap()],
        };
        let out = forward(&m, "/caf%C3%A9/menu%20x").await;
        assert_eq!(out.uri(), "/menu%20x");
    }

    #[tokio::test]
    async fn redirect_regex_uses_302_for_get_and_307_otherwise() {
        let m = RedirectRegex {
            rewrite: rewrite("^http://localhost/(.*)", "http://mydomain/${1}"),
            permanent: false,
        };
        let req = Request::get("/a?b=1")
            .header("host", "localhost")
            .body(body::empty())
            .unwrap();
        let Decision::Respond(r) = m.handle(req, &mut ctx(Scheme::Http)).await.unwrap() else {
            panic!("expected a redirect")
        };
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(r.headers()["location"], "http://mydomain/a?b=1");
        let req = Request::post("/a")
            .header("host", "localhost")
            .body(body::empty())
            .unwrap();
        let Decision::Respond(r) = m.handle(req, &mut ctx(Scheme::Http)).await.unwrap() else {
            panic!("expected a redirect")
        };
        assert_eq!(r.status(), StatusCode::TEMPORARY_REDIRECT);
        // Another host does not match: forwarded.
        let req = Request::get("/a")
            .header("host", "other")
            .body(body::empty())
            .unwrap();
        assert!(matches!(
            m.handle(req, &mut ctx(Scheme::Http)).await.unwrap(),
            Decision::Forward(_)
        ));
    }

    #[tokio::test]
    async fn redirect_regex_permanent_uses_301_and_308_and_sees_https() {
        let m = RedirectRegex {
            rewrite: rewrite("^https://([^/]+)/old/(.*)", "https://${1}/new/${2}"),
            permanent: true,
        };
        for (method, expected) in [
            (Method::GET, StatusCode::MOVED_PERMANENTLY),
            (Method::PUT, StatusCode::PERMANENT_REDIRECT),
        ] {
            let req = Request::builder()
                .method(method)
                .uri("/old/x")
                .header("host", "example.com")
                .body(body::empty())
                .unwrap();
            let Decision::Respond(r) = m.handle(req, &mut ctx(Scheme::Https)).await.unwrap() else {
                panic!("expected a redirect")
            };
            assert_eq!(r.status(), expected);
            assert_eq!(r.headers()["location"], "https://example.com/new/x");
        }
    }
}
