//! The `headers` middleware: custom request and response headers, security headers and CORS,
//! in Traefik's order. A CORS preflight is answered here and never reaches the service; then the
//! custom request headers are applied; then the host is checked against `allowedHosts` (which
//! guards upstreams that build links from the Host header against host-header injection); the
//! security headers are set on the response, then the custom response and CORS headers.

use futures_util::future::BoxFuture;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use portcullis_config::{Cors, HeadersConfig, SecureHeaders};

use crate::body::{self, Body};
use crate::error::GatewayError;
use crate::middleware::{Decision, HeaderEdit, Middleware, RequestContext, Scheme};

const ACAO: HeaderName = header::ACCESS_CONTROL_ALLOW_ORIGIN;

pub struct Headers {
    config: HeadersConfig,
}

impl Headers {
    pub fn new(config: HeadersConfig) -> Self {
        Self { config }
    }
}

impl Middleware for Headers {
    fn handle<'a>(
        &'a self,
        mut request: Request<Body>,
        ctx: &'a mut RequestContext,
    ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
        Box::pin(async move {
            if let Some(cors) = &self.config.cors
                && let Some(response) = preflight(cors, &request)
            {
                return Ok(Decision::Respond(response));
            }
            for (name, value) in &self.config.request {
                match value {
                    Some(v) => {
                        request.headers_mut().insert(name.clone(), v.clone());
                    }
                    None => {
                        request.headers_mut().remove(name);
                    }
                }
            }
            if let Some(secure) = &self.config.secure {
                if !host_allowed(secure, &request) {
                    return Ok(Decision::Respond(bad_host()));
                }
                secure_edits(secure, &request, ctx);
            }
            for (name, value) in &self.config.response {
                ctx.response_edits.push(match value {
                    Some(v) => HeaderEdit::Set(name.clone(), v.clone()),
                    None => HeaderEdit::Remove(name.clone()),
                });
            }
            if let Some(cors) = &self.config.cors {
                cors_edits(cors, request.headers(), ctx);
            }
            Ok(Decision::Forward(request))
        })
    }
}

/// The host as Go's `Request.Host` holds it (port included), or a proxy header's value.
fn request_host<'r>(secure: &SecureHeaders, request: &'r Request<Body>) -> &'r [u8] {
    for name in &secure.hosts_proxy_headers {
        if let Some(value) = request.headers().get(name)
            && !value.is_empty()
        {
            return value.as_bytes();
        }
    }
    if let Some(authority) = request.uri().authority() {
        return authority.as_str().as_bytes();
    }
    request
        .headers()
        .get(header::HOST)
        .map_or(&[], HeaderValue::as_bytes)
}

fn host_allowed(secure: &SecureHeaders, request: &Request<Body>) -> bool {
    if secure.allowed_hosts.is_empty() || secure.is_development {
        return true;
    }
    let host = request_host(secure, request);
    secure
        .allowed_hosts
        .iter()
        .any(|allowed| allowed.as_bytes().eq_ignore_ascii_case(host))
}

/// Traefik's answer to a host outside `allowedHosts`.
fn bad_host() -> Response<Body> {
    let mut response = Response::new(body::full("Bad Host\n"));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn is_https(secure: &SecureHeaders, request: &Request<Body>, ctx: &RequestContext) -> bool {
    ctx.scheme == Scheme::Https
        || secure
            .ssl_proxy_headers
            .iter()
            .any(|(name, value)| request.headers().get(name) == Some(value))
}

fn secure_edits(secure: &SecureHeaders, request: &Request<Body>, ctx: &mut RequestContext) {
    if let Some(sts) = &secure.sts
        && !secure.is_development
        && (secure.force_sts_header || is_https(secure, request, ctx))
    {
        ctx.response_edits.push(HeaderEdit::Set(
            header::STRICT_TRANSPORT_SECURITY,
            sts.clone(),
        ));
    }
    for (name, value) in &secure.always {
        ctx.response_edits
            .push(HeaderEdit::Set(name.clone(), value.clone()));
    }
    if let Some(pins) = &secure.public_key
        && !secure.is_development
        && is_https(secure, request, ctx)
    {
        ctx.response_edits.push(HeaderEdit::Set(
            HeaderName::from_static("public-key-pins"),
            pins.clone(),
        ));
    }
}

/// The `Access-Control-Allow-Origin` value for `origin`, if it is allowed.
fn match_origin(cors: &Cors, origin: &HeaderValue) -> Option<HeaderValue> {
    for item in &cors.allow_origin_list {
        if item.as_bytes() == origin.as_bytes() {
            return Some(origin.clone());
        }
        if item == "*" {
            // A wildcard cannot be combined with credentials: the origin is echoed instead.
            return Some(if cors.allow_credentials {
                origin.clone()
            } else {
                HeaderValue::from_static("*")
            });
        }
    }
    let text = origin.to_str().ok()?;
    cors.allow_origin_regex
        .iter()
        .any(|regex| regex.is_match(text))
        .then(|| origin.clone())
}

/// An `OPTIONS` request with `Origin` and `Access-Control-Request-Method` is a preflight: it is
/// answered with the CORS headers and a 200, without reaching the service.
fn preflight(cors: &Cors, request: &Request<Body>) -> Option<Response<Body>> {
    if request.method() != Method::OPTIONS {
        return None;
    }
    let headers = request.headers();
    let method = headers
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .filter(|v| !v.is_empty())?;
    let origin = headers.get(header::ORIGIN).filter(|v| !v.is_empty())?;
    let mut response = Response::new(body::empty());
    let out = response.headers_mut();
    if cors.allow_credentials {
        out.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if cors.allow_headers_echo {
        if let Some(requested) = headers
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .filter(|v| !v.is_empty())
        {
            out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
        }
    } else if let Some(allowed) = &cors.allow_headers {
        out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed.clone());
    }
    if cors.allow_methods_echo {
        out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, method.clone());
    } else if let Some(allowed) = &cors.allow_methods {
        out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, allowed.clone());
    }
    if let Some(allowed) = match_origin(cors, origin) {
        out.insert(ACAO, allowed);
    }
    if let Some(max_age) = &cors.max_age {
        out.insert(header::ACCESS_CONTROL_MAX_AGE, max_age.clone());
    }
    if let Some(expose) = &cors.expose_headers {
        out.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
    }
    out.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    Some(response)
}

