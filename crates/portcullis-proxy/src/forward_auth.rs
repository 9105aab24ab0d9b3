//! Forward authentication: a router marked `forwardAuth` is the authorization endpoint of a
//! proxy in front (Traefik ForwardAuth, nginx `auth_request`, Caddy `forward_auth`, Envoy
//! `ext_authz`). Each of its requests *describes* the client's request; the router's ordinary
//! middleware chain judges the described request, and the decision becomes the answer the
//! proxy expects.
//!
//! The router is built as a chain like any other, so the middleware contract stays as it is:
//! - [`Describe`] comes first. It rebuilds the described request (method, scheme, host, path
//!   and query, client address; the client's other headers, `Cookie` and `Authorization`
//!   among them, as the proxy passed them) and forwards that instead of the auth request;
//! - the router's middlewares run on it unchanged: a login redirect, a 401 or a 403 is their
//!   answer, which goes back to the proxy (and through it to the client) as it is;
//! - [`Answer`] stands in for the service: a request the chain let through becomes a 200
//!   carrying every request header the middlewares set or changed (claim headers, the bearer
//!   token), for the proxy to copy onto the request it sends upstream. Cookies the middlewares
//!   set (a renewed session) ride on it as `Set-Cookie`.
//!
//! What it protects against, and how:
//! - a client describing a request it is not making (`X-Forwarded-Uri: /public` on a request
//!   for `/admin`): only a peer the entry point trusts (`forwardedHeaders.trustedIPs`, or
//!   `insecure`) may describe a request; anyone else gets 403 before any middleware runs;
//! - headers of one shape read under another: each proxy's headers are read only for that
//!   proxy, and every forwarding header (`X-Forwarded-*`, `X-Original-*`, `Forwarded`, ...) is
//!   removed from the described request, then set again from the description, as the gateway
//!   does for a request it receives itself;
//! - a middleware's answer misread by nginx, which understands only 2xx, 401 and 403: for
//!   nginx a redirect becomes a 401 naming its target in [`X_AUTH_REDIRECT`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use http::uri::{Authority, PathAndQuery};
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, header,
};
use portcullis_config::EntryPoint;
use portcullis_config::forward_auth::{ForwardAuthConfig, ForwardAuthProxy};

use crate::body::{self, Body};
use crate::error::GatewayError;
use crate::forwarding::{self, X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO};
use crate::hygiene::{self, MAX_METHOD_LEN, RequestPolicy};
use crate::middleware::{Decision, Middleware, RequestContext, ResponseStage, Scheme};
use crate::services::Upstream;

/// The header of nginx's 401 that names where a redirect was going (the provider's login
/// page); the documented `error_page 401` location sends the browser there.
pub static X_AUTH_REDIRECT: HeaderName = HeaderName::from_static("x-auth-redirect");
static X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
static X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
static X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
static X_ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");

/// The check name in the log line of a refused forward-auth request.
const CHECK: &str = "forward_auth";

/// The described request, as it was before the middlewares ran: what [`Answer`] compares with.
#[derive(Debug, Clone)]
struct Described {
    headers: HeaderMap,
}

/// The first link of a forward-auth router's chain: replaces the auth request by the request
/// it describes.
#[derive(Debug)]
pub struct Describe {
    proxy: ForwardAuthProxy,
    path_prefix: Option<String>,
    /// Who may describe requests (`forwardedHeaders.trustedIPs`) and whether described paths
    /// are sanitised (`http.sanitizePath`), by entry point name: the entry point's own policy,
    /// so that the middlewares judge the path the application will serve.
    entry_points: HashMap<String, RequestPolicy>,
}

impl Describe {
    pub fn new(config: &ForwardAuthConfig, entry_points: &[EntryPoint]) -> Self {
        Self {
            proxy: config.proxy,
            path_prefix: config.path_prefix.clone(),
            entry_points: entry_points
                .iter()
                .map(|ep| (ep.name.clone(), RequestPolicy::for_entry_point(ep)))
                .collect(),
        }
    }

