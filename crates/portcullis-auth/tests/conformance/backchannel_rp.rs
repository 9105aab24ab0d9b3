//! RP-Initiated Logout and Back-Channel Logout RP profiles.
//!
//! The development provider sends only valid logout tokens; the refusal cases send a token the
//! test signs with the provider's own ES256 key (see [`crate::crafted`]) to the served
//! middleware, exactly as a misbehaving provider would. Each refusal case then sends the valid
//! form of the same token, to show that the refusal came from the one claim that was changed.

use std::time::Duration;

use portcullis_auth::clock::Clock;
use portcullis_devidp::{Alg, LogoutTarget};
use serde_json::{Map, Value, json};

use crate::crafted::{self, LOGOUT_EVENT, ProviderKey};
use crate::served::{Served, api_status, sid_of};
use crate::support::{CLIENT_ID, Harness, Setup, query, send_raw};

const LOGOUT: &str = "logoutUrl: /logout\npostLogoutRedirectUrl: /bye\nendProviderSession: true\n";

/// Follows the gateway's redirect to the provider's end-session endpoint, as the browser
/// would; returns where the provider sends the browser next.
async fn follow_to_provider(location: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = http.get(location).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 302, "{location}");
    answer.headers()["location"].to_str().unwrap().to_owned()
}

/// rp-init-logout: logout ends the gateway session and sends the browser to the provider's
/// `end_session_endpoint` with `id_token_hint`, `client_id` and the registered
/// `post_logout_redirect_uri`; the provider ends its session and returns the browser there.
#[tokio::test]
async fn rp_init_logout() {
    let mut h = Setup::new(LOGOUT).start().await;
    h.login_as("/page", "alice").await;
    assert_eq!(h.idp.sessions().len(), 1);
    let logout = h.get("/logout").await;
    assert_eq!(logout.status(), 302);
    let location = logout.location().unwrap();
    assert!(location.starts_with(&h.idp.end_session_url()), "{location}");
    let params = query(&location);
    assert!(params["id_token_hint"].starts_with("ey"));
    assert_eq!(params["client_id"], CLIENT_ID);
    assert_eq!(params["post_logout_redirect_uri"], "http://app.test/bye");
    assert!(!h.has_session());
    assert_eq!(follow_to_provider(&location).await, "http://app.test/bye");
    assert!(h.idp.sessions().is_empty(), "the provider session ended");
}

/// rp-backchannel-rpinitlogout: after an RP-initiated logout, the provider POSTs a logout
/// token for the session to the back-channel URL; it is accepted (200) and a saved copy of the
/// session cookie no longer works.
#[tokio::test]
async fn rp_backchannel_rpinitlogout() {
    let (mut h, served) = Served::harness(LOGOUT, |s| s).await;
    h.login_as("/page", "alice").await;
    let sid = sid_of(&h, "alice");
    let saved = h.jar.header().unwrap();
    let location = h.get("/logout").await.location().unwrap();
    assert_eq!(follow_to_provider(&location).await, "http://app.test/bye");
    let deliveries = h
        .idp
        .wait_for_backchannel_deliveries(1, Duration::from_secs(5))
        .await;
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].status, Some(200), "{deliveries:?}");
    assert_eq!(deliveries[0].sid.as_deref(), Some(sid.as_str()));
    assert_eq!(served.logout_tokens().len(), 1);
    let replay = send_raw(
        &h.middleware,
        http::Method::GET,
        "/page",
        &[("accept", "application/json")],
        Some(&saved),
    )
    .await;
    assert_eq!(replay.status(), 401);
}

/// A logged-in alice behind a served middleware whose provider signs with a key the test
/// holds; the client's tokens are signed with `alg`.
async fn crafted_setup(extra: &str, alg: Alg) -> (Harness, Served, ProviderKey) {
    let key = ProviderKey::generate();
    let spec = key.spec();
    let (mut h, served) = Served::harness(extra, move |s: Setup| {
        s.idp(|b| b.key(spec))
            .client(|c| c.id_token_signing_alg(alg))
    })
    .await;
    h.login_as("/page", "alice").await;
    assert_eq!(api_status(&mut h).await, 200);
    (h, served, key)
}

/// Valid logout-token claims for alice's session.
fn claims_for(h: &Harness) -> Map<String, Value> {
    crafted::logout_claims(
        &h.idp.issuer(),
        CLIENT_ID,
        Some(&sid_of(h, "alice")),
        Some("alice"),
        h.clock.now(),
    )
}

