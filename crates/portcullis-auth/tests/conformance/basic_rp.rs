//! Basic RP profile: the code flow, ID token validation and client authentication.

use portcullis_devidp::{Alg, Fault, GrantType};
use serde_json::Value;

use crate::checks::{assert_accepted, assert_refused, id_token_via_logout, login_under};
use crate::crafted::decode_part;
use crate::support::{CLIENT_ID, CLIENT_SECRET, Setup, query};

/// rp-response_type-code: the authorization request asks for `response_type=code` (with the
/// `openid` scope, a state and a nonce), and the code answer completes the login.
#[tokio::test]
async fn rp_response_type_code() {
    let mut h = Setup::new("").start().await;
    let start = h.get("/page").await;
    assert_eq!(start.status(), 302);
    let authorize = start.location().unwrap();
    assert!(
        authorize.starts_with(&h.idp.authorization_url()),
        "{authorize}"
    );
    let params = query(&authorize);
    assert_eq!(params["response_type"], "code");
    assert!(params["scope"].split(' ').any(|s| s == "openid"));
    assert!(!params["state"].is_empty() && !params["nonce"].is_empty());
    assert!(!params.contains_key("response_mode"));
    let outcome = h.finish_login(&authorize, "alice").await;
    assert_accepted(&mut h, &outcome, "/page").await;
    assert_eq!(h.idp.token_calls(GrantType::AuthorizationCode), 1);
}

/// rp-nonce-invalid: an ID token whose nonce is not the one sent is refused.
#[tokio::test]
async fn rp_nonce_invalid() {
    let (h, outcome) = login_under(Fault::IdTokenNonceMismatch, Setup::new("")).await;
    assert_refused(&h, &outcome, 401);
}

/// rp-token_endpoint-client_secret_basic: the code is exchanged with the client credentials
/// in `Authorization: Basic` (RFC 6749 section 2.3.1), never in the body.
#[tokio::test]
async fn rp_token_endpoint_client_secret_basic() {
    use base64::Engine;

    let (mut h, recorder) = crate::recording::harness("").await;
    let outcome = h.login_as("/page", "alice").await;
    assert_accepted(&mut h, &outcome, "/page").await;
    let token_calls = recorder.to("/token");
    assert_eq!(token_calls.len(), 1, "{token_calls:?}");
    let call = &token_calls[0];
    assert_eq!(call.method, "POST");
    let expected =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    assert_eq!(
        call.authorization.as_deref(),
        Some(format!("Basic {expected}").as_str())
    );
    let form: Vec<(String, String)> = form_urlencoded::parse(call.body.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let has = |name: &str| form.iter().any(|(k, _)| k == name);
    assert!(form.contains(&("grant_type".into(), "authorization_code".into())));
    assert!(has("code") && has("redirect_uri"));
    assert!(!has("client_secret"), "the secret is not sent in the body");
}

/// rp-id_token-aud: an ID token issued to another client is refused.
#[tokio::test]
async fn rp_id_token_aud() {
    let (h, outcome) = login_under(Fault::IdTokenWrongAudience, Setup::new("")).await;
    assert_refused(&h, &outcome, 401);
}

/// rp-id_token-kid-absent-multiple-jwks: an ID token without `kid` while the provider
/// publishes several keys of its algorithm. Either refusing or trying every key is allowed;
/// the middleware tries every fitting key and accepts the one that verifies.
#[tokio::test]
async fn rp_id_token_kid_absent_multiple_jwks() {
    let (mut h, outcome) = login_under(
        Fault::IdTokenKidAbsent,
        Setup::new("logoutUrl: /logout\nendProviderSession: true\n"),
    )
    .await;
    assert_accepted(&mut h, &outcome, "/page").await;
    let rs256_keys = h.idp.jwks()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["alg"] == "RS256")
        .count();
    assert!(rs256_keys >= 2, "{rs256_keys}");
    let id_token = id_token_via_logout(&mut h).await;
    assert!(!decode_part(&id_token, 0).contains_key("kid"));
}

