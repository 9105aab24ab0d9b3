//! Traefik's everyday middlewares that people put around authentication: `stripPrefix`
//! and `redirectScheme`; the others are in [`crate::transform`].

use std::sync::Arc;

use futures_util::future::BoxFuture;
use http::{HeaderName, HeaderValue, Request, Response, Uri, header};
use portcullis_config::MiddlewareConfig;

use crate::body::{self, Body};
use crate::error::GatewayError;
use crate::middleware::{Decision, Middleware, RequestContext, Scheme};

static X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");

/// Builds a built-in middleware from its configuration.
pub fn build(config: &MiddlewareConfig) -> Result<Arc<dyn Middleware>, String> {
    match config {
        MiddlewareConfig::StripPrefix { prefixes } => Ok(Arc::new(StripPrefix {
            prefixes: prefixes.clone(),
        })),
        MiddlewareConfig::RedirectScheme {
            scheme,
            port,
            permanent,
        } => Ok(Arc::new(RedirectScheme {
            scheme: if scheme == "http" {
                Scheme::Http
            } else {
                Scheme::Https
            },
            port: *port,
            permanent: *permanent,
        })),
        MiddlewareConfig::Plugin(_) => Err("plugins are not built-in middlewares".into()),
        MiddlewareConfig::BasicAuth(auth) => crate::middlewares::basic_auth::build(auth, None),
        MiddlewareConfig::IpAllowList(allow) => Ok(crate::middlewares::ip_allow_list::build(allow)),
        MiddlewareConfig::RateLimit(limit) => crate::middlewares::rate_limit::build(limit),
        MiddlewareConfig::InFlightReq(in_flight) => {
            Ok(crate::middlewares::in_flight::build(in_flight))
        }
        MiddlewareConfig::Retry(retry) => Ok(crate::middlewares::retry::build(retry)),
        other => crate::transform::build(other)
            .unwrap_or_else(|| Err("not a built-in middleware".into())),
    }
}

/// Removes the first matching prefix from the path and records it in `X-Forwarded-Prefix`.
pub struct StripPrefix {
    prefixes: Vec<String>,
}

impl Middleware for StripPrefix {
    fn handle<'a>(
        &'a self,
        mut request: Request<Body>,
        _ctx: &'a mut RequestContext,
    ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
        Box::pin(async move {
            let path = request.uri().path();
            let Some(prefix) = self.prefixes.iter().find(|p| path.starts_with(p.as_str())) else {
                return Ok(Decision::Forward(request));
            };
            let rest = path.get(prefix.len()..).unwrap_or("");
            let new_path = if rest.starts_with('/') {
                rest.to_owned()
            } else {
                format!("/{rest}")
            };
            let new_pq = match request.uri().query() {
                Some(q) => format!("{new_path}?{q}"),
                None => new_path,
            };
            let mut parts = request.uri().clone().into_parts();
            parts.path_and_query = Some(
                new_pq
                    .parse()
                    .map_err(|e| GatewayError::bad_request(format!("stripPrefix: {e}")))?,
            );
            *request.uri_mut() = Uri::from_parts(parts)
                .map_err(|e| GatewayError::bad_request(format!("stripPrefix: {e}")))?;
            let forwarded = prefix.trim_end_matches('/');
            if let Ok(value) = HeaderValue::from_str(forwarded) {
                request
                    .headers_mut()
                    .insert(X_FORWARDED_PREFIX.clone(), value);
            }
            Ok(Decision::Forward(request))
        })
    }
}

/// Redirects requests that arrived on the other scheme.
pub struct RedirectScheme {
    scheme: Scheme,
    port: Option<u16>,
    permanent: bool,
}

