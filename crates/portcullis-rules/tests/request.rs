//! canonical_host and routing_path, alone and feeding the matchers.
#![cfg(test)]

mod common;

use std::borrow::Cow;

use common::{matches, req};
use http::header::HOST;
use http::{HeaderMap, HeaderValue, Uri};
use portcullis_rules::{InvalidPath, canonical_host, routing_path};

fn host_of(uri: &str, host_headers: &[&str]) -> Option<String> {
    let uri: Uri = uri.parse().unwrap();
    let mut headers = HeaderMap::new();
    for value in host_headers {
        headers.append(HOST, HeaderValue::from_str(value).unwrap());
    }
    canonical_host(&uri, &headers)
}

#[test]
fn canonical_host_from_the_host_header() {
    assert_eq!(
        host_of("/x", &["Example.COM"]).as_deref(),
        Some("example.com")
    );
    assert_eq!(
        host_of("/x", &["example.com:8443"]).as_deref(),
        Some("example.com")
    );
    // Traefik keeps a trailing dot: HostRegexp sees it, Host ignores it.
    assert_eq!(
        host_of("/x", &["example.com."]).as_deref(),
        Some("example.com.")
    );
    assert_eq!(
        host_of("/x", &["Example.com.:80"]).as_deref(),
        Some("example.com.")
    );
    assert_eq!(host_of("/x", &["10.0.0.1:80"]).as_deref(), Some("10.0.0.1"));
}

#[test]
fn canonical_host_strips_ipv6_brackets() {
    assert_eq!(host_of("/x", &["[::1]:8080"]).as_deref(), Some("::1"));
    assert_eq!(
        host_of("/x", &["[2001:DB8::1]"]).as_deref(),
        Some("2001:db8::1")
    );
    assert_eq!(host_of("http://[::1]:8080/x", &[]).as_deref(), Some("::1"));
}

#[test]
fn canonical_host_prefers_the_uri_authority() {
    assert_eq!(
        host_of("http://API.example.com:8080/x", &["other.test"]).as_deref(),
        Some("api.example.com")
    );
    // HTTP/2 carries :authority in the URI and usually no Host header.
    assert_eq!(
        host_of("https://h2.example.com/x", &[]).as_deref(),
        Some("h2.example.com")
    );
    assert_eq!(
        host_of("http://user@userinfo.test/x", &[]).as_deref(),
        Some("userinfo.test")
    );
}

#[test]
fn canonical_host_refuses_missing_ambiguous_or_malformed_hosts() {
    assert_eq!(host_of("/x", &[]), None);
    assert_eq!(host_of("/x", &["a.test", "b.test"]), None);
    assert_eq!(host_of("/x", &["a.test", "a.test"]), None);
    assert_eq!(host_of("/x", &["exa mple.com"]), None);
    assert_eq!(host_of("/x", &["user@evil.test"]), None);
    assert_eq!(host_of("/x", &[""]), None);
    assert_eq!(host_of("/x", &[":80"]), None);
    assert_eq!(host_of("/x", &["."]).as_deref(), Some("."));
}

#[test]
fn routing_path_borrows_unescaped_paths() {
    assert!(matches!(routing_path("/a/b"), Ok(Cow::Borrowed("/a/b"))));
    assert!(matches!(routing_path(""), Ok(Cow::Borrowed(""))));
}

#[test]
fn routing_path_decodes_unreserved_escapes() {
    assert_eq!(routing_path("/%41").unwrap(), "/A");
    assert_eq!(routing_path("/%61dmin").unwrap(), "/admin");
    assert_eq!(routing_path("/foo%20bar").unwrap(), "/foo bar");
    assert_eq!(routing_path("/%7Euser%2e").unwrap(), "/~user.");
    assert_eq!(routing_path("/caf%C3%A9").unwrap(), "/café");
}

#[test]
fn routing_path_keeps_reserved_escapes_encoded() {
    assert_eq!(routing_path("/a%2Fb").unwrap(), "/a%2Fb");
    // Lower-case hex is the same character: kept encoded, in canonical form.
    assert_eq!(routing_path("/a%2fb").unwrap(), "/a%2Fb");
    assert_eq!(
        routing_path("/%25%3A%3F%23%5B%5D%40").unwrap(),
        "/%25%3A%3F%23%5B%5D%40"
    );
    assert_eq!(
        routing_path("/%21%24%26%27%28%29%2A%2B%2C%3B%3D").unwrap(),
        "/%21%24%26%27%28%29%2A%2B%2C%3B%3D"
    );
    // `%2541` is an escaped percent followed by `41`, not `A`.
    assert_eq!(routing_path("/%2541").unwrap(), "/%2541");
}

#[test]
fn routing_path_keeps_escapes_that_are_not_utf8() {
    assert_eq!(routing_path("/%FF").unwrap(), "/%FF");
    assert_eq!(routing_path("/%c3%a9%ff/%C3").unwrap(), "/é%FF/%C3");
    assert_eq!(routing_path("/%C3x").unwrap(), "/%C3x");
}

#[test]
fn routing_path_rejects_malformed_escapes() {
    assert_eq!(routing_path("/%zz"), Err(InvalidPath { offset: 1 }));
    assert_eq!(routing_path("/a/%4"), Err(InvalidPath { offset: 3 }));
    assert_eq!(routing_path("/a%"), Err(InvalidPath { offset: 2 }));
    assert_eq!(routing_path("/%41%g1"), Err(InvalidPath { offset: 4 }));
    assert_eq!(
        routing_path("/%zz").unwrap_err().to_string(),
        "invalid percent-encoding in the request path at byte 1"
    );
}

#[test]
fn rules_see_the_routing_path() {
    let path = |raw: &str| req().path(&routing_path(raw).unwrap());
    assert!(matches("Path(`/admin`)", &path("/%61dmin")));
    assert!(matches("PathPrefix(`/foo bar`)", &path("/foo%20bar/x")));
    assert!(!matches("PathPrefix(`/admin/`)", &path("/admin%2Fx")));
    assert!(matches("Path(`/admin%2Fx`)", &path("/admin%2fx")));
}

#[test]
fn rules_see_the_canonical_host() {
    let host = host_of("/", &["API.Example.com.:443"]).unwrap();
    assert!(matches("Host(`api.example.com`)", &req().host(&host)));
    assert!(matches(
        "HostRegexp(`^api\\.example\\.com\\.$`)",
        &req().host(&host)
    ));
    assert!(!matches(
        "HostRegexp(`^api\\.example\\.com$`)",
        &req().host(&host)
    ));
    let host = host_of("/", &["[::1]:8080"]).unwrap();
    assert!(matches("HostRegexp(`^::1$`)", &req().host(&host)));
    assert!(matches("Host(`[::1]`)", &req().host(&host)));
    assert!(matches("Host(`::1`)", &req().host(&host)));
}

#[test]
fn canonical_host_of_an_authority_with_only_a_port_is_empty() {
    // Go's server takes the target's authority (`:80`) as the host; its name is empty.
    assert_eq!(host_of("http://:80/x", &["a.test"]), None);
}
