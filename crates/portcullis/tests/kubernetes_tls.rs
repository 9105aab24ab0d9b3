//! Traefik's reference IngressRoute with TLS from a Secret and a ServersTransport to an HTTPS
//! Service, applied through the fake API server.

#![cfg(test)]

mod support;

use std::time::Duration;

use portcullis_kube::testing::{FakeApiServer, endpoint_slice};
use support::client;
use support::real_provider::free_port;
use support::tls::{Ca, HttpsEcho};

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

#[tokio::test]
async fn the_reference_ingress_route_with_tls_and_a_servers_transport_answers_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let site_ca = Ca::new(dir.path(), "site-ca");
    let site = site_ca.issue("site", &["example.com"]);
    let upstream_ca = Ca::new(dir.path(), "upstream-ca");
    let upstream =
        HttpsEcho::start(&upstream_ca.issue("svc1", &["svc1.apps.internal"]), None).await;
    let api = FakeApiServer::start().await.unwrap();
    // The shape of Traefik's reference: an IngressRoute on websecure with tls.secretName, its
    // service naming a ServersTransport by `namespace-name@kubernetescrd`.
    let manifests = format!(
        r#"
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata:
  name: test-name
  namespace: apps
spec:
  entryPoints:
    - websecure
  routes:
  - match: Host(`example.com`) && PathPrefix(`/foo`)
    kind: Rule
    services:
    - kind: Service
      name: svc1
      namespace: apps
      port: 443
      serversTransport: apps-mytransport@kubernetescrd
  tls:
    secretName: supersecret
---
apiVersion: traefik.io/v1alpha1
kind: ServersTransport
metadata:
  name: mytransport
  namespace: apps
spec:
  serverName: svc1.apps.internal
  rootCAs:
    - secret: upstream-ca
  maxIdleConnsPerHost: 1
  forwardingTimeouts:
    dialTimeout: 42s
    responseHeaderTimeout: 42s
    idleConnTimeout: 42s
---
apiVersion: v1
kind: Service
metadata:
  name: svc1
  namespace: apps
spec:
  ports:
  - name: https
    port: 443
---
apiVersion: v1
kind: Secret
metadata:
  name: supersecret
  namespace: apps
type: kubernetes.io/tls
stringData:
  tls.crt: |
{crt}  tls.key: |
{key}---
apiVersion: v1
kind: Secret
metadata:
  name: upstream-ca
  namespace: apps
stringData:
  tls.ca: |
{ca}"#,
        crt = indent(&site.cert_pem),
        key = indent(&site.key_pem),
        ca = indent(&upstream_ca.pem),
    );
    api.apply_yaml("apps", &manifests).unwrap();
    api.apply(
        "apps",
        endpoint_slice(
            "apps",
            "svc1",
            Some("https"),
            upstream.port(),
            &[("127.0.0.1", true)],
        ),
    )
    .unwrap();
    let websecure = free_port();
    let web = free_port();
    let gateway = support::gateway(&format!(
        r#"
entryPoints:
  web: {{ address: "127.0.0.1:{web}" }}
  websecure: {{ address: "127.0.0.1:{websecure}" }}
ping: {{ address: "127.0.0.1:0" }}
providers:
  kubernetesCRD:
    endpoint: {}
    throttleDuration: 20ms
"#,
        api.url()
    ))
    .await;
    let addr: std::net::SocketAddr = format!("127.0.0.1:{websecure}").parse().unwrap();
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(site_ca.pem.as_bytes()).unwrap())
        .resolve("example.com", addr)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let url = format!("https://example.com:{websecure}/foo/bar");
    let mut response = None;
    for _ in 0..200 {
        if let Ok(r) = https.get(&url).send().await
            && r.status() == 200
        {
            response = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let response = response.expect("the route answers over TLS with the Secret's certificate");
    let body: serde_json::Value = response.json().await.unwrap();
    // Forwarded over HTTPS, verified with the Secret's CA for the transport's serverName.
    assert_eq!(body["sni"], "svc1.apps.internal");
    assert_eq!(body["version"], "HTTP/2.0");
    assert_eq!(body["path"], "/foo/bar");
    // The route is TLS-only: in clear text on the same entry point it does not exist.
    let plain = client()
        .get(format!("http://127.0.0.1:{websecure}/foo"))
        .header("host", "example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 404);
    // Only on websecure, as the IngressRoute says.
    let other = client()
        .get(format!("http://127.0.0.1:{web}/foo"))
        .header("host", "example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);

    // Without the ServersTransport the upstream's certificate is not trusted: the route is held
    // closed with an Event rather than served through another transport.
    assert!(api.delete("ServersTransport", "apps", "mytransport"));
    let mut closed = false;
    for _ in 0..200 {
        if https
            .get(&url)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
            == 503
        {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(closed);
    gateway.shutdown().await;
}
