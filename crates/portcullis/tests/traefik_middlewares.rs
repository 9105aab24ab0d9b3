//! End-to-end tests of Traefik's request- and response-shaping middlewares through a running
//! gateway: headers (security and CORS), path rewrites in a chain, redirectRegex, compress and
//! buffering.

#![cfg(test)]

mod support;

use std::io::Read;

use support::{Echo, client, gateway};

fn config(upstream: &str, middlewares: &str, router_middlewares: &str) -> String {
    format!(
        r#"
entryPoints:
  web: {{ address: "127.0.0.1:0" }}
http:
  routers:
    app:
      rule: PathPrefix(`/`)
      middlewares: {router_middlewares}
      service: echo
  middlewares:
{middlewares}
  services:
    echo:
      loadBalancer:
        servers: [{{ url: "{upstream}" }}]
"#
    )
}

#[tokio::test]
async fn cors_preflight_is_answered_by_the_gateway_and_security_headers_reach_the_client() {
    let echo = Echo::start("one").await;
    let middlewares = r#"
    secure:
      headers:
        frameDeny: true
        contentTypeNosniff: true
        stsSeconds: 31536000
        forceSTSHeader: true
        customRequestHeaders:
          X-Script-Name: "test"
          X-Custom-Request-Header: ""
        customResponseHeaders:
          X-Upstream: ""
        accessControlAllowMethods: [GET, OPTIONS, PUT]
        accessControlAllowHeaders: ["*"]
        accessControlAllowOriginList: ["https://example.org"]
        accessControlMaxAge: 100
        addVaryHeader: true
"#;
    let gw = gateway(&config(&echo.url(), middlewares, "[secure]")).await;
    let addr = gw.entry_point("web").unwrap();

    let preflight = client()
        .request(reqwest::Method::OPTIONS, format!("http://{addr}/api"))
        .header("origin", "https://example.org")
        .header("access-control-request-method", "PUT")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], "https://example.org");
    assert_eq!(h["access-control-allow-methods"], "GET,OPTIONS,PUT");
    assert_eq!(h["access-control-max-age"], "100");
    assert_eq!(preflight.text().await.unwrap(), "");

    let response = client()
        .get(format!("http://{addr}/api"))
        .header("origin", "https://example.org")
        .header("x-custom-request-header", "from the client")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let h = response.headers().clone();
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["strict-transport-security"], "max-age=31536000");
    assert_eq!(h["access-control-allow-origin"], "https://example.org");
    assert_eq!(h["vary"], "Origin");
    assert!(
        !h.contains_key("x-upstream"),
        "removed by customResponseHeaders"
    );
    let json: serde_json::Value = response.json().await.unwrap();
    assert_eq!(json["headers"]["x-script-name"], "test");
    assert!(json["headers"].get("x-custom-request-header").is_none());
    gw.shutdown().await;
}

#[tokio::test]
async fn allowed_hosts_refuse_other_hosts() {
    let echo = Echo::start("one").await;
    let middlewares = "    hosts:\n      headers: { allowedHosts: [app.example.com] }\n";
    let gw = gateway(&config(&echo.url(), middlewares, "[hosts]")).await;
    let addr = gw.entry_point("web").unwrap();
    let good = client()
        .get(format!("http://{addr}/"))
        .header("host", "app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 200);
    let bad = client()
        .get(format!("http://{addr}/"))
        .header("host", "evil.test")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 500);
    assert!(bad.headers().get("x-upstream").is_none());
    gw.shutdown().await;
}

