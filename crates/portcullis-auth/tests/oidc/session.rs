//! Session cookies: sliding renewal, expiry, refresh (single-flight, refusal), CSRF, tampering,
//! chunking, and instance reuse across reloads.

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use portcullis_devidp::{Fault, GrantType, UserSpec};

use crate::support::{Outcome, Setup, send_raw};

fn session_cookies(outcome: &Outcome) -> Vec<String> {
    outcome
        .set_cookies()
        .into_iter()
        .filter(|c| c.starts_with("oidc-test-session"))
        .collect()
}

#[tokio::test]
async fn sliding_renews_the_cookie_on_each_request() {
    let mut h = Setup::new("session: { expiry: 600 }\n")
        .idp(|b| b.access_token_ttl(Duration::from_secs(3600)))
        .start()
        .await;
    h.login_as("/", "alice").await;
    h.advance(Duration::from_secs(400));
    let outcome = h.get("/").await;
    assert_eq!(outcome.status(), 200);
    let renewed = session_cookies(&outcome);
    assert_eq!(renewed.len(), 1);
    assert!(renewed[0].contains("Max-Age=600"), "{renewed:?}");
    // 400 + 400 s after login, but only 400 s after the renewal: still logged in.
    h.advance(Duration::from_secs(400));
    assert_eq!(h.get("/").await.status(), 200);
}

#[tokio::test]
async fn sliding_renewal_waits_for_a_small_step_of_the_lifetime() {
    // Lifetime 1000 s: the step is 10 s (1%), so requests within it reuse the cookie as is.
    let mut h = Setup::new("session: { expiry: 1000 }\n")
        .idp(|b| b.access_token_ttl(Duration::from_secs(3600)))
        .start()
        .await;
    h.login_as("/", "alice").await;
    h.advance(Duration::from_secs(5));
    let outcome = h.get("/").await;
    assert_eq!(outcome.status(), 200);
    assert!(
        session_cookies(&outcome).is_empty(),
        "renewed within the step"
    );
    h.advance(Duration::from_secs(6));
    let outcome = h.get("/").await;
    assert_eq!(outcome.status(), 200);
    let renewed = session_cookies(&outcome);
    assert_eq!(renewed.len(), 1, "not renewed after the step");
    assert!(renewed[0].contains("Max-Age=1000"), "{renewed:?}");
}

#[tokio::test]
async fn without_sliding_the_session_expires_on_time() {
    let mut h = Setup::new("session: { expiry: 600, sliding: false }\n")
        .idp(|b| b.access_token_ttl(Duration::from_secs(3600)))
        .start()
        .await;
    h.login_as("/", "alice").await;
    h.advance(Duration::from_secs(400));
    let outcome = h.get("/").await;
    assert_eq!(outcome.status(), 200);
    assert!(session_cookies(&outcome).is_empty(), "no renewal");
    h.advance(Duration::from_secs(400));
    // Expired: a navigation starts a new login and the dead cookie is deleted.
    let outcome = h.get("/").await;
    assert_eq!(outcome.status(), 302);
    assert!(!h.has_session());
    // An API call gets 401.
    h.login_as("/", "alice").await;
    h.advance(Duration::from_secs(700));
    let outcome = h
        .send(Method::GET, "/", &[("accept", "application/json")])
        .await;
    assert_eq!(outcome.status(), 401);
    assert!(!h.has_session());
}

#[tokio::test]
async fn an_old_cookie_replayed_after_expiry_does_not_work() {
    let mut h = Setup::new("session: { expiry: 60, sliding: false }\n")
        .start()
        .await;
    h.login_as("/", "alice").await;
    let saved = h.jar.header().unwrap();
    h.advance(Duration::from_secs(120));
    let outcome = send_raw(
        &h.middleware,
        Method::GET,
        "/",
        &[("accept", "application/json")],
        Some(&saved),
    )
    .await;
    assert_eq!(outcome.status(), 401);
}

