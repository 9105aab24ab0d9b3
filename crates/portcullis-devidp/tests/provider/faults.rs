//! Each fault produces exactly the misbehaviour it names, and nothing else.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use portcullis_devidp::{
    Alg, DevIdp, EXTRA_AUDIENCE, FAULT_TIME_SHIFT, Fault, GrantType, NONCE_MISMATCH_SUFFIX,
    PublicKeyForm, USERINFO_SUB_SUFFIX, WRONG_AUDIENCE, WRONG_ISSUER,
};
use reqwest::StatusCode;
use serde_json::Value;

use crate::{CLIENT, code, exchange, http, parts, relaxed, start, token, tokens, verify};

/// An ID token issued while `fault` is active; checks that a clean one is issued afterwards.
async fn id_token_under(idp: &DevIdp, fault: Fault) -> String {
    idp.set_fault(fault.clone());
    let token = tokens(idp).await["id_token"].as_str().unwrap().to_owned();
    idp.clear_faults();
    token
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn discovery_and_jwks_faults() {
    let idp = start().await;
    idp.set_fault(Fault::DiscoveryIssuerMismatch);
    let doc: Value = http()
        .get(idp.discovery_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(doc["issuer"], idp.issuer());
    assert_eq!(doc["jwks_uri"], idp.jwks_url(), "only the issuer differs");
    idp.clear_faults();
    idp.set_fault(Fault::DiscoveryUnavailable);
    let response = http().get(idp.discovery_url()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    idp.clear_faults();

    idp.set_fault(Fault::JwksUnavailable);
    let response = http().get(idp.jwks_url()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let doc: Value = http()
        .get(idp.discovery_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], idp.issuer(), "discovery is unaffected");
    idp.clear_fault(&Fault::JwksUnavailable);
    assert_eq!(
        http().get(idp.jwks_url()).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!((idp.jwks_fetches(), idp.discovery_fetches()), (2, 3));
}

#[tokio::test]
async fn bad_signature() {
    let idp = start().await;
    let token = id_token_under(&idp, Fault::IdTokenBadSignature).await;
    let err = verify(&idp, &token).await.unwrap_err();
    assert_eq!(
        err.kind(),
        &jsonwebtoken::errors::ErrorKind::InvalidSignature
    );
    let (header, claims) = parts(&token);
    assert_eq!(header["kid"], idp.signing_kid(Alg::RS256).unwrap().as_str());
    assert_eq!(
        (claims["sub"].as_str(), claims["aud"].as_str()),
        (Some("alice"), Some(CLIENT))
    );
    let clean = tokens(&idp).await["id_token"].as_str().unwrap().to_owned();
    verify(&idp, &clean).await.unwrap();
}

#[tokio::test]
async fn alg_none() {
    let idp = start().await;
    let token = id_token_under(&idp, Fault::IdTokenAlgNone).await;
    let (header, claims) = parts(&token);
    assert_eq!(header["alg"], "none");
    assert!(header.get("kid").is_none());
    assert!(token.ends_with('.'), "empty signature");
    assert_eq!(claims["sub"], "alice");
}

#[tokio::test]
async fn hs256_keyed_with_the_rsa_public_key() {
    let idp = start().await;
    for form in [PublicKeyForm::Pem, PublicKeyForm::Der] {
        let token = id_token_under(&idp, Fault::IdTokenHs256WithPublicKey(form)).await;
        let (header, _) = parts(&token);
        assert_eq!(header["alg"], "HS256");
        // Rebuild the public key bytes from the published JWK, as a confused verifier would.
        let jwks = idp.jwks();
        let kid = idp.signing_kid(Alg::RS256).unwrap();
        let jwk = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid.as_str())
            .unwrap();
        let der = spki_der_from_jwk(jwk);
        let secret = match form {
            PublicKeyForm::Der => der,
            PublicKeyForm::Pem => pem(&der).into_bytes(),
        };
        let claims = jsonwebtoken::decode::<Value>(
            &token,
            &DecodingKey::from_secret(&secret),
            &relaxed(Algorithm::HS256),
        )
        .unwrap()
        .claims;
        assert_eq!(claims["sub"], "alice", "{form:?}");
    }
}

/// SubjectPublicKeyInfo DER of an RSA JWK, assembled by hand so the test does not share the
/// provider's encoding code.
fn spki_der_from_jwk(jwk: &Value) -> Vec<u8> {
    fn len(n: usize) -> Vec<u8> {
        match n {
            0..=127 => vec![n as u8],
            128..=255 => vec![0x81, n as u8],
            _ => vec![0x82, (n >> 8) as u8, n as u8],
        }
    }
    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        [vec![tag], len(body.len()), body.to_vec()].concat()
    }
    fn int(bytes: &[u8]) -> Vec<u8> {
        let body = if bytes[0] & 0x80 != 0 {
            [&[0u8][..], bytes].concat()
        } else {
            bytes.to_vec()
        };
        tlv(0x02, &body)
    }
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
    let rsa_public_key = tlv(0x30, &[int(&n), int(&e)].concat());
    let algorithm = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let bit_string = tlv(0x03, &[&[0u8][..], &rsa_public_key].concat());
    tlv(0x30, &[&algorithm[..], &bit_string].concat())
}

fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

#[tokio::test]
async fn kid_absent_while_several_keys_exist() {
    let idp = start().await;
    let token = id_token_under(&idp, Fault::IdTokenKidAbsent).await;
    let (header, _) = parts(&token);
    assert_eq!(header["alg"], "RS256");
    assert!(header.get("kid").is_none());
    let jwks = idp.jwks();
    let rsa: Vec<&Value> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["kty"] == "RSA")
        .collect();
    assert!(rsa.len() >= 2, "several RSA keys published");
    let verifying = rsa
        .iter()
        .filter(|jwk| {
            let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value((**jwk).clone()).unwrap();
            let key = DecodingKey::from_jwk(&jwk).unwrap();
            jsonwebtoken::decode::<Value>(&token, &key, &relaxed(Algorithm::RS256)).is_ok()
        })
        .count();
    assert_eq!(verifying, 1, "exactly one published key signed it");
}

#[tokio::test]
async fn kid_published_only_after_a_later_call() {
    let idp = start().await;
    let token = id_token_under(&idp, Fault::IdTokenUnpublishedKid).await;
    let kid = parts(&token).0["kid"].as_str().unwrap().to_owned();
    assert!(!idp.published_kids().contains(&kid));
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
            .all(|k| k["kid"] != kid.as_str())
    );

    assert_eq!(idp.publish_pending_keys(), vec![kid.clone()]);
    assert!(idp.published_kids().contains(&kid));
    verify(&idp, &token).await.unwrap();
    assert_ne!(
        idp.signing_kid(Alg::RS256).unwrap(),
        kid,
        "publishing does not rotate"
    );

    // With rotation instead: the pending key becomes the signing key.
    let token = id_token_under(&idp, Fault::IdTokenUnpublishedKid).await;
    let kid = parts(&token).0["kid"].as_str().unwrap().to_owned();
    assert_eq!(idp.rotate_signing_key(Alg::RS256).unwrap(), kid);
    verify(&idp, &token).await.unwrap();
}

