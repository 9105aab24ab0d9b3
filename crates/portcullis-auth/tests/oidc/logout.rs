//! Logout and back-channel logout.

use std::time::Duration;

use http::Method;
use portcullis_devidp::LogoutTarget;

use std::sync::{Arc, OnceLock};

use portcullis_auth::oidc::OidcMiddleware;

use crate::support::{Setup, query, send_raw, send_request};

#[tokio::test]
async fn logout_ends_the_gateway_session_and_redirects_to_post_logout_redirect_url() {
    let mut h = Setup::new("logoutUrl: /logout\npostLogoutRedirectUrl: /bye\ncsrf: {}\n")
        .start()
        .await;
    h.login_as("/", "alice").await;
    let old = h.jar.header().unwrap();
    let outcome = h.get("/logout").await;
    assert_eq!(outcome.status(), 302);
    // As Traefik Hub: straight to the configured page, the provider is not involved.
    assert_eq!(outcome.location().unwrap(), "http://app.test/bye");
    assert!(!h.has_session());
    assert!(!h.jar.cookies.contains_key("traefikee-csrf-token"));
    assert_eq!(
        h.idp.sessions().len(),
        1,
        "the provider session is untouched"
    );
    let replay = send_raw(
        &h.middleware,
        Method::GET,
        "/",
        &[("accept", "application/json")],
        Some(&old),
    )
    .await;
    assert_eq!(replay.status(), 401);
}

#[tokio::test]
async fn end_provider_session_ends_the_session_at_the_gateway_and_the_provider() {
    let mut h = Setup::new(
        "logoutUrl: /logout\npostLogoutRedirectUrl: /bye\ncsrf: {}\nendProviderSession: true\n",
    )
    .start()
    .await;
    h.login_as("/", "alice").await;
    let old = h.jar.header().unwrap();
    let outcome = h.get("/logout").await;
    assert_eq!(outcome.status(), 302);
    let location = outcome.location().unwrap();
    assert!(
        location.starts_with(&format!("{}/", h.idp.issuer())),
        "{location}"
    );
    let params = query(&location);
    assert!(params["id_token_hint"].starts_with("ey"));
    assert_eq!(params["post_logout_redirect_uri"], "http://app.test/bye");
    assert!(!h.has_session());
    assert!(!h.jar.cookies.contains_key("traefikee-csrf-token"));
    // A copy of the old cookie no longer works.
    let replay = send_raw(
        &h.middleware,
        Method::GET,
        "/",
        &[("accept", "application/json")],
        Some(&old),
    )
    .await;
    assert_eq!(replay.status(), 401);
}

#[tokio::test]
async fn logout_without_a_session() {
    let mut h = Setup::new("logoutUrl: /logout\n").start().await;
    assert_eq!(h.send(Method::DELETE, "/logout", &[]).await.status(), 204);
    let mut h = Setup::new("logoutUrl: /logout\npostLogoutRedirectUrl: https://example.com/bye\n")
        .start()
        .await;
    let outcome = h.send(Method::POST, "/logout", &[]).await;
    assert_eq!(outcome.status(), 302);
    assert_eq!(outcome.location().unwrap(), "https://example.com/bye");
    assert_eq!(h.send(Method::PUT, "/logout", &[]).await.status(), 405);
}

#[tokio::test]
async fn unsafe_logout_needs_the_csrf_token() {
    let mut h = Setup::new("logoutUrl: /logout\ncsrf: {}\n").start().await;
    h.login_as("/", "alice").await;
    assert_eq!(h.send(Method::POST, "/logout", &[]).await.status(), 403);
    assert!(h.has_session());
    let token = h.jar.cookies["traefikee-csrf-token"].clone();
    assert_eq!(
        h.send(
            Method::POST,
            "/logout",
            &[("traefikhub-csrf-token", &token)]
        )
        .await
        .status(),
        204
    );
    assert!(!h.has_session());
}