#[tokio::test]
async fn tampered_or_foreign_session_cookies_are_refused_and_deleted() {
    let mut h = Setup::new("").start().await;
    h.login_as("/", "alice").await;
    let name = h
        .jar
        .names()
        .into_iter()
        .find(|n| n.starts_with("oidc-test-session"))
        .unwrap();
    let value = h.jar.cookies[&name].clone();
    let mut bytes = value.into_bytes();
    let middle = bytes.len() / 2;
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    h.jar
        .cookies
        .insert(name.clone(), String::from_utf8(bytes).unwrap());
    let outcome = h
        .send(Method::GET, "/", &[("accept", "application/json")])
        .await;
    assert_eq!(outcome.status(), 401);
    assert!(!h.has_session(), "the broken cookie was deleted");

    // A session of another gateway (other client secret) does not open here.
    let mut other = Setup::new("").start().await;
    other.login_as("/", "alice").await;
    let foreign = other.jar.header().unwrap();
    let outcome = send_raw(
        &h.middleware,
        Method::GET,
        "/",
        &[("accept", "application/json")],
        Some(&foreign),
    )
    .await;
    assert_eq!(outcome.status(), 401, "keys derive from the issuer too");
}

#[tokio::test]
async fn large_sessions_are_chunked() {
    let big: Vec<String> = (0..600)
        .map(|i| format!("group-{i}-{}", i * 7919))
        .collect();
    let mut h = Setup::new("forwardHeaders: { X-Groups: groups }\n")
        .idp(|b| b.user(UserSpec::new("carol").claims(serde_json::json!({"groups": big}))))
        .start()
        .await;
    h.login_as("/", "carol").await;
    let chunks: Vec<String> = h
        .jar
        .names()
        .into_iter()
        .filter(|n| n.starts_with("oidc-test-session-"))
        .collect();
    assert!(chunks.len() >= 2, "{chunks:?}");
    let outcome = h.get("/").await;
    assert_eq!(outcome.status(), 200);
    assert_eq!(
        outcome
            .forwarded()
            .headers()
            .get_all("x-groups")
            .iter()
            .count(),
        600
    );
    assert!(outcome.header("cookie").is_none());
}

#[tokio::test]
async fn expired_access_tokens_are_refreshed() {
    let mut h = Setup::new("")
        .idp(|b| b.access_token_ttl(Duration::from_secs(60)))
        .start()
        .await;
    h.login_as("/", "alice").await;
    let first = h.get("/").await.header("authorization").unwrap();
    h.advance(Duration::from_secs(120));
    let outcome = h.get("/").await;
    assert_eq!(outcome.status(), 200);
    let second = outcome.header("authorization").unwrap();
    assert_ne!(first, second);
    assert_eq!(h.idp.token_calls(GrantType::RefreshToken), 1);
    assert_eq!(
        session_cookies(&outcome).len(),
        1,
        "the refreshed session is stored"
    );
    // The next request uses the refreshed session without refreshing again.
    assert_eq!(h.get("/").await.header("authorization").unwrap(), second);
    assert_eq!(h.idp.token_calls(GrantType::RefreshToken), 1);
}

#[tokio::test]
async fn concurrent_requests_refresh_once() {
    let mut h = Setup::new("")
        .idp(|b| b.access_token_ttl(Duration::from_secs(60)))
        .start()
        .await;
    h.login_as("/", "alice").await;
    h.advance(Duration::from_secs(120));
    let cookie = h.jar.header().unwrap();
    let middleware = Arc::new(h.middleware.clone());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let middleware = Arc::clone(&middleware);
        let cookie = cookie.clone();
        tasks.push(tokio::spawn(async move {
            let outcome = send_raw(&middleware, Method::GET, "/", &[], Some(&cookie)).await;
            (outcome.status(), outcome.header("authorization"))
        }));
    }
    let mut tokens = Vec::new();
    for task in tasks {
        let (status, token) = task.await.unwrap();
        assert_eq!(status, 200);
        tokens.push(token.unwrap());
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "every request got the one refreshed token");
    assert_eq!(h.idp.token_calls(GrantType::RefreshToken), 1);
    // A late request with the old cookie, within the grace period, reuses the result.
    let late = send_raw(&middleware, Method::GET, "/", &[], Some(&cookie)).await;
    assert_eq!(late.status(), 200);
    assert_eq!(h.idp.token_calls(GrantType::RefreshToken), 1);
}