type Check = Box<dyn Fn(&Value)>;

#[tokio::test]
async fn claim_faults_change_exactly_the_claim_they_name() {
    let idp = start().await;
    let clean = verify(&idp, tokens(&idp).await["id_token"].as_str().unwrap())
        .await
        .unwrap();
    let shift = FAULT_TIME_SHIFT.as_secs() as i64;
    let cases: Vec<(Fault, &[&str], Check)> = vec![
        (
            Fault::IdTokenWrongIssuer,
            &["iss"],
            Box::new(|c| assert_eq!(c["iss"], WRONG_ISSUER)),
        ),
        (
            Fault::IdTokenWrongAudience,
            &["aud"],
            Box::new(|c| assert_eq!(c["aud"], WRONG_AUDIENCE)),
        ),
        (
            Fault::IdTokenExtraAudienceWithoutAzp,
            &["aud", "azp"],
            Box::new(|c| {
                assert_eq!(c["aud"], serde_json::json!([CLIENT, EXTRA_AUDIENCE]));
                assert!(c.get("azp").is_none());
            }),
        ),
        (
            Fault::IdTokenNonceMissing,
            &["nonce"],
            Box::new(|c| assert!(c.get("nonce").is_none())),
        ),
        (
            Fault::IdTokenNonceMismatch,
            &["nonce"],
            Box::new(|c| assert_eq!(c["nonce"], format!("nonce-1{NONCE_MISMATCH_SUFFIX}"))),
        ),
        (
            Fault::IdTokenExpired,
            &[],
            Box::new(move |c| assert!(c["exp"].as_i64().unwrap() <= now() - shift + 60)),
        ),
        (
            Fault::IdTokenIssuedInFuture,
            &[],
            Box::new(move |c| assert!(c["iat"].as_i64().unwrap() >= now() + shift - 60)),
        ),
        (
            Fault::IdTokenMissingSub,
            &["sub"],
            Box::new(|c| assert!(c.get("sub").is_none())),
        ),
    ];
    // Claims that differ between any two tokens.
    let volatile = ["iat", "exp", "jti", "at_hash", "sid", "auth_time"];
    for (fault, expected, check) in cases {
        let token = id_token_under(&idp, fault.clone()).await;
        let claims = verify(&idp, &token)
            .await
            .unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        check(&claims);
        let changed: std::collections::BTreeSet<&str> = clean
            .as_object()
            .unwrap()
            .keys()
            .chain(claims.as_object().unwrap().keys())
            .map(String::as_str)
            .filter(|k| !volatile.contains(k) && clean.get(*k) != claims.get(*k))
            .collect();
        assert_eq!(changed, expected.iter().copied().collect(), "{fault:?}");
    }
}