/// Sends `bad`: refused with 400 and the session lives on. Then sends the valid token: 200,
/// and the session is revoked.
async fn refused_then_valid(h: &mut Harness, served: &Served, key: &ProviderKey, bad: &str) {
    assert_eq!(served.post_token(bad).await, 400);
    assert_eq!(
        api_status(h).await,
        200,
        "a refused token revoked the session"
    );
    let valid = key.sign("logout+jwt", &claims_for(h));
    assert_eq!(served.post_token(&valid).await, 200);
    assert_eq!(api_status(h).await, 401);
    assert!(!h.has_session());
}

/// rp-backchannel-rpinitlogout-lt-alg-none: an unsigned logout token is refused.
#[tokio::test]
async fn rp_backchannel_rpinitlogout_lt_alg_none() {
    let (mut h, served, key) = crafted_setup("", Alg::ES256).await;
    let bad = crafted::unsigned("logout+jwt", &claims_for(&h));
    refused_then_valid(&mut h, &served, &key, &bad).await;
}

/// rp-backchannel-rpinitlogout-lt-no-event: a logout token without `events` is refused.
#[tokio::test]
async fn rp_backchannel_rpinitlogout_lt_no_event() {
    let (mut h, served, key) = crafted_setup("", Alg::ES256).await;
    let mut claims = claims_for(&h);
    claims.remove("events");
    let bad = key.sign("logout+jwt", &claims);
    refused_then_valid(&mut h, &served, &key, &bad).await;
}

/// rp-backchannel-rpinitlogout-lt-wrong-event: a logout token whose `events` lacks the
/// back-channel logout member is refused.
#[tokio::test]
async fn rp_backchannel_rpinitlogout_lt_wrong_event() {
    let (mut h, served, key) = crafted_setup("", Alg::ES256).await;
    let mut claims = claims_for(&h);
    claims.insert(
        "events".into(),
        json!({"http://schemas.openid.net/event/not-backchannel-logout": {}}),
    );
    let bad = key.sign("logout+jwt", &claims);
    refused_then_valid(&mut h, &served, &key, &bad).await;
    // The member present but not an object is refused too.
    let (mut h, served, key) = crafted_setup("", Alg::ES256).await;
    let mut claims = claims_for(&h);
    claims.insert("events".into(), json!({LOGOUT_EVENT: "yes"}));
    let bad = key.sign("logout+jwt", &claims);
    refused_then_valid(&mut h, &served, &key, &bad).await;
}

/// rp-backchannel-rpinitlogout-lt-with-nonce: a logout token carrying a `nonce` (an ID token
/// replayed as a logout token) is refused.
#[tokio::test]
async fn rp_backchannel_rpinitlogout_lt_with_nonce() {
    let (mut h, served, key) = crafted_setup("", Alg::ES256).await;
    let mut claims = claims_for(&h);
    claims.insert("nonce".into(), "n-0S6_WzA2Mj".into());
    let bad = key.sign("logout+jwt", &claims);
    refused_then_valid(&mut h, &served, &key, &bad).await;
}

/// rp-backchannel-rpinitlogout-lt-wrong-aud: a logout token for another client is refused.
#[tokio::test]
async fn rp_backchannel_rpinitlogout_lt_wrong_aud() {
    let (mut h, served, key) = crafted_setup("", Alg::ES256).await;
    let mut claims = claims_for(&h);
    claims.insert("aud".into(), "some-other-client".into());
    let bad = key.sign("logout+jwt", &claims);
    refused_then_valid(&mut h, &served, &key, &bad).await;
}

/// rp-backchannel-rpinitlogout-lt-wrong-issuer: a logout token from another issuer is
/// refused.
#[tokio::test]
async fn rp_backchannel_rpinitlogout_lt_wrong_issuer() {
    let (mut h, served, key) = crafted_setup("", Alg::ES256).await;
    let mut claims = claims_for(&h);
    claims.insert("iss".into(), "https://wrong-issuer.invalid".into());
    let bad = key.sign("logout+jwt", &claims);
    refused_then_valid(&mut h, &served, &key, &bad).await;
}