#[tokio::test]
async fn a_chain_of_path_middlewares_rewrites_the_upstream_path_in_order() {
    let echo = Echo::start("one").await;
    let middlewares = r#"
    api:
      chain:
        middlewares: [strip-version, add-x, unwrap-x]
    strip-version:
      stripPrefixRegex:
        regex: ["/api/v[0-9]+"]
    add-x:
      addPrefix:
        prefix: /x
    unwrap-x:
      replacePathRegex:
        regex: "^/x/(.*)"
        replacement: "/${1}"
"#;
    let gw = gateway(&config(&echo.url(), middlewares, "[api]")).await;
    let addr = gw.entry_point("web").unwrap();
    // The echo server streams the body back only on /stream: the path arrived rewritten.
    let streamed = client()
        .post(format!("http://{addr}/api/v1/stream"))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.text().await.unwrap(), "hello");
    let json: serde_json::Value = client()
        .get(format!("http://{addr}/api/v2/other?q=1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json["headers"]["x-forwarded-prefix"], "/api/v2");
    assert_eq!(json["headers"]["x-replaced-path"], "/x/other");
    gw.shutdown().await;
}

#[tokio::test]
async fn redirect_regex_redirects_get_with_302_and_other_methods_with_307() {
    let echo = Echo::start("one").await;
    let middlewares = r#"
    moved:
      redirectRegex:
        regex: "^http://localhost/(.*)"
        replacement: "http://mydomain/${1}"
"#;
    let gw = gateway(&config(&echo.url(), middlewares, "[moved]")).await;
    let addr = gw.entry_point("web").unwrap();
    let get = client()
        .get(format!("http://{addr}/a/b?c=d"))
        .header("host", "localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 302);
    assert_eq!(get.headers()["location"], "http://mydomain/a/b?c=d");
    let post = client()
        .post(format!("http://{addr}/a"))
        .header("host", "localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 307);
    let other = client()
        .get(format!("http://{addr}/a"))
        .header("host", "elsewhere")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    gw.shutdown().await;
}

#[tokio::test]
async fn compress_gzips_large_responses_once_and_leaves_small_ones() {
    let echo = Echo::start("one").await;
    let middlewares = "    zip:\n      compress: {}\n";
    let gw = gateway(&config(&echo.url(), middlewares, "[zip]")).await;
    let addr = gw.entry_point("web").unwrap();
    let text = "portcullis ".repeat(1000);
    let response = client()
        .post(format!("http://{addr}/stream"))
        .header("accept-encoding", "br;q=0.5, gzip")
        .body(text.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert_eq!(response.headers()["vary"], "Accept-Encoding");
    let compressed = response.bytes().await.unwrap();
    assert!(compressed.len() < text.len() / 10);
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_string(&mut plain)
        .unwrap();
    assert_eq!(plain, text);
    // Below minResponseBodyBytes (1024 by default): unchanged.
    let small = client()
        .post(format!("http://{addr}/stream"))
        .header("accept-encoding", "gzip")
        .body("tiny")
        .send()
        .await
        .unwrap();
    assert!(small.headers().get("content-encoding").is_none());
    assert_eq!(small.text().await.unwrap(), "tiny");
    // Without Accept-Encoding nothing is compressed.
    let none = client()
        .post(format!("http://{addr}/stream"))
        .body(text.clone())
        .send()
        .await
        .unwrap();
    assert!(none.headers().get("content-encoding").is_none());
    assert_eq!(none.text().await.unwrap(), text);
    gw.shutdown().await;
}

#[tokio::test]
async fn buffering_refuses_large_requests_with_413_and_large_responses_with_500() {
    let echo = Echo::start("one").await;
    let middlewares = r#"
    limit:
      buffering:
        maxRequestBodyBytes: 2000
        maxResponseBodyBytes: 1000
"#;
    let gw = gateway(&config(&echo.url(), middlewares, "[limit]")).await;
    let addr = gw.entry_point("web").unwrap();
    let too_big = client()
        .post(format!("http://{addr}/stream"))
        .body("x".repeat(2001))
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 413);
    // Within the request limit but above the response limit (the echo answers with the body).
    let big_answer = client()
        .post(format!("http://{addr}/stream"))
        .body("x".repeat(1500))
        .send()
        .await
        .unwrap();
    assert_eq!(big_answer.status(), 500);
    let fine = client()
        .post(format!("http://{addr}/stream"))
        .body("x".repeat(900))
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status(), 200);
    assert_eq!(fine.headers()["content-length"], "900");
    assert_eq!(fine.text().await.unwrap().len(), 900);
    gw.shutdown().await;
}
