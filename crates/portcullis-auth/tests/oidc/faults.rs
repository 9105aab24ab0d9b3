//! Every fault the development provider can inject is refused with the right status, and no
//! session is created.

use std::time::Duration;

use portcullis_devidp::{Alg, Fault, GrantType, PublicKeyForm};

use crate::support::{Harness, Setup};

/// Logs in under `fault` and checks the callback's status and that no session exists.
async fn refused(fault: Fault, status: u16) {
    let mut h = Setup::new("clientConfig: { maxRetries: 1 }\n")
        .start()
        .await;
    h.idp.set_fault(fault.clone());
    let outcome = h.login_as("/", "alice").await;
    assert_eq!(outcome.status(), status, "{fault:?}");
    assert!(!h.has_session(), "{fault:?} created a session");
    assert!(
        outcome
            .set_cookies()
            .iter()
            .all(|c| !c.starts_with("oidc-test-session") || c.contains("Max-Age=0")),
        "{fault:?}"
    );
    // The flow's cookie is gone: the callback is single-use.
    assert!(!h.jar.has_prefix("oidc-test-state"), "{fault:?}");
}

#[tokio::test]
async fn id_token_faults_give_401() {
    for fault in [
        Fault::IdTokenBadSignature,
        Fault::IdTokenAlgNone,
        Fault::IdTokenHs256WithPublicKey(PublicKeyForm::Pem),
        Fault::IdTokenHs256WithPublicKey(PublicKeyForm::Der),
        Fault::IdTokenWrongIssuer,
        Fault::IdTokenWrongAudience,
        Fault::IdTokenExtraAudienceWithoutAzp,
        Fault::IdTokenNonceMissing,
        Fault::IdTokenNonceMismatch,
        Fault::IdTokenExpired,
        Fault::IdTokenIssuedInFuture,
        Fault::IdTokenMissingSub,
    ] {
        refused(fault, 401).await;
    }
}

#[tokio::test]
async fn token_endpoint_faults() {
    refused(Fault::TokenServerError, 502).await;
    refused(Fault::TokenInvalidJson, 502).await;
    refused(Fault::TokenInvalidGrant, 401).await;
}

#[tokio::test]
async fn server_errors_are_retried_max_retries_times() {
    let mut h = Setup::new("clientConfig: { maxRetries: 2 }\n")
        .start()
        .await;
    h.idp.set_fault(Fault::TokenServerError);
    assert_eq!(h.login_as("/", "alice").await.status(), 502);
    assert_eq!(h.idp.token_calls(GrantType::AuthorizationCode), 3);
    // invalid_grant is not retried.
    let mut h = Setup::new("clientConfig: { maxRetries: 2 }\n")
        .start()
        .await;
    h.idp.set_fault(Fault::TokenInvalidGrant);
    assert_eq!(h.login_as("/", "alice").await.status(), 401);
    assert_eq!(h.idp.token_calls(GrantType::AuthorizationCode), 1);
}

#[tokio::test]
async fn a_slow_token_endpoint_gives_504() {
    let mut h = Setup::new("clientConfig: { timeoutSeconds: 1, maxRetries: 3 }\n")
        .start()
        .await;
    h.idp.set_fault(Fault::TokenDelay(Duration::from_secs(3)));
    let started = std::time::Instant::now();
    let outcome = h.login_as("/", "alice").await;
    assert_eq!(outcome.status(), 504);
    assert!(!h.has_session());
    // A timeout is not retried.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn jwks_down_gives_502() {
    refused(Fault::JwksUnavailable, 502).await;
}

#[tokio::test]
async fn discovery_issuer_mismatch_gives_502() {
    let idp = crate::support::users(portcullis_devidp::DevIdp::builder())
        .client(crate::support::client())
        .start()
        .await
        .unwrap();
    idp.set_fault(Fault::DiscoveryIssuerMismatch);
    let mut h = Harness::with_provider(idp, "", Setup::new("").options);
    assert_eq!(h.get("/").await.status(), 502);
    assert!(!h.middleware.provider_ready());
}

