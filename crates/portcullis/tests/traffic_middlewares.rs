//! Traefik's basicAuth, ipAllowList, rateLimit, inFlightReq and retry middlewares end to end:
//! Traefik's documented examples pass `portcullis check`, and requests through a running
//! gateway are let through or refused as Traefik documents.

#![cfg(test)]

mod support;

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use support::{Echo, client, gateway};

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Runs `portcullis check` on a main file whose file provider reads `dynamic`.
fn check_dynamic(dynamic: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dynamic.yaml"), dynamic).unwrap();
    std::fs::write(
        dir.path().join("portcullis.yaml"),
        "entryPoints:\n  web: { address: \"127.0.0.1:0\" }\nproviders:\n  file: { filename: dynamic.yaml }\n",
    )
    .unwrap();
    let (ok, stdout, stderr) = support::binary::check(dir.path(), "portcullis.yaml");
    (ok, format!("{stdout}{stderr}"))
}

#[test]
fn traefik_documented_examples_pass_check() {
    let text = std::fs::read_to_string(fixtures().join("traefik-traffic-middlewares.yaml"))
        .unwrap()
        .replace("FIXTURES", fixtures().to_str().unwrap());
    let (ok, output) = check_dynamic(&text);
    assert!(ok, "{output}");
}

#[test]
fn traefik_documented_redis_rate_limit_examples_pass_check() {
    let tls = tempfile::tempdir().unwrap();
    let pki = portcullis_store::testing::Pki::generate();
    let files = pki.write_server_files(tls.path());
    let root = tls.path();
    for (dir, names) in [
        (
            "etc/ssl",
            ["redis-ca.crt", "redis-client.crt", "redis-client.key"],
        ),
        ("path/to", ["ca.crt", "foo.cert", "foo.key"]),
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        for (name, source) in names.iter().zip([&files.ca, &files.cert, &files.key]) {
            std::fs::copy(source, root.join(dir).join(name)).unwrap();
        }
    }
    let text = std::fs::read_to_string(fixtures().join("traefik-ratelimit-redis.yaml"))
        .unwrap()
        .replace("TLS_DIR", root.to_str().unwrap());
    let (ok, output) = check_dynamic(&text);
    assert!(ok, "{output}");
}