#[tokio::test]
async fn a_refused_refresh_ends_the_session() {
    let mut h = Setup::new("")
        .idp(|b| b.access_token_ttl(Duration::from_secs(60)))
        .start()
        .await;
    h.login_as("/", "alice").await;
    h.advance(Duration::from_secs(120));
    h.idp.set_fault(Fault::RefreshRefused);
    let outcome = h
        .send(Method::GET, "/", &[("accept", "application/json")])
        .await;
    assert_eq!(outcome.status(), 401);
    assert!(!h.has_session());
    // A navigation starts a new login instead.
    h.idp.clear_faults();
    h.login_as("/", "alice").await;
    h.advance(Duration::from_secs(120));
    h.idp.set_fault(Fault::RefreshRefused);
    assert_eq!(h.get("/").await.status(), 302);
    assert!(!h.has_session());
}

#[tokio::test]
async fn refresh_provider_failures_keep_the_session() {
    let mut h = Setup::new("clientConfig: { maxRetries: 0 }\n")
        .idp(|b| b.access_token_ttl(Duration::from_secs(60)))
        .start()
        .await;
    h.login_as("/", "alice").await;
    h.advance(Duration::from_secs(120));
    h.idp.set_fault(Fault::TokenServerError);
    assert_eq!(h.get("/").await.status(), 502);
    assert!(h.has_session());
    // The failure is not remembered: the next request refreshes again and succeeds.
    h.idp.clear_faults();
    assert_eq!(h.get("/").await.status(), 200);
}

#[tokio::test]
async fn without_refresh_an_expired_access_token_means_a_new_login() {
    let mut h = Setup::new("session: { refresh: false }\n")
        .idp(|b| b.access_token_ttl(Duration::from_secs(60)))
        .start()
        .await;
    h.login_as("/", "alice").await;
    h.advance(Duration::from_secs(120));
    assert_eq!(h.get("/").await.status(), 302);
    assert_eq!(h.idp.token_calls(GrantType::RefreshToken), 0);
    assert!(!h.has_session());
}