    fn describe(
        &self,
        request: &Request<Body>,
        ctx: &mut RequestContext,
    ) -> Result<Request<Body>, GatewayError> {
        let peer = ctx.client_addr.ip();
        let entry_point = self
            .entry_points
            .get(&*ctx.entry_point)
            .filter(|ep| ep.forwarded_headers.trusts(peer));
        let Some(entry_point) = entry_point else {
            return Err(GatewayError::forbidden(format!(
                "forward auth request from {peer}, which is not a trusted proxy (forwardedHeaders.trustedIPs)"
            ))
            .with_origin(&ctx.router, CHECK));
        };
        let headers = request.headers();
        let (method, target, host) = match self.proxy {
            ForwardAuthProxy::Traefik | ForwardAuthProxy::Caddy => (
                required(headers, &X_FORWARDED_METHOD)?,
                required(headers, &X_FORWARDED_URI)?,
                required(headers, &X_FORWARDED_HOST)?,
            ),
            ForwardAuthProxy::Nginx => (
                // nginx's auth subrequest carries the client's method; the header is the
                // documented way to say it and wins when present.
                text(headers, &X_ORIGINAL_METHOD)?.unwrap_or(request.method().as_str()),
                required(headers, &X_ORIGINAL_URI)?,
                required(headers, &header::HOST)?,
            ),
            ForwardAuthProxy::Envoy => (
                request.method().as_str(),
                self.envoy_target(request)?,
                required(headers, &header::HOST)?,
            ),
        };
        let method = parse_method(method)?;
        let path_and_query = parse_target(target)?;
        let authority = parse_host(host)?;
        let scheme = match text(headers, &X_FORWARDED_PROTO)? {
            None => ctx.scheme,
            Some(proto) if proto.eq_ignore_ascii_case("https") => Scheme::Https,
            Some(proto) if proto.eq_ignore_ascii_case("http") => Scheme::Http,
            Some(proto) => {
                return Err(described_badly(format!(
                    "unknown X-Forwarded-Proto {proto:?}"
                )));
            }
        };
        let client = SocketAddr::new(client_ip(headers).unwrap_or(peer), 0);

        let mut described = HeaderMap::with_capacity(headers.len());
        for (name, value) in headers {
            if !forwarding::is_forwarding_header(name)
                && name != X_ORIGINAL_METHOD
                && name != header::HOST
                && name != header::CONTENT_LENGTH
                && name != header::TRANSFER_ENCODING
            {
                described.append(name.clone(), value.clone());
            }
        }
        let host_value = HeaderValue::from_str(authority.as_str())
            .map_err(|_| described_badly("invalid host"))?;
        described.insert(header::HOST, host_value);
        // As for a request the gateway receives itself: the forwarded headers say what the
        // gateway knows, here from the description.
        forwarding::set_forwarded(&mut described, false, client, scheme, 0);

        let mut rebuilt = Request::new(body::empty());
        *rebuilt.method_mut() = method;
        *rebuilt.uri_mut() = Uri::from(path_and_query);
        if entry_point.sanitize_path {
            hygiene::sanitize_target(&mut rebuilt)?;
        }
        *rebuilt.headers_mut() = described.clone();
        rebuilt
            .extensions_mut()
            .insert(Described { headers: described });
        ctx.scheme = scheme;
        ctx.client_addr = client;
        if self.proxy == ForwardAuthProxy::Nginx {
            ctx.response_stages.push(Box::new(NginxAnswer));
        }
        Ok(rebuilt)
    }

    /// Envoy appends the original path and query to `pathPrefix`.
    fn envoy_target<'r>(&self, request: &'r Request<Body>) -> Result<&'r str, GatewayError> {
        let prefix = self.path_prefix.as_deref().unwrap_or_default();
        let full = request
            .uri()
            .path_and_query()
            .map_or("/", PathAndQuery::as_str);
        match full.strip_prefix(prefix) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') => {
                Ok(rest)
            }
            _ => Err(described_badly(format!(
                "path {full:?} does not start with the pathPrefix {prefix:?}"
            ))),
        }
    }
}

impl Middleware for Describe {
    fn handle<'a>(
        &'a self,
        request: Request<Body>,
        ctx: &'a mut RequestContext,
    ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
        Box::pin(async move {
            // A description the proxy in front got wrong is its operator's to fix: logged as
            // this router's refusal, not as client noise.
            self.describe(&request, ctx)
                .map(Decision::Forward)
                .map_err(|error| match error.origin() {
                    Some(_) => error,
                    None => error.with_origin(&ctx.router, CHECK),
                })
        })
    }
}

/// Stands in for the service of a forward-auth router: the chain let the described request
/// through, so the proxy may send it on, with the headers the middlewares set or changed.
#[derive(Debug)]
pub struct Answer {
    name: Arc<str>,
}

impl Answer {
    /// `name` is the router's service, for the access log and the metrics.
    pub fn new(name: &str) -> Self {
        Self { name: name.into() }
    }
}

impl Upstream for Answer {
    fn name(&self) -> &Arc<str> {
        &self.name
    }

    fn forward(
        &self,
        request: Request<Body>,
    ) -> BoxFuture<'_, Result<Response<Body>, GatewayError>> {
        Box::pin(async move { answer(&request) })
    }
}

