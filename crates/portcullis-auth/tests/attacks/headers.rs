//! Identity headers a client sends itself: every `forwardHeaders` entry and `Authorization`
//! reaching the upstream is the gateway's, whatever the client sent and however it spelled it.

use http::Method;

use crate::support::Setup;

#[tokio::test]
async fn forged_identity_headers_are_replaced() {
    let mut h = Setup::new(
        "forwardHeaders: { X-Group: grp, X-Email: email, X-Missing: nope }\nusernameClaim: email\n",
    )
    .start()
    .await;
    h.login_as("/", "bob").await;
    let outcome = h
        .send(
            Method::GET,
            "/",
            &[
                ("x-group", "admin"),
                ("X-GROUP", "root"),
                ("x-Group", "ops"),
                ("x-email", "alice@example.com"),
                ("x-missing", "forged"),
                ("x-missing", "forged-again"),
                ("authorization", "Bearer forged.token.value"),
                ("authorization", "Basic Zm9vOmJhcg=="),
            ],
        )
        .await;
    assert_eq!(outcome.status(), 200);
    let request = outcome.forwarded();
    let values = |name: &str| -> Vec<String> {
        request
            .headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(values("x-group"), ["user"]);
    assert_eq!(values("x-email"), ["bob@example.com"]);
    assert_eq!(values("x-missing"), [""]);
    let authorization = values("authorization");
    assert_eq!(authorization.len(), 1, "{authorization:?}");
    assert!(
        authorization[0].starts_with("Bearer ey"),
        "{authorization:?}"
    );
    let crate::support::Outcome::Forwarded { username, .. } = &outcome else {
        unreachable!()
    };
    assert_eq!(username.as_deref(), Some("bob@example.com"));
}

#[tokio::test]
async fn without_a_session_forged_headers_go_nowhere() {
    let mut h = Setup::new("forwardHeaders: { X-Group: grp }\n")
        .start()
        .await;
    let outcome = h
        .send(
            Method::GET,
            "/",
            &[
                ("accept", "application/json"),
                ("x-group", "admin"),
                ("authorization", "Bearer forged.token.value"),
            ],
        )
        .await;
    assert_eq!(outcome.status(), 401);
}

/// CGI, WSGI and PHP upstreams read `X_Group` as `HTTP_X_GROUP`, the same variable as the
/// gateway's `X-Group`: a client's underscore spelling of a forwarded name never arrives.
#[tokio::test]
async fn underscore_spellings_of_forwarded_headers_are_removed() {
    let mut h = Setup::new("forwardHeaders: { X-Group: grp, X-Email: email }\n")
        .start()
        .await;
    h.login_as("/", "bob").await;
    let outcome = h
        .send(
            Method::GET,
            "/",
            &[
                ("x_group", "admin"),
                ("X_Email", "alice@example.com"),
                ("x_unrelated", "kept"),
            ],
        )
        .await;
    assert_eq!(outcome.status(), 200);
    let request = outcome.forwarded();
    let names: Vec<&str> = request.headers().keys().map(|n| n.as_str()).collect();
    assert!(!names.contains(&"x_group"), "{names:?}");
    assert!(!names.contains(&"x_email"), "{names:?}");
    assert_eq!(outcome.header("x-group").as_deref(), Some("user"));
    assert_eq!(
        outcome.header("x-email").as_deref(),
        Some("bob@example.com")
    );
    assert_eq!(outcome.header("x_unrelated").as_deref(), Some("kept"));
}
