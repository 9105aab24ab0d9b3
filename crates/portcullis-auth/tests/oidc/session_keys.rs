//! Where the session key comes from, and what a holder of the client secret can do with it:
//! forged sessions are refused (the stored ID token is verified again with the provider's keys
//! when a replica first opens a session), `session.secret` makes the key independent of the
//! client secret, and a rotated key keeps opening old values for one `session.expiry` only.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Method;
use portcullis_auth::AuthRegistry;
use portcullis_auth::oidc::Session;
use portcullis_auth::shared::seal::{Purpose, Sealer};
use portcullis_config::LocalResolver;
use portcullis_config::plugin::PluginConfig;
use portcullis_devidp::Alg;

use crate::support::{CLIENT_SECRET, Harness, Setup, send_raw};

const SESSION_SECRET: &str = "a-session-secret-of-at-least-32-bytes!!";
const COOKIE: &str = "oidc-test-session";

fn session_cookie(h: &Harness) -> String {
    h.jar.cookies[COOKIE].clone()
}

/// The key a holder of the client secret derives, knowing the public issuer.
fn client_secret_sealer(h: &Harness, secret: &str) -> Sealer {
    Sealer::derive(secret, &h.idp.issuer(), Purpose::Session).unwrap()
}

fn open(sealer: &Sealer, cookie: &str) -> Option<Session> {
    let plaintext = sealer.open(cookie).ok()?;
    serde_json::from_slice(&plaintext).ok()
}

fn seal(sealer: &Sealer, session: &Session) -> String {
    sealer
        .seal(&serde_json::to_vec(session).unwrap(), true)
        .unwrap()
}

async fn api(h: &Harness, cookie: &str) -> u16 {
    send_raw(
        &h.middleware,
        Method::GET,
        "/",
        &[("accept", "application/json")],
        Some(&format!("{COOKIE}={cookie}")),
    )
    .await
    .status()
}

