//! Assertions shared by the conformance cases.

#![allow(dead_code)]

use portcullis_devidp::Fault;

use crate::support::{Harness, Outcome, Setup, query};

/// The session cookie's base name in every test configuration.
pub const SESSION: &str = "oidc-test-session";

/// A refused login: the status, no session cookie set (only deletions), no session in the
/// jar, and the flow's single-use cookie gone.
pub fn assert_refused(h: &Harness, outcome: &Outcome, status: u16) {
    assert_eq!(outcome.status(), status);
    for cookie in outcome.set_cookies() {
        assert!(
            !cookie.starts_with(SESSION) || cookie.contains("Max-Age=0"),
            "a session cookie was set: {cookie}"
        );
    }
    assert!(!h.has_session(), "{:?}", h.jar.names());
    assert!(!h.jar.has_prefix("oidc-test-state"), "{:?}", h.jar.names());
}

/// An accepted login: the callback sets the session and returns to the page, and the next
/// request is forwarded (200) with the access token.
pub async fn assert_accepted(h: &mut Harness, outcome: &Outcome, page: &str) {
    assert_eq!(outcome.status(), 302, "the callback did not complete");
    assert_eq!(
        outcome.location().unwrap(),
        format!("http://app.test{page}")
    );
    assert!(h.has_session());
    let forwarded = h.get(page).await;
    assert_eq!(forwarded.status(), 200);
    assert!(
        forwarded
            .header("authorization")
            .unwrap()
            .starts_with("Bearer ")
    );
}

/// Logs in as alice under `fault` (set for every request of the provider) and returns the
/// callback's outcome.
pub async fn login_under(fault: Fault, setup: Setup) -> (Harness, Outcome) {
    let mut h = setup.start().await;
    h.idp.set_fault(fault);
    let outcome = h.login_as("/page", "alice").await;
    (h, outcome)
}

/// The ID token the session holds, read from the `id_token_hint` of the logout redirect
/// (needs `logoutUrl: /logout` and `endProviderSession: true`). Ends the session.
pub async fn id_token_via_logout(h: &mut Harness) -> String {
    let logout = h.get("/logout").await;
    assert_eq!(logout.status(), 302);
    query(&logout.location().unwrap())["id_token_hint"].clone()
}