/// rp-id_token-issuer-mismatch: an ID token from another issuer is refused.
#[tokio::test]
async fn rp_id_token_issuer_mismatch() {
    let (h, outcome) = login_under(Fault::IdTokenWrongIssuer, Setup::new("")).await;
    assert_refused(&h, &outcome, 401);
}

/// rp-id_token-sub: an ID token without `sub` is refused.
#[tokio::test]
async fn rp_id_token_sub() {
    let (h, outcome) = login_under(Fault::IdTokenMissingSub, Setup::new("")).await;
    assert_refused(&h, &outcome, 401);
}

/// rp-id_token-bad-sig-rs256: an RS256 ID token with a broken signature is refused.
#[tokio::test]
async fn rp_id_token_bad_sig_rs256() {
    let (h, outcome) = login_under(Fault::IdTokenBadSignature, Setup::new("")).await;
    assert_refused(&h, &outcome, 401);
}

/// rp-id_token-bad-sig-es256: an ES256 ID token with a broken signature is refused.
#[tokio::test]
async fn rp_id_token_bad_sig_es256() {
    let setup = Setup::new("").client(|c| c.id_token_signing_alg(Alg::ES256));
    let (h, outcome) = login_under(Fault::IdTokenBadSignature, setup).await;
    assert_refused(&h, &outcome, 401);
}

/// rp-id_token-sig-none: an unsigned ID token (`alg: none`). The certification lets a
/// relying party that did not register `none` refuse it; the middleware never accepts it.
#[tokio::test]
async fn rp_id_token_sig_none() {
    let (h, outcome) = login_under(Fault::IdTokenAlgNone, Setup::new("")).await;
    assert_refused(&h, &outcome, 401);
}

/// rp-id_token-sig-rs256: an RS256-signed ID token, verified with the published key, is
/// accepted.
#[tokio::test]
async fn rp_id_token_sig_rs256() {
    let mut h = Setup::new("logoutUrl: /logout\nendProviderSession: true\n")
        .start()
        .await;
    let outcome = h.login_as("/page", "alice").await;
    assert_accepted(&mut h, &outcome, "/page").await;
    let header = decode_part(&id_token_via_logout(&mut h).await, 0);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(
        header["kid"],
        Value::from(h.idp.signing_kid(Alg::RS256).unwrap())
    );
}

/// rp-id_token-sig-es256: an ES256-signed ID token is accepted.
#[tokio::test]
async fn rp_id_token_sig_es256() {
    let mut h = Setup::new("logoutUrl: /logout\nendProviderSession: true\n")
        .client(|c| c.id_token_signing_alg(Alg::ES256))
        .start()
        .await;
    let outcome = h.login_as("/page", "alice").await;
    assert_accepted(&mut h, &outcome, "/page").await;
    let header = decode_part(&id_token_via_logout(&mut h).await, 0);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(
        header["kid"],
        Value::from(h.idp.signing_kid(Alg::ES256).unwrap())
    );
}

/// Premise of the not-applicable rp-userinfo-* and rp-scope-userinfo-claims cases: the
/// middleware takes claims from the ID token and never calls the userinfo endpoint, so a
/// userinfo answer (even one for another `sub`) cannot influence it.
#[tokio::test]
async fn userinfo_endpoint_is_never_called() {
    let mut h =
        Setup::new("scopes: [openid, profile, email]\nforwardHeaders: { X-Email: email }\n")
            .start()
            .await;
    h.idp.set_fault(Fault::UserinfoSubMismatch);
    let outcome = h.login_as("/page", "alice").await;
    assert_accepted(&mut h, &outcome, "/page").await;
    assert_eq!(
        h.get("/page").await.header("x-email").unwrap(),
        "alice@example.com"
    );
    assert_eq!(h.idp.userinfo_calls(), 0);
}
