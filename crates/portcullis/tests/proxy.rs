//! End-to-end tests of the proxy core: the gateway on port 0 in front of echo upstreams.

#![cfg(test)]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use support::{Echo, client, closed_port, gateway};
use tokio_tungstenite::tungstenite::Message;

/// Starts an echo named `one` and a gateway on the configuration `yaml` writes for the echo's
/// URL: the echo, the gateway and its `web` entry point.
async fn start(yaml: impl FnOnce(&str) -> String) -> (Echo, portcullis::app::Running, SocketAddr) {
    let echo = Echo::start("one").await;
    let gw = gateway(&yaml(&echo.url())).await;
    let addr = gw.entry_point("web").unwrap();
    (echo, gw, addr)
}

fn single_route(upstream: &str, extra: &str) -> String {
    format!(
        r#"
entryPoints:
  web: {{ address: "127.0.0.1:0" }}
{extra}
http:
  routers:
    app:
      rule: PathPrefix(`/`)
      service: echo
  services:
    echo:
      loadBalancer:
        servers: [{{ url: "{upstream}" }}]
"#
    )
}

#[tokio::test]
async fn forwards_with_clean_and_forwarded_headers() {
    let (_echo, gw, addr) = start(|url| single_route(url, "")).await;
    let response = client()
        .get(format!("http://{addr}/hello?x=1"))
        .header("host", "app.example.com:8080")
        .header("connection", "keep-alive, x-drop-me")
        .header("x-drop-me", "secret")
        .header("te", "trailers")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-custom", "kept")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Hop-by-hop headers of the upstream's response do not reach the client either.
    assert!(
        response
            .headers()
            .get("connection")
            .is_none_or(|v| v != "keep-alive")
    );
    let json: serde_json::Value = response.json().await.unwrap();
    let headers = &json["headers"];
    assert_eq!(
        headers["host"], "app.example.com:8080",
        "passHostHeader defaults to true"
    );
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(headers["x-real-ip"], "127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(headers["x-forwarded-host"], "app.example.com:8080");
    assert_eq!(headers["x-forwarded-port"], "8080");
    assert_eq!(headers["x-custom"], "kept");
    assert!(headers.get("x-drop-me").is_none());
    assert!(headers.get("te").is_none());
    gw.shutdown().await;
}

#[tokio::test]
async fn pass_host_header_false_sends_the_upstream_host() {
    let echo = Echo::start("one").await;
    let yaml = single_route(&echo.url(), "")
        .replace("servers: [", "passHostHeader: false\n        servers: [");
    let gw = gateway(&yaml).await;
    let addr = gw.entry_point("web").unwrap();
    let json: serde_json::Value = client()
        .get(format!("http://{addr}/"))
        .header("host", "public.example")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json["headers"]["host"], echo.address.to_string());
    gw.shutdown().await;
}

