//! Cross-site request forgery with `csrf` enabled: an unsafe request needs this session's
//! CSRF cookie echoed in the header; anything else is 403 and nothing is forwarded or ended.

use http::Method;

use crate::support::{Harness, Jar, Setup};

const CSRF_COOKIE: &str = "traefikee-csrf-token";
const CSRF_HEADER: &str = "traefikhub-csrf-token";

async fn two_sessions(extra: &str) -> (Harness, Jar, Jar) {
    let mut h = Setup::new(&format!("csrf: {{}}\n{extra}")).start().await;
    h.login_as("/", "alice").await;
    let alice = std::mem::take(&mut h.jar);
    h.login_as("/", "bob").await;
    let bob = std::mem::replace(&mut h.jar, alice.clone());
    (h, alice, bob)
}

#[tokio::test]
async fn unsafe_requests_without_this_sessions_token_get_403() {
    let (mut h, alice, bob) = two_sessions("").await;
    let alice_token = alice.cookies[CSRF_COOKIE].clone();
    let bob_token = bob.cookies[CSRF_COOKIE].clone();
    let cases: Vec<(&str, Option<String>, Option<String>)> = vec![
        ("no header", Some(alice_token.clone()), None),
        (
            "wrong header",
            Some(alice_token.clone()),
            Some("nope".into()),
        ),
        (
            "empty header",
            Some(alice_token.clone()),
            Some(String::new()),
        ),
        (
            "another session's cookie and header",
            Some(bob_token.clone()),
            Some(bob_token.clone()),
        ),
        (
            "another session's token in the header",
            Some(alice_token.clone()),
            Some(bob_token.clone()),
        ),
        ("header without cookie", None, Some(alice_token.clone())),
        (
            "made-up pair",
            Some("AAAAAAAAAAAAAAAAAAAAAA.AAAA".into()),
            Some("AAAAAAAAAAAAAAAAAAAAAA.AAAA".into()),
        ),
    ];
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        for (what, cookie, header) in &cases {
            h.jar = alice.clone();
            match cookie {
                Some(token) => h.jar.cookies.insert(CSRF_COOKIE.into(), token.clone()),
                None => h.jar.cookies.remove(CSRF_COOKIE),
            };
            let headers: Vec<(&str, &str)> = header
                .as_deref()
                .map(|value| vec![(CSRF_HEADER, value)])
                .unwrap_or_default();
            let outcome = h.send(method.clone(), "/api", &headers).await;
            assert_eq!(outcome.status(), 403, "{method} {what}");
        }
    }
    // The session is untouched and its own pair works.
    h.jar = alice.clone();
    assert_eq!(h.get("/").await.status(), 200);
    let ok = h
        .send(Method::POST, "/api", &[(CSRF_HEADER, &alice_token)])
        .await;
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn a_forged_logout_is_refused() {
    let (mut h, alice, bob) = two_sessions("logoutUrl: /logout\n").await;
    let bob_token = bob.cookies[CSRF_COOKIE].clone();
    h.jar.cookies.insert(CSRF_COOKIE.into(), bob_token.clone());
    let outcome = h
        .send(Method::POST, "/logout", &[(CSRF_HEADER, &bob_token)])
        .await;
    assert_eq!(outcome.status(), 403);
    h.jar = alice;
    assert!(h.has_session());
    assert_eq!(h.get("/").await.status(), 200);
}