#[tokio::test]
async fn rate_limit_with_redis_is_shared_by_two_gateways() {
    let redis = portcullis_store::testing::Server::start(&[]);
    let upstream = Echo::start("app").await;
    let middleware = format!(
        "      rateLimit:\n        average: 1\n        period: 1m\n        burst: 2\n        \
         redis: {{ endpoints: [\"{}\"] }}\n",
        redis.address()
    );
    let one = gateway(&routes(&upstream, "", &middleware)).await;
    let two = gateway(&routes(&upstream, "", &middleware)).await;
    let mut statuses = Vec::new();
    for gw in [&one, &two, &one, &two] {
        let url = format!("http://{}/", gw.entry_point("web").unwrap());
        statuses.push(client().get(&url).send().await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
    one.shutdown().await;
    two.shutdown().await;
}

#[test]
fn check_names_the_middleware_option_that_is_wrong() {
    let dynamic = "http:\n  middlewares:\n    limit:\n      rateLimit:\n        average: 5\n        \
                   sourceCriterion: { requestHost: true, ipStrategy: { depth: 1 } }\n    \
                   auth:\n      basicAuth:\n        usersFile: /nonexistent/users\n";
    let (ok, output) = check_dynamic(dynamic);
    assert!(!ok, "{output}");
    assert!(
        output.contains(
            "http.middlewares.limit.rateLimit.sourceCriterion: ipStrategy, requestHeaderName and requestHost are mutually exclusive"
        ),
        "{output}"
    );
}

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

fn routes(upstream: &Echo, entry_point_options: &str, middlewares: &str) -> String {
    format!(
        r#"
entryPoints:
  web:
    address: "127.0.0.1:0"
{entry_point_options}
http:
  routers:
    app: {{ rule: "PathPrefix(`/`)", service: app, middlewares: [m] }}
  services:
    app: {{ loadBalancer: {{ servers: [{{ url: "{}" }}] }} }}
  middlewares:
    m:
{middlewares}
"#,
        upstream.url()
    )
}

#[tokio::test]
async fn basic_auth_refuses_with_the_realm_and_forwards_the_user() {
    let upstream = Echo::start("app").await;
    let gw = gateway(&routes(
        &upstream,
        "",
        "      basicAuth:\n        users: [\"test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/\"]\n        \
         realm: MyRealm\n        headerField: X-WebAuth-User\n        removeHeader: true\n",
    ))
    .await;
    let url = format!("http://{}/", gw.entry_point("web").unwrap());
    let refused = client().get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.headers()["www-authenticate"],
        "Basic realm=\"MyRealm\""
    );
    let wrong = client()
        .get(&url)
        .header("authorization", basic("test", "nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let ok = client()
        .get(&url)
        .header("authorization", basic("test", "test"))
        .header("x-webauth-user", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let json: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(json["headers"]["x-webauth-user"], "test");
    assert!(json["headers"].get("authorization").is_none(), "{json}");
    gw.shutdown().await;
}

#[tokio::test]
async fn the_access_log_names_the_basic_auth_user() {
    let upstream = Echo::start("app").await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let yaml = routes(
        &upstream,
        "",
        "      basicAuth:\n        users: [\"test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/\"]\n",
    )
    .replace(
        "http:\n  routers:",
        &format!(
            "accessLog: {{ format: json, filePath: \"{}\" }}\nhttp:\n  routers:",
            log.display()
        ),
    );
    let gw = gateway(&yaml).await;
    let url = format!("http://{}/", gw.entry_point("web").unwrap());
    let ok = client()
        .get(&url)
        .header("authorization", basic("test", "test"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if !text.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let entry: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(entry["ClientUsername"], "test");
    gw.shutdown().await;
}

const ALLOW_FORWARDED: &str = "      ipAllowList:\n        sourceRange: [\"198.51.100.0/24\"]\n        ipStrategy: { depth: 1 }\n";

#[tokio::test]
async fn ip_allow_list_depth_believes_only_trusted_proxies() {
    let upstream = Echo::start("app").await;
    // The gateway trusts the loopback proxy: depth 1 is the address that proxy saw.
    let trusted = routes(
        &upstream,
        "    forwardedHeaders: { trustedIPs: [\"127.0.0.1/32\"] }",
        ALLOW_FORWARDED,
    );
    let gw = gateway(&trusted).await;
    let url = format!("http://{}/", gw.entry_point("web").unwrap());
    let allowed = client()
        .get(&url)
        .header("x-forwarded-for", "198.51.100.4")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    let other = client()
        .get(&url)
        .header("x-forwarded-for", "198.51.100.4, 203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403);
    gw.shutdown().await;

    // Untrusted: the client's X-Forwarded-For is dropped, so no forwarded address exists.
    let gw = gateway(&routes(&upstream, "", ALLOW_FORWARDED)).await;
    let url = format!("http://{}/", gw.entry_point("web").unwrap());
    let spoofed = client()
        .get(&url)
        .header("x-forwarded-for", "198.51.100.4")
        .send()
        .await
        .unwrap();
    assert_eq!(spoofed.status(), 403);
    gw.shutdown().await;
}

#[tokio::test]
async fn ip_allow_list_checks_the_peer_and_uses_the_reject_status() {
    let upstream = Echo::start("app").await;
    let gw = gateway(&routes(
        &upstream,
        "",
        "      ipAllowList:\n        sourceRange: [\"10.0.0.0/8\"]\n        rejectStatusCode: 404\n",
    ))
    .await;
    let url = format!("http://{}/", gw.entry_point("web").unwrap());
    assert_eq!(client().get(&url).send().await.unwrap().status(), 404);
    gw.shutdown().await;
    let gw = gateway(&routes(
        &upstream,
        "",
        "      ipAllowList:\n        sourceRange: [\"127.0.0.1\"]\n",
    ))
    .await;
    let url = format!("http://{}/", gw.entry_point("web").unwrap());
    assert_eq!(client().get(&url).send().await.unwrap().status(), 200);
    gw.shutdown().await;
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let upstream = Echo::start("app").await;
    let gw = gateway(&routes(
        &upstream,
        "",
        "      rateLimit:\n        average: 1\n        period: 1m\n        burst: 2\n",
    ))
    .await;
    let url = format!("http://{}/", gw.entry_point("web").unwrap());
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..3 {
        let response = client().get(&url).send().await.unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            retry_after = response.headers().get("retry-after").cloned();
        }
    }
    assert_eq!(statuses, [200, 200, 429]);
    let seconds: u64 = retry_after.unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&seconds), "{seconds}");
    gw.shutdown().await;
}

#[tokio::test]
async fn in_flight_req_refuses_requests_beyond_the_amount_while_one_is_slow() {
    let upstream = Echo::start("app").await;
    let gw = gateway(&routes(
        &upstream,
        "",
        "      inFlightReq:\n        amount: 1\n",
    ))
    .await;
    let base = format!("http://{}", gw.entry_point("web").unwrap());
    let slow = tokio::spawn({
        let url = format!("{base}/slow");
        async move { client().get(&url).send().await.unwrap().status() }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refused = client().get(format!("{base}/")).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(slow.await.unwrap(), 200);
    // The slot is back once the slow response was sent.
    let again = client().get(format!("{base}/")).send().await.unwrap();
    assert_eq!(again.status(), 200);
    gw.shutdown().await;
}

#[tokio::test]
async fn retry_reaches_a_server_that_comes_up_between_tries() {
    let port = support::closed_port().await;
    let dynamic = format!(
        r#"
entryPoints:
  web:
    address: "127.0.0.1:0"
http:
  routers:
    app: {{ rule: "PathPrefix(`/`)", service: app, middlewares: [m] }}
  services:
    app: {{ loadBalancer: {{ servers: [{{ url: "http://127.0.0.1:{port}" }}] }} }}
  middlewares:
    m:
      retry: {{ attempts: 10, initialInterval: 200ms }}
"#
    );
    let gw = gateway(&dynamic).await;
    let url = format!("http://{}/", gw.entry_point("web").unwrap());
    let request = tokio::spawn(async move { client().get(&url).send().await.unwrap().status() });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _upstream = Echo::start_on("late", format!("127.0.0.1:{port}").parse().unwrap()).await;
    assert_eq!(request.await.unwrap(), 200);
    gw.shutdown().await;
}