/// The CORS headers of an actual (not preflight) response.
fn cors_edits(cors: &Cors, headers: &HeaderMap, ctx: &mut RequestContext) {
    let origin = headers
        .get(header::ORIGIN)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static(""));
    if let Some(allowed) = match_origin(cors, &origin)
        && !allowed.is_empty()
    {
        ctx.response_edits.push(HeaderEdit::Set(ACAO, allowed));
    }
    if cors.allow_credentials {
        ctx.response_edits.push(HeaderEdit::Set(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        ));
    }
    if let Some(expose) = &cors.expose_headers {
        ctx.response_edits.push(HeaderEdit::Set(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            expose.clone(),
        ));
    }
    if cors.add_vary_header {
        ctx.response_edits.push(HeaderEdit::AddToList(
            header::VARY,
            HeaderValue::from_static("Origin"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_config::MiddlewareConfig;
    use portcullis_config::errors::{Errors, Path};
    use portcullis_config::middleware_transform;
    use portcullis_config::raw::RawMiddleware;

    fn headers(yaml: &str) -> Headers {
        let raw: RawMiddleware = serde_saphyr::from_str(yaml).unwrap();
        let mut errors = Errors::new();
        let config = middleware_transform::validate(&raw, &Path::root(), &mut errors);
        assert!(errors.is_empty(), "{:?}", errors.into_vec());
        match config {
            Some(Some(MiddlewareConfig::Headers(config))) => Headers::new(*config),
            other => panic!("not headers: {other:?}"),
        }
    }

    fn ctx(scheme: Scheme) -> RequestContext {
        RequestContext::for_test(scheme)
    }

    /// Runs `m` on `request`; a forwarded request gets a 200 "upstream" response with
    /// `upstream_headers`, and the middleware's edits are applied.
    async fn run(
        m: &Headers,
        request: Request<Body>,
        scheme: Scheme,
        upstream_headers: &[(&'static str, &'static str)],
    ) -> (Option<Request<Body>>, Response<Body>) {
        let mut c = ctx(scheme);
        match m.handle(request, &mut c).await.unwrap() {
            Decision::Respond(mut r) => {
                c.finish_response(&mut r);
                (None, r)
            }
            Decision::Forward(req) => {
                let mut r = Response::new(body::empty());
                for (k, v) in upstream_headers {
                    r.headers_mut().append(*k, HeaderValue::from_static(v));
                }
                c.finish_response(&mut r);
                (Some(req), r)
            }
        }
    }

    #[tokio::test]
    async fn custom_headers_are_set_and_an_empty_value_removes() {
        let m = headers(
            "headers: {customRequestHeaders: {X-Script-Name: test, X-Custom-Request-Header: ''}, customResponseHeaders: {X-Custom-Response-Header: ''}}",
        );
        let req = Request::get("/")
            .header("x-custom-request-header", "client")
            .body(body::empty())
            .unwrap();
        let (req, resp) = run(
            &m,
            req,
            Scheme::Http,
            &[("x-custom-response-header", "upstream")],
        )
        .await;
        let req = req.unwrap();
        assert_eq!(req.headers()["x-script-name"], "test");
        assert!(!req.headers().contains_key("x-custom-request-header"));
        assert!(!resp.headers().contains_key("x-custom-response-header"));
    }

    #[tokio::test]
    async fn security_headers_follow_traefik() {
        let m = headers(
            "headers: {frameDeny: true, browserXssFilter: true, contentTypeNosniff: true, stsSeconds: 31536000, stsIncludeSubdomains: true, stsPreload: true, contentSecurityPolicy: \"default-src 'self'\", contentSecurityPolicyReportOnly: \"img-src *\", referrerPolicy: same-origin, permissionsPolicy: 'camera=()'}",
        );
        let req = Request::get("/").body(body::empty()).unwrap();
        let (_, resp) = run(&m, req, Scheme::Https, &[("x-frame-options", "ALLOW")]).await;
        let h = resp.headers();
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-xss-protection"], "1; mode=block");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(
            h["strict-transport-security"],
            "max-age=31536000; includeSubDomains; preload"
        );
        assert_eq!(h["content-security-policy"], "default-src 'self'");
        assert_eq!(h["content-security-policy-report-only"], "img-src *");
        assert_eq!(h["referrer-policy"], "same-origin");
        assert_eq!(h["permissions-policy"], "camera=()");
    }

    #[tokio::test]
    async fn sts_only_over_https_unless_forced_or_development() {
        let plain = headers("headers: {stsSeconds: 60}");
        let (_, resp) = run(
            &plain,
            Request::get("/").body(body::empty()).unwrap(),
            Scheme::Http,
            &[],
        )
        .await;
        assert!(!resp.headers().contains_key("strict-transport-security"));
        let proxied =
            headers("headers: {stsSeconds: 60, sslProxyHeaders: {X-Forwarded-Proto: https}}");
        let req = Request::get("/")
            .header("x-forwarded-proto", "https")
            .body(body::empty())
            .unwrap();
        let (_, resp) = run(&proxied, req, Scheme::Http, &[]).await;
        assert_eq!(resp.headers()["strict-transport-security"], "max-age=60");
        let forced = headers("headers: {stsSeconds: 60, forceSTSHeader: true}");
        let (_, resp) = run(
            &forced,
            Request::get("/").body(body::empty()).unwrap(),
            Scheme::Http,
            &[],
        )
        .await;
        assert_eq!(resp.headers()["strict-transport-security"], "max-age=60");
        let dev = headers("headers: {stsSeconds: 60, isDevelopment: true}");
        let (_, resp) = run(
            &dev,
            Request::get("/").body(body::empty()).unwrap(),
            Scheme::Https,
            &[],
        )
        .await;
        assert!(!resp.headers().contains_key("strict-transport-security"));
    }

    #[tokio::test]
    async fn custom_values_override_frame_deny_and_xss_filter() {
        let m = headers(
            "headers: {frameDeny: true, customFrameOptionsValue: SAMEORIGIN, browserXssFilter: true, customBrowserXSSValue: '0'}",
        );
        let (_, resp) = run(
            &m,
            Request::get("/").body(body::empty()).unwrap(),
            Scheme::Http,
            &[],
        )
        .await;
        assert_eq!(resp.headers()["x-frame-options"], "SAMEORIGIN");
        assert_eq!(resp.headers()["x-xss-protection"], "0");
    }

    #[tokio::test]
    async fn allowed_hosts_refuse_other_hosts_with_traefiks_bad_host() {
        let m = headers(
            "headers: {allowedHosts: [example.com], hostsProxyHeaders: [X-Forwarded-Host]}",
        );
        let ok = Request::get("/")
            .header("host", "EXAMPLE.com")
            .body(body::empty())
            .unwrap();
        assert!(run(&m, ok, Scheme::Http, &[]).await.0.is_some());
        let bad = Request::get("/")
            .header("host", "evil.test")
            .body(body::empty())
            .unwrap();
        let (forwarded, resp) = run(&m, bad, Scheme::Http, &[]).await;
        assert!(forwarded.is_none());
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        // The proxy header names the host when present.
        let proxied = Request::get("/")
            .header("host", "internal")
            .header("x-forwarded-host", "example.com")
            .body(body::empty())
            .unwrap();
        assert!(run(&m, proxied, Scheme::Http, &[]).await.0.is_some());
        let dev = headers("headers: {allowedHosts: [example.com], isDevelopment: true}");
        let any = Request::get("/")
            .header("host", "localhost:8080")
            .body(body::empty())
            .unwrap();
        assert!(run(&dev, any, Scheme::Http, &[]).await.0.is_some());
    }

    const CORS: &str = "headers: {accessControlAllowMethods: [GET, OPTIONS, PUT], accessControlAllowHeaders: ['*'], accessControlAllowOriginList: ['https://foo.bar.org', 'https://example.org'], accessControlMaxAge: 100, addVaryHeader: true, accessControlExposeHeaders: [X-Total]}";

    #[tokio::test]
    async fn cors_preflight_is_answered_without_the_service() {
        let m = headers(CORS);
        let req = Request::options("/api")
            .header("origin", "https://example.org")
            .header("access-control-request-method", "PUT")
            .body(body::empty())
            .unwrap();
        let (forwarded, resp) = run(&m, req, Scheme::Http, &[]).await;
        assert!(forwarded.is_none());
        assert_eq!(resp.status(), StatusCode::OK);
        let h = resp.headers();
        assert_eq!(h["access-control-allow-origin"], "https://example.org");
        assert_eq!(h["access-control-allow-methods"], "GET,OPTIONS,PUT");
        assert_eq!(h["access-control-allow-headers"], "*");
        assert_eq!(h["access-control-max-age"], "100");
        assert_eq!(h["access-control-expose-headers"], "X-Total");
        assert_eq!(h["content-length"], "0");
        // An unknown origin gets no Allow-Origin, still no forwarding.
        let req = Request::options("/api")
            .header("origin", "https://evil.test")
            .header("access-control-request-method", "PUT")
            .body(body::empty())
            .unwrap();
        let (forwarded, resp) = run(&m, req, Scheme::Http, &[]).await;
        assert!(forwarded.is_none());
        assert!(!resp.headers().contains_key("access-control-allow-origin"));
        // OPTIONS without Access-Control-Request-Method is an ordinary request.
        let req = Request::options("/api")
            .header("origin", "https://example.org")
            .body(body::empty())
            .unwrap();
        assert!(run(&m, req, Scheme::Http, &[]).await.0.is_some());
    }

    #[tokio::test]
    async fn cors_responses_carry_origin_credentials_and_vary() {
        let m = headers(CORS);
        let req = Request::get("/api")
            .header("origin", "https://foo.bar.org")
            .body(body::empty())
            .unwrap();
        let (_, resp) = run(
            &m,
            req,
            Scheme::Http,
            &[
                ("vary", "Accept-Encoding"),
                ("access-control-allow-origin", "*"),
            ],
        )
        .await;
        let h = resp.headers();
        assert_eq!(h["access-control-allow-origin"], "https://foo.bar.org");
        assert_eq!(h["access-control-expose-headers"], "X-Total");
        assert_eq!(h["vary"], "Accept-Encoding,Origin");
        assert!(!h.contains_key("access-control-allow-methods"));
    }

    #[tokio::test]
    async fn cors_wildcards_with_credentials_echo_the_request() {
        let m = headers(
            "headers: {accessControlAllowCredentials: true, accessControlAllowOriginList: ['*'], accessControlAllowMethods: ['*'], accessControlAllowHeaders: ['*'], accessControlExposeHeaders: ['*']}",
        );
        let req = Request::options("/")
            .header("origin", "https://app.test")
            .header("access-control-request-method", "DELETE")
            .header("access-control-request-headers", "x-a,x-b")
            .body(body::empty())
            .unwrap();
        let (_, resp) = run(&m, req, Scheme::Http, &[]).await;
        let h = resp.headers();
        assert_eq!(h["access-control-allow-origin"], "https://app.test");
        assert_eq!(h["access-control-allow-methods"], "DELETE");
        assert_eq!(h["access-control-allow-headers"], "x-a,x-b");
        assert_eq!(h["access-control-allow-credentials"], "true");
        assert!(!h.contains_key("access-control-expose-headers"));
        let m = headers("headers: {accessControlAllowOriginList: ['*']}");
        let req = Request::get("/")
            .header("origin", "https://app.test")
            .body(body::empty())
            .unwrap();
        let (_, resp) = run(&m, req, Scheme::Http, &[]).await;
        assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    }

    #[tokio::test]
    async fn cors_origin_regexes_use_go_syntax() {
        let m = headers(
            r"headers: {accessControlAllowOriginListRegex: ['^https://([a-z]+)\.example\.com$']}",
        );
        let req = Request::get("/")
            .header("origin", "https://api.example.com")
            .body(body::empty())
            .unwrap();
        let (_, resp) = run(&m, req, Scheme::Http, &[]).await;
        assert_eq!(
            resp.headers()["access-control-allow-origin"],
            "https://api.example.com"
        );
        let req = Request::get("/")
            .header("origin", "https://api.example.com.evil.test")
            .body(body::empty())
            .unwrap();
        let (_, resp) = run(&m, req, Scheme::Http, &[]).await;
        assert!(!resp.headers().contains_key("access-control-allow-origin"));
    }
}
