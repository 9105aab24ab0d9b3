//! Makes a client's request unambiguous before any router or middleware sees it, so that the
//! router, the middlewares and the upstream all act on the same request.
//!
//! Protects against requests that route one way and are served another, and against clients
//! that remove or forge what the gateway vouches for:
//! - a method longer than [`MAX_METHOD_LEN`] is refused (it would only be stored and logged);
//! - the authority: two `Host` headers are refused; an absolute-form HTTP/1 target
//!   (`GET http://a/ HTTP/1.1`) replaces the `Host` header (RFC 9112 section 3.2.2); over
//!   HTTP/2 a `host` header that names another authority than `:authority` is refused
//!   (RFC 9113 section 8.3.1), and `Host` is set from `:authority`. The router and the upstream
//!   thus see the same authority;
//! - hop-by-hop headers and those named in `Connection` are removed here, before the
//!   middlewares: removing them afterwards would let a client delete headers a middleware set
//!   (`Connection: X-Auth-User`). An `Upgrade` survives only for an allowed protocol;
//! - forwarded headers are removed unless the client is a trusted proxy, then set from what the
//!   gateway observed ([`forwarding`]);
//! - the path is sanitised once ([`sanitize_path`]) and the request target rewritten, so the
//!   path routed is the path forwarded.
//!
//! A request with nothing to clean is checked in a few scans and allocates nothing.

use std::borrow::Cow;
use std::net::SocketAddr;

use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Request, Uri, Version, header};
use portcullis_config::{EntryPoint, ForwardedHeaders};
use portcullis_rules::sanitize_path;

use crate::error::GatewayError;
use crate::forwarding;
use crate::gateway::EntryPointInfo;

/// Longest accepted method, in bytes. The longest registered method (`UPDATEREDIRECTREF`) has 17.
pub const MAX_METHOD_LEN: usize = 32;

/// What an entry point does to requests before routing them.
#[derive(Debug, Clone)]
pub struct RequestPolicy {
    pub sanitize_path: bool,
    /// Lower-case protocol names an `Upgrade` may ask for.
    pub allowed_upgrades: Vec<String>,
    pub forwarded_headers: ForwardedHeaders,
}

impl Default for RequestPolicy {
    fn default() -> Self {
        let http = portcullis_config::EntryPointHttp::default();
        Self {
            sanitize_path: http.sanitize_path,
            allowed_upgrades: http.allowed_upgrades,
            forwarded_headers: ForwardedHeaders::default(),
        }
    }
}

impl RequestPolicy {
    pub fn for_entry_point(ep: &EntryPoint) -> Self {
        Self {
            sanitize_path: ep.http.sanitize_path,
            allowed_upgrades: ep.http.allowed_upgrades.clone(),
            forwarded_headers: ep.forwarded_headers.clone(),
        }
    }

    /// Whether every protocol the `Upgrade` header offers is allowed.
    fn allows_upgrade(&self, headers: &HeaderMap) -> bool {
        let mut offered = headers
            .get_all(header::UPGRADE)
            .iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
            .map(|token| token.trim_ascii())
            .filter(|token| !token.is_empty())
            .peekable();
        offered.peek().is_some()
            && offered.all(|token| {
                // `websocket/13`: the protocol name is what is allowed.
                let name = token.split(|&b| b == b'/').next().unwrap_or(token);
                self.allowed_upgrades
                    .iter()
                    .any(|allowed| allowed.as_bytes().eq_ignore_ascii_case(name))
            })
    }
}

/// Cleans `request` in place; an error is the 400 to answer instead.
pub fn prepare<B>(
    request: &mut Request<B>,
    ep: &EntryPointInfo,
    policy: &RequestPolicy,
    client: SocketAddr,
) -> Result<(), GatewayError> {
    if request.method().as_str().len() > MAX_METHOD_LEN {
        return Err(GatewayError::bad_request("request method too long"));
    }
    settle_authority(request)?;
    let keep_upgrade = request.version() == Version::HTTP_11
        && forwarding::is_upgrade_request(request.headers())
        && policy.allows_upgrade(request.headers());
    let trusted = policy.forwarded_headers.trusts(client.ip());
    let headers = request.headers_mut();
    forwarding::remove_hop_by_hop(headers, keep_upgrade);
    forwarding::set_forwarded(headers, trusted, client, ep.scheme, ep.local_port);
    if policy.sanitize_path {
        sanitize_target(request)?;
    }
    Ok(())
}

/// One authority per request, the one the router matches and the upstream gets as `Host`.
fn settle_authority<B>(request: &mut Request<B>) -> Result<(), GatewayError> {
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(GatewayError::bad_request("several Host headers"));
    }
    let Some(authority) = request.uri().authority() else {
        return Ok(());
    };
    // The authority without user information, which never belongs in a Host header.
    let target = authority
        .as_str()
        .rsplit_once('@')
        .map_or(authority.as_str(), |(_, host)| host);
    if request.version() >= Version::HTTP_2
        && host.is_some_and(|h| !h.as_bytes().eq_ignore_ascii_case(target.as_bytes()))
    {
        return Err(GatewayError::bad_request(":authority and Host differ"));
    }
    let value = HeaderValue::from_str(target)
        .map_err(|_| GatewayError::bad_request("invalid authority"))?;
    request.headers_mut().insert(header::HOST, value);
    Ok(())
}

/// Rewrites the request target to its sanitised path, keeping the query.
pub(crate) fn sanitize_target<B>(request: &mut Request<B>) -> Result<(), GatewayError> {
    let path = match sanitize_path(request.uri().path()) {
        Ok(Cow::Borrowed(_)) => return Ok(()),
        Ok(Cow::Owned(path)) => path,
        Err(error) => return Err(GatewayError::bad_request(error.to_string())),
    };
    let target = match request.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let mut parts = request.uri().clone().into_parts();
    parts.path_and_query = Some(
        PathAndQuery::try_from(target)
            .map_err(|_| GatewayError::bad_request("invalid request target"))?,
    );
    *request.uri_mut() =
        Uri::from_parts(parts).map_err(|_| GatewayError::bad_request("invalid request target"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upgrade(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(header::UPGRADE, HeaderValue::from_static(v));
        }
        headers
    }

    #[test]
    fn only_upgrades_to_allowed_protocols_are_kept() {
        let policy = RequestPolicy::default();
        assert!(policy.allows_upgrade(&upgrade(&["websocket"])));
        assert!(policy.allows_upgrade(&upgrade(&["WebSocket/13"])));
        assert!(!policy.allows_upgrade(&upgrade(&["h2c"])));
        assert!(!policy.allows_upgrade(&upgrade(&["websocket, h2c"])));
        assert!(!policy.allows_upgrade(&upgrade(&["websocket", "foo"])));
        assert!(!policy.allows_upgrade(&upgrade(&[""])));
    }

    #[test]
    fn an_absolute_form_target_replaces_the_host_header() {
        let mut request = Request::get("http://user@public.test:8080/x")
            .header(header::HOST, "admin.test")
            .body(())
            .unwrap();
        settle_authority(&mut request).unwrap();
        assert_eq!(request.headers()[header::HOST], "public.test:8080");
    }

    #[test]
    fn the_query_survives_a_sanitised_path() {
        let mut request = Request::get("/a/../b/?x=/../&y").body(()).unwrap();
        sanitize_target(&mut request).unwrap();
        assert_eq!(request.uri(), "/b/?x=/../&y");
    }
}
