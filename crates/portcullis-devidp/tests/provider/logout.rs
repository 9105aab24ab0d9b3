//! RP-initiated logout and back-channel logout delivery.

use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use portcullis_devidp::{BACKCHANNEL_LOGOUT_EVENT, DevIdp, LogoutTarget};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::Value;

use crate::{CLIENT, POST_LOGOUT, gw_client, http, listener, parts, query, token, tokens};

async fn idp_with_backchannel(url: &str) -> DevIdp {
    crate::builder()
        .client(gw_client().backchannel_logout_uri(url))
        .start()
        .await
        .unwrap()
}

/// Verifies a logout token as the back-channel logout spec requires of a relying party.
async fn verify_logout_token(idp: &DevIdp, token: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let jwks: JwkSet = http()
        .get(idp.jwks_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[CLIENT]);
    validation.set_issuer(&[idp.issuer()]);
    validation.set_required_spec_claims(&["iss", "aud", "exp", "iat"]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims;
    assert!(claims["jti"].is_string());
    assert_eq!(
        claims["events"],
        serde_json::json!({ BACKCHANNEL_LOGOUT_EVENT: {} })
    );
    assert!(claims.get("nonce").is_none());
    claims
}

fn with_params(url: &str, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(url).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.into()
}

fn logout_token_from(body: &str) -> String {
    form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

#[tokio::test]
async fn rp_initiated_logout_redirects_and_sends_a_backchannel_logout() {
    let rp = listener(200).await;
    let idp = idp_with_backchannel(&rp.url).await;
    let body = tokens(&idp).await;
    let id_token = body["id_token"].as_str().unwrap();
    let sid = parts(id_token).1["sid"].as_str().unwrap().to_owned();

    let mut url = url::Url::parse(&idp.end_session_url()).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", id_token)
        .append_pair("post_logout_redirect_uri", POST_LOGOUT)
        .append_pair("state", "bye");
    let response = http().get(url.as_str()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()[LOCATION].to_str().unwrap();
    assert!(location.starts_with(POST_LOGOUT));
    assert_eq!(query(location)["state"], "bye");

    let received = rp.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].0, "application/x-www-form-urlencoded");
    let claims = verify_logout_token(&idp, &logout_token_from(&received[0].1)).await;
    assert_eq!(claims["sid"], sid.as_str());
    assert_eq!(claims["sub"], "alice");

    let deliveries = idp
        .wait_for_backchannel_deliveries(1, Duration::from_secs(5))
        .await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, Some(200));
    assert!(deliveries[0].succeeded());
    assert_eq!(deliveries[0].sid.as_deref(), Some(sid.as_str()));

    assert!(idp.sessions().is_empty(), "provider session ended");
    let refresh = body["refresh_token"].as_str().unwrap();
    let (status, answer) = token(
        &idp,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn logout_without_redirect_shows_a_page_and_ignores_state() {
    let idp = crate::start().await;
    let id_token = tokens(&idp).await["id_token"].as_str().unwrap().to_owned();
    let response = http()
        .post(idp.end_session_url())
        .form(&[("id_token_hint", id_token.as_str()), ("state", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get(LOCATION).is_none());
    assert!(idp.sessions().is_empty());
}

#[tokio::test]
async fn unregistered_redirects_and_forged_hints_are_refused() {
    let rp = listener(200).await;
    let idp = idp_with_backchannel(&rp.url).await;
    let id_token = tokens(&idp).await["id_token"].as_str().unwrap().to_owned();
    let (header, claims) = parts(&id_token);
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    let mut none_header = header.clone();
    none_header["alg"] = "none".into();
    let forged_none = format!("{}.{}.", b64(&none_header), b64(&claims));
    let mut other_claims = claims.clone();
    other_claims["sub"] = "mallory".into();
    let sig = id_token.rsplit('.').next().unwrap();
    let forged_claims = format!("{}.{}.{sig}", b64(&header), b64(&other_claims));

    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", "https://evil.test/"),
        ],
        vec![
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", "https://rp.test/logged-out/"),
        ],
        vec![("post_logout_redirect_uri", POST_LOGOUT)],
        vec![("id_token_hint", &forged_none)],
        vec![("id_token_hint", &forged_claims)],
        vec![("id_token_hint", &id_token), ("client_id", "other")],
    ];
    for params in cases {
        let response = http()
            .get(with_params(&idp.end_session_url(), &params))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{params:?}");
        assert!(response.headers().get(LOCATION).is_none());
    }
    assert_eq!(idp.sessions().len(), 1, "nothing was logged out");
    assert!(rp.received.lock().unwrap().is_empty());

    let response = http()
        .get(with_params(
            &idp.end_session_url(),
            &[
                ("client_id", CLIENT),
                ("post_logout_redirect_uri", POST_LOGOUT),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FOUND,
        "client_id identifies the client"
    );
}

#[tokio::test]
async fn programmatic_backchannel_logout_by_user_session_and_subject() {
    let rp = listener(200).await;
    let idp = idp_with_backchannel(&rp.url).await;
    tokens(&idp).await;
    let (sid, _) = idp.sessions().pop().unwrap();

    let deliveries = idp.backchannel_logout(LogoutTarget::user("alice")).await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(
        (deliveries[0].sid.as_deref(), deliveries[0].sub.as_deref()),
        (Some(sid.as_str()), Some("alice"))
    );
    assert_eq!(deliveries[0].status, Some(200));
    assert!(idp.sessions().is_empty());
    assert!(
        idp.backchannel_logout(LogoutTarget::session(&sid))
            .await
            .is_empty(),
        "already ended"
    );

    tokens(&idp).await;
    let (sid, _) = idp.sessions().pop().unwrap();
    let deliveries = idp.backchannel_logout(LogoutTarget::session(&sid)).await;
    assert_eq!(deliveries[0].sid.as_deref(), Some(sid.as_str()));

    let deliveries = idp.backchannel_logout(LogoutTarget::subject("alice")).await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].sid, None);
    let received = rp.received.lock().unwrap().clone();
    assert_eq!(received.len(), 3);
    let claims = verify_logout_token(&idp, &logout_token_from(&received[2].1)).await;
    assert_eq!(claims["sub"], "alice");
    assert!(claims.get("sid").is_none());
    assert_eq!(idp.backchannel_deliveries().len(), 3);
}

#[tokio::test]
async fn failed_deliveries_are_recorded() {
    let failing = listener(500).await;
    let idp = idp_with_backchannel(&failing.url).await;
    tokens(&idp).await;
    let deliveries = idp.backchannel_logout(LogoutTarget::user("alice")).await;
    assert_eq!(deliveries[0].status, Some(500));
    assert!(!deliveries[0].succeeded());

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let idp = idp_with_backchannel(&format!("http://{closed}/bcl")).await;
    tokens(&idp).await;
    let deliveries = idp.backchannel_logout(LogoutTarget::user("alice")).await;
    assert_eq!(deliveries[0].status, None);
    assert!(deliveries[0].error.is_some());
}
