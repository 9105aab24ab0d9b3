//! HTTPS upstreams through servers transports: trusted authorities, server name, client
//! certificates, insecureSkipVerify, HTTP/2 over ALPN.

#![cfg(test)]

mod support;

use std::path::Path;

use support::tls::{Ca, HttpsEcho};
use support::{client, gateway};

/// A gateway with one router to `url` through the named transport `transport` (YAML mapping
/// text, or nothing to use the default transport), and `extra` static configuration.
async fn start(url: &str, transport: Option<&str>, extra: &str) -> portcullis::app::Running {
    let (reference, transports) = match transport {
        Some(body) => (
            ", serversTransport: upstream".to_owned(),
            format!("  serversTransports:\n    upstream: {body}\n"),
        ),
        None => (String::new(), String::new()),
    };
    gateway(&format!(
        r#"
entryPoints:
  web: {{ address: "127.0.0.1:0" }}
{extra}
http:
  routers:
    app: {{ rule: "PathPrefix(`/`)", service: app }}
  services:
    app: {{ loadBalancer: {{ servers: [{{ url: "{url}" }}]{reference} }} }}
{transports}"#
    ))
    .await
}

async fn get(gw: &portcullis::app::Running) -> (u16, serde_json::Value) {
    let response = client()
        .get(format!("http://{}/hello", gw.entry_point("web").unwrap()))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

#[tokio::test]
async fn an_https_upstream_is_reached_with_its_root_ca_over_http2() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "upstream-ca");
    let upstream = HttpsEcho::start(&ca.issue("server", &["localhost"]), None).await;
    let url = format!("https://localhost:{}", upstream.port());
    let gw = start(
        &url,
        Some(&format!("{{ rootCAs: [\"{}\"] }}", path(&ca.file()))),
        "",
    )
    .await;
    let (status, body) = get(&gw).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], "HTTP/2.0");
    assert_eq!(body["sni"], "localhost");
    assert_eq!(body["path"], "/hello");
    gw.shutdown().await;
}

#[tokio::test]
async fn an_https_upstream_signed_by_an_unknown_authority_answers_502() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "unknown-ca");
    let upstream = HttpsEcho::start(&ca.issue("server", &["localhost"]), None).await;
    let url = format!("https://localhost:{}", upstream.port());
    // The system's authorities do not know this one.
    let gw = start(&url, None, "").await;
    assert_eq!(get(&gw).await.0, 502);
    gw.shutdown().await;
    // Another authority in rootCAs does not help either.
    let other = Ca::new(dir.path(), "other-ca");
    let gw = start(
        &url,
        Some(&format!("{{ rootCAs: [\"{}\"] }}", path(&other.file()))),
        "",
    )
    .await;
    assert_eq!(get(&gw).await.0, 502);
    gw.shutdown().await;
}

#[tokio::test]
async fn insecure_skip_verify_accepts_any_upstream_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "unknown-ca");
    let upstream = HttpsEcho::start(&ca.issue("server", &["somewhere.else"]), None).await;
    let url = format!("https://127.0.0.1:{}", upstream.port());
    let gw = start(&url, Some("{ insecureSkipVerify: true }"), "").await;
    let (status, body) = get(&gw).await;
    assert_eq!(status, 200, "{body}");
    gw.shutdown().await;
}

#[tokio::test]
async fn the_static_servers_transport_is_the_default_of_every_service() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "upstream-ca");
    let upstream = HttpsEcho::start(&ca.issue("server", &["localhost"]), None).await;
    let url = format!("https://localhost:{}", upstream.port());
    let extra = format!(
        "serversTransport:\n  rootCAs: [\"{}\"]\n  forwardingTimeouts: {{ dialTimeout: 5s }}\n",
        path(&ca.file())
    );
    let gw = start(&url, None, &extra).await;
    assert_eq!(get(&gw).await.0, 200);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_client_certificate_is_presented_to_an_upstream_that_requires_one() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "upstream-ca");
    let client_ca = Ca::new(dir.path(), "client-ca");
    let gateway_identity = client_ca.issue("gateway", &["gateway"]);
    let upstream = HttpsEcho::start(&ca.issue("server", &["localhost"]), Some(&client_ca)).await;
    let url = format!("https://localhost:{}", upstream.port());
    let with_cert = format!(
        "{{ rootCAs: [\"{}\"], certificates: [{{ certFile: \"{}\", keyFile: \"{}\" }}] }}",
        path(&ca.file()),
        path(&gateway_identity.cert_file),
        path(&gateway_identity.key_file)
    );
    let gw = start(&url, Some(&with_cert), "").await;
    let (status, body) = get(&gw).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["client_cert"].as_u64().unwrap() > 0, "{body}");
    gw.shutdown().await;
    // Without it, the upstream refuses the handshake.
    let gw = start(
        &url,
        Some(&format!("{{ rootCAs: [\"{}\"] }}", path(&ca.file()))),
        "",
    )
    .await;
    assert_eq!(get(&gw).await.0, 502);
    gw.shutdown().await;
}

#[tokio::test]
async fn server_name_is_sent_as_sni_and_verified_instead_of_the_url_host() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "upstream-ca");
    let upstream = HttpsEcho::start(&ca.issue("server", &["backend.internal"]), None).await;
    // A pod address, as the Kubernetes provider gives: the certificate does not name it.
    let url = format!("https://127.0.0.1:{}", upstream.port());
    let roots = format!("rootCAs: [\"{}\"]", path(&ca.file()));
    let gw = start(
        &url,
        Some(&format!("{{ {roots}, serverName: backend.internal }}")),
        "",
    )
    .await;
    let (status, body) = get(&gw).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sni"], "backend.internal");
    gw.shutdown().await;
    let gw = start(&url, Some(&format!("{{ {roots} }}")), "").await;
    assert_eq!(get(&gw).await.0, 502);
    gw.shutdown().await;
    let gw = start(
        &url,
        Some(&format!("{{ {roots}, serverName: other.internal }}")),
        "",
    )
    .await;
    assert_eq!(get(&gw).await.0, 502);
    gw.shutdown().await;
}

#[tokio::test]
async fn disable_http2_keeps_https_upstreams_on_http1() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "upstream-ca");
    let upstream = HttpsEcho::start(&ca.issue("server", &["localhost"]), None).await;
    let url = format!("https://localhost:{}", upstream.port());
    let gw = start(
        &url,
        Some(&format!(
            "{{ rootCAs: [\"{}\"], disableHTTP2: true }}",
            path(&ca.file())
        )),
        "",
    )
    .await;
    let (status, body) = get(&gw).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], "HTTP/1.1");
    gw.shutdown().await;
}

#[test]
fn a_service_naming_an_unknown_servers_transport_is_refused() {
    let errors = portcullis_config::load_str(
        r#"
entryPoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    app: { rule: "PathPrefix(`/`)", service: app }
  services:
    app: { loadBalancer: { servers: [{ url: "https://127.0.0.1:1" }], serversTransport: nope } }
"#,
    )
    .unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.to_string().contains("unknown serversTransport \"nope\"")),
        "{errors:?}"
    );
}
