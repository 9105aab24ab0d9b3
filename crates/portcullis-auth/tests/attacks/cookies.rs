//! Session cookies an attacker changed, cut, replayed, moved, inflated or duplicated: each is
//! refused (401 for an API call, a new login for a navigation) and deleted, without a panic.

use http::Method;
use portcullis_auth::oidc::{OidcMiddleware, OidcSecrets};
use portcullis_config::LocalResolver;

use crate::support::{CLIENT_ID, Harness, Outcome, Setup, send_raw};

const SESSION: &str = "oidc-test-session";
const API: [(&str, &str); 1] = [("accept", "application/json")];

/// The session cookie's value (one cookie: the test sessions stay below the chunk size).
fn session_value(h: &Harness) -> String {
    h.jar.cookies[SESSION].clone()
}

/// The names `outcome` deletes.
fn deleted(outcome: &Outcome) -> Vec<String> {
    outcome
        .set_cookies()
        .iter()
        .filter(|c| c.contains("Max-Age=0"))
        .map(|c| c.split('=').next().unwrap().to_owned())
        .collect()
}

/// Sends `cookie` as an API call and as a navigation: 401 and 302 to the provider, each
/// deleting the session cookie and setting none.
async fn assert_refused_and_deleted(h: &Harness, cookie: &str, what: &str) {
    let api = send_raw(&h.middleware, Method::GET, "/", &API, Some(cookie)).await;
    assert_eq!(api.status(), 401, "{what}");
    assert!(
        deleted(&api).iter().any(|n| n == SESSION),
        "{what}: {:?}",
        api.set_cookies()
    );
    let nav = send_raw(
        &h.middleware,
        Method::GET,
        "/",
        &[("accept", "text/html")],
        Some(cookie),
    )
    .await;
    assert_eq!(nav.status(), 302, "{what}");
    assert!(
        nav.location().unwrap().starts_with(&h.idp.issuer()),
        "{what}"
    );
    assert!(deleted(&nav).iter().any(|n| n == SESSION), "{what}");
    for set in nav.set_cookies().iter().chain(api.set_cookies().iter()) {
        assert!(
            !set.starts_with(SESSION) || set.contains("Max-Age=0"),
            "{what}: {set}"
        );
    }
}

async fn logged_in() -> Harness {
    let mut h = Setup::new("").start().await;
    h.login_as("/", "alice").await;
    assert_eq!(h.get("/").await.status(), 200);
    h
}

#[tokio::test]
async fn a_cookie_with_any_byte_changed_is_refused_and_deleted() {
    let h = logged_in().await;
    let value = session_value(&h);
    let len = value.len();
    for at in [0, 1, 2, 5, 6, 17, len / 2, len - 17, len - 2, len - 1] {
        let mut bytes = value.clone().into_bytes();
        bytes[at] = if bytes[at] == b'A' { b'Q' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_refused_and_deleted(&h, &format!("{SESSION}={tampered}"), &format!("byte {at}"))
            .await;
    }
}

#[tokio::test]
async fn a_truncated_cookie_is_refused_and_deleted() {
    let h = logged_in().await;
    let value = session_value(&h);
    for keep in [value.len() - 1, value.len() - 16, value.len() / 2, 20, 1, 0] {
        let cut = &value[..keep];
        assert_refused_and_deleted(&h, &format!("{SESSION}={cut}"), &format!("{keep} bytes")).await;
    }
}

#[tokio::test]
async fn a_cookie_replayed_after_logout_is_refused_and_deleted() {
    let mut h = Setup::new("logoutUrl: /logout\n").start().await;
    h.login_as("/", "alice").await;
    let saved = h.jar.header().unwrap();
    assert_eq!(h.get("/logout").await.status(), 204);
    assert_refused_and_deleted(&h, &saved, "after logout").await;
}

/// A middleware for the same provider and client id with another client secret.
fn with_secret(h: &Harness, secret: &str) -> OidcMiddleware {
    let yaml = format!(
        "issuer: {}\nredirectUrl: /callback\nclientID: {CLIENT_ID}\nclientSecret: {secret}\n",
        h.idp.issuer()
    );
    let config = crate::support::config(&yaml);
    let secrets = OidcSecrets::resolve(&config, None, &LocalResolver::new()).unwrap();
    OidcMiddleware::new(config, secrets, h.options.clone()).unwrap()
}

#[tokio::test]
async fn a_cookie_moved_to_a_middleware_with_another_secret_is_refused_and_deleted() {
    let h = logged_in().await;
    let cookie = h.jar.header().unwrap();
    // Same provider, issuer and client id; another client secret.
    let moved = with_secret(&h, "another-secret-0123456789");
    let api = send_raw(&moved, Method::GET, "/", &API, Some(&cookie)).await;
    assert_eq!(api.status(), 401);
    assert!(deleted(&api).iter().any(|n| n == SESSION));
    // The original still opens it.
    assert_eq!(
        send_raw(&h.middleware, Method::GET, "/", &API, Some(&cookie))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn oversized_session_cookies_are_refused_cleanly() {
    let h = logged_in().await;
    let big = "A".repeat(100 * 1024);
    assert_refused_and_deleted(&h, &format!("{SESSION}={big}"), "100 KB").await;
    let huge = "A".repeat(300 * 1024);
    assert_refused_and_deleted(&h, &format!("{SESSION}={huge}"), "300 KB").await;
    // 40 chunks of 3 KB: more than a session may use.
    let chunks: Vec<String> = (1..=40)
        .map(|i| format!("{SESSION}-{i}={}", "B".repeat(3000)))
        .collect();
    let api = send_raw(
        &h.middleware,
        Method::GET,
        "/",
        &API,
        Some(&chunks.join("; ")),
    )
    .await;
    assert_eq!(api.status(), 401);
    assert_eq!(
        deleted(&api)
            .iter()
            .filter(|n| n.starts_with(SESSION))
            .count(),
        40
    );
}

#[tokio::test]
async fn duplicated_session_cookies_are_refused_cleanly() {
    let mut h = logged_in().await;
    let alice = session_value(&h);
    // Another browser's session (cookie tossing from a sibling host would plant one).
    let alice_jar = std::mem::take(&mut h.jar);
    h.login_as("/", "bob").await;
    let bob = session_value(&h);
    h.jar = alice_jar;
    let mut outcomes = Vec::new();
    for (what, cookie) in [
        (
            "garbage first",
            format!("{SESSION}=garbage; {SESSION}={alice}"),
        ),
        (
            "garbage second",
            format!("{SESSION}={alice}; {SESSION}=garbage"),
        ),
        (
            "two sessions",
            format!("{SESSION}={bob}; {SESSION}={alice}"),
        ),
        (
            "chunks and whole",
            format!("{SESSION}-1={alice}; {SESSION}={bob}"),
        ),
    ] {
        let api = send_raw(&h.middleware, Method::GET, "/", &API, Some(&cookie)).await;
        let deletes = deleted(&api).iter().any(|n| n == SESSION);
        outcomes.push((what, api.status(), deletes));
    }
    // Which of two sessions wins is up to the order the browser sends them in (RFC 6265
    // section 5.4), which a cookie planted from a sibling host controls: none may be used.
    // A value that does not open (a stale cookie of another path, an old key) cannot be
    // anybody's session: it is ignored, so it cannot lock the user out either.
    let expected = [
        ("garbage first", 200, false),
        ("garbage second", 200, false),
        ("two sessions", 401, true),
        ("chunks and whole", 401, true),
    ];
    assert_eq!(outcomes, expected, "(case, status, session cookie deleted)");
}
