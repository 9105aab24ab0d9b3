//! Logs as an operator reads them: `log.format: json` gives JSON lines, no colour codes reach
//! a file or a pipe, a failed request is logged once with the request id the client saw, and
//! the common access log prints the response bytes.

#![cfg(test)]

mod support;

use std::time::Duration;

use support::binary::{self, Logged};
use support::real_provider::free_port;
use support::{Echo, client};

/// The built binary with its standard error collected line by line, colours left to it.
fn start(dir: &std::path::Path) -> Logged {
    let mut command = binary::command(dir, &["--config", "portcullis.yaml"]);
    command.env_remove("NO_COLOR");
    Logged::spawn(command)
}

/// Waits until `needle` is logged.
fn wait_for(binary: &Logged, needle: &str) {
    assert!(
        binary.wait_for(needle, 1, Duration::from_secs(20)),
        "{needle:?} never logged:\n{}",
        binary.log()
    );
}

#[tokio::test]
async fn json_logs_without_colours_and_one_line_per_failed_request_with_its_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let closed = support::closed_port().await;
    std::fs::write(
        dir.path().join("portcullis.yaml"),
        format!(
            r#"
log: {{ level: info, format: json }}
entryPoints:
  web: {{ address: "127.0.0.1:{port}" }}
http:
  routers:
    down:
      rule: PathPrefix(`/down`)
      service: closed
    login:
      rule: PathPrefix(`/app`) || Path(`/callback`)
      middlewares: [oidc]
      service: closed
  middlewares:
    oidc:
      plugin:
        oidc:
          issuer: "http://127.0.0.1:{closed}"
          clientID: gw
          clientSecret: gw-secret-0123456789
          redirectUrl: /callback
          clientConfig: {{ maxRetries: 0 }}
  services:
    closed:
      loadBalancer:
        servers: [{{ url: "http://127.0.0.1:{closed}" }}]
"#
        ),
    )
    .unwrap();
    let binary = start(dir.path());
    wait_for(&binary, "listening");
    let base = format!("http://127.0.0.1:{port}");

    // An upstream failure and a provider failure (the middleware cannot discover its issuer).
    let mut ids = Vec::new();
    for path in ["/down/x", "/app/x"] {
        let response = client()
            .get(format!("{base}{path}"))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert!(response.status().is_server_error(), "{path}");
        ids.push(
            response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    for id in &ids {
        wait_for(&binary, id);
    }
    // Give a second line, if any, time to arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lines = binary.lines();
    for line in &lines {
        assert!(!line.contains('\u{1b}'), "colour codes in a pipe: {line:?}");
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(line);
        assert!(parsed.is_ok(), "not a JSON line: {line}");
    }
    let failures: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["message"] == "request failed")
        .collect();
    assert_eq!(failures.len(), 2, "one line per failed request: {lines:#?}");
    assert_eq!(failures[0]["request_id"], ids[0].as_str());
    assert_eq!(failures[0]["status"], 502);
    assert!(
        failures[0]["router"].as_str().unwrap().starts_with("down"),
        "{}",
        failures[0]
    );
    assert_eq!(failures[1]["request_id"], ids[1].as_str());
    assert_eq!(failures[1]["middleware"], "oidc", "{}", failures[1]);
    assert_eq!(failures[1]["check"], "discovery", "{}", failures[1]);
    assert!(
        failures[1]["cause"]
            .as_str()
            .unwrap()
            .contains("provider unavailable"),
        "{}",
        failures[1]
    );
}

#[tokio::test]
async fn the_common_access_log_prints_the_response_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let upstream = Echo::start("app").await;
    let gateway = support::gateway(&format!(
        r#"
entryPoints:
  web: {{ address: "127.0.0.1:0" }}
accessLog: {{ filePath: "{}" }}
http:
  routers:
    app:
      rule: PathPrefix(`/`)
      service: echo
  services:
    echo:
      loadBalancer:
        servers: [{{ url: "{}" }}]
"#,
        log.display(),
        upstream.url()
    ))
    .await;
    let base = format!("http://{}", gateway.entry_point("web").unwrap());
    // A body of known length, and one streamed without a length.
    let known = client().get(format!("{base}/known")).send().await.unwrap();
    let known_len = known.bytes().await.unwrap().len();
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = vec![
        Ok(bytes::Bytes::from_static(b"hello ")),
        Ok(bytes::Bytes::from_static(b"streamed world")),
    ];
    let streamed = client()
        .post(format!("{base}/stream"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert!(streamed.content_length().is_none(), "streamed, no length");
    assert_eq!(streamed.bytes().await.unwrap().len(), 20);
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.lines().count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let line = |path: &str| {
        text.lines()
            .find(|l| l.contains(path))
            .unwrap_or_else(|| panic!("no line for {path}: {text}"))
            .to_owned()
    };
    assert!(
        line("GET /known").contains(&format!("HTTP/1.1\" 200 {known_len} ")),
        "{text}"
    );
    assert!(
        line("POST /stream").contains("HTTP/1.1\" 200 20 "),
        "{text}"
    );
    gateway.shutdown().await;
}
