//! Header hygiene between client and upstream.
//!
//! Hop-by-hop headers (RFC 9110 section 7.6.1) describe one connection and must not travel to
//! the next one; a client could otherwise smuggle `Connection: close`-style instructions to the
//! upstream or strip headers the gateway adds. `X-Forwarded-*` headers are set from what the
//! gateway itself observed, replacing any client-supplied values, so an upstream can trust them.

use std::net::SocketAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::middleware::Scheme;

pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub static X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
pub static X_FORWARDED_SERVER: HeaderName = HeaderName::from_static("x-forwarded-server");
pub static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

const HOP_BY_HOP: [&HeaderName; 8] = [
    &header::CONNECTION,
    &KEEP_ALIVE,
    &PROXY_CONNECTION,
    &header::PROXY_AUTHENTICATE,
    &header::PROXY_AUTHORIZATION,
    &header::TE,
    &header::TRAILER,
    &header::TRANSFER_ENCODING,
];

/// Removes hop-by-hop headers and those named in `Connection`. With `keep_upgrade`, the
/// `Connection: upgrade` / `Upgrade` pair survives so a WebSocket handshake reaches the upstream.
pub fn remove_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .filter(|name| !(keep_upgrade && name == header::UPGRADE))
        .collect();
    for name in named {
        headers.remove(&name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::UPGRADE);
    }
}

/// True for an HTTP/1.1 upgrade request (`Connection: upgrade` and an `Upgrade` header).
pub fn is_upgrade_request(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Sets the `X-Forwarded-*` and `X-Real-Ip` headers from what the gateway saw.
pub fn set_forwarded(
    headers: &mut HeaderMap,
    client: SocketAddr,
    scheme: Scheme,
    host: Option<&str>,
    local_port: u16,
) {
    let ip = client.ip().to_string();
    if let Ok(v) = HeaderValue::from_str(&ip) {
        headers.insert(X_FORWARDED_FOR.clone(), v.clone());
        headers.insert(X_REAL_IP.clone(), v);
    }
    headers.insert(
        X_FORWARDED_PROTO.clone(),
        HeaderValue::from_static(scheme.as_str()),
    );
    let port = host.and_then(host_port).unwrap_or(if local_port == 0 {
        scheme.default_port()
    } else {
        local_port
    });
    match host.and_then(|h| HeaderValue::from_str(h).ok()) {
        Some(v) => {
            headers.insert(X_FORWARDED_HOST.clone(), v);
        }
        None => {
            headers.remove(&X_FORWARDED_HOST);
        }
    }
    headers.insert(X_FORWARDED_PORT.clone(), HeaderValue::from(port));
    headers.remove(&X_FORWARDED_SERVER);
}

/// The explicit port of a `host[:port]` authority, if any.
fn host_port(authority: &str) -> Option<u16> {
    let after_v6 = match authority.rfind(']') {
        Some(i) => authority.get(i + 1..)?,
        None => authority,
    };
    after_v6.rsplit_once(':').and_then(|(_, p)| p.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_named_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn upgrade_survives_when_asked() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert("sec-websocket-key", HeaderValue::from_static("k"));
        assert!(is_upgrade_request(&h));
        remove_hop_by_hop(&mut h, true);
        assert_eq!(h[header::CONNECTION], "upgrade");
        assert_eq!(h[header::UPGRADE], "websocket");
        assert!(h.contains_key("sec-websocket-key"));
    }

    #[test]
    fn forwarded_headers_replace_client_values() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        set_forwarded(
            &mut h,
            "10.1.2.3:5555".parse().unwrap(),
            Scheme::Http,
            Some("example.com:8080"),
            9999,
        );
        assert_eq!(h["x-forwarded-for"], "10.1.2.3");
        assert_eq!(h["x-real-ip"], "10.1.2.3");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "example.com:8080");
        assert_eq!(h["x-forwarded-port"], "8080");
        set_forwarded(
            &mut h,
            "[::1]:5555".parse().unwrap(),
            Scheme::Https,
            Some("[::1]"),
            8443,
        );
        assert_eq!(h["x-forwarded-for"], "::1");
        assert_eq!(h["x-forwarded-port"], "8443");
    }
}