/// `token` with its payload replaced by `claims` (the signature no longer matches).
fn with_claims(token: &str, claims: serde_json::Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

fn payload(token: &str) -> serde_json::Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn a_session_forged_with_the_client_secret_is_refused() {
    let mut h = Setup::new("claims: Equals(`grp`, `admin`)\n").start().await;
    h.login_as("/", "alice").await;
    assert_eq!(h.get("/").await.status(), 200);
    let genuine = open(
        &client_secret_sealer(&h, CLIENT_SECRET),
        &session_cookie(&h),
    )
    .expect("today's key derives from the client secret and the issuer");
    // bob (grp: user) is not admitted; a forger turns his ID token into an admin's.
    let mut claims = payload(&genuine.id_token);
    claims["sub"] = "bob".into();
    let forged = Session {
        id: "forged".into(),
        sub: "bob".into(),
        id_token: with_claims(&genuine.id_token, claims).into(),
        ..genuine.clone()
    };
    let cookie = seal(&client_secret_sealer(&h, CLIENT_SECRET), &forged);
    assert_eq!(api(&h, &cookie).await, 401, "a rewritten ID token");
    // A genuine ID token of alice in a session claiming to be bob's (revocations go by the
    // session's sub): refused too.
    let mislabelled = Session {
        id: "forged-2".into(),
        sub: "bob".into(),
        ..genuine
    };
    let cookie = seal(&client_secret_sealer(&h, CLIENT_SECRET), &mislabelled);
    assert_eq!(api(&h, &cookie).await, 401, "a sub that is not the token's");
}

#[tokio::test]
async fn with_session_secret_the_client_secret_does_not_open_or_forge_sessions() {
    let mut h = Setup::new(&format!("session: {{ secret: \"{SESSION_SECRET}\" }}\n"))
        .start()
        .await;
    h.login_as("/", "alice").await;
    assert_eq!(h.get("/").await.status(), 200);
    let cookie = session_cookie(&h);
    let sealer = client_secret_sealer(&h, CLIENT_SECRET);
    assert!(
        open(&sealer, &cookie).is_none(),
        "the client secret does not open the session"
    );
    // A session sealed with the client secret's key does not open either.
    let mut other = Setup::new("").start().await;
    other.login_as("/", "alice").await;
    let genuine = open(
        &client_secret_sealer(&other, CLIENT_SECRET),
        &session_cookie(&other),
    )
    .unwrap();
    let forged = seal(&sealer, &genuine);
    assert_eq!(api(&h, &forged).await, 401);
}

/// Sessions whose ID token was signed with a key the provider has since removed from its JWKS:
/// a replica opening them for the first time cannot tell them from a forgery when the session
/// key derives from the client secret (re-login), but can when it derives from
/// `session.secret` (kept).
#[tokio::test]
async fn a_retired_provider_key_ends_only_sessions_keyed_by_the_client_secret() {
    for (extra, expected) in [
        (String::new(), 401),
        (
            format!("session: {{ secret: \"{SESSION_SECRET}\" }}\n"),
            200,
        ),
    ] {
        let mut h = Setup::new(&extra)
            .options(|o| o.jwks_refetch_interval = Duration::ZERO)
            .start()
            .await;
        h.login_as("/", "alice").await;
        assert_eq!(h.get("/").await.status(), 200);
        let old = h.idp.signing_kid(Alg::RS256).unwrap();
        h.idp.rotate_signing_key(Alg::RS256).unwrap();
        h.idp.remove_key(&old).unwrap();
        h.middleware = h.replica();
        let status = api(&h, &session_cookie(&h)).await;
        assert_eq!(status, expected, "with {extra:?}");
    }
}

#[tokio::test]
async fn a_previous_client_secret_opens_sessions_for_one_session_expiry_only() {
    let mut h = Setup::new("")
        .idp(|b| b.access_token_ttl(Duration::from_secs(36_000)))
        .start()
        .await;
    let registry = AuthRegistry::with_options(h.options.clone());
    let issuer = h.idp.issuer();
    let plugin = |secret: &str, extra: &str| {
        PluginConfig::Oidc(Box::new(crate::support::config(&format!(
            "issuer: {issuer}\nredirectUrl: /callback\nclientID: gateway\nclientSecret: {secret}\nsession: {{ expiry: 600, sliding: false }}\n{extra}"
        ))))
    };
    let resolver = LocalResolver::new();
    registry
        .build("oidc-test", &plugin(CLIENT_SECRET, ""), None, &resolver)
        .unwrap();
    h.middleware = registry.oidc(None, "oidc-test").unwrap();
    h.login_as("/", "alice").await;
    // Whoever holds the old secret can give a session any expiry.
    let old_key = client_secret_sealer(&h, CLIENT_SECRET);
    let mut session = open(&old_key, &session_cookie(&h)).unwrap();
    session.expires_at += 100_000;
    let long_lived = seal(&old_key, &session);

    // The secret rotates: the old key still opens values, for one session.expiry.
    registry
        .build(
            "oidc-test",
            &plugin("second-secret-value", ""),
            None,
            &resolver,
        )
        .unwrap();
    h.middleware = registry.oidc(None, "oidc-test").unwrap();
    assert_eq!(api(&h, &long_lived).await, 200, "just after the rotation");
    h.advance(Duration::from_secs(590));
    assert_eq!(api(&h, &long_lived).await, 200, "within session.expiry");
    h.advance(Duration::from_secs(20));
    assert_eq!(
        api(&h, &long_lived).await,
        401,
        "past session.expiry after the rotation"
    );

    // Rotated again; a reload changing something else within the window neither drops the
    // previous key nor extends its time.
    let second_key = client_secret_sealer(&h, "second-secret-value");
    let long_lived = seal(&second_key, &session);
    assert_eq!(api(&h, &long_lived).await, 200, "the current key");
    registry
        .build(
            "oidc-test",
            &plugin("third-secret-value", ""),
            None,
            &resolver,
        )
        .unwrap();
    h.middleware = registry.oidc(None, "oidc-test").unwrap();
    h.advance(Duration::from_secs(300));
    registry
        .build(
            "oidc-test",
            &plugin("third-secret-value", "pkce: true\n"),
            None,
            &resolver,
        )
        .unwrap();
    let reloaded = registry.oidc(None, "oidc-test").unwrap();
    assert!(!reloaded.is_same_instance(&h.middleware));
    h.middleware = reloaded;
    assert_eq!(api(&h, &long_lived).await, 200, "after an unrelated reload");
    h.advance(Duration::from_secs(310));
    assert_eq!(api(&h, &long_lived).await, 401, "past the window");
}

/// The notes `portcullis check` prints name each plugin key written in another spelling than
/// the canonical one (the keys are accepted case-insensitively, as Traefik Hub does).
#[test]
fn check_notes_warn_about_keys_in_another_spelling() {
    use portcullis_config::plugin::{RawPlugin, validate_plugin};
    use portcullis_config::{Errors, Path};
    let registry = AuthRegistry::new();
    let resolver = LocalResolver::new();
    for (name, block) in [
        (
            "login",
            "oidc:\n  Issuer: http://127.0.0.1:1\n  redirectURL: /cb\n  clientid: c\n  clientSecret: s\n  Session: { Expiry: 60 }\n",
        ),
        (
            "api",
            "oAuthClientCredentials:\n  URL: http://127.0.0.1:1/token\n  clientID: c\n  ClientSecret: s\n",
        ),
    ] {
        let raw: RawPlugin = serde_saphyr::from_str(block).unwrap();
        let mut errors = Errors::new();
        let path = Path::root().key("http.middlewares").key(name).key("plugin");
        let plugin = validate_plugin(&raw, name, &path, &mut errors).unwrap();
        assert!(errors.is_empty());
        registry.build(name, &plugin, None, &resolver).unwrap();
    }
    let notes = registry.session_key_notes().join("\n");
    for expected in [
        "warning: http.middlewares.login.plugin.oidc.redirectUrl: key \"redirectURL\" read as \"redirectUrl\"",
        "warning: http.middlewares.login.plugin.oidc.clientID: key \"clientid\" read as \"clientID\"",
        "warning: http.middlewares.login.plugin.oidc.session.expiry: key \"Expiry\" read as \"expiry\"",
        "warning: http.middlewares.api.plugin.oAuthClientCredentials.clientSecret: key \"ClientSecret\" read as \"clientSecret\"",
    ] {
        assert!(notes.contains(expected), "{expected} in:\n{notes}");
    }
}
