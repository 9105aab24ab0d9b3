//! End-to-end tests of what the gateway does to a request before routing it: the router and the
//! upstream must see the same, unambiguous request whatever the client sends (hop-by-hop and
//! `Connection` tricks, two authorities, dot-segments, spoofed forwarded headers, unknown
//! upgrades), and client-chosen values must not grow the metrics or leak into the access log.

#![cfg(test)]

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use support::{client, gateway};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An upstream that answers every request with JSON: its name, the request target as received,
/// and every header value (repeated headers as a list).
struct Mirror {
    address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Mirror {
    async fn start(name: &'static str) -> Mirror {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let service = service_fn(move |request| mirror(name, request));
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Mirror { address, task }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

async fn mirror(
    name: &'static str,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut headers = serde_json::Map::new();
    for key in request.headers().keys() {
        let values: Vec<serde_json::Value> = request
            .headers()
            .get_all(key)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned().into())
            .collect();
        headers.insert(key.as_str().to_owned(), values.into());
    }
    let json = serde_json::json!({
        "server": name,
        "uri": request.uri().to_string(),
        "headers": headers,
    });
    Ok(Response::new(Full::new(Bytes::from(json.to_string()))))
}

/// The single value of header `name` the upstream received (`None` when absent).
fn one(json: &serde_json::Value, name: &str) -> Option<String> {
    let values = json["headers"][name].as_array()?;
    assert_eq!(values.len(), 1, "{name}: {values:?}");
    values[0].as_str().map(str::to_owned)
}

/// Sends raw bytes on a new connection and returns the status and body of the response (the
/// request should carry `Connection: close`).
async fn raw(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("response in time")
        .unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The JSON a [`Mirror`] answered through the gateway to a raw request.
async fn raw_json(addr: SocketAddr, request: &str) -> serde_json::Value {
    let (status, body) = raw(addr, request).await;
    assert_eq!(status, 200, "{body}");
    // Chunked or not: the JSON object is the part between the outer braces.
    let start = body.find('{').unwrap();
    let end = body.rfind('}').unwrap();
    serde_json::from_str(&body[start..=end]).unwrap()
}

fn get(path: &str, host: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n")
}

/// A gateway and the mirrors it routes to.
struct Setup {
    gw: portcullis::app::Running,
    /// The `web` entry point.
    addr: SocketAddr,
    _mirrors: Vec<Mirror>,
}

impl Setup {
    /// Starts a [`Mirror`] per name, then the gateway whose configuration `yaml` writes for
    /// their URLs (in the order of `names`).
    async fn start(names: &[&'static str], yaml: impl FnOnce(&[String]) -> String) -> Setup {
        let mut mirrors = Vec::new();
        for name in names {
            mirrors.push(Mirror::start(name).await);
        }
        let urls: Vec<String> = mirrors.iter().map(Mirror::url).collect();
        let gw = gateway(&yaml(&urls)).await;
        let addr = gw.entry_point("web").unwrap();
        Setup {
            gw,
            addr,
            _mirrors: mirrors,
        }
    }

    /// One mirror named `app` behind a catch-all router, with `entry_point_options`.
    async fn catch_all(entry_point_options: &str) -> Setup {
        Setup::start(&["app"], |urls| catch_all(&urls[0], entry_point_options)).await
    }

    async fn shutdown(self) {
        self.gw.shutdown().await;
    }
}

// --- 1. Hop-by-hop headers go before the middlewares, never after -------------------------------

#[tokio::test]
async fn connection_cannot_remove_headers_a_middleware_set() {
    let setup = Setup::start(&["app"], |urls| {
        format!(
            r#"
entryPoints:
  web: {{ address: "127.0.0.1:0" }}
http:
  routers:
    app: {{ rule: "PathPrefix(`/`)", service: app, middlewares: [identity] }}
  middlewares:
    identity:
      headers:
        customRequestHeaders:
          X-Who: alice
          Authorization: Bearer gateway-token
  services:
    app: {{ loadBalancer: {{ servers: [{{ url: "{}" }}] }} }}
"#,
            urls[0]
        )
    })
    .await;
    let json = raw_json(
        setup.addr,
        &get(
            "/x",
            "app.test",
            "Connection: keep-alive, X-Who, Authorization\r\nX-Who: bob\r\n",
        ),
    )
    .await;
    assert_eq!(one(&json, "x-who").as_deref(), Some("alice"), "{json}");
    assert_eq!(
        one(&json, "authorization").as_deref(),
        Some("Bearer gateway-token"),
        "{json}"
    );
    assert!(json["headers"].get("connection").is_none(), "{json}");
    setup.shutdown().await;
}

#[tokio::test]
async fn routers_do_not_see_headers_named_in_connection() {
    let setup = Setup::start(&["admin", "public"], |urls| {
        format!(
            r#"
entryPoints:
  web: {{ address: "127.0.0.1:0" }}
http:
  routers:
    admin: {{ rule: "Header(`X-Route`, `admin`)", service: admin }}
    public: {{ rule: "PathPrefix(`/`)", service: public }}
  services:
    admin: {{ loadBalancer: {{ servers: [{{ url: "{}" }}] }} }}
    public: {{ loadBalancer: {{ servers: [{{ url: "{}" }}] }} }}
"#,
            urls[0], urls[1]
        )
    })
    .await;
    let json = raw_json(
        setup.addr,
        &get(
            "/x",
            "app.test",
            "Connection: X-Route\r\nX-Route: admin\r\n",
        ),
    )
    .await;
    assert_eq!(json["server"], "public", "{json}");
    assert!(json["headers"].get("x-route").is_none(), "{json}");
    setup.shutdown().await;
}

// --- 2. The authority the router matched is the Host the upstream gets --------------------------

/// Mirrors `public` and `admin`, each behind a router for its host.
async fn two_hosts() -> Setup {
    Setup::start(&["public", "admin"], |urls| {
        format!(
            r#"
entryPoints:
  web: {{ address: "127.0.0.1:0" }}
http:
  routers:
    public: {{ rule: "Host(`public.test`)", service: public }}
    admin: {{ rule: "Host(`admin.test`)", service: admin }}
    fallback: {{ rule: "PathPrefix(`/`)", service: public, priority: 1 }}
  services:
    public: {{ loadBalancer: {{ servers: [{{ url: "{}" }}] }} }}
    admin: {{ loadBalancer: {{ servers: [{{ url: "{}" }}] }} }}
"#,
            urls[0], urls[1]
        )
    })
    .await
}

#[tokio::test]
async fn an_absolute_form_target_is_the_host_the_upstream_gets() {
    let setup = two_hosts().await;
    let addr = setup.addr;
    let json = raw_json(addr, &get("http://public.test/x", "admin.test", "")).await;
    assert_eq!(json["server"], "public", "{json}");
    assert_eq!(one(&json, "host").as_deref(), Some("public.test"), "{json}");
    assert_eq!(
        one(&json, "x-forwarded-host").as_deref(),
        Some("public.test"),
        "{json}"
    );
    assert_eq!(json["uri"], "/x", "{json}");
    setup.shutdown().await;
}

#[tokio::test]
async fn two_host_headers_are_refused() {
    let setup = two_hosts().await;
    let addr = setup.addr;
    let request =
        "GET /x HTTP/1.1\r\nHost: public.test\r\nHost: admin.test\r\nConnection: close\r\n\r\n";
    let (status, body) = raw(addr, request).await;
    assert_eq!(status, 400, "{body}");
    setup.shutdown().await;
}

/// An HTTP/2 request over a prior-knowledge connection with its own `:authority` and headers.
async fn h2_request(addr: SocketAddr, authority: &str, host: Option<&str>) -> (u16, String) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut request = Request::get(format!("http://{authority}/x"));
    if let Some(host) = host {
        request = request.header("host", host);
    }
    let response = sender
        .send_request(request.body(Empty::<Bytes>::new()).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn http2_authority_and_a_different_host_header_are_refused() {
    let setup = two_hosts().await;
    let addr = setup.addr;
    let (status, body) = h2_request(addr, "public.test", Some("admin.test")).await;
    assert_eq!(status, 400, "{body}");
    // The same authority twice is unambiguous; the upstream gets it as its Host.
    let (status, body) = h2_request(addr, "public.test", Some("PUBLIC.test")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = h2_request(addr, "public.test", None).await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["server"], "public", "{json}");
    assert_eq!(one(&json, "host").as_deref(), Some("public.test"), "{json}");
    setup.shutdown().await;
}

// --- 3. Metric labels come from bounded sets ----------------------------------------------------

#[tokio::test]
async fn distinct_methods_do_not_grow_the_metrics() {
    let setup = Setup::start(&["app"], |urls| {
        format!(
            r#"
entryPoints:
  web: {{ address: "127.0.0.1:0" }}
metrics: {{ prometheus: {{ address: "127.0.0.1:0" }} }}
http:
  routers:
    app: {{ rule: "PathPrefix(`/app`)", service: app }}
  services:
    app: {{ loadBalancer: {{ servers: [{{ url: "{}" }}] }} }}
"#,
            urls[0]
        )
    })
    .await;
    let addr = setup.addr;
    let metrics = setup.gw.metrics_address().unwrap();
    let c = client();
    let scrape = || async {
        c.get(format!("http://{metrics}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let send = |from: usize, to: usize| {
        let c = c.clone();
        async move {
            for i in from..to {
                let method = http::Method::from_bytes(format!("M{i:05}").as_bytes()).unwrap();
                let path = if i % 2 == 0 { "/app" } else { "/nowhere" };
                let status = c
                    .request(method, format!("http://{addr}{path}"))
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert!(status == 200 || status == 404, "{status}");
            }
        }
    };
    send(0, 100).await;
    let after_few = scrape().await;
    send(100, 3000).await;
    let after_many = scrape().await;
    let series = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("portcullis_requests_total{"))
            .count()
    };
    assert_eq!(series(&after_many), series(&after_few), "{after_many}");
    assert!(series(&after_many) <= 2, "{after_many}");
    assert!(
        after_many.contains("method=\"OTHER\",code=\"200\"} 1500"),
        "{after_many}"
    );
    // The exposition grows only by the digits of the counters.
    assert!(
        after_many.len() <= after_few.len() + 64,
        "{} -> {} bytes",
        after_few.len(),
        after_many.len()
    );
    setup.shutdown().await;
}

#[tokio::test]
async fn an_overlong_method_is_refused() {
    let setup = Setup::catch_all("").await;
    let addr = setup.addr;
    let long = "X".repeat(33);
    let (status, _) = raw(
        addr,
        &format!("{long} /x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 400);
    let ok = "X".repeat(32);
    let (status, _) = raw(
        addr,
        &format!("{ok} /x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 200);
    setup.shutdown().await;
}

fn catch_all(url: &str, entry_point_options: &str) -> String {
    format!(
        r#"
entryPoints:
  web:
    address: "127.0.0.1:0"
{entry_point_options}
http:
  routers:
    app: {{ rule: "PathPrefix(`/`)", service: app }}
  services:
    app: {{ loadBalancer: {{ servers: [{{ url: "{url}" }}] }} }}
"#
    )
}

// --- 4. One normalised path is routed and forwarded ----------------------------------------------

#[tokio::test]
async fn the_cleaned_path_is_forwarded_with_its_query() {
    let setup = Setup::catch_all("").await;
    let addr = setup.addr;
    for (sent, forwarded) in [
        ("/a/./b/../c?x=1&y=/../", "/a/c?x=1&y=/../"),
        ("//a//%2e%2e/b/", "/b/"),
        ("/plain/path?q", "/plain/path?q"),
    ] {
        let json = raw_json(addr, &get(sent, "a.test", "")).await;
        assert_eq!(json["uri"], forwarded, "{sent}");
    }
    let (status, _) = raw(addr, &get("/public/..%2fmy-app/secret", "a.test", "")).await;
    assert_eq!(status, 400);
    setup.shutdown().await;
}

#[tokio::test]
async fn sanitize_path_false_forwards_the_path_as_sent() {
    let setup = Setup::catch_all("    http: { sanitizePath: false }").await;
    let addr = setup.addr;
    let json = raw_json(addr, &get("/a/../b", "a.test", "")).await;
    assert_eq!(json["uri"], "/a/../b");
    setup.shutdown().await;
}

/// nginx serving `/my-app/secret` (the protected application) and `/public/` (the public one).
struct Nginx {
    port: u16,
    _process: support::nginx::Nginx,
}

impl Nginx {
    async fn start() -> Nginx {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = format!(
            r#"  server {{
    listen 127.0.0.1:{port};
    location /my-app/ {{ return 200 "protected secret"; }}
    location /public/ {{ return 200 "public page"; }}
    location / {{ return 404 "nothing"; }}
  }}"#
        );
        Nginx {
            port,
            _process: support::nginx::Nginx::start(&server, port).await,
        }
    }
}

#[tokio::test]
async fn dot_segments_cannot_reach_a_protected_location_through_a_public_router() {
    let nginx = Nginx::start().await;
    // The protected router answers from a guard instead of nginx: whatever reaches nginx's
    // protected location did not pass it.
    let setup = Setup::start(&["guard"], |urls| {
        format!(
            r#"
entryPoints:
  web: {{ address: "127.0.0.1:0" }}
http:
  routers:
    public: {{ rule: "PathPrefix(`/public`)", service: nginx }}
    protected: {{ rule: "PathPrefix(`/my-app`)", service: guard }}
  services:
    nginx: {{ loadBalancer: {{ servers: [{{ url: "http://127.0.0.1:{}" }}] }} }}
    guard: {{ loadBalancer: {{ servers: [{{ url: "{}" }}] }} }}
"#,
            nginx.port, urls[0]
        )
    })
    .await;
    let addr = setup.addr;
    // nginx itself resolves all of these to its protected location.
    for path in ["/public/../my-app/secret", "/public/%2e%2e/my-app/secret"] {
        let direct = raw(
            SocketAddr::from(([127, 0, 0, 1], nginx.port)),
            &get(path, "a.test", ""),
        )
        .await;
        assert_eq!(direct.1, "protected secret", "{path}");
        let (status, body) = raw(addr, &get(path, "a.test", "")).await;
        assert!(
            !body.contains("protected secret"),
            "{path}: {status} {body}"
        );
        assert_eq!(status, 200, "{path}");
        assert!(body.contains("\"server\":\"guard\""), "{path}: {body}");
    }
    let (status, body) = raw(addr, &get("/public/..%2fmy-app/secret", "a.test", "")).await;
    assert!(!body.contains("protected secret"), "{status} {body}");
    assert_eq!(status, 400);
    let (status, body) = raw(addr, &get("/public/page", "a.test", "")).await;
    assert_eq!((status, body.as_str()), (200, "public page"));
    setup.shutdown().await;
}

// --- 5. Forwarded headers are believed from trusted proxies only --------------------------------

/// Mirrors `secure`, behind a router for `X-Forwarded-Proto: https`, and `plain` for the rest,
/// with entry point `options`.
async fn proto_routes(options: &str) -> Setup {
    Setup::start(&["secure", "plain"], |urls| {
        format!(
            r#"
entryPoints:
  web:
    address: "127.0.0.1:0"
{options}
http:
  routers:
    secure: {{ rule: "Header(`X-Forwarded-Proto`, `https`)", service: secure }}
    plain: {{ rule: "PathPrefix(`/`)", service: plain, priority: 1 }}
  services:
    secure: {{ loadBalancer: {{ servers: [{{ url: "{}" }}] }} }}
    plain: {{ loadBalancer: {{ servers: [{{ url: "{}" }}] }} }}
"#,
            urls[0], urls[1]
        )
    })
    .await
}

const SPOOFED: &str = "X-Forwarded-Proto: https\r\nX-Forwarded-For: 6.6.6.6\r\n\
X-Forwarded-Host: evil.test\r\nX-Forwarded-Prefix: /admin\r\nX-Forwarded-Uri: /admin\r\n\
X-Original-URL: /admin\r\nForwarded: for=6.6.6.6;proto=https\r\nX-Real-Ip: 6.6.6.6\r\n\
X_Forwarded_For: 6.6.6.6\r\n";

#[tokio::test]
async fn untrusted_forwarded_headers_are_replaced_before_routing() {
    let setup = proto_routes("").await;
    let addr = setup.addr;
    let json = raw_json(addr, &get("/x", "app.test", SPOOFED)).await;
    assert_eq!(json["server"], "plain", "{json}");
    assert_eq!(one(&json, "x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(one(&json, "x-forwarded-for").as_deref(), Some("127.0.0.1"));
    assert_eq!(one(&json, "x-real-ip").as_deref(), Some("127.0.0.1"));
    assert_eq!(one(&json, "x-forwarded-host").as_deref(), Some("app.test"));
    for gone in [
        "x-forwarded-prefix",
        "x-forwarded-uri",
        "x-original-url",
        "forwarded",
        "x_forwarded_for",
    ] {
        assert!(json["headers"].get(gone).is_none(), "{gone}: {json}");
    }
    setup.shutdown().await;
}

#[tokio::test]
async fn trusted_proxies_keep_their_forwarded_headers() {
    for options in [
        "    forwardedHeaders: { trustedIPs: [\"10.0.0.0/8\", \"127.0.0.1\"] }",
        "    forwardedHeaders: { insecure: true }",
    ] {
        let setup = proto_routes(options).await;
        let addr = setup.addr;
        let json = raw_json(addr, &get("/x", "app.test", SPOOFED)).await;
        assert_eq!(json["server"], "secure", "{options}: {json}");
        assert_eq!(one(&json, "x-forwarded-proto").as_deref(), Some("https"));
        assert_eq!(
            one(&json, "x-forwarded-for").as_deref(),
            Some("6.6.6.6, 127.0.0.1")
        );
        assert_eq!(one(&json, "x-real-ip").as_deref(), Some("6.6.6.6"));
        assert_eq!(one(&json, "x-forwarded-host").as_deref(), Some("evil.test"));
        assert_eq!(
            one(&json, "forwarded").as_deref(),
            Some("for=6.6.6.6;proto=https")
        );
        assert_eq!(one(&json, "x-forwarded-prefix").as_deref(), Some("/admin"));
        setup.shutdown().await;
    }
    // A trusted range that does not hold the client trusts nobody here.
    let setup = proto_routes("    forwardedHeaders: { trustedIPs: [\"10.0.0.0/8\"] }").await;
    let addr = setup.addr;
    let json = raw_json(addr, &get("/x", "app.test", SPOOFED)).await;
    assert_eq!(json["server"], "plain", "{json}");
    setup.shutdown().await;
}

// --- 6. The access log keeps no credentials -----------------------------------------------------

#[tokio::test]
async fn the_access_log_redacts_the_callbacks_code_and_state() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("access.log");
    let setup = Setup::start(&["app"], |urls| {
        format!(
            "{}accessLog: {{ filePath: \"{}\" }}\n",
            catch_all(&urls[0], ""),
            log_path.display()
        )
    })
    .await;
    let addr = setup.addr;
    raw_json(
        addr,
        &get(
            "/oidc/callback?code=CODE123&state=STATE456&iss=x",
            "a.test",
            "",
        ),
    )
    .await;
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if !text.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        text.contains("/oidc/callback?code=REDACTED&state=REDACTED&iss=x"),
        "{text}"
    );
    assert!(
        !text.contains("CODE123") && !text.contains("STATE456"),
        "{text}"
    );
    setup.shutdown().await;
}

// --- 7. Only allowed upgrades are tunnelled -----------------------------------------------------

#[tokio::test]
async fn upgrades_other_than_websocket_are_forwarded_as_plain_requests() {
    let setup = Setup::catch_all("").await;
    let addr = setup.addr;
    for upgrade in ["h2c", "foo"] {
        let request = format!(
            "GET /x HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade, HTTP2-Settings, close\r\n\
             Upgrade: {upgrade}\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
        );
        let json = raw_json(addr, &request).await;
        assert!(
            json["headers"].get("upgrade").is_none(),
            "{upgrade}: {json}"
        );
        assert!(
            json["headers"].get("connection").is_none(),
            "{upgrade}: {json}"
        );
        assert!(json["headers"].get("http2-settings").is_none(), "{json}");
    }
    setup.shutdown().await;
}

#[tokio::test]
async fn allowed_upgrades_are_configurable() {
    let setup = Setup::catch_all("    http: { allowedUpgrades: [websocket, foo] }").await;
    let addr = setup.addr;
    let request = "GET /x HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\n";
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    // The mirror does not switch protocols, but it saw the upgrade offered.
    assert!(text.contains("\"upgrade\":[\"foo\"]"), "{text}");
    setup.shutdown().await;
}
