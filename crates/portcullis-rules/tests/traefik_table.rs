//! A table of Traefik v3 rule behaviour, written from Traefik's documentation and its matcher
//! semantics: each case is a rule, a request as it arrives (target URI and headers), and what
//! Traefik does — match, no match, or refuse the rule when it loads. Requests go through
//! `canonical_host` and `routing_path` as the gateway does, so host and path normalisation are
//! part of what is checked.
#![cfg(test)]

use std::net::IpAddr;

use http::header::HOST;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use portcullis_rules::{RequestView, Rule, canonical_host, routing_path};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Match,
    NoMatch,
    /// Refused when the rule loads.
    Refused,
}

use Expect::{Match, NoMatch, Refused};

struct Case {
    rule: String,
    method: &'static str,
    target: String,
    headers: Vec<(&'static str, String)>,
    client_ip: &'static str,
    expect: Expect,
}

/// A GET of `target` with `Host: host` (no Host header when `host` is empty).
fn case(rule: &str, host: &str, target: &str, expect: Expect) -> Case {
    let headers = if host.is_empty() {
        Vec::new()
    } else {
        vec![("host", host.to_owned())]
    };
    Case {
        rule: rule.to_owned(),
        method: "GET",
        target: target.to_owned(),
        headers,
        client_ip: "10.0.0.1",
        expect,
    }
}

fn on_host(rule: &str, host: &str, expect: Expect) -> Case {
    case(rule, host, "/", expect)
}

fn on_path(rule: &str, target: &str, expect: Expect) -> Case {
    case(rule, "example.com", target, expect)
}

fn with_header(rule: &str, name: &'static str, value: &str, expect: Expect) -> Case {
    let mut c = case(rule, "example.com", "/", expect);
    c.headers.push((name, value.to_owned()));
    c
}

fn refused(rule: &str) -> Case {
    case(rule, "example.com", "/", Refused)
}

fn cases() -> Vec<Case> {
    let a1000 = format!("/{}", "a".repeat(1000));
    let l1000 = format!("/{}", "%C3%A9".repeat(1000));
    vec![
        // Empty arguments are refused by every matcher.
        refused("Host(``)"),
        refused("HostRegexp(``)"),
        refused("Path(``)"),
        refused("PathPrefix(``)"),
        refused("PathRegexp(``)"),
        refused("Method(``)"),
        refused("ClientIP(``)"),
        refused("Header(``, `example.com`)"),
        refused("Header(`X-Forwarded-Host`, ``)"),
        refused("HeaderRegexp(``, `example.com`)"),
        refused("HeaderRegexp(`X-Forwarded-Host`, ``)"),
        refused("Query(``)"),
        refused("Query(``, `traefik`)"),
        refused("Query(`q`, ``)"),
        refused("QueryRegexp(``)"),
        refused("QueryRegexp(`q`, ``)"),
        refused("Host(`a.test`) && PathRegexp(``)"),
        // Arity and argument checks.
        refused("Host(`example.com`, `example.org`)"),
        refused("Host(`🦭.com`)"),
        refused("HostRegexp(`🦭.com`)"),
        refused("HostRegexp(`(example.com`)"),
        refused("Path(`css`)"),
        refused("PathPrefix(`css`)"),
        refused("PathRegexp(`/(css`)"),
        refused("HeaderRegexp(`X-Forwarded-Host`, `(example.com`)"),
        refused("QueryRegexp(`q`, `(traefik`)"),
        // Host: case-insensitive, port ignored, trailing dots tolerated on either side.
        on_host("Host(`example.com`)", "example.com", Match),
        on_host("Host(`example.com`)", "example.com:8080", Match),
        on_host("Host(`example.com`)", "EXAMPLE.COM", Match),
        on_host("Host(`example.com`)", "example.org", NoMatch),
        on_host("Host(`example.com`)", "example.com.", Match),
        on_host("Host(`example.com.`)", "example.com", Match),
        on_host("Host(`example.com.`)", "example.com.", Match),
        on_host("Host(`example.com.`)", "example.org.", NoMatch),
        on_host("Host(`EXAMPLE.COM`)", "example.com", Match),
        on_host("Host(`xn--9t9h.com`)", "xn--9t9h.com", Match),
        on_host("Host(`example.com`)", "", NoMatch),
        on_host("Host(`::1`)", "[::1]:8080", Match),
        case(
            "Host(`example.com`)",
            "other.test",
            "http://example.com/",
            Match,
        ),
        // One-label wildcard.
        on_host("Host(`*.example.com`)", "test.example.com", Match),
        on_host("Host(`*.example.com`)", "Other.Example.com", Match),
        on_host("Host(`*.example.com`)", "example.com", NoMatch),
        on_host("Host(`*.example.com`)", "test.otherexample.com", NoMatch),
        on_host("Host(`*.example.com`)", "a.b.example.com", NoMatch),
        // `*` matches every request, with or without a host.
        on_host("Host(`*`)", "localhost", Match),
        on_host("Host(`*`)", "example.com", Match),
        on_host("Host(`*`)", "", Match),
        // HostRegexp: Go syntax, unanchored, case-sensitive, on the canonical host.
        on_host(r"HostRegexp(`^[a-zA-Z-]+\.com$`)", "example.com", Match),
        on_host(
            r"HostRegexp(`^[a-zA-Z-]+\.com$`)",
            "example.com:8080",
            Match,
        ),
        on_host(r"HostRegexp(`^[a-zA-Z-]+\.com$`)", "example.org", NoMatch),
        on_host(r"HostRegexp(`^[A-Z]+\.com$`)", "EXAMPLE.com", NoMatch),
        on_host(
            r"HostRegexp(`{domain:[a-zA-Z-]+\.com}`)",
            "example.com",
            NoMatch,
        ),
        on_host("HostRegexp(`example`)", "api.example.com", Match),
        on_host(r"HostRegexp(`\.$`)", "example.com.", Match),
        on_host(r"HostRegexp(`^example\.com$`)", "example.com.", NoMatch),
        on_host("HostRegexp(`^::1$`)", "[::1]:8080", Match),
        on_host(r"HostRegexp(`^\[`)", "[::1]", NoMatch),
        on_host("HostRegexp(`^$`)", "", Match),
        on_host(
            r"HostRegexp(`^\d+\.example\.com$`)",
            "42.example.com",
            Match,
        ),
        // Path and PathPrefix.
        on_path("Path(`/css`)", "/css", Match),
        on_path("Path(`/css`)", "/css/", NoMatch),
        on_path("Path(`/css`)", "/html", NoMatch),
        on_path("PathPrefix(`/css`)", "/css/main.css", Match),
        on_path("PathPrefix(`/css`)", "/html", NoMatch),
        on_path("Path(`/foo bar`)", "/foo%20bar", Match),
        // PathRegexp: unanchored, on the path with non-reserved escapes decoded.
        on_path("PathRegexp(`^/(css|js)`)", "/css/main.css", Match),
        on_path("PathRegexp(`^/(css|js)`)", "/js", Match),
        on_path("PathRegexp(`^/(css|js)`)", "/CSS", NoMatch),
        on_path("PathRegexp(`^/(css|js)`)", "/html", NoMatch),
        on_path("PathRegexp(`/{path:(css|js)}`)", "/%7Bpath:css%7D", Match),
        on_path("PathRegexp(`/{path:(css|js)}`)", "/%7Bpath:js%7D/", Match),
        on_path("PathRegexp(`/{path:(css|js)}`)", "/css", NoMatch),
        on_path("PathRegexp(`^/api/{id}$`)", "/api/%7Bid%7D", Match),
        on_path("PathRegexp(`^/api/{id}$`)", "/api/42", NoMatch),
        on_path("PathRegexp(`^/x{,3}$`)", "/x%7B,3%7D", Match),
        on_path("PathRegexp(`^/x{,3}$`)", "/xxx", NoMatch),
        on_path("PathRegexp(`^/x{01}$`)", "/x%7B01%7D", Match),
        on_path("PathRegexp(`^/a/b$`)", "/a%2Fb", NoMatch),
        on_path("PathRegexp(`^/a%2Fb$`)", "/a%2Fb", Match),
        // Perl classes and word boundaries are ASCII; `.` and classes match code points.
        on_path(r"PathRegexp(`^/api/\d+$`)", "/api/42", Match),
        on_path(r"PathRegexp(`^/api/\d+$`)", "/api/%D9%A3", NoMatch),
        on_path(r"PathRegexp(`^/\w+$`)", "/abc_1", Match),
        on_path(r"PathRegexp(`^/\w+$`)", "/%C3%A9", NoMatch),
        on_path(r"PathRegexp(`^/\W$`)", "/%C3%A9", Match),
        on_path(r"PathRegexp(`^/[\d.]+$`)", "/1.2", Match),
        on_path(r"PathRegexp(`^/[^\d]$`)", "/%D9%A3", Match),
        on_path(r"PathRegexp(`\bfoo\b`)", "/%C3%A9foo%C3%A9", Match),
        on_path(r"PathRegexp(`\Bfoo`)", "/%C3%A9foo", NoMatch),
        on_path(r"PathRegexp(`^/a\sb$`)", "/a%09b", Match),
        on_path(r"PathRegexp(`^/a\sb$`)", "/a%0Bb", NoMatch),
        on_path(r"PathRegexp(`^/a[[:space:]]b$`)", "/a%0Bb", Match),
        on_path("PathRegexp(`^/.$`)", "/%C3%A9", Match),
        on_path("PathRegexp(`^/[^a]$`)", "/%C3%A9", Match),
        on_path(r"PathRegexp(`^/\pL+$`)", "/%C3%A9t%C3%A9", Match),
        on_path(r"PathRegexp(`^/\p{Greek}$`)", "/%CE%B1", Match),
        on_path(r"PathRegexp(`^/\p{^Greek}$`)", "/%CE%B1", NoMatch),
        // Go-only syntax.
        on_path(r"PathRegexp(`^/\Q.*\E$`)", "/.*", Match),
        on_path(r"PathRegexp(`^/\Q.*\E$`)", "/ab", NoMatch),
        on_path(r"PathRegexp(`^/\Q.*`)", "/.*", Match),
        on_path(r"PathRegexp(`^/a\z`)", "/a", Match),
        on_path(r"PathRegexp(`^/\x41\101\x{42}$`)", "/AAB", Match),
        on_path(r"PathRegexp(`^/a\<b$`)", "/a%3Cb", Match),
        on_path("PathRegexp(`^/[a&&b]$`)", "/&", Match),
        on_path("PathRegexp(`^/[a-c--b]$`)", "/-", Match),
        on_path(r"PathRegexp(`^/(?P<id>\d+)$`)", "/42", Match),
        on_path(r"PathRegexp(`^/(?<id>\d+)$`)", "/42", Match),
        on_path("PathRegexp(`^/(?i)abc$`)", "/ABC", Match),
        on_path("PathRegexp(`^/(?i:a)b$`)", "/AB", NoMatch),
        on_path("PathRegexp(`^/(?)a$`)", "/a", Match),
        // Repetition limits: counts up to 1000, nested products up to 1000.
        on_path("PathRegexp(`^/a{1000}$`)", &a1000, Match),
        on_path("PathRegexp(`^/(a{10}){100}$`)", &a1000, Match),
        on_path("PathRegexp(`^/.{0,1000}$`)", "/anything", Match),
        on_path(r"PathRegexp(`^/\pL{1000}$`)", &l1000, Match),
        refused("PathRegexp(`^/a{1001}$`)"),
        refused("PathRegexp(`^/a{2,1}$`)"),
        refused("PathRegexp(`^/(a{100}){11}$`)"),
        refused("PathRegexp(`^/((a{10}){10}){11}$`)"),
        refused("PathRegexp(`^/a{100000000000}$`)"),
        // What Go refuses.
        refused("PathRegexp(`a**`)"),
        refused("PathRegexp(`a*+`)"),
        refused("PathRegexp(`*a`)"),
        refused("PathRegexp(`(?x) a`)"),
        refused("PathRegexp(`(?i-)a`)"),
        refused(r"PathRegexp(`\C`)"),
        refused(r"PathRegexp(`\1`)"),
        refused(r"PathRegexp(`\8`)"),
        refused(r"PathRegexp(`\Z`)"),
        refused(r"PathRegexp(`[\b]`)"),
        refused(r"PathRegexp(`\x{110000}`)"),
        refused("PathRegexp(`[[:foo:]]`)"),
        refused("PathRegexp(`(?P<a-b>x)`)"),
        refused("PathRegexp(`(a`)"),
        refused("PathRegexp(`a)`)"),
        refused("PathRegexp(`[a`)"),
        refused("PathRegexp(`[z-a]`)"),
        refused(r"PathRegexp(`a\`)"),
        // Header and HeaderRegexp.
        with_header(
            "Header(`X-Forwarded-Proto`, `https`)",
            "x-forwarded-proto",
            "https",
            Match,
        ),
        with_header(
            "Header(`x-forwarded-proto`, `https`)",
            "x-forwarded-proto",
            "https",
            Match,
        ),
        with_header(
            "Header(`X-Forwarded-Proto`, `https`)",
            "x-forwarded-proto",
            "http",
            NoMatch,
        ),
        with_header(
            "HeaderRegexp(`X-Forwarded-Proto`, `^https?$`)",
            "x-forwarded-proto",
            "https",
            Match,
        ),
        with_header(
            "HeaderRegexp(`X-Forwarded-Proto`, `^https?$`)",
            "x-forwarded-proto",
            "HTTPS",
            NoMatch,
        ),
        with_header(
            "HeaderRegexp(`X-Forwarded-Proto`, `http{secure:s?}`)",
            "x-forwarded-proto",
            "http{secure:s}",
            Match,
        ),
        with_header(
            "HeaderRegexp(`X-Forwarded-Proto`, `http{secure:s?}`)",
            "x-forwarded-proto",
            "http{secure:}",
            Match,
        ),
        with_header(
            "HeaderRegexp(`X-Forwarded-Proto`, `http{secure:s?}`)",
            "x-forwarded-proto",
            "https",
            NoMatch,
        ),
        with_header("HeaderRegexp(`X-V`, `^[[]$`)", "x-v", "[", Match),
        with_header("HeaderRegexp(`X-V`, `^[]a]+$`)", "x-v", "]a", Match),
        with_header(r"HeaderRegexp(`X-V`, `^\d$`)", "x-v", "٣", NoMatch),
        // Query and QueryRegexp.
        on_path("Query(`q`, `traefik`)", "/?q=traefik", Match),
        on_path("Query(`q`, `traefik`)", "/?rel=ddg&q=traefik", Match),
        on_path("Query(`q`, `traefik`)", "/?q=TRAEFIK", NoMatch),
        on_path("Query(`q`, `traefik`)", "/?Q=traefik", NoMatch),
        on_path("Query(`mobile`)", "/?mobile", Match),
        on_path("Query(`mobile`)", "/?mobile=true", NoMatch),
        on_path(
            "QueryRegexp(`q`, `^(traefik|nginx)$`)",
            "/?q=nginx&q=proxy",
            Match,
        ),
        on_path(
            "QueryRegexp(`q`, `^(traefik|nginx)$`)",
            "/?q=NGINX",
            NoMatch,
        ),
        on_path(
            "QueryRegexp(`q`, `{value:(traefik|nginx)}`)",
            "/?q=traefik",
            NoMatch,
        ),
        on_path(
            "QueryRegexp(`q`, `{value:(traefik|nginx)}`)",
            "/?q=%7Bvalue:traefik%7D",
            Match,
        ),
        on_path("QueryRegexp(`q`, `^.*$`)", "/?q=anything", Match),
        // Method and ClientIP.
        on_path("Method(`get`)", "/", Match),
        on_path("Method(`POST`)", "/", NoMatch),
        on_path("ClientIP(`10.0.0.0/8`)", "/", Match),
        on_path("ClientIP(`192.168.0.0/16`)", "/", NoMatch),
    ]
}

/// What the rule does with the case's request.
fn outcome(case: &Case) -> Expect {
    let Ok(rule) = Rule::parse(&case.rule) else {
        return Refused;
    };
    let uri: Uri = case.target.parse().unwrap();
    let mut headers = HeaderMap::new();
    for (name, value) in &case.headers {
        let name = if *name == "host" {
            HOST
        } else {
            HeaderName::from_bytes(name.as_bytes()).unwrap()
        };
        headers.append(name, HeaderValue::from_str(value).unwrap());
    }
    let host = canonical_host(&uri, &headers).unwrap_or_default();
    let path = routing_path(uri.path()).unwrap();
    let method = Method::from_bytes(case.method.as_bytes()).unwrap();
    let view = RequestView {
        method: &method,
        host: &host,
        path: &path,
        query: uri.query(),
        headers: &headers,
        client_ip: case.client_ip.parse::<IpAddr>().unwrap(),
    };
    if rule.matches(&view) { Match } else { NoMatch }
}

#[test]
fn every_case_behaves_as_in_traefik() {
    let cases = cases();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let got = outcome(case);
            (got != case.expect).then(|| {
                format!(
                    "{} on {:.60} {:?}: expected {:?}, got {got:?}",
                    case.rule, case.target, case.headers, case.expect
                )
            })
        })
        .collect();
    println!(
        "{} of {} cases behave as in Traefik",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
