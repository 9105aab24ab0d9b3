//! Header hygiene between client and upstream.
//!
//! Hop-by-hop headers (RFC 9110 section 7.6.1) describe one connection and must not travel to
//! the next one; a client could otherwise smuggle `Connection: close`-style instructions to the
//! upstream. They are removed from the client's request before routing, never after the
//! middlewares, so `Connection` cannot name a header a middleware set.
//!
//! Forwarded headers (`X-Forwarded-*`, `Forwarded`, `X-Real-Ip`, `X-Original-Url`, ...) are
//! believed only from trusted proxies (Traefik's `forwardedHeaders`); from anyone else they are
//! removed, underscore spellings included (`X_Forwarded_For`, which some servers read as
//! `X-Forwarded-For`), and the gateway sets `X-Forwarded-For`, `-Proto`, `-Host`, `-Port` and
//! `X-Real-Ip` from what it observed, before routing, so rules and the upstream can trust them.

use std::net::SocketAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::middleware::Scheme;

pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub static X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
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
///
/// `Connection` cannot name `Host` or a forwarded header: those describe the request, not the
/// connection, and are settled by the gateway (as in Traefik).
pub fn remove_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // Most messages carry none of them: one pass over the few names present is cheaper than a
    // hashed removal per listed name.
    if !keep_upgrade
        && !headers
            .keys()
            .any(|name| name == header::UPGRADE || HOP_BY_HOP.contains(&name))
    {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .filter(|name| !(keep_upgrade && name == header::UPGRADE))
        .filter(|name| name != header::HOST && !is_forwarding_header(name))
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

/// Headers through which a proxy tells the next hop about the original request, in their
/// lower-case dash spelling: with a `x-forwarded-` prefix, or one of these.
const FORWARDING_HEADERS: [&str; 6] = [
    "forwarded",
    "x-real-ip",
    "x-scheme",
    "x-original-url",
    "x-original-uri",
    "x-rewrite-url",
];

/// Whether `name` is a forwarding header, reading `_` as `-` (servers that map header names to
/// CGI-style variables read `X_Forwarded_For` as `X-Forwarded-For`).
pub fn is_forwarding_header(name: &HeaderName) -> bool {
    let name = name.as_str().as_bytes();
    // Every forwarding header starts with `x` or `f`: one comparison skips most headers.
    if !matches!(name.first(), Some(b'x' | b'f')) {
        return false;
    }
    let same = |listed: &str| {
        listed.len() <= name.len()
            && listed
                .bytes()
                .zip(name)
                .all(|(l, &n)| l == n || (l == b'-' && n == b'_'))
    };
    (name.len() > "x-forwarded-".len() && same("x-forwarded-"))
        || FORWARDING_HEADERS
            .iter()
            .any(|listed| listed.len() == name.len() && same(listed))
}

/// Removes every forwarding header: what an untrusted client says about earlier hops.
pub fn remove_forwarding_headers(headers: &mut HeaderMap) {
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| is_forwarding_header(name))
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(&name);
    }
}

/// Sets the forwarded headers from what the gateway saw. From an untrusted client, the client's
/// own are removed first; a trusted proxy's are kept and only completed, and the client is
/// appended to its `X-Forwarded-For` (as Traefik does). The request's `Host` must be settled.
pub fn set_forwarded(
    headers: &mut HeaderMap,
    trusted: bool,
    client: SocketAddr,
    scheme: Scheme,
    local_port: u16,
) {
    if !trusted {
        remove_forwarding_headers(headers);
    }
    let ip = ip_text(client.ip().to_canonical());
    let earlier: Vec<&[u8]> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    let chain = if earlier.is_empty() {
        HeaderValue::from_str(&ip).ok()
    } else {
        let mut joined = earlier.join(&b", "[..]);
        joined.extend_from_slice(b", ");
        joined.extend_from_slice(ip.as_bytes());
        HeaderValue::from_bytes(&joined).ok()
    };
    if let Some(chain) = chain {
        headers.insert(X_FORWARDED_FOR.clone(), chain);
    }
    if !headers.contains_key(&X_REAL_IP)
        && let Ok(v) = HeaderValue::from_str(&ip)
    {
        headers.insert(X_REAL_IP.clone(), v);
    }
    if !headers.contains_key(&X_FORWARDED_PROTO) {
        headers.insert(
            X_FORWARDED_PROTO.clone(),
            HeaderValue::from_static(scheme.as_str()),
        );
    }
    let host = headers.get(header::HOST).cloned();
    if !headers.contains_key(&X_FORWARDED_PORT) {
        let port = host
            .as_ref()
            .and_then(|h| h.to_str().ok())
            .and_then(host_port)
            .unwrap_or(if local_port == 0 {
                scheme.default_port()
            } else {
                local_port
            });
        headers.insert(X_FORWARDED_PORT.clone(), HeaderValue::from(port));
    }
    if !headers.contains_key(&X_FORWARDED_HOST)
        && let Some(host) = host
    {
        headers.insert(X_FORWARDED_HOST.clone(), host);
    }
}