impl Middleware for RedirectScheme {
    fn handle<'a>(
        &'a self,
        request: Request<Body>,
        ctx: &'a mut RequestContext,
    ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
        Box::pin(async move {
            let forwarded_https = request
                .headers()
                .get("x-forwarded-proto")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
            let current = if ctx.scheme == Scheme::Https || forwarded_https {
                Scheme::Https
            } else {
                Scheme::Http
            };
            if current == self.scheme {
                return Ok(Decision::Forward(request));
            }
            let host = request
                .uri()
                .host()
                .map(str::to_owned)
                .or_else(|| {
                    request
                        .headers()
                        .get(header::HOST)
                        .and_then(|h| h.to_str().ok())
                        .map(strip_port)
                })
                .ok_or_else(|| GatewayError::bad_request("redirectScheme: no host"))?;
            let port = match self.port {
                Some(p) if p != self.scheme.default_port() => format!(":{p}"),
                _ => String::new(),
            };
            let pq = request
                .uri()
                .path_and_query()
                .map(|pq| pq.as_str())
                .unwrap_or("/");
            let location = format!("{}://{host}{port}{pq}", self.scheme.as_str());
            let location = HeaderValue::from_str(&location)
                .map_err(|_| GatewayError::bad_request("redirectScheme: invalid location"))?;
            let mut response = Response::new(body::empty());
            *response.status_mut() =
                crate::transform::paths::redirect_status(self.permanent, request.method());
            response.headers_mut().insert(header::LOCATION, location);
            Ok(Decision::Respond(response))
        })
    }
}

fn strip_port(host: &str) -> String {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => host.get(..=end).unwrap_or(host).to_owned(),
            None => host.to_owned(),
        };
    }
    host.split(':').next().unwrap_or(host).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn ctx(scheme: Scheme) -> RequestContext {
        RequestContext::for_test(scheme)
    }

    fn forwarded(decision: Decision) -> Request<Body> {
        match decision {
            Decision::Forward(r) => r,
            Decision::Respond(r) => panic!("unexpected response {}", r.status()),
        }
    }

    #[tokio::test]
    async fn strip_prefix_strips_the_first_match_and_keeps_the_query() {
        let m = StripPrefix {
            prefixes: vec!["/api".into(), "/other".into()],
        };
        let req = Request::get("/api/users?x=1").body(body::empty()).unwrap();
        let out = forwarded(m.handle(req, &mut ctx(Scheme::Http)).await.unwrap());
        assert_eq!(out.uri(), "/users?x=1");
        assert_eq!(out.headers()["x-forwarded-prefix"], "/api");
        let req = Request::get("/api").body(body::empty()).unwrap();
        let out = forwarded(m.handle(req, &mut ctx(Scheme::Http)).await.unwrap());
        assert_eq!(out.uri(), "/");
        let req = Request::get("/elsewhere").body(body::empty()).unwrap();
        let out = forwarded(m.handle(req, &mut ctx(Scheme::Http)).await.unwrap());
        assert_eq!(out.uri(), "/elsewhere");
        assert!(!out.headers().contains_key("x-forwarded-prefix"));
    }

    #[tokio::test]
    async fn redirect_scheme_redirects_only_the_other_scheme() {
        let m = RedirectScheme {
            scheme: Scheme::Https,
            port: Some(8443),
            permanent: true,
        };
        let req = Request::get("/p?q=1")
            .header("host", "example.com:8080")
            .body(body::empty())
            .unwrap();
        match m.handle(req, &mut ctx(Scheme::Http)).await.unwrap() {
            Decision::Respond(r) => {
                assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
                assert_eq!(r.headers()["location"], "https://example.com:8443/p?q=1");
            }
            Decision::Forward(_) => panic!("expected a redirect"),
        }
        let req = Request::get("/p").body(body::empty()).unwrap();
        forwarded(m.handle(req, &mut ctx(Scheme::Https)).await.unwrap());
    }

    #[tokio::test]
    async fn redirect_scheme_keeps_the_method_of_other_requests_with_307_and_308() {
        for (permanent, get, other) in [
            (false, StatusCode::FOUND, StatusCode::TEMPORARY_REDIRECT),
            (
                true,
                StatusCode::MOVED_PERMANENTLY,
                StatusCode::PERMANENT_REDIRECT,
            ),
        ] {
            let m = RedirectScheme {
                scheme: Scheme::Https,
                port: None,
                permanent,
            };
            for (method, expected) in [(http::Method::GET, get), (http::Method::POST, other)] {
                let req = Request::builder()
                    .method(method.clone())
                    .uri("/form")
                    .header("host", "example.com")
                    .body(body::empty())
                    .unwrap();
                let Decision::Respond(r) = m.handle(req, &mut ctx(Scheme::Http)).await.unwrap()
                else {
                    panic!("expected a redirect for {method}")
                };
                assert_eq!(r.status(), expected, "{method} permanent={permanent}");
            }
        }
    }
}
