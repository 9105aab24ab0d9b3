//! Routers with `tls` in files: served over TLS only, certificates chosen by SNI with a default
//! one, TLS options (versions, client certificates), certificate reload.

#![cfg(test)]

mod support;

use std::net::SocketAddr;
use std::path::Path;

use rustls::version::{TLS12, TLS13};
use support::tls::{Ca, Issued, client_trusting, der, presented_certificate};
use support::{Echo, client};

struct Pki {
    ca: Ca,
    a: Issued,
    b: Issued,
    fallback: Issued,
    client_ca: Ca,
}

fn pki(dir: &Path) -> Pki {
    let ca = Ca::new(dir, "site-ca");
    Pki {
        a: ca.issue("a", &["a.test"]),
        b: ca.issue("b", &["b.test", "m.test"]),
        fallback: ca.issue("fallback", &["fallback.test"]),
        ca,
        client_ca: Ca::new(dir, "client-ca"),
    }
}

fn config(pki: &Pki, upstream: &str) -> String {
    let f = |p: &Path| p.display().to_string();
    format!(
        r#"
entryPoints:
  web: {{ address: "127.0.0.1:0" }}
tls:
  certificates:
    - {{ certFile: "{a_crt}", keyFile: "{a_key}" }}
    - {{ certFile: "{b_crt}", keyFile: "{b_key}" }}
  stores:
    default:
      defaultCertificate: {{ certFile: "{d_crt}", keyFile: "{d_key}" }}
  options:
    modern: {{ minVersion: VersionTLS13 }}
    mtls:
      clientAuth: {{ caFiles: ["{client_ca}"], clientAuthType: RequireAndVerifyClientCert }}
http:
  routers:
    site-a: {{ rule: "Host(`a.test`)", service: echo, tls: {{}} }}
    site-b: {{ rule: "Host(`b.test`)", service: echo, tls: {{ options: modern }} }}
    site-m: {{ rule: "Host(`m.test`)", service: echo, tls: {{ options: mtls }} }}
    plain: {{ rule: "PathPrefix(`/plain`)", service: echo }}
  services:
    echo: {{ loadBalancer: {{ servers: [{{ url: "{upstream}" }}] }} }}
"#,
        a_crt = f(&pki.a.cert_file),
        a_key = f(&pki.a.key_file),
        b_crt = f(&pki.b.cert_file),
        b_key = f(&pki.b.key_file),
        d_crt = f(&pki.fallback.cert_file),
        d_key = f(&pki.fallback.key_file),
        client_ca = f(&pki.client_ca.file()),
    )
}

async fn start(dir: &Path, yaml: &str) -> portcullis::app::Running {
    let path = dir.join("portcullis.yaml");
    std::fs::write(&path, yaml).unwrap();
    let config = portcullis_config::load(&path).unwrap();
    portcullis::app::start(config, portcullis::app::Source::File(path))
        .await
        .unwrap()
}

