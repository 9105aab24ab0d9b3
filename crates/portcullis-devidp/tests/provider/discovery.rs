//! Discovery, JWKS and key rotation.

use portcullis_devidp::{Alg, DevIdp};
use reqwest::StatusCode;
use serde_json::Value;

use crate::{http, parts, start, tokens, verify};

#[tokio::test]
async fn discovery_lists_endpoints_and_capabilities() {
    let idp = start().await;
    assert_eq!(idp.discovery_fetches(), 0);
    let doc: Value = http()
        .get(idp.discovery_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issuer = idp.issuer();
    assert!(issuer.starts_with("http://127.0.0.1:"), "{issuer}");
    assert_eq!(doc["issuer"], issuer.as_str());
    assert_eq!(doc["authorization_endpoint"], format!("{issuer}/authorize"));
    assert_eq!(doc["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(doc["userinfo_endpoint"], format!("{issuer}/userinfo"));
    assert_eq!(doc["jwks_uri"], format!("{issuer}/jwks"));
    assert_eq!(doc["end_session_endpoint"], format!("{issuer}/logout"));
    assert_eq!(doc["backchannel_logout_supported"], true);
    assert_eq!(doc["backchannel_logout_session_supported"], true);
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256", "plain"])
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "ES256"])
    );
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(idp.discovery_fetches(), 1);
}

#[tokio::test]
async fn jwks_publishes_an_rs256_and_an_es256_key() {
    let idp = start().await;
    let response = http().get(idp.jwks_url()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let jwks: Value = response.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let rsa = keys.iter().find(|k| k["kty"] == "RSA").unwrap();
    assert_eq!(rsa["alg"], "RS256");
    assert_eq!(rsa["use"], "sig");
    assert_eq!(rsa["e"], "AQAB");
    assert_eq!(rsa["kid"], idp.signing_kid(Alg::RS256).unwrap().as_str());
    let ec = keys.iter().find(|k| k["kty"] == "EC").unwrap();
    assert_eq!(
        (ec["alg"].as_str(), ec["crv"].as_str()),
        (Some("ES256"), Some("P-256"))
    );
    assert!(
        keys.iter().all(|k| k.get("d").is_none()),
        "no private parts"
    );
    assert_eq!(idp.jwks_fetches(), 1);
}

#[tokio::test]
async fn rotation_publishes_a_new_signing_key_and_keeps_the_old_one() {
    let idp = start().await;
    let old = idp.signing_kid(Alg::RS256).unwrap();
    let old_token = tokens(&idp).await["id_token"].as_str().unwrap().to_owned();

    let new = idp.rotate_signing_key(Alg::RS256).unwrap();
    assert_ne!(new, old);
    let kids = idp.published_kids();
    assert!(kids.contains(&old) && kids.contains(&new), "{kids:?}");
    let new_token = tokens(&idp).await["id_token"].as_str().unwrap().to_owned();
    assert_eq!(parts(&new_token).0["kid"], new.as_str());
    verify(&idp, &new_token).await.unwrap();
    verify(&idp, &old_token).await.unwrap();

    assert!(idp.remove_key(&new).is_err(), "the signing key stays");
    idp.remove_key(&old).unwrap();
    let jwks: Value = http()
        .get(idp.jwks_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["kid"] != old.as_str())
    );
}

#[tokio::test]
async fn issuer_with_a_path_serves_below_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let idp = DevIdp::builder()
        .config(
            portcullis_devidp::DevIdpConfig::default()
                .with_issuer(format!("http://127.0.0.1:{port}/realms/dev")),
        )
        .bind(([127, 0, 0, 1], port).into())
        .start()
        .await
        .unwrap();
    let doc: Value = http()
        .get(idp.discovery_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], format!("http://127.0.0.1:{port}/realms/dev"));
    let jwks = http()
        .get(doc["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), StatusCode::OK);
    let root = http()
        .get(format!(
            "http://127.0.0.1:{port}/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(root.status(), StatusCode::NOT_FOUND);
}