/// Additional: a logout token whose signature was altered is refused.
#[tokio::test]
async fn backchannel_lt_bad_signature() {
    let (mut h, served, key) = crafted_setup("", Alg::ES256).await;
    let bad = crafted::flip_signature_byte(&key.sign("logout+jwt", &claims_for(&h)));
    refused_then_valid(&mut h, &served, &key, &bad).await;
}

/// Additional: with `backchannelLogoutSessionsRequired`, a logout token without `sid` (the
/// provider's own `sub`-only token) is refused and the session lives on.
#[tokio::test]
async fn backchannel_lt_missing_sid_when_required() {
    let (mut h, served) = Served::harness("backchannelLogoutSessionsRequired: true\n", |s| s).await;
    h.login_as("/page", "alice").await;
    let deliveries = h
        .idp
        .backchannel_logout(LogoutTarget::subject("alice"))
        .await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, Some(400), "{deliveries:?}");
    assert!(deliveries[0].sid.is_none());
    assert_eq!(served.logout_tokens().len(), 1);
    assert_eq!(api_status(&mut h).await, 200);
}

/// Additional: a logout token the provider really sent, posted a second time, is refused as a
/// replay (its `jti` was seen).
#[tokio::test]
async fn backchannel_lt_replayed_jti() {
    let (mut h, served) = Served::harness("", |s| s).await;
    h.login_as("/page", "alice").await;
    let deliveries = h
        .idp
        .backchannel_logout(LogoutTarget::session(sid_of(&h, "alice")))
        .await;
    assert_eq!(deliveries[0].status, Some(200), "{deliveries:?}");
    let token = served.logout_tokens().pop().unwrap();
    assert_eq!(served.post_token(&token).await, 400);
}

/// Additional: a valid logout token naming the session (`sid`) revokes it.
#[tokio::test]
async fn backchannel_lt_valid_by_sid() {
    let (mut h, served) = Served::harness("", |s| s).await;
    h.login_as("/page", "alice").await;
    let sid = sid_of(&h, "alice");
    let deliveries = h.idp.backchannel_logout(LogoutTarget::session(&sid)).await;
    assert_eq!(deliveries[0].status, Some(200), "{deliveries:?}");
    let claims = crafted::decode_part(&served.logout_tokens()[0], 1);
    assert_eq!(claims["sid"], Value::from(sid));
    assert_eq!(api_status(&mut h).await, 401);
    assert!(!h.has_session());
}

/// Additional: a valid logout token naming only the subject (`sub`) revokes its sessions.
#[tokio::test]
async fn backchannel_lt_valid_by_sub() {
    let (mut h, served) = Served::harness("", |s| s).await;
    h.login_as("/page", "alice").await;
    let deliveries = h
        .idp
        .backchannel_logout(LogoutTarget::subject("alice"))
        .await;
    assert_eq!(deliveries[0].status, Some(200), "{deliveries:?}");
    let claims = crafted::decode_part(&served.logout_tokens()[0], 1);
    assert!(!claims.contains_key("sid"));
    assert_eq!(api_status(&mut h).await, 401);
    assert!(!h.has_session());
}

/// Additional: a logout token without `exp` is accepted only while its `iat` is recent (five
/// minutes plus the clock leeway), so it cannot be replayed once its `jti` record is gone.
#[tokio::test]
async fn backchannel_lt_without_exp_is_refused_once_old() {
    let (mut h, served, key) = crafted_setup("", Alg::ES256).await;
    let mut claims = claims_for(&h);
    claims.remove("exp");
    claims.insert("iat".into(), json!(h.clock.now() - 2 * 3600));
    let bad = key.sign("logout+jwt", &claims);
    refused_then_valid(&mut h, &served, &key, &bad).await;
}

/// Additional: a logout token without `exp`, accepted once, is refused as a replay while it is
/// still young enough to be accepted, and as too old after that (when its `jti` record may be
/// gone).
#[tokio::test]
async fn backchannel_lt_without_exp_is_never_replayable() {
    let (h, served, key) = crafted_setup("", Alg::ES256).await;
    let mut claims = claims_for(&h);
    claims.remove("exp");
    let token = key.sign("logout+jwt", &claims);
    assert_eq!(served.post_token(&token).await, 200);
    h.advance(Duration::from_secs(4 * 60));
    assert_eq!(served.post_token(&token).await, 400);
    h.advance(Duration::from_secs(2 * 3600));
    assert_eq!(served.post_token(&token).await, 400);
}

