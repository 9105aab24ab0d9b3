//! The CSRF token's life: rotated by each refresh (the previous token still accepted for a
//! short grace period, for requests a page already sent), and shared by several CSRF-enabled
//! middlewares of one host without one breaking the other.

use std::time::Duration;

use http::Method;
use portcullis_devidp::GrantType;

use crate::support::{Outcome, Setup};

const CSRF_COOKIE: &str = "traefikee-csrf-token";
const CSRF_HEADER: &str = "traefikhub-csrf-token";

/// The CSRF cookie value an answer sets, if any.
fn csrf_set(outcome: &Outcome) -> Option<String> {
    outcome.set_cookies().iter().find_map(|cookie| {
        let value = cookie.strip_prefix(&format!("{CSRF_COOKIE}="))?;
        Some(value.split(';').next().unwrap_or_default().to_owned())
    })
}

#[tokio::test]
async fn a_refresh_rotates_the_csrf_token_and_the_previous_one_lasts_a_grace_period() {
    // Access tokens last 100 s: refreshed at 120 s, valid again until 220 s.
    let mut h = Setup::new("csrf: {}\n")
        .idp(|b| b.access_token_ttl(Duration::from_secs(100)))
        .start()
        .await;
    h.login_as("/", "alice").await;
    let old = h.jar.cookies[CSRF_COOKIE].clone();

    h.advance(Duration::from_secs(120));
    let refreshing = h.send(Method::POST, "/api", &[(CSRF_HEADER, &old)]).await;
    assert_eq!(refreshing.status(), 200);
    assert_eq!(h.idp.token_calls(GrantType::RefreshToken), 1);
    let new = csrf_set(&refreshing).expect("the refreshing answer sets a new CSRF token");
    assert_ne!(new, old, "the refresh rotated the token");
    assert_eq!(h.jar.cookies[CSRF_COOKIE], new);

    // The new token works.
    let with_new = h.send(Method::POST, "/api", &[(CSRF_HEADER, &new)]).await;
    assert_eq!(with_new.status(), 200);

    // A request the page sent with the previous token (cookie already replaced, or not yet)
    // still passes within the grace period.
    h.advance(Duration::from_secs(30));
    let in_flight = h.send(Method::PUT, "/api", &[(CSRF_HEADER, &old)]).await;
    assert_eq!(
        in_flight.status(),
        200,
        "previous token within the grace period"
    );
    let mut stale_jar = h.jar.clone();
    stale_jar.cookies.insert(CSRF_COOKIE.into(), old.clone());
    let saved = std::mem::replace(&mut h.jar, stale_jar);
    let stale_pair = h.send(Method::DELETE, "/api", &[(CSRF_HEADER, &old)]).await;
    assert_eq!(
        stale_pair.status(),
        200,
        "previous cookie and header within the grace period"
    );
    assert_eq!(
        csrf_set(&stale_pair).as_deref().map(|t| t != old),
        Some(true),
        "a request carrying the previous cookie gets a current token"
    );
    h.jar = saved;

    // 61 s after the rotation, the previous token is refused; the current one still works.
    h.advance(Duration::from_secs(31));
    let too_late = h.send(Method::POST, "/api", &[(CSRF_HEADER, &old)]).await;
    assert_eq!(
        too_late.status(),
        403,
        "previous token after the grace period"
    );
    let current = h.jar.cookies[CSRF_COOKIE].clone();
    let ok = h
        .send(Method::POST, "/api", &[(CSRF_HEADER, &current)])
        .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(h.idp.token_calls(GrantType::RefreshToken), 1);
}

#[tokio::test]
async fn two_csrf_middlewares_on_one_host_each_accept_their_own_token() {
    let mut h = Setup::new("csrf: {}\nlogoutUrl: /logout\n").start().await;
    let mut other = h.sibling("oidc-other");
    // One browser logs in to both areas: the second login's CSRF cookie must not make the
    // first area's unsafe requests fail.
    h.login_as("/", "alice").await;
    std::mem::swap(&mut h.middleware, &mut other);
    h.login_as("/", "bob").await;
    std::mem::swap(&mut h.middleware, &mut other);
    assert!(h.jar.has_prefix("oidc-other-session"));
    assert!(h.jar.has_prefix("oidc-test-session"));

    for round in 0..2 {
        // The page copies the cookie's value into the header, as with one middleware.
        let token = h.jar.cookies[CSRF_COOKIE].clone();
        let first = h.send(Method::POST, "/api", &[(CSRF_HEADER, &token)]).await;
        assert_eq!(first.status(), 200, "first area, round {round}");
        assert!(
            first.header("authorization").is_some(),
            "forwarded with the first area's session"
        );
        std::mem::swap(&mut h.middleware, &mut other);
        let token = h.jar.cookies[CSRF_COOKIE].clone();
        let second = h.send(Method::POST, "/api", &[(CSRF_HEADER, &token)]).await;
        assert_eq!(second.status(), 200, "second area, round {round}");
        // A safe request to one area keeps the other's token.
        assert_eq!(h.get("/").await.status(), 200);
        std::mem::swap(&mut h.middleware, &mut other);
        assert_eq!(h.get("/").await.status(), 200);
    }

    // Forgery is still refused in both areas, and one area's token is not the other's.
    let only_first = only_own_token(&mut h).await;
    std::mem::swap(&mut h.middleware, &mut other);
    let only_second = only_own_token(&mut h).await;
    std::mem::swap(&mut h.middleware, &mut other);
    for (own, foreign) in [(&only_first, &only_second), (&only_second, &only_first)] {
        let refused = h.send(Method::POST, "/api", &[(CSRF_HEADER, "nope")]).await;
        assert_eq!(refused.status(), 403);
        let missing = h.send(Method::POST, "/api", &[]).await;
        assert_eq!(missing.status(), 403);
        let other_areas = h
            .send(Method::POST, "/api", &[(CSRF_HEADER, foreign)])
            .await;
        assert_eq!(other_areas.status(), 403, "the other area's token");
        let own = h.send(Method::POST, "/api", &[(CSRF_HEADER, own)]).await;
        assert_eq!(own.status(), 200);
        std::mem::swap(&mut h.middleware, &mut other);
    }

    // Logging out of one area leaves the other's token working.
    assert_eq!(h.get("/logout").await.status(), 204);
    std::mem::swap(&mut h.middleware, &mut other);
    let token = h.jar.cookies[CSRF_COOKIE].clone();
    let after = h.send(Method::POST, "/api", &[(CSRF_HEADER, &token)]).await;
    assert_eq!(after.status(), 200, "the other area after a logout");
}

/// The token of the area `h` currently sends to, alone: the cookie a browser holding only
/// this area's session gets.
async fn only_own_token(h: &mut crate::support::Harness) -> String {
    let saved = h.jar.clone();
    h.jar.cookies.remove(CSRF_COOKIE);
    let outcome = h.get("/").await;
    assert_eq!(outcome.status(), 200);
    let token = csrf_set(&outcome).expect("a token is issued when the cookie is missing");
    h.jar = saved;
    token
}
