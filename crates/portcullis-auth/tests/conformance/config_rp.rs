//! Config RP profile: discovery, the provider's keys, and signing-key rotation.

use std::time::Duration;

use portcullis_devidp::{Alg, DevIdp, Fault};

use crate::checks::{assert_accepted, id_token_via_logout};
use crate::crafted::decode_part;
use crate::support::{Harness, Setup, client, users};

/// How long the tests let the middleware wait between two JWKS refetches.
const REFETCH_INTERVAL: Duration = Duration::from_millis(200);

/// rp-discovery-openid-configuration: the provider's endpoints are taken from
/// `<issuer>/.well-known/openid-configuration`: the login goes to the discovered authorization
/// endpoint, the code to the discovered token endpoint, the keys come from `jwks_uri`.
#[tokio::test]
async fn rp_discovery_openid_configuration() {
    let (mut h, recorder) = crate::recording::harness("").await;
    let start = h.get("/page").await;
    assert_eq!(start.status(), 302);
    assert!(
        start
            .location()
            .unwrap()
            .starts_with(&h.idp.authorization_url())
    );
    let outcome = h.finish_login(&start.location().unwrap(), "alice").await;
    assert_accepted(&mut h, &outcome, "/page").await;
    assert_eq!(
        recorder.to("/.well-known/openid-configuration").len(),
        1,
        "discovered once"
    );
    assert_eq!(recorder.to("/token").len(), 1);
    assert_eq!(recorder.to("/jwks").len(), 1);
}

/// rp-discovery-jwks_uri-keys: the ID token's signature is verified with a key fetched from
/// the discovered `jwks_uri`.
#[tokio::test]
async fn rp_discovery_jwks_uri_keys() {
    let mut h = Setup::new("logoutUrl: /logout\nendProviderSession: true\n")
        .start()
        .await;
    assert_eq!(
        h.idp.jwks_fetches(),
        0,
        "keys are fetched when a token needs them"
    );
    let outcome = h.login_as("/page", "alice").await;
    assert_accepted(&mut h, &outcome, "/page").await;
    assert_eq!(h.idp.jwks_fetches(), 1);
    let kid = decode_part(&id_token_via_logout(&mut h).await, 0)["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(h.idp.published_kids().contains(&kid), "{kid}");
}

/// rp-discovery-issuer-not-matching-config: a discovery document naming another issuer is
/// refused; no login starts (502, no flow cookie) and the provider is never used.
#[tokio::test]
async fn rp_discovery_issuer_not_matching_config() {
    let idp = users(DevIdp::builder())
        .client(client())
        .start()
        .await
        .unwrap();
    idp.set_fault(Fault::DiscoveryIssuerMismatch);
    let mut h = Harness::with_provider(idp, "", Setup::new("").options);
    let outcome = h.get("/page").await;
    assert_eq!(outcome.status(), 502);
    assert!(outcome.location().is_none());
    assert!(h.jar.cookies.is_empty(), "{:?}", h.jar.names());
    assert!(!h.middleware.provider_ready());
    assert_eq!(h.idp.jwks_fetches(), 0);
}

/// Logs alice in from a fresh browser and checks the login is accepted.
async fn fresh_login(h: &mut Harness) {
    h.jar.cookies.clear();
    let outcome = h.login_as("/page", "alice").await;
    assert_accepted(h, &outcome, "/page").await;
}

/// rp-key-rotation-op-sign-key: after a first login, the provider rotates its signing key
/// (and withdraws the old one); the next ID token names a `kid` the middleware has not seen,
/// and it refetches the JWKS once to verify it — no restart.
#[tokio::test]
async fn rp_key_rotation_op_sign_key() {
    let mut h = Setup::new("")
        .options(|o| o.jwks_refetch_interval = REFETCH_INTERVAL)
        .start()
        .await;
    fresh_login(&mut h).await;
    assert_eq!(h.idp.jwks_fetches(), 1);
    let old = h.idp.signing_kid(Alg::RS256).unwrap();
    let new = h.idp.rotate_signing_key(Alg::RS256).unwrap();
    h.idp.remove_key(&old).unwrap();
    assert_ne!(old, new);
    tokio::time::sleep(REFETCH_INTERVAL + Duration::from_millis(50)).await;
    fresh_login(&mut h).await;
    assert_eq!(h.idp.jwks_fetches(), 2);
}

/// rp-key-rotation-op-sign-key-native: the provider rotates its key while a login is under
/// way, just before it signs the ID token; the middleware, which holds the old key set, picks
/// up the new key on the spot.
#[tokio::test]
async fn rp_key_rotation_op_sign_key_native() {
    let mut h = Setup::new("")
        .options(|o| o.jwks_refetch_interval = REFETCH_INTERVAL)
        .start()
        .await;
    fresh_login(&mut h).await;
    h.jar.cookies.clear();
    let start = h.get("/page").await;
    tokio::time::sleep(REFETCH_INTERVAL + Duration::from_millis(50)).await;
    let old = h.idp.signing_kid(Alg::RS256).unwrap();
    h.idp.rotate_signing_key(Alg::RS256).unwrap();
    h.idp.remove_key(&old).unwrap();
    let outcome = h.finish_login(&start.location().unwrap(), "alice").await;
    assert_accepted(&mut h, &outcome, "/page").await;
    assert_eq!(h.idp.jwks_fetches(), 2);
}