/// Additional: a token of another kind (`typ` `at+jwt`, an access token with the claims of a
/// logout token) is refused as a logout token.
#[tokio::test]
async fn backchannel_lt_with_another_typ_is_refused() {
    for typ in ["at+jwt", "application/at+jwt", "secevent+jwt"] {
        let (mut h, served, key) = crafted_setup("", Alg::ES256).await;
        let bad = key.sign(typ, &claims_for(&h));
        refused_then_valid(&mut h, &served, &key, &bad).await;
    }
}

/// Additional: `logout+jwt`, `application/logout+jwt`, `JWT` (Keycloak) and no `typ` at all
/// are accepted, whatever their case.
#[tokio::test]
async fn backchannel_lt_typ_logout_jwt_or_none_is_accepted() {
    for typ in [
        Some("logout+jwt"),
        Some("application/logout+JWT"),
        Some("JWT"),
        Some("jwt"),
        None,
    ] {
        let (mut h, served, key) = crafted_setup("", Alg::ES256).await;
        let mut header = json!({"alg": "ES256", "kid": crafted::KID});
        if let Some(typ) = typ {
            header["typ"] = typ.into();
        }
        let token = key.sign_with_header(&header, &claims_for(&h));
        assert_eq!(served.post_token(&token).await, 200, "{typ:?}");
        assert_eq!(api_status(&mut h).await, 401, "{typ:?}");
    }
}

/// Additional: a logout token whose `nbf` is still ahead (beyond the clock leeway) is refused.
#[tokio::test]
async fn backchannel_lt_before_nbf_is_refused() {
    let (mut h, served, key) = crafted_setup("", Alg::ES256).await;
    let mut claims = claims_for(&h);
    claims.insert("nbf".into(), json!(h.clock.now() + 3600));
    let bad = key.sign("logout+jwt", &claims);
    refused_then_valid(&mut h, &served, &key, &bad).await;
}

/// Additional: anyone can POST a logout token, so one naming an unknown `kid` does not make the
/// gateway fetch the provider's keys more than once per refetch interval.
#[tokio::test]
async fn backchannel_lt_unknown_kid_keeps_the_refetch_limit() {
    let (mut h, served, key) = crafted_setup("", Alg::ES256).await;
    let fetches = h.idp.jwks_fetches();
    let stranger = ProviderKey::generate();
    let header = json!({"alg": "ES256", "kid": "not-published"});
    for _ in 0..5 {
        let bad = stranger.sign_with_header(&header, &claims_for(&h));
        assert_eq!(served.post_token(&bad).await, 400);
    }
    assert!(
        h.idp.jwks_fetches() <= fetches + 1,
        "{}",
        h.idp.jwks_fetches()
    );
    let limited = h.idp.jwks_fetches();
    for _ in 0..5 {
        let bad = stranger.sign_with_header(&header, &claims_for(&h));
        assert_eq!(served.post_token(&bad).await, 400);
    }
    assert_eq!(h.idp.jwks_fetches(), limited);
    assert_eq!(api_status(&mut h).await, 200);
    let valid = key.sign("logout+jwt", &claims_for(&h));
    assert_eq!(served.post_token(&valid).await, 200);
}

/// Additional: while the provider's JWKS endpoint fails and no key set was ever loaded, logout
/// tokens POSTed in a row cause one fetch, not one each; the next attempt waits for the
/// refetch interval.
#[tokio::test]
async fn backchannel_jwks_failures_are_not_refetched_per_token() {
    let (h, served) = Served::harness("clientConfig: { maxRetries: 0 }\n", |s| s).await;
    h.idp.set_fault(portcullis_devidp::Fault::JwksUnavailable);
    let token = crafted::logout_claims(&h.idp.issuer(), CLIENT_ID, Some("s"), None, h.clock.now());
    let token = ProviderKey::generate().sign("logout+jwt", &token);
    assert_eq!(served.post_token(&token).await, 502);
    let fetches = h.idp.jwks_fetches();
    assert!(fetches >= 1);
    for _ in 0..5 {
        assert_eq!(served.post_token(&token).await, 502);
    }
    assert_eq!(h.idp.jwks_fetches(), fetches);
    h.advance(Duration::from_secs(31));
    assert_eq!(served.post_token(&token).await, 502);
    assert_eq!(h.idp.jwks_fetches(), fetches + 1);
}