/// An IP address as text; IPv4 without the formatting machinery, as it is written for every
/// request.
fn ip_text(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let mut text = String::with_capacity(15);
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    text.push('.');
                }
                if octet >= 100 {
                    text.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    text.push(char::from(b'0' + octet / 10 % 10));
                }
                text.push(char::from(b'0' + octet % 10));
            }
            text
        }
        std::net::IpAddr::V6(v6) => v6.to_string(),
    }
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
    fn ip_text_is_the_usual_notation() {
        for ip in [
            "0.0.0.0",
            "1.2.3.4",
            "10.20.30.40",
            "127.0.0.1",
            "255.255.255.255",
            "9.99.100.109",
        ] {
            let parsed: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(ip_text(parsed), ip);
        }
        let v6: std::net::IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(ip_text(v6), "2001:db8::1");
    }

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
    fn forwarded_headers_replace_untrusted_client_values() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("example.com:8080"));
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        h.insert("x_forwarded_host", HeaderValue::from_static("evil"));
        h.insert("forwarded", HeaderValue::from_static("for=6.6.6.6"));
        h.insert("x-forwarded-prefix", HeaderValue::from_static("/admin"));
        set_forwarded(
            &mut h,
            false,
            "10.1.2.3:5555".parse().unwrap(),
            Scheme::Http,
            9999,
        );
        assert_eq!(h["x-forwarded-for"], "10.1.2.3");
        assert_eq!(h["x-real-ip"], "10.1.2.3");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "example.com:8080");
        assert_eq!(h["x-forwarded-port"], "8080");
        for gone in ["x_forwarded_host", "forwarded", "x-forwarded-prefix"] {
            assert!(!h.contains_key(gone), "{gone}");
        }
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("[::1]"));
        set_forwarded(
            &mut h,
            false,
            "[::ffff:10.0.0.1]:5555".parse().unwrap(),
            Scheme::Https,
            8443,
        );
        assert_eq!(h["x-forwarded-for"], "10.0.0.1");
        assert_eq!(h["x-forwarded-port"], "8443");
    }

    #[test]
    fn a_trusted_proxy_keeps_its_values_and_the_client_is_appended() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("internal:80"));
        h.append("x-forwarded-for", HeaderValue::from_static("1.1.1.1"));
        h.append("x-forwarded-for", HeaderValue::from_static("2.2.2.2"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        h.insert(
            "x-forwarded-host",
            HeaderValue::from_static("public.example"),
        );
        set_forwarded(
            &mut h,
            true,
            "10.0.0.9:1".parse().unwrap(),
            Scheme::Http,
            80,
        );
        assert_eq!(h["x-forwarded-for"], "1.1.1.1, 2.2.2.2, 10.0.0.9");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "public.example");
        assert_eq!(h["x-real-ip"], "10.0.0.9");
    }

    #[test]
    fn forwarding_headers_are_recognised_in_any_spelling() {
        for name in [
            "x-forwarded-for",
            "x_forwarded_proto",
            "x-forwarded_uri",
            "forwarded",
            "x_real_ip",
            "x-original-url",
        ] {
            assert!(
                is_forwarding_header(&HeaderName::from_static(name)),
                "{name}"
            );
        }
        for name in [
            "x-forwarded-",
            "x-forwardedfor",
            "x-custom",
            "host",
            "forwarded-for",
        ] {
            assert!(
                !is_forwarding_header(&HeaderName::from_static(name)),
                "{name}"
            );
        }
    }

    #[test]
    fn connection_cannot_name_host_or_forwarded_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("host, x-forwarded-for, x-other"),
        );
        h.insert(header::HOST, HeaderValue::from_static("a"));
        h.insert("x-forwarded-for", HeaderValue::from_static("1.1.1.1"));
        h.insert("x-other", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut h, false);
        assert!(h.contains_key(header::HOST));
        assert!(h.contains_key("x-forwarded-for"));
        assert!(!h.contains_key("x-other"));
    }
}