#[tokio::test]
async fn csrf_guards_unsafe_methods() {
    let mut h = Setup::new("csrf: {}\n").start().await;
    let done = h.login_as("/", "alice").await;
    let csrf_cookie = done
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("traefikee-csrf-token="))
        .expect("CSRF cookie issued with the session");
    assert!(!csrf_cookie.contains("HttpOnly"), "scripts must read it");
    let token = h.jar.cookies["traefikee-csrf-token"].clone();
    assert_eq!(h.get("/").await.status(), 200);
    assert_eq!(h.send(Method::POST, "/api", &[]).await.status(), 403);
    assert_eq!(
        h.send(Method::DELETE, "/api", &[("traefikhub-csrf-token", "nope")])
            .await
            .status(),
        403
    );
    let ok = h
        .send(Method::POST, "/api", &[("TraefikHub-Csrf-Token", &token)])
        .await;
    assert_eq!(ok.status(), 200);
    assert!(
        ok.header("cookie").is_none(),
        "the CSRF cookie is not forwarded"
    );
    // A missing cookie is reissued on a safe request.
    h.jar.cookies.remove("traefikee-csrf-token");
    h.get("/").await;
    assert!(h.jar.cookies.contains_key("traefikee-csrf-token"));

    let mut custom = Setup::new("csrf: { headerName: X-Csrf, secure: true }\n")
        .start()
        .await;
    let done = custom.login_as("/", "alice").await;
    assert!(
        done.set_cookies()
            .iter()
            .any(|c| c.starts_with("traefikee-csrf-token=") && c.contains("Secure"))
    );
    let token = custom.jar.cookies["traefikee-csrf-token"].clone();
    assert_eq!(
        custom
            .send(Method::PUT, "/", &[("x-csrf", &token)])
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn registry_reuses_unchanged_instances_and_keeps_sessions_across_secret_rotation() {
    use portcullis_auth::AuthRegistry;
    use portcullis_config::LocalResolver;
    use portcullis_config::plugin::PluginConfig;

    let mut h = Setup::new("").start().await;
    let registry = AuthRegistry::with_options(Setup::new("").options);
    let issuer = h.idp.issuer();
    let yaml = |secret: &str| {
        format!(
            "issuer: {issuer}\nredirectUrl: /callback\nclientID: gateway\nclientSecret: {secret}\n"
        )
    };
    let plugin = |secret: &str| PluginConfig::Oidc(Box::new(crate::support::config(&yaml(secret))));
    let resolver = LocalResolver::new();
    registry
        .build(
            "oidc-test",
            &plugin(crate::support::CLIENT_SECRET),
            None,
            &resolver,
        )
        .unwrap();
    let first = registry.oidc(None, "oidc-test").unwrap();
    registry
        .build(
            "oidc-test",
            &plugin(crate::support::CLIENT_SECRET),
            None,
            &resolver,
        )
        .unwrap();
    assert!(
        registry
            .oidc(None, "oidc-test")
            .unwrap()
            .is_same_instance(&first)
    );

    // A session made by the first instance.
    h.middleware = first.clone();
    h.login_as("/", "alice").await;
    assert_eq!(h.get("/").await.status(), 200);

    // The secret rotates: a new instance, which still opens the old cookies.
    registry
        .build(
            "oidc-test",
            &plugin("rotated-secret-value"),
            None,
            &resolver,
        )
        .unwrap();
    let second = registry.oidc(None, "oidc-test").unwrap();
    assert!(!second.is_same_instance(&first));
    h.middleware = second;
    assert_eq!(h.get("/").await.status(), 200);

    registry.retain(&[]);
    assert!(registry.is_empty());
}

#[tokio::test]
async fn a_session_store_without_a_shared_store_is_refused() {
    let yaml = "issuer: http://127.0.0.1:9\nredirectUrl: /callback\nclientID: a\nclientSecret: b\nsession: { store: { redis: { endpoints: [\"redis:6379\"] } } }\n";
    let config = crate::support::config(yaml);
    let secrets = portcullis_auth::oidc::OidcSecrets::resolve(
        &config,
        None,
        &portcullis_config::LocalResolver::new(),
    )
    .unwrap();
    let error = portcullis_auth::oidc::OidcMiddleware::new(config, secrets, Setup::new("").options)
        .unwrap_err();
    assert!(
        error.to_string().contains("no shared store was built"),
        "{error}"
    );
}

#[tokio::test]
async fn denials_explain_the_failed_check_without_token_contents() {
    use portcullis_proxy::middleware::Middleware;

    let mut h = Setup::new("claims: Equals(`grp`, `user`) || Prefix(`email`, `root@`)\n")
        .start()
        .await;
    h.login_as("/", "alice").await;
    let cookie = h.jar.header().unwrap();
    let request = http::Request::builder()
        .uri("/")
        .header("host", "app.test")
        .header("cookie", cookie)
        .body(portcullis_proxy::body::empty())
        .unwrap();
    let mut ctx = portcullis_proxy::middleware::RequestContext::new(
        "127.0.0.1:1".parse().unwrap(),
        portcullis_proxy::middleware::Scheme::Http,
        "web".into(),
        "app".into(),
    );
    let error = h.middleware.handle(request, &mut ctx).await.unwrap_err();
    assert_eq!(error.status(), 403);
    assert!(
        error.cause().contains("Equals(`grp`, `user`)"),
        "{}",
        error.cause()
    );
    assert!(!error.cause().contains("alice"), "{}", error.cause());
    assert!(
        !error.cause().contains("ey"),
        "no token in the cause: {}",
        error.cause()
    );
}

/// Sliding renewal renews the CSRF cookie with the session cookie, keeping its value (a page
/// may hold the token in memory), so unsafe requests keep working as long as the session does.
#[tokio::test]
async fn sliding_renewal_renews_the_csrf_cookie_too() {
    let mut h = Setup::new("csrf: {}\nsession: { expiry: 600 }\n")
        .idp(|b| b.access_token_ttl(Duration::from_secs(36_000)))
        .start()
        .await;
    h.login_as("/", "alice").await;
    let token = h.jar.cookies["traefikee-csrf-token"].clone();
    h.advance(Duration::from_secs(400));
    let outcome = h
        .send(Method::POST, "/api", &[("traefikhub-csrf-token", &token)])
        .await;
    assert_eq!(outcome.status(), 200);
    let set = outcome.set_cookies();
    assert!(
        set.iter()
            .any(|c| c.starts_with("oidc-test-session") && c.contains("Max-Age=600")),
        "the session was renewed: {set:?}"
    );
    let csrf = set
        .iter()
        .find(|c| c.starts_with("traefikee-csrf-token="))
        .unwrap_or_else(|| panic!("the CSRF cookie is renewed with the session: {set:?}"));
    assert!(csrf.contains("Max-Age=600"), "{csrf}");
    assert!(
        csrf.starts_with(&format!("traefikee-csrf-token={token};")),
        "the token keeps its value: {csrf}"
    );
}