#[tokio::test]
async fn userinfo_sub_mismatch() {
    let idp = start().await;
    idp.set_client_fault(CLIENT, Fault::UserinfoSubMismatch);
    let body = tokens(&idp).await;
    assert_eq!(parts(body["id_token"].as_str().unwrap()).1["sub"], "alice");
    let info: Value = http()
        .get(idp.userinfo_url())
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], format!("alice{USERINFO_SUB_SUFFIX}"));
}

#[tokio::test]
async fn token_endpoint_faults() {
    let idp = start().await;
    let cc = [("grant_type", "client_credentials")];

    idp.set_fault(Fault::TokenServerError);
    assert_eq!(token(&idp, &cc).await.0, StatusCode::INTERNAL_SERVER_ERROR);
    idp.clear_faults();

    idp.set_fault(Fault::TokenInvalidJson);
    let response = http()
        .post(idp.token_url())
        .basic_auth(CLIENT, Some("gw-secret"))
        .form(&cc)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(serde_json::from_str::<Value>(&response.text().await.unwrap()).is_err());
    idp.clear_faults();

    idp.set_fault(Fault::TokenInvalidGrant);
    let (status, body) = token(&idp, &cc).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    idp.clear_faults();

    idp.set_fault(Fault::TokenDelay(Duration::from_millis(300)));
    let started = Instant::now();
    assert_eq!(token(&idp, &cc).await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
    idp.clear_faults();

    assert_eq!(token(&idp, &cc).await.0, StatusCode::OK);
    assert_eq!(idp.token_calls(GrantType::ClientCredentials), 5);
}

#[tokio::test]
async fn refresh_refused_leaves_other_grants_alone() {
    let idp = start().await;
    idp.set_fault(Fault::RefreshRefused);
    let body = tokens(&idp).await;
    let refresh = body["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let (status, answer) = token(&idp, &form).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(
        token(&idp, &[("grant_type", "client_credentials")]).await.0,
        StatusCode::OK
    );
    idp.clear_faults();
    assert_eq!(
        token(&idp, &form).await.0,
        StatusCode::OK,
        "the refused token was not spent"
    );
}

#[tokio::test]
async fn client_faults_affect_only_that_client() {
    let idp = crate::builder()
        .client(
            portcullis_devidp::ClientSpec::new("svc", "svc-secret")
                .grant_types([GrantType::ClientCredentials]),
        )
        .start()
        .await
        .unwrap();
    idp.set_client_fault("svc", Fault::TokenServerError);
    idp.set_client_fault("svc", Fault::IdTokenWrongIssuer);
    let cc = [("grant_type", "client_credentials")];
    assert_eq!(token(&idp, &cc).await.0, StatusCode::OK);
    let (status, _) = crate::token_as(&idp, Some(("svc", "svc-secret")), &cc).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let code = code(&idp, &[]).await;
    let (_, body) = exchange(&idp, &code, &[]).await;
    assert_eq!(
        parts(body["id_token"].as_str().unwrap()).1["iss"],
        idp.issuer()
    );
    idp.clear_faults();
    let (status, _) = crate::token_as(&idp, Some(("svc", "svc-secret")), &cc).await;
    assert_eq!(status, StatusCode::OK);
}
