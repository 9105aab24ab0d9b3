//! Traefik's everyday middlewares that people put around authentication: `stripPrefix`,
//! `headers` (custom request and response headers) and `redirectScheme`.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, Uri, header};
use portcullis_config::MiddlewareConfig;
use portcullis_config::model::HeaderRule;

use crate::body::{self, Body};
use crate::error::GatewayError;
use crate::middleware::{Decision, HeaderEdit, Middleware, RequestContext, Scheme};

static X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");

/// Builds a built-in middleware from its configuration.
pub fn build(config: &MiddlewareConfig) -> Result<Arc<dyn Middleware>, String> {
    match config {
        MiddlewareConfig::StripPrefix { prefixes } => Ok(Arc::new(StripPrefix {
            prefixes: prefixes.clone(),
        })),
        MiddlewareConfig::Headers { request, response } => Ok(Arc::new(Headers {
            request: request.clone(),
            response: response.clone(),
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

/// Sets or removes request headers, and asks for response header changes.
pub struct Headers {
    request: Vec<HeaderRule>,
    response: Vec<HeaderRule>,
}

impl Middleware for Headers {
    fn handle<'a>(
        &'a self,
        mut request: Request<Body>,
        ctx: &'a mut RequestContext,
    ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
        Box::pin(async move {
            for (name, value) in &self.request {
                match value {
                    Some(v) => {
                        request.headers_mut().insert(name.clone(), v.clone());
                    }
                    None => {
                        request.headers_mut().remove(name);
                    }
                }
            }
            for (name, value) in &self.response {
                ctx.response_edits.push(match value {
                    Some(v) => HeaderEdit::Set(name.clone(), v.clone()),
                    None => HeaderEdit::Remove(name.clone()),
                });
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
            *response.status_mut() = if self.permanent {
                StatusCode::MOVED_PERMANENTLY
            } else {
                StatusCode::FOUND
            };
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

    fn ctx(scheme: Scheme) -> RequestContext {
        RequestContext::new(
            "127.0.0.1:9".parse().unwrap(),
            scheme,
            "web".into(),
            "r".into(),
        )
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
    async fn headers_set_remove_and_edit_responses() {
        let m = Headers {
            request: vec![
                (
                    HeaderName::from_static("x-a"),
                    Some(HeaderValue::from_static("1")),
                ),
                (HeaderName::from_static("x-gone"), None),
            ],
            response: vec![
                (
                    HeaderName::from_static("x-r"),
                    Some(HeaderValue::from_static("2")),
                ),
                (HeaderName::from_static("server"), None),
            ],
        };
        let req = Request::get("/")
            .header("x-gone", "bye")
            .header("x-a", "client")
            .body(body::empty())
            .unwrap();
        let mut c = ctx(Scheme::Http);
        let out = forwarded(m.handle(req, &mut c).await.unwrap());
        assert_eq!(out.headers()["x-a"], "1");
        assert!(!out.headers().contains_key("x-gone"));
        let mut response = Response::new(body::empty());
        response
            .headers_mut()
            .insert("server", HeaderValue::from_static("upstream"));
        c.finish_response(&mut response);
        assert_eq!(response.headers()["x-r"], "2");
        assert!(!response.headers().contains_key("server"));
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
}