/// Serves whatever middleware is put in the slot on a loopback port, so the provider can POST
/// logout tokens to it. Returns the back-channel URL.
pub async fn serve() -> (String, Arc<OnceLock<OidcMiddleware>>) {
    let slot: Arc<OnceLock<OidcMiddleware>> = Arc::new(OnceLock::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let served = Arc::clone(&slot);
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let served = Arc::clone(&served);
        async move {
            let Some(middleware) = served.get() else {
                return axum::http::StatusCode::SERVICE_UNAVAILABLE;
            };
            let (mut parts, body) = request.into_parts();
            parts.headers.insert(
                http::header::HOST,
                http::HeaderValue::from_static("app.test"),
            );
            let bytes = http_body_util::BodyExt::collect(body)
                .await
                .unwrap()
                .to_bytes();
            let body = portcullis_proxy::body::full(bytes);
            let outcome = send_request(middleware, http::Request::from_parts(parts, body)).await;
            axum::http::StatusCode::from_u16(outcome.status()).unwrap()
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/backchannel-logout"), slot)
}

async fn backchannel_setup(extra: &str) -> (crate::support::Harness, String) {
    let (url, slot) = serve().await;
    let h = Setup::new(&format!(
        "backchannelLogoutUrl: /backchannel-logout\n{extra}"
    ))
    .client(|c| c.backchannel_logout_uri(url.clone()))
    .start()
    .await;
    slot.set(h.middleware.clone()).unwrap();
    (h, url)
}

#[tokio::test]
async fn backchannel_logout_by_session_revokes_it() {
    let (mut h, _) = backchannel_setup("").await;
    h.login_as("/", "alice").await;
    assert_eq!(h.get("/").await.status(), 200);
    let sid = h
        .idp
        .sessions()
        .into_iter()
        .find(|(_, user)| user == "alice")
        .unwrap()
        .0;
    let deliveries = h.idp.backchannel_logout(LogoutTarget::session(sid)).await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, Some(200), "{deliveries:?}");
    let outcome = h
        .send(Method::GET, "/", &[("accept", "application/json")])
        .await;
    assert_eq!(outcome.status(), 401);
    assert!(!h.has_session());
    // Logging in again works at once.
    h.login_as("/", "alice").await;
    assert_eq!(h.get("/").await.status(), 200);
}

#[tokio::test]
async fn backchannel_logout_by_subject_revokes_older_sessions() {
    let (mut h, _) = backchannel_setup("").await;
    h.login_as("/", "alice").await;
    let deliveries = h
        .idp
        .backchannel_logout(LogoutTarget::subject("alice"))
        .await;
    assert_eq!(deliveries[0].status, Some(200), "{deliveries:?}");
    assert_eq!(
        h.send(Method::GET, "/", &[("accept", "application/json")])
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn backchannel_requests_are_validated() {
    let (mut h, url) = backchannel_setup("backchannelLogoutSessionsRequired: true\n").await;
    h.login_as("/", "alice").await;
    let client = reqwest::Client::new();
    let post = |body: &'static str| {
        client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    assert_eq!(
        post("logout_token=not-a-token").await.unwrap().status(),
        400
    );
    assert_eq!(post("other=1").await.unwrap().status(), 400);
    assert_eq!(client.get(&url).send().await.unwrap().status(), 405);
    // sid is required: a sub-only logout token is refused and the session survives.
    let deliveries = h
        .idp
        .backchannel_logout(LogoutTarget::subject("alice"))
        .await;
    assert_eq!(deliveries[0].status, Some(400), "{deliveries:?}");
    assert_eq!(h.get("/").await.status(), 200);
    let _ = Duration::ZERO;
}

/// A stolen copy of a cookie session, renewed by sliding, must stay refused after the owner
/// logs out with the original cookie: the revocation lasts as long as any copy can live, not
/// only as long as the cookie presented at logout.
#[tokio::test]
async fn a_logout_outlives_every_renewed_copy_of_the_cookie() {
    let mut h = Setup::new("logoutUrl: /logout\nsession: { expiry: 600 }\n")
        .idp(|b| b.access_token_ttl(Duration::from_secs(36_000)))
        .start()
        .await;
    h.login_as("/", "alice").await;
    let original = h.jar.header().unwrap();
    // The copy is used 400 s later: sliding renews it until 1000 s after login.
    h.advance(Duration::from_secs(400));
    let renewed = h.get("/").await;
    assert_eq!(renewed.status(), 200);
    assert!(
        renewed
            .set_cookies()
            .iter()
            .any(|c| c.starts_with("oidc-test-session")),
        "sliding renewed the copy"
    );
    let copy = std::mem::take(&mut h.jar);
    // The owner logs out with the original cookie (which expires 600 s after login).
    let logout = send_raw(&h.middleware, Method::GET, "/logout", &[], Some(&original)).await;
    assert!(matches!(logout.status(), 204 | 302), "{}", logout.status());
    // Past the original cookie's expiry, another logout lets the record store forget
    // whatever it considers expired.
    h.advance(Duration::from_secs(300));
    h.login_as("/", "bob").await;
    let logout = h.get("/logout").await;
    assert!(matches!(logout.status(), 204 | 302), "{}", logout.status());
    // The renewed copy is still refused.
    h.jar = copy;
    let replay = h
        .send(Method::GET, "/", &[("accept", "application/json")])
        .await;
    assert_eq!(replay.status(), 401);
}
