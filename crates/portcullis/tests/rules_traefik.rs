//! End-to-end: router rules written in Traefik's Go regular-expression syntax are served, and
//! an empty matcher argument is refused when the configuration loads.

#![cfg(test)]

mod support;

use support::{Echo, client, gateway};

fn two_routes(specific: &str, upstream_specific: &str, upstream_fallback: &str) -> String {
    format!(
        r#"
entryPoints:
  web: {{ address: "127.0.0.1:0" }}
http:
  routers:
    specific:
      rule: {specific}
      service: specific
    fallback:
      rule: PathPrefix(`/`)
      priority: 1
      service: fallback
  services:
    specific:
      loadBalancer:
        servers: [{{ url: "{upstream_specific}" }}]
    fallback:
      loadBalancer:
        servers: [{{ url: "{upstream_fallback}" }}]
"#
    )
}

/// Name of the echo upstream that answered `path`.
async fn served_by(addr: std::net::SocketAddr, path: &str) -> String {
    let response = client()
        .get(format!("http://{addr}{path}"))
        .header("host", "api.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    let upstream = response.headers()["x-upstream"].to_str().unwrap();
    upstream.to_owned()
}

#[tokio::test]
async fn go_regexp_syntax_routes_as_in_traefik() {
    let specific = Echo::start("specific").await;
    let fallback = Echo::start("fallback").await;
    let rule = r"'PathRegexp(`^/api/{id}$`) || PathRegexp(`^/v\d/\Q(x)\E$`)'";
    let gw = gateway(&two_routes(rule, &specific.url(), &fallback.url())).await;
    let addr = gw.entry_point("web").unwrap();

    // `{id}` is literal in Go: the route loads and serves exactly that path.
    assert_eq!(served_by(addr, "/api/%7Bid%7D").await, "specific");
    assert_eq!(served_by(addr, "/api/42").await, "fallback");
    // `\d` is ASCII and `\Q…\E` quotes.
    assert_eq!(served_by(addr, "/v2/(x)").await, "specific");
    assert_eq!(served_by(addr, "/v%D9%A3/(x)").await, "fallback");
    assert_eq!(served_by(addr, "/v2/x").await, "fallback");
    gw.shutdown().await;
}

#[test]
fn empty_regexp_argument_is_refused_at_load() {
    let yaml = two_routes(
        "'HostRegexp(``)'",
        "http://127.0.0.1:1",
        "http://127.0.0.1:1",
    );
    let errors = portcullis_config::load_str(&yaml).expect_err("an empty HostRegexp loads");
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|e| e.contains("specific")
                && e.contains("empty argument to HostRegexp at column 12")),
        "{text:?}"
    );
}
