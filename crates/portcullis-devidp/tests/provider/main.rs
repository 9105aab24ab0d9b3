//! End-to-end tests of the development provider over HTTP, with a client that never follows
//! redirects. Helpers shared by the test modules live here.

#![cfg(test)]

mod code_flow;
mod config;
mod discovery;
mod faults;
mod grants;
mod logout;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use portcullis_devidp::{ClientSpec, DevIdp, DevIdpBuilder, UserSpec};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub const CLIENT: &str = "gw";
pub const SECRET: &str = "gw-secret";
pub const REDIRECT: &str = "https://rp.test/callback";
pub const POST_LOGOUT: &str = "https://rp.test/logged-out";

pub fn gw_client() -> ClientSpec {
    ClientSpec::new(CLIENT, SECRET)
        .redirect_uri(REDIRECT)
        .post_logout_redirect_uri(POST_LOGOUT)
        .access_token_claims(json!({"tier": "gold", "grp": "client-grp"}))
}

pub fn builder() -> DevIdpBuilder {
    DevIdp::builder()
        .client(gw_client())
        .client(ClientSpec::new("other", "other-secret").redirect_uri("https://other.test/cb"))
        .user(UserSpec::new("alice").claims(json!({
            "grp": "admin", "areas": ["office", "home"],
            "user": {"name": "Alice", "level": 9}
        })))
        .user(UserSpec::new("bob").password("bob-pw").subject("bob-sub"))
}

pub async fn start() -> DevIdp {
    builder().start().await.unwrap()
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// An authorization URL for `gw` with defaults that `extra` overrides (an empty value drops the
/// parameter).
pub fn auth_url(idp: &DevIdp, extra: &[(&str, &str)]) -> String {
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", CLIENT),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile"),
        ("state", "state-1"),
        ("nonce", "nonce-1"),
    ];
    for (name, value) in extra {
        params.retain(|(n, _)| n != name);
        if !value.is_empty() {
            params.push((name, value));
        }
    }
    let mut url = url::Url::parse(&idp.authorization_url()).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.into()
}

pub fn query(location: &str) -> HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Logs `alice` in for the given authorization parameters and returns the code.
pub async fn code(idp: &DevIdp, extra: &[(&str, &str)]) -> String {
    let location = idp
        .complete_login(&auth_url(idp, extra), "alice")
        .await
        .unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    query(&location).remove("code").expect("code in redirect")
}

/// A token request with `client_secret_basic` for `gw`.
pub async fn token(idp: &DevIdp, form: &[(&str, &str)]) -> (StatusCode, Value) {
    token_as(idp, Some((CLIENT, SECRET)), form).await
}

pub async fn token_as(
    idp: &DevIdp,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut request = http().post(idp.token_url()).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Exchanges a code (with optional extra parameters) for `gw`.
pub async fn exchange(idp: &DevIdp, code: &str, extra: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
    ];
    form.extend_from_slice(extra);
    token(idp, &form).await
}

/// Logs in and exchanges the code; returns the token response.
pub async fn tokens(idp: &DevIdp) -> Value {
    let code = code(idp, &[]).await;
    let (status, body) = exchange(idp, &code, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

pub fn b64_json(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Header and claims of a JWT, without any check.
pub fn parts(token: &str) -> (Value, Value) {
    let mut pieces = token.split('.');
    let header = b64_json(pieces.next().unwrap());
    let claims = b64_json(pieces.next().unwrap());
    (header, claims)
}

/// Verifies a token's signature against the provider's JWKS (fetched over HTTP) by its `kid`;
/// time and audience are not checked here. Returns the claims.
pub async fn verify(idp: &DevIdp, token: &str) -> Result<Value, jsonwebtoken::errors::Error> {
    let jwks: JwkSet = http()
        .get(idp.jwks_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token)?;
    let kid = header.kid.expect("kid");
    let jwk = jwks.find(&kid).expect("kid in JWKS");
    let key = DecodingKey::from_jwk(jwk)?;
    jsonwebtoken::decode::<Value>(token, &key, &relaxed(header.alg)).map(|d| d.claims)
}

/// A validation that checks only the signature and algorithm.
pub fn relaxed(alg: Algorithm) -> Validation {
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = "v".repeat(20) + "-._~0123456789abcdefghijklmnop";
    let challenge = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
    (verifier, challenge)
}

/// A back-channel endpoint on port 0 that records every request body and answers `status`.
pub struct Listener {
    pub url: String,
    pub received: Arc<Mutex<Vec<(String, String)>>>,
    _task: tokio::task::JoinHandle<()>,
}

pub async fn listener(status: u16) -> Listener {
    use axum::http::HeaderMap;
    let received: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let store = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/bcl",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let store = Arc::clone(&store);
            async move {
                let content_type = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                store.lock().unwrap().push((content_type, body));
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/bcl", socket.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(socket, app).await.unwrap();
    });
    Listener {
        url,
        received,
        _task: task,
    }
}
