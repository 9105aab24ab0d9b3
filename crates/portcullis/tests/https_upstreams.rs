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

/// One GET through a gateway started as [`start`] starts it, stopped afterwards: the status
/// and what the upstream saw.
async fn get_through(url: &str, transport: Option<&str>, extra: &str) -> (u16, serde_json::Value) {
    let gw = start(url, transport, extra).await;
    let answer = get(&gw).await;
    gw.shutdown().await;
    answer
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// An HTTPS echo upstream whose certificate, for `names`, comes from its own authority, with
/// its files in a temporary directory.
struct Upstream {
    dir: tempfile::TempDir,
    ca: Ca,
    echo: HttpsEcho,
}

impl Upstream {
    /// With `client_ca` (a name), the upstream requires a client certificate from that
    /// authority, created beside its own.
    async fn start(ca: &str, names: &[&str], client_ca: Option<&str>) -> (Upstream, Option<Ca>) {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new(dir.path(), ca);
        let client_ca = client_ca.map(|name| Ca::new(dir.path(), name));
        let echo = HttpsEcho::start(&ca.issue("server", names), client_ca.as_ref()).await;
        (Upstream { dir, ca, echo }, client_ca)
    }

    /// Its URL with `host` (a name or an address) and its port.
    fn url(&self, host: &str) -> String {
        format!("https://{host}:{}", self.echo.port())
    }

    /// `rootCAs` trusting its authority, as a flow mapping's entry.
    fn roots(&self) -> String {
        format!("rootCAs: [\"{}\"]", path(&self.ca.file()))
    }
}

#[tokio::test]
async fn an_https_upstream_is_reached_with_its_root_ca_over_http2() {
    let (upstream, _) = Upstream::start("upstream-ca", &["localhost"], None).await;
    let transport = format!("{{ {} }}", upstream.roots());
    let (status, body) = get_through(&upstream.url("localhost"), Some(&transport), "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], "HTTP/2.0");
    assert_eq!(body["sni"], "localhost");
    assert_eq!(body["path"], "/hello");
}

#[tokio::test]
async fn an_https_upstream_signed_by_an_unknown_authority_answers_502() {
    let (upstream, _) = Upstream::start("unknown-ca", &["localhost"], None).await;
    let url = upstream.url("localhost");
    // The system's authorities do not know this one.
    assert_eq!(get_through(&url, None, "").await.0, 502);
    // Another authority in rootCAs does not help either.
    let other = Ca::new(upstream.dir.path(), "other-ca");
    let transport = format!("{{ rootCAs: [\"{}\"] }}", path(&other.file()));
    assert_eq!(get_through(&url, Some(&transport), "").await.0, 502);
}

#[tokio::test]
async fn insecure_skip_verify_accepts_any_upstream_certificate() {
    let (upstream, _) = Upstream::start("unknown-ca", &["somewhere.else"], None).await;
    let transport = Some("{ insecureSkipVerify: true }");
    let (status, body) = get_through(&upstream.url("127.0.0.1"), transport, "").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn the_static_servers_transport_is_the_default_of_every_service() {
    let (upstream, _) = Upstream::start("upstream-ca", &["localhost"], None).await;
    let extra = format!(
        "serversTransport:\n  {}\n  forwardingTimeouts: {{ dialTimeout: 5s }}\n",
        upstream.roots()
    );
    assert_eq!(
        get_through(&upstream.url("localhost"), None, &extra)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn a_client_certificate_is_presented_to_an_upstream_that_requires_one() {
    let (upstream, client_ca) =
        Upstream::start("upstream-ca", &["localhost"], Some("client-ca")).await;
    let gateway_identity = client_ca.unwrap().issue("gateway", &["gateway"]);
    let url = upstream.url("localhost");
    let with_cert = format!(
        "{{ {}, certificates: [{{ certFile: \"{}\", keyFile: \"{}\" }}] }}",
        upstream.roots(),
        path(&gateway_identity.cert_file),
        path(&gateway_identity.key_file)
    );
    let (status, body) = get_through(&url, Some(&with_cert), "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["client_cert"].as_u64().unwrap() > 0, "{body}");
    // Without it, the upstream refuses the handshake.
    let without = format!("{{ {} }}", upstream.roots());
    assert_eq!(get_through(&url, Some(&without), "").await.0, 502);
}

#[tokio::test]
async fn server_name_is_sent_as_sni_and_verified_instead_of_the_url_host() {
    let (upstream, _) = Upstream::start("upstream-ca", &["backend.internal"], None).await;
    // A pod address, as the Kubernetes provider gives: the certificate does not name it.
    let url = upstream.url("127.0.0.1");
    let roots = upstream.roots();
    let named = format!("{{ {roots}, serverName: backend.internal }}");
    let (status, body) = get_through(&url, Some(&named), "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sni"], "backend.internal");
    let unnamed = format!("{{ {roots} }}");
    assert_eq!(get_through(&url, Some(&unnamed), "").await.0, 502);
    let other = format!("{{ {roots}, serverName: other.internal }}");
    assert_eq!(get_through(&url, Some(&other), "").await.0, 502);
}

#[tokio::test]
async fn disable_http2_keeps_https_upstreams_on_http1() {
    let (upstream, _) = Upstream::start("upstream-ca", &["localhost"], None).await;
    let transport = format!("{{ {}, disableHTTP2: true }}", upstream.roots());
    let (status, body) = get_through(&upstream.url("localhost"), Some(&transport), "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], "HTTP/1.1");
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
