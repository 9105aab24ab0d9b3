//! HTTP/2 over TLS, hot reload of the file provider, and a reload that fails validation.

#![cfg(test)]

mod support;

use std::time::Duration;

use support::{Echo, client};

#[tokio::test]
async fn http2_over_tls_with_alpn() {
    let echo = Echo::start("tls").await;
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_pem = certified.cert.pem();
    std::fs::write(dir.path().join("cert.pem"), &cert_pem).unwrap();
    std::fs::write(
        dir.path().join("key.pem"),
        certified.signing_key.serialize_pem(),
    )
    .unwrap();
    let yaml = format!(
        r#"
entryPoints:
  websecure:
    address: "127.0.0.1:0"
    tls: {{ certFile: cert.pem, keyFile: key.pem }}
http:
  routers:
    app: {{ rule: "Host(`localhost`)", service: echo }}
  services:
    echo: {{ loadBalancer: {{ servers: [{{ url: "{}" }}] }} }}
"#,
        echo.url()
    );
    let path = dir.path().join("portcullis.yaml");
    std::fs::write(&path, yaml).unwrap();
    let config = portcullis_config::load(&path).unwrap();
    let gw = portcullis::app::start(config, portcullis::app::Source::File(path))
        .await
        .unwrap();
    let port = gw.entry_point("websecure").unwrap().port();
    let tls_client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let response = tls_client
        .get(format!("https://localhost:{port}/secure"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let json: serde_json::Value = response.json().await.unwrap();
    assert_eq!(json["headers"]["x-forwarded-proto"], "https");
    assert_eq!(json["headers"]["host"], format!("localhost:{port}"));
    // HTTP/1.1 still works on the same listener.
    let h1 = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .http1_only()
        .build()
        .unwrap();
    let response = h1
        .get(format!("https://localhost:{port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    assert_eq!(response.status(), 200);
    gw.shutdown().await;
}

fn dynamic(rule: &str, upstream: &str) -> String {
    format!(
        r#"
http:
  routers:
    app: {{ rule: "{rule}", service: echo, middlewares: [tag] }}
  middlewares:
    tag:
      headers:
        customRequestHeaders: {{ X-Tag: "v1" }}
        customResponseHeaders: {{ X-Served-By: "portcullis" }}
  services:
    echo: {{ loadBalancer: {{ servers: [{{ url: "{upstream}" }}] }} }}
"#
    )
}

async fn status(addr: std::net::SocketAddr, path: &str) -> u16 {
    client()
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[tokio::test]
async fn hot_reload_swaps_and_a_broken_reload_keeps_the_running_config() {
    let echo = Echo::start("one").await;
    let dir = tempfile::tempdir().unwrap();
    let dynamic_dir = dir.path().join("dynamic");
    std::fs::create_dir(&dynamic_dir).unwrap();
    std::fs::write(
        dynamic_dir.join("app.yaml"),
        dynamic("Path(`/v1`)", &echo.url()),
    )
    .unwrap();
    let main = dir.path().join("portcullis.yaml");
    std::fs::write(
        &main,
        "entryPoints:\n  web: { address: \"127.0.0.1:0\" }\nproviders:\n  file: { directory: dynamic, watch: true }\n",
    )
    .unwrap();
    let config = portcullis_config::load(&main).unwrap();
    let gw = portcullis::app::start(config, portcullis::app::Source::File(main.clone()))
        .await
        .unwrap();
    let addr = gw.entry_point("web").unwrap();
    let response = client()
        .get(format!("http://{addr}/v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-served-by"], "portcullis");
    let json: serde_json::Value = response.json().await.unwrap();
    assert_eq!(json["headers"]["x-tag"], "v1");
    assert_eq!(status(addr, "/v2").await, 404);

    // A valid change is picked up by the watcher.
    std::fs::write(
        dynamic_dir.join("app.yaml"),
        dynamic("Path(`/v2`)", &echo.url()),
    )
    .unwrap();
    let mut swapped = false;
    for _ in 0..100 {
        if status(addr, "/v2").await == 200 {
            swapped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(swapped, "the watcher did not reload the new rule");
    assert_eq!(status(addr, "/v1").await, 404);

    // A broken file is refused with every error, and the running config stays.
    std::fs::write(
        dynamic_dir.join("app.yaml"),
        dynamic("Path(`/v3`", &echo.url()).replace("service: echo", "service: missing"),
    )
    .unwrap();
    let errors = gw.reload().await.unwrap_err();
    assert!(
        errors.iter().any(|e| e.contains("http.routers.app.rule")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("unknown service \"missing\"")),
        "{errors:?}"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(status(addr, "/v2").await, 200);

    // Garbage YAML is refused too.
    std::fs::write(dynamic_dir.join("app.yaml"), "http: [unclosed").unwrap();
    assert!(gw.reload().await.is_err());
    assert_eq!(status(addr, "/v2").await, 200);
    gw.shutdown().await;
}