async fn https_status(pki: &Pki, addr: SocketAddr, host: &str, path: &str) -> u16 {
    let client = client_trusting(&pki.ca, None);
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca.pem.as_bytes()).unwrap())
        .resolve(host, addr)
        .build()
        .unwrap_or(client);
    client
        .get(format!("https://{host}:{}{path}", addr.port()))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_router_with_tls_is_served_over_tls_only_with_the_certificate_its_sni_names() {
    let echo = Echo::start("site").await;
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let gw = start(dir.path(), &config(&pki, &echo.url())).await;
    let web = gw.entry_point("web").unwrap();

    // Over TLS, each host gets its own certificate (the client verifies the name).
    assert_eq!(https_status(&pki, web, "a.test", "/").await, 200);
    assert_eq!(https_status(&pki, web, "b.test", "/").await, 200);
    // In clear text, the TLS routers do not exist: no downgrade.
    let plain = client()
        .get(format!("http://{web}/"))
        .header("host", "a.test")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 404);
    // Routers without tls answer plain HTTP only.
    let plain = client()
        .get(format!("http://{web}/plain"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 200);
    assert_eq!(https_status(&pki, web, "a.test", "/plain").await, 200);
    assert_eq!(
        https_status(&pki, web, "fallback.test", "/plain").await,
        404
    );

    // The certificate is chosen by SNI; an unknown name gets the default certificate.
    let tls = &[&TLS13, &TLS12];
    assert_eq!(
        presented_certificate(web, "a.test", tls, None).await,
        Some(der(&pki.a.cert_pem))
    );
    assert_eq!(
        presented_certificate(web, "b.test", tls, None).await,
        Some(der(&pki.b.cert_pem))
    );
    assert_eq!(
        presented_certificate(web, "unknown.test", tls, None).await,
        Some(der(&pki.fallback.cert_pem))
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn tls_options_apply_to_the_hosts_of_their_routers() {
    let echo = Echo::start("site").await;
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let gw = start(dir.path(), &config(&pki, &echo.url())).await;
    let web = gw.entry_point("web").unwrap();

    // `modern` (b.test) asks for TLS 1.3; the default options (a.test) accept TLS 1.2.
    assert!(
        presented_certificate(web, "b.test", &[&TLS12], None)
            .await
            .is_none()
    );
    assert!(
        presented_certificate(web, "b.test", &[&TLS13], None)
            .await
            .is_some()
    );
    assert!(
        presented_certificate(web, "a.test", &[&TLS12], None)
            .await
            .is_some()
    );

    // `mtls` (m.test) requires a certificate from the client CA.
    let both = &[&TLS13, &TLS12];
    assert!(
        presented_certificate(web, "m.test", both, None)
            .await
            .is_none()
    );
    let stranger = pki.ca.issue("stranger", &["stranger"]);
    assert!(
        presented_certificate(web, "m.test", both, Some(&stranger))
            .await
            .is_none()
    );
    let member = pki.client_ca.issue("member", &["member"]);
    assert!(
        presented_certificate(web, "m.test", both, Some(&member))
            .await
            .is_some()
    );
    let with_identity = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca.pem.as_bytes()).unwrap())
        .identity(
            reqwest::Identity::from_pem(
                format!("{}\n{}", member.cert_pem, member.key_pem).as_bytes(),
            )
            .unwrap(),
        )
        .resolve("m.test", web)
        .build()
        .unwrap();
    let response = with_identity
        .get(format!("https://m.test:{}/", web.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_renewed_certificate_file_is_served_after_a_reload() {
    let echo = Echo::start("site").await;
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let gw = start(dir.path(), &config(&pki, &echo.url())).await;
    let web = gw.entry_point("web").unwrap();
    let tls = &[&TLS13, &TLS12];
    assert_eq!(
        presented_certificate(web, "a.test", tls, None).await,
        Some(der(&pki.a.cert_pem))
    );
    // Renewal writes new files at the same paths.
    let renewed = pki.ca.issue("a", &["a.test"]);
    assert_ne!(renewed.cert_pem, pki.a.cert_pem);
    gw.reload().await.unwrap();
    assert_eq!(
        presented_certificate(web, "a.test", tls, None).await,
        Some(der(&renewed.cert_pem))
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn an_entry_point_with_its_own_certificate_serves_every_router_over_tls() {
    let echo = Echo::start("site").await;
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let f = |p: &Path| p.display().to_string();
    let yaml = format!(
        r#"
entryPoints:
  websecure:
    address: "127.0.0.1:0"
    tls: {{ certFile: "{}", keyFile: "{}" }}
http:
  routers:
    with-tls: {{ rule: "Path(`/with`)", service: echo, tls: {{}} }}
    without-tls: {{ rule: "Path(`/without`)", service: echo }}
  services:
    echo: {{ loadBalancer: {{ servers: [{{ url: "{}" }}] }} }}
"#,
        f(&pki.a.cert_file),
        f(&pki.a.key_file),
        echo.url()
    );
    let gw = start(dir.path(), &yaml).await;
    let addr = gw.entry_point("websecure").unwrap();
    assert_eq!(https_status(&pki, addr, "a.test", "/with").await, 200);
    assert_eq!(https_status(&pki, addr, "a.test", "/without").await, 200);
    gw.shutdown().await;
}

#[test]
fn a_certificate_resolver_is_refused_as_unsupported() {
    let errors = portcullis_config::load_str(
        r#"
entryPoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    app: { rule: "Host(`a.test`)", service: app, tls: { certResolver: letsencrypt } }
    other: { rule: "Host(`b.test`)", service: app, tls: { options: missing } }
  services:
    app: { loadBalancer: { servers: [{ url: "http://127.0.0.1:1" }] } }
"#,
    )
    .unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|e| e.contains("http.routers.app.tls.certResolver") && e.contains("ACME")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|e| e.contains("unknown TLS options \"missing\"")),
        "{text:?}"
    );
}