#[tokio::test]
async fn a_provider_down_at_start_gives_502_then_recovers() {
    let idp = crate::support::users(portcullis_devidp::DevIdp::builder())
        .client(crate::support::client())
        .start()
        .await
        .unwrap();
    idp.set_fault(Fault::DiscoveryUnavailable);
    let mut h = Harness::with_provider(
        idp,
        "clientConfig: { maxRetries: 0 }\n",
        Setup::new("").options,
    );
    assert_eq!(h.get("/").await.status(), 502);
    // API requests are refused with 401 without needing the provider.
    assert_eq!(
        h.send(http::Method::GET, "/", &[("accept", "application/json")])
            .await
            .status(),
        401
    );
    h.idp.clear_faults();
    // Background discovery retries with backoff; logins work once it succeeds.
    let mut status = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        status = h.get("/").await.status();
        if status == 302 {
            break;
        }
    }
    assert_eq!(status, 302);
    assert!(h.middleware.provider_ready());
    assert!(h.idp.discovery_fetches() >= 2);
}

#[tokio::test]
async fn an_unreachable_provider_gives_502() {
    // A port that nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let yaml = format!(
        "issuer: {issuer}\nredirectUrl: /callback\nclientID: a\nclientSecret: b\nclientConfig: {{ maxRetries: 0 }}\n"
    );
    let config = crate::support::config(&yaml);
    let secrets = portcullis_auth::oidc::OidcSecrets::resolve(
        &config,
        None,
        &portcullis_config::LocalResolver::new(),
    )
    .unwrap();
    let middleware =
        portcullis_auth::oidc::OidcMiddleware::new(config, secrets, Setup::new("").options)
            .unwrap();
    let outcome = crate::support::send_raw(&middleware, http::Method::GET, "/", &[], None).await;
    assert_eq!(outcome.status(), 502);
}

/// An ID token comes from the token endpoint, so a `kid` the gateway does not know is looked
/// up at once: each such login costs one JWKS fetch, and one that stays unknown is refused.
#[tokio::test]
async fn an_unpublished_kid_costs_each_login_one_refetch_then_rotation_works() {
    let mut h = Setup::new("").start().await;
    // Load the JWKS with a first login.
    h.login_as("/", "alice").await;
    assert!(h.has_session());
    h.jar.cookies.clear();
    let fetches = h.idp.jwks_fetches();

    // Tokens signed with a key the JWKS does not list: one refetch per login, then refused.
    h.idp.set_fault(Fault::IdTokenUnpublishedKid);
    assert_eq!(h.login_as("/", "alice").await.status(), 401);
    assert!(!h.has_session());
    assert_eq!(h.idp.jwks_fetches(), fetches + 1);
    assert_eq!(h.login_as("/", "alice").await.status(), 401);
    assert_eq!(h.idp.jwks_fetches(), fetches + 2);

    // The provider rotates to that key: the next login finds it, with no restart of the
    // gateway and no wait.
    h.idp.clear_faults();
    h.idp.rotate_signing_key(Alg::RS256).unwrap();
    assert_eq!(h.login_as("/", "alice").await.status(), 302);
    assert!(h.has_session());
    assert_eq!(h.idp.jwks_fetches(), fetches + 3);
}

/// A provider that rotates its signing key moments after the gateway fetched its keys: the
/// next login succeeds at once instead of failing until the refetch interval has passed.
#[tokio::test]
async fn a_key_rotated_right_after_a_fetch_does_not_fail_logins() {
    let mut h = Setup::new("").start().await;
    h.login_as("/", "alice").await;
    assert!(h.has_session());
    h.jar.cookies.clear();
    let fetches = h.idp.jwks_fetches();
    h.idp.rotate_signing_key(Alg::RS256).unwrap();
    assert_eq!(h.login_as("/", "bob").await.status(), 302);
    assert!(h.has_session());
    assert_eq!(h.idp.jwks_fetches(), fetches + 1);
}

#[tokio::test]
async fn tokens_without_kid_are_checked_against_every_published_key() {
    let mut h = Setup::new("").start().await;
    h.idp.set_fault(Fault::IdTokenKidAbsent);
    assert_eq!(h.login_as("/", "alice").await.status(), 302);
    assert!(h.has_session());
}

#[tokio::test]
async fn es256_id_tokens_are_accepted() {
    let mut h = Setup::new("")
        .client(|c| c.id_token_signing_alg(Alg::ES256))
        .start()
        .await;
    assert_eq!(h.login_as("/", "alice").await.status(), 302);
    assert!(h.has_session());
}
