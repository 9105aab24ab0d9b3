//! The example YAML, the demo preset and `serve`.

use std::time::Duration;

use portcullis_devidp::{Alg, DevIdp, DevIdpConfig, GrantType, serve};
use reqwest::StatusCode;
use serde_json::Value;

use crate::http;

fn example_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/devidp.yaml")
}

#[test]
fn example_yaml_parses_and_validates() {
    let config = DevIdpConfig::from_yaml_file(example_path()).unwrap();
    assert_eq!(config.issuer(), Some("http://127.0.0.1:9000"));
    let gw = &config.clients()[0];
    assert_eq!(gw.id(), "gw");
    assert_eq!(config.clients()[1].id(), "svc");
    assert_eq!(config.users().len(), 2);
    assert_eq!(config.users()[1].username(), "bob");
    let lifetimes = config.lifetimes();
    assert_eq!(lifetimes.code, Duration::from_secs(60));
    assert_eq!(lifetimes.id_token, Duration::from_secs(300));
    assert_eq!(lifetimes.refresh_token, Duration::from_secs(24 * 3600));
}

#[tokio::test]
async fn example_configuration_serves_its_clients_and_users() {
    let config = DevIdpConfig::from_yaml_file(example_path()).unwrap();
    // The example's issuer names a fixed port; tests use the bound one.
    let yaml = std::fs::read_to_string(example_path()).unwrap();
    let without_issuer: String = yaml
        .lines()
        .filter(|l| !l.starts_with("issuer:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let idp = DevIdp::builder()
        .config(DevIdpConfig::from_yaml_str(&without_issuer).unwrap())
        .start()
        .await
        .unwrap();
    assert_eq!(idp.signing_kid(Alg::RS256).as_deref(), Some("demo-rs256"));
    let (status, body) = crate::token_as(
        &idp,
        Some(("svc", "svc-secret")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (header, claims) = crate::parts(body["access_token"].as_str().unwrap());
    assert_eq!(header["alg"], "ES256");
    assert_eq!(claims["user"]["name"], "svc-robot");
    assert_eq!(idp.token_calls_for("svc", GrantType::ClientCredentials), 1);
    drop(config);
}

#[test]
fn yaml_errors_name_the_problem() {
    let err = DevIdpConfig::from_yaml_str("clients:\n  - id: a\n    secret: b\n    colour: red\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("colour"), "{err}");
    let err = DevIdpConfig::from_yaml_str("lifetimes:\n  code: soon\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("code") || err.contains("soon"), "{err}");
}

#[tokio::test]
async fn serve_runs_the_demo_preset_until_shutdown() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = DevIdpConfig::demo(addr, "http://127.0.0.1:8080");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(config, addr, async {
        let _ = stopped.await;
    }));
    let discovery = format!("http://{addr}/.well-known/openid-configuration");
    let mut doc = Value::Null;
    for _ in 0..100 {
        if let Ok(response) = http().get(&discovery).send().await {
            doc = response.json().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(doc["issuer"], format!("http://{addr}"));

    let mut authorize = url::Url::parse(doc["authorization_endpoint"].as_str().unwrap()).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "gw")
        .append_pair("redirect_uri", "http://127.0.0.1:8080/callback")
        .append_pair("scope", "openid");
    let html = http()
        .get(authorize.as_str())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("value=\"alice\"") && html.contains("value=\"bob\""));

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