#[tokio::test]
async fn streams_large_bodies_both_ways() {
    let (_echo, gw, addr) = start(|url| single_route(url, "")).await;
    let chunk = vec![b'x'; 64 * 1024];
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..128u8)
        .map(|i| {
            let mut c = chunk.clone();
            c[0] = i;
            Ok(c)
        })
        .collect();
    let expected: Vec<u8> = chunks
        .iter()
        .flat_map(|c| c.as_ref().unwrap().clone())
        .collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let response = client()
        .post(format!("http://{addr}/stream"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let received = response.bytes().await.unwrap();
    assert_eq!(received.len(), expected.len());
    assert!(received[..] == expected[..]);
    gw.shutdown().await;
}

#[tokio::test]
async fn websocket_upgrades_pass_through() {
    let (_echo, gw, addr) = start(|url| single_route(url, "")).await;
    let (mut ws, response) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    assert_eq!(response.status(), 101);
    for text in ["hello", "through", "the gateway"] {
        ws.send(Message::text(text)).await.unwrap();
        let echoed = ws.next().await.unwrap().unwrap();
        assert_eq!(echoed.into_text().unwrap().as_str(), text);
    }
    ws.close(None).await.unwrap();
    gw.shutdown().await;
}

#[tokio::test]
async fn round_robin_and_refused_servers_are_skipped() {
    let one = Echo::start("one").await;
    let two = Echo::start("two").await;
    let down = closed_port().await;
    let yaml = format!(
        r#"
entryPoints:
  web: {{ address: "127.0.0.1:0" }}
http:
  routers:
    app: {{ rule: "PathPrefix(`/`)", service: pool }}
    broken: {{ rule: "PathPrefix(`/down`)", service: nothing }}
  services:
    pool:
      loadBalancer:
        servers: [{{ url: "{}" }}, {{ url: "http://127.0.0.1:{down}" }}, {{ url: "{}" }}]
    nothing:
      loadBalancer:
        servers: [{{ url: "http://127.0.0.1:{down}" }}]
"#,
        one.url(),
        two.url()
    );
    let gw = gateway(&yaml).await;
    let addr = gw.entry_point("web").unwrap();
    let mut seen = Vec::new();
    for _ in 0..6 {
        let response = client()
            .get(format!("http://{addr}/"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "a refused server must be skipped");
        seen.push(
            response.headers()["x-upstream"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert!(
        seen.iter().any(|s| s == "one") && seen.iter().any(|s| s == "two"),
        "{seen:?}"
    );
    // A POST with a body is retried too, since the body was never sent.
    for _ in 0..3 {
        let response = client()
            .post(format!("http://{addr}/"))
            .body("payload")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let json: serde_json::Value = response.json().await.unwrap();
        assert_eq!(json["body_len"], 7);
    }
    let response = client()
        .get(format!("http://{addr}/down"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    gw.shutdown().await;
}

#[tokio::test]
async fn bad_requests_get_the_right_status() {
    let (_echo, gw, addr) = start(|url| {
        format!(
            r#"
entryPoints:
  web: {{ address: "127.0.0.1:0" }}
serversTransport: {{ responseHeaderTimeout: 1s }}
http:
  routers:
    app: {{ rule: "PathPrefix(`/app`) || Path(`/slow`)", service: echo }}
  services:
    echo:
      loadBalancer:
        servers: [{{ url: "{}" }}]
"#,
            url
        )
    })
    .await;
    let c = client();
    assert_eq!(
        c.get(format!("http://{addr}/nowhere"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        c.get(format!("http://{addr}/app/%zz"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    let big = "a".repeat(100 * 1024);
    let status = c
        .get(format!("http://{addr}/app"))
        .header("x-big", big)
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(status.unwrap(), 431);
    let slow = c.get(format!("http://{addr}/slow")).send().await.unwrap();
    assert_eq!(slow.status(), 504);
    // A request line that is not HTTP at all.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(b"NOT HTTP AT ALL\r\n\r\n").await.unwrap();
    let mut buffer = vec![0; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 400"));
    gw.shutdown().await;
}

#[tokio::test]
async fn ping_and_metrics() {
    let extra =
        "ping: { address: \"127.0.0.1:0\" }\nmetrics: { prometheus: { address: \"127.0.0.1:0\" } }";
    let (_echo, gw, addr) = start(|url| single_route(url, extra)).await;
    let ping = gw.ping_address().unwrap();
    let metrics = gw.metrics_address().unwrap();
    let c = client();
    let response = c.get(format!("http://{ping}/ping")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        c.get(format!("http://{addr}/x"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let text = c
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("portcullis_requests_total{router=\"app\",service=\"echo\",method=\"GET\",code=\"200\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("portcullis_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains("portcullis_open_connections{entrypoint=\"web\"}"),
        "{text}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_drains_in_flight_requests() {
    let (_echo, gw, addr) = start(|url| single_route(url, "")).await;
    let in_flight =
        tokio::spawn(async move { client().get(format!("http://{addr}/slow")).send().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    gw.shutdown().await;
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "slow");
    // New connections are refused once stopped.
    assert!(
        client()
            .get(format!("http://{addr}/"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn access_log_records_router_service_and_status() {
    let echo = Echo::start("one").await;
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("access.json");
    let extra = format!(
        "accessLog: {{ format: json, filePath: \"{}\" }}",
        log_path.display()
    );
    let gw = gateway(&single_route(&echo.url(), &extra)).await;
    let addr = gw.entry_point("web").unwrap();
    let response = client()
        .get(format!("http://{addr}/logged?q=1"))
        .header("user-agent", "e2e-test")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut line = String::new();
    for _ in 0..100 {
        line = std::fs::read_to_string(&log_path).unwrap_or_default();
        if !line.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let entry: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_eq!(entry["RequestPath"], "/logged?q=1");
    assert_eq!(entry["RequestMethod"], "GET");
    assert_eq!(entry["DownstreamStatus"], 200);
    assert_eq!(entry["RouterName"], "app");
    assert_eq!(entry["ServiceName"], "echo");
    assert_eq!(entry["ClientHost"], "127.0.0.1");
    assert_eq!(entry["ClientUsername"], "");
    assert_eq!(entry["request_User-Agent"], "e2e-test");
    gw.shutdown().await;
}

#[tokio::test]
async fn an_http_1_0_upstream_does_not_downgrade_the_client_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // An upstream that answers every request in HTTP/1.0 and closes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer).await;
                let _ = stream
                    .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
            });
        }
    });
    let gw = gateway(&single_route(&upstream, "")).await;
    let address = gw.entry_point("web").unwrap();
    let mut client = tokio::net::TcpStream::connect(address).await.unwrap();
    for _ in 0..2 {
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: app\r\n\r\n")
            .await
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\nok") {
            assert_eq!(client.read(&mut byte).await.unwrap(), 1, "{head:?}");
            head.push(byte[0]);
        }
        let text = String::from_utf8(head).unwrap();
        // Answered as HTTP/1.1, and the connection stays open for the second request.
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn plain_entry_points_serve_http2_with_prior_knowledge() {
    let (_echo, gw, addr) = start(|url| single_route(url, "")).await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = h2.get(format!("http://{addr}/h2c")).send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    let json: serde_json::Value = response.json().await.unwrap();
    assert_eq!(json["server"], "one");
    // HTTP/1.1 on the same entry point.
    let response = client()
        .get(format!("http://{addr}/h1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_client_that_sends_nothing_is_closed_after_the_read_timeout() {
    use tokio::io::AsyncReadExt;
    let (_echo, gw, addr) = start(|url| {
        with_transport(
            &single_route(url, ""),
            "respondingTimeouts: { readTimeout: 300ms }",
        )
    })
    .await;
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(3), silent.read(&mut byte)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    // Half of the HTTP/2 preface start, then nothing: also closed, without spinning.
    let mut partial = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut partial, b"PR")
        .await
        .unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(3), partial.read(&mut byte)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    gw.shutdown().await;
}

/// Reads until the peer closes the connection; `false` if it is still open after `limit`.
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buffer = [0u8; 4096];
    let drained = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, drained).await.is_ok()
}

/// The HTTP/2 connection preface followed by an empty SETTINGS frame.
fn http2_preface() -> Vec<u8> {
    let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    bytes.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    bytes
}

/// A HEADERS frame on stream 1 for `GET /` (HPACK: indexed `:method GET`, `:path /`,
/// `:scheme http`, literal `:authority`), ending the stream.
fn http2_get_request() -> Vec<u8> {
    let mut block = vec![0x82, 0x84, 0x86, 0x41, 9];
    block.extend_from_slice(b"localhost");
    let mut frame = vec![0, 0, block.len() as u8, 1, 0x05, 0, 0, 0, 1];
    frame.extend_from_slice(&block);
    frame
}

fn with_transport(yaml: &str, transport: &str) -> String {
    with_entry_point_options(yaml, &format!("transport: {{ {transport} }}"))
}

/// `yaml` with `options` added to the `web` entry point.
fn with_entry_point_options(yaml: &str, options: &str) -> String {
    yaml.replace(
        "address: \"127.0.0.1:0\" }",
        &format!("address: \"127.0.0.1:0\", {options} }}"),
    )
}

#[tokio::test]
async fn an_http2_client_that_sends_only_its_preface_is_closed_after_the_read_timeout() {
    use tokio::io::AsyncWriteExt;
    let (_echo, gw, addr) = start(|url| {
        with_transport(
            &single_route(url, ""),
            "respondingTimeouts: { readTimeout: 300ms }",
        )
    })
    .await;
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    silent.write_all(&http2_preface()).await.unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(3)).await,
        "an HTTP/2 connection that never sends a request must not stay open"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn idle_http2_connections_are_closed_after_the_idle_timeout() {
    use tokio::io::AsyncWriteExt;
    let (_echo, gw, addr) = start(|url| {
        with_transport(
            &single_route(url, ""),
            "respondingTimeouts: { readTimeout: 60s, idleTimeout: 400ms }",
        )
    })
    .await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(&http2_preface()).await.unwrap();
    stream.write_all(&http2_get_request()).await.unwrap();
    let started = std::time::Instant::now();
    assert!(closed_within(&mut stream, Duration::from_secs(5)).await);
    // The request was answered first: the connection went idle, then closed.
    assert!(started.elapsed() >= Duration::from_millis(300));
    gw.shutdown().await;
}

#[tokio::test]
async fn idle_http1_connections_are_closed_after_the_idle_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_echo, gw, addr) = start(|url| {
        with_transport(
            &single_route(url, ""),
            "respondingTimeouts: { readTimeout: 60s, idleTimeout: 400ms }",
        )
    })
    .await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    assert!(closed_within(&mut stream, Duration::from_secs(5)).await);
    gw.shutdown().await;
}

#[tokio::test]
async fn connections_beyond_max_connections_wait_for_a_free_slot() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_echo, gw, addr) =
        start(|url| with_transport(&single_route(url, ""), "maxConnections: 2")).await;
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut first = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut second = tokio::net::TcpStream::connect(addr).await.unwrap();
    for held in [&mut first, &mut second] {
        held.write_all(request).await.unwrap();
        let mut head = [0u8; 12];
        held.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
    }
    // The kernel completes the third handshake, but the gateway does not serve it while two
    // connections are open.
    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    third.write_all(request).await.unwrap();
    let mut head = [0u8; 12];
    let early = tokio::time::timeout(Duration::from_millis(600), third.read_exact(&mut head)).await;
    assert!(early.is_err(), "served beyond the cap: {early:?}");
    drop(first);
    tokio::time::timeout(Duration::from_secs(3), third.read_exact(&mut head))
        .await
        .expect("served once a slot is free")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    gw.shutdown().await;
}

#[tokio::test]
async fn an_http2_peer_that_stops_answering_pings_is_disconnected() {
    use tokio::io::AsyncWriteExt;
    let (_echo, gw, addr) = start(|url| {
        with_entry_point_options(
            &single_route(url, ""),
            "http2: { keepAliveInterval: 200ms, keepAliveTimeout: 300ms }",
        )
    })
    .await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(&http2_preface()).await.unwrap();
    // The peer then reads nothing and answers no ping: within the ping interval plus its
    // timeout the gateway gives up on it, long before the 60 s read timeout.
    assert!(closed_within(&mut stream, Duration::from_secs(5)).await);
    gw.shutdown().await;
}