/// A 200 carrying every header of `request` whose values differ from the described request's.
fn answer(request: &Request<Body>) -> Result<Response<Body>, GatewayError> {
    let Some(before) = request.extensions().get::<Described>() else {
        return Err(GatewayError::internal(
            "forward auth answer without a described request",
        ));
    };
    let mut response = Response::new(body::empty());
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    for name in request.headers().keys() {
        if !travels_back(name) {
            continue;
        }
        let now = request.headers().get_all(name);
        if now.iter().eq(before.headers.get_all(name).iter()) {
            continue;
        }
        for value in now {
            headers.append(name.clone(), value.clone());
        }
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Headers that describe the request or its connection rather than what the middlewares
/// vouch for never go back: the proxy has its own.
fn travels_back(name: &HeaderName) -> bool {
    !(name == header::HOST
        || name == header::COOKIE
        || name == header::CONTENT_LENGTH
        || name == header::TRANSFER_ENCODING
        || name == header::CONNECTION)
}

/// nginx's `auth_request` understands 2xx, 401 and 403 only: a redirect (the login) becomes
/// a 401 whose [`X_AUTH_REDIRECT`] names the target, keeping its cookies.
struct NginxAnswer;

impl ResponseStage for NginxAnswer {
    fn apply(self: Box<Self>, response: Response<Body>) -> BoxFuture<'static, Response<Body>> {
        Box::pin(async move { nginx_answer(response) })
    }
}

fn nginx_answer(response: Response<Body>) -> Response<Body> {
    if !response.status().is_redirection() {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let location = parts.headers.remove(header::LOCATION);
    parts.status = StatusCode::UNAUTHORIZED;
    parts.headers.remove(header::CONTENT_LENGTH);
    if let Some(location) = location {
        parts.headers.insert(X_AUTH_REDIRECT.clone(), location);
    }
    Response::from_parts(parts, body::empty())
}

fn described_badly(cause: impl Into<String>) -> GatewayError {
    GatewayError::bad_request(format!(
        "forward auth request does not describe a request: {}",
        cause.into()
    ))
}

/// The value of `name`, when it is there and is text. A header given twice is refused: a proxy
/// that appends instead of replacing leaves the client's own value beside its own, and a
/// description that says two things must not be read either way.
fn text<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<Option<&'h str>, GatewayError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(described_badly(format!("{name} is given more than once")));
    }
    Ok(first
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty()))
}

fn required<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<&'h str, GatewayError> {
    text(headers, name)?.ok_or_else(|| described_badly(format!("{name} is missing")))
}

fn parse_method(text: &str) -> Result<Method, GatewayError> {
    if text.len() > MAX_METHOD_LEN {
        return Err(described_badly("method too long"));
    }
    Method::from_bytes(text.as_bytes()).map_err(|_| described_badly("invalid method"))
}

/// A path with its query (`/a?b`), or an absolute URI whose path and query are taken (nginx's
/// `$request_uri` of an absolute-form request).
fn parse_target(text: &str) -> Result<PathAndQuery, GatewayError> {
    let invalid = || described_badly("invalid URI");
    if text.is_empty() {
        return Ok(PathAndQuery::from_static("/"));
    }
    if let Some(query) = text.strip_prefix('?') {
        return PathAndQuery::from_str(&format!("/?{query}")).map_err(|_| invalid());
    }
    if text.starts_with('/') {
        return PathAndQuery::from_str(text).map_err(|_| invalid());
    }
    let uri = Uri::from_str(text).map_err(|_| invalid())?;
    match (uri.scheme_str(), uri.path_and_query()) {
        (Some("http" | "https"), Some(pq)) => Ok(pq.clone()),
        _ => Err(invalid()),
    }
}

/// `host[:port]` without user information.
fn parse_host(text: &str) -> Result<Authority, GatewayError> {
    let authority = Authority::from_str(text).map_err(|_| described_badly("invalid host"))?;
    if authority.as_str().contains('@') {
        return Err(described_badly("invalid host"));
    }
    Ok(authority)
}

/// The client as the proxy saw it: the last address the proxy put in `X-Forwarded-For`.
/// The gateway has already appended the proxy itself, so that is the one before the last.
fn client_ip(headers: &HeaderMap) -> Option<IpAddr> {
    let hops: Vec<&str> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|hop| !hop.is_empty())
        .collect();
    let client = hops.len().checked_sub(2).and_then(|i| hops.get(i))?;
    client
        .parse::<IpAddr>()
        .ok()
        .or_else(|| client.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            client
                .strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|ip| ip.parse().ok())
        })
        .map(|ip: IpAddr| ip.to_canonical())
}

#[cfg(test)]
mod tests;
