//! Login, callback and the authenticated request, with the login-control options.

use http::Method;
use http::header::{AUTHORIZATION, COOKIE};

use crate::support::{CLIENT_ID, Setup, query};

#[tokio::test]
async fn browser_login_then_authenticated_request() {
    let mut h = Setup::new(
        "forwardHeaders: { X-Group: grp, X-Email: email, X-Roles: roles, X-Missing: nope, X-Aud: access_token.aud }\nusernameClaim: preferred_username\nscopes: [openid, profile, email]\n",
    )
    .start()
    .await;

    // A navigation without a session goes to the provider.
    let start = h.get("/app/page?x=1").await;
    assert_eq!(start.status(), 302);
    let authorize = start.location().unwrap();
    let params = query(&authorize);
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["client_id"], CLIENT_ID);
    assert_eq!(params["redirect_uri"], "http://app.test/callback");
    assert_eq!(params["scope"], "openid profile email");
    assert_eq!(params["state"].len(), 43);
    assert_eq!(params["nonce"].len(), 43);
    assert!(
        !params.contains_key("code_challenge"),
        "pkce is off by default"
    );
    assert!(!params.contains_key("prompt"));
    let state_cookie = format!("oidc-test-state-{}", &params["state"][..8]);
    assert!(
        h.jar.cookies.contains_key(&state_cookie),
        "{:?}",
        h.jar.names()
    );
    assert!(!h.has_session());

    // The callback creates the session, deletes the flow's cookie, returns to the page.
    let callback = h.finish_login(&authorize, "alice").await;
    assert_eq!(callback.status(), 302);
    assert_eq!(callback.location().unwrap(), "http://app.test/app/page?x=1");
    assert!(h.has_session());
    assert!(!h.jar.cookies.contains_key(&state_cookie));
    for cookie in callback.set_cookies() {
        if cookie.starts_with("oidc-test-session") {
            assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
            assert!(cookie.contains("Max-Age=86400"), "{cookie}");
        }
    }

    // The authenticated request reaches the upstream with the token and the claims.
    let outcome = h
        .send(
            Method::GET,
            "/app/page",
            &[
                ("x-group", "forged"),
                ("authorization", "Basic Zm9vOmJhcg=="),
            ],
        )
        .await;
    assert_eq!(outcome.status(), 200);
    let request = outcome.forwarded();
    let bearer = request.headers()[AUTHORIZATION].to_str().unwrap();
    assert!(bearer.starts_with("Bearer ey"), "{bearer}");
    assert_eq!(outcome.header("x-group").unwrap(), "admin");
    assert_eq!(outcome.header("x-email").unwrap(), "alice@example.com");
    let roles: Vec<_> = request.headers().get_all("x-roles").iter().collect();
    assert_eq!(roles, ["dev", "ops"]);
    assert_eq!(outcome.header("x-missing").unwrap(), "");
    assert!(
        outcome.header("x-aud").unwrap().ends_with("/api"),
        "access token claims are read"
    );
    // The middleware's own cookies never reach the upstream.
    assert!(
        request
            .headers()
            .get(COOKIE)
            .is_none_or(|c| !c.to_str().unwrap().contains("oidc-test"))
    );
    let crate::support::Outcome::Forwarded { username, .. } = &outcome else {
        unreachable!()
    };
    assert_eq!(username.as_deref(), Some("alice"));
}

#[tokio::test]
async fn other_cookies_reach_the_upstream() {
    let mut h = Setup::new("").start().await;
    h.login_as("/", "alice").await;
    h.jar.cookies.insert("app_pref".into(), "dark".into());
    let outcome = h.get("/").await;
    assert_eq!(outcome.header("cookie").unwrap(), "app_pref=dark");
}

#[tokio::test]
async fn api_calls_without_a_session_get_401() {
    let mut h = Setup::new("").start().await;
    for (method, headers) in [
        (Method::GET, vec![("accept", "application/json")]),
        (Method::GET, vec![("sec-fetch-mode", "cors")]),
        (Method::GET, vec![("x-requested-with", "XMLHttpRequest")]),
        (Method::POST, vec![("accept", "text/html")]),
        (Method::DELETE, vec![]),
    ] {
        let outcome = h.send(method.clone(), "/api", &headers).await;
        assert_eq!(outcome.status(), 401, "{method} {headers:?}");
    }
    // curl is a navigation.
    assert_eq!(
        h.send(Method::GET, "/", &[("accept", "*/*")])
            .await
            .status(),
        302
    );
}

#[tokio::test]
async fn pkce_scopes_and_auth_params() {
    let mut h = Setup::new("pkce: true\nauthParams: { prompt: login, acr_values: mfa }\n")
        .start()
        .await;
    let start = h.get("/").await;
    let authorize = start.location().unwrap();
    let params = query(&authorize);
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["code_challenge"].len(), 43);
    assert_eq!(params["prompt"], "login");
    assert_eq!(params["acr_values"], "mfa");
    // The provider checks the verifier: the login completes.
    assert_eq!(h.finish_login(&authorize, "alice").await.status(), 302);
    assert!(h.has_session());

    let mut h = Setup::new("authParams: { prompt: \"\" }\n").start().await;
    let params = query(&h.get("/").await.location().unwrap());
    assert!(!params.contains_key("prompt"));
}

#[tokio::test]
async fn disable_login_answers_401() {
    let mut h = Setup::new("disableLogin: true\nloginUrl: /login\n")
        .start()
        .await;
    assert_eq!(h.get("/").await.status(), 401);
    assert_eq!(h.get("/login").await.status(), 401);
    assert!(!h.jar.has_prefix("oidc-test-state"));
}

#[tokio::test]
async fn login_url_is_the_only_way_in_and_ends_with_204() {
    let mut h = Setup::new("loginUrl: /login\n").start().await;
    assert_eq!(h.get("/app").await.status(), 401);
    let start = h.get("/login").await;
    assert_eq!(start.status(), 302);
    let done = h.finish_login(&start.location().unwrap(), "alice").await;
    assert_eq!(done.status(), 204);
    assert!(h.has_session());
    assert_eq!(h.get("/app").await.status(), 200);
    // Logged in already: the login URL answers at once.
    assert_eq!(h.get("/login").await.status(), 204);
}

#[tokio::test]
async fn post_login_redirect_url_after_login_url() {
    let mut h = Setup::new("loginUrl: /login\npostLoginRedirectUrl: /welcome\n")
        .start()
        .await;
    let start = h.get("/login").await;
    let done = h.finish_login(&start.location().unwrap(), "alice").await;
    assert_eq!(done.status(), 302);
    assert_eq!(done.location().unwrap(), "http://app.test/welcome");
}

#[tokio::test]
async fn parallel_logins_in_several_tabs_all_complete() {
    let mut h = Setup::new("").start().await;
    let tab1 = h.get("/one").await.location().unwrap();
    let tab2 = h.get("/two").await.location().unwrap();
    let tab3 = h.get("/three").await.location().unwrap();
    assert_eq!(
        h.jar
            .names()
            .iter()
            .filter(|n| n.starts_with("oidc-test-state-"))
            .count(),
        3
    );
    assert_eq!(
        h.finish_login(&tab2, "alice").await.location().unwrap(),
        "http://app.test/two"
    );
    assert_eq!(
        h.finish_login(&tab1, "alice").await.location().unwrap(),
        "http://app.test/one"
    );
    assert_eq!(
        h.finish_login(&tab3, "alice").await.location().unwrap(),
        "http://app.test/three"
    );
    assert!(
        !h.jar.has_prefix("oidc-test-state"),
        "each callback deleted its cookie"
    );
}

#[tokio::test]
async fn abandoned_flows_are_evicted() {
    let mut h = Setup::new("").start().await;
    for i in 0..10 {
        h.get(&format!("/page/{i}")).await;
        h.advance(std::time::Duration::from_secs(1));
    }
    let kept = h
        .jar
        .names()
        .iter()
        .filter(|n| n.starts_with("oidc-test-state-"))
        .count();
    assert_eq!(kept, 4);
}

#[tokio::test]
async fn claims_rules_decide_with_403() {
    let mut h = Setup::new("claims: Equals(`grp`, `admin`) && Contains(`roles`, `ops`)\n")
        .start()
        .await;
    h.login_as("/", "alice").await;
    assert_eq!(h.get("/").await.status(), 200);

    let mut h = Setup::new("claims: Equals(`grp`, `admin`)\n").start().await;
    h.login_as("/", "bob").await;
    assert!(h.has_session());
    assert_eq!(h.get("/").await.status(), 403);
}

#[tokio::test]
async fn access_token_claims_are_verified_and_usable() {
    let mut h = Setup::new("claims: Equals(`access_token.tier`, `gold`)\n")
        .client(|c| c.access_token_claims(serde_json::json!({"tier": "gold"})))
        .start()
        .await;
    h.login_as("/", "alice").await;
    assert_eq!(h.get("/").await.status(), 200);
}

#[tokio::test]
async fn the_callback_returns_only_to_its_own_origin() {
    let mut h = Setup::new("").start().await;
    // A request whose path looks like a scheme-relative URL stays on the origin.
    let start = h.get("//evil.example/x").await;
    let done = h.finish_login(&start.location().unwrap(), "alice").await;
    assert_eq!(done.location().unwrap(), "http://app.test//evil.example/x");
}

#[tokio::test]
async fn callbacks_without_a_flow_are_refused() {
    let mut h = Setup::new("").start().await;
    assert_eq!(h.get("/callback?code=x").await.status(), 400);
    assert_eq!(
        h.get("/callback?code=x&state=unknown-state-value")
            .await
            .status(),
        400
    );
    // A real code with another browser's state is refused, and creates no session.
    let start = h.get("/").await.location().unwrap();
    let location = h.idp.complete_login(&start, "alice").await.unwrap();
    let mut forged = h.jar.clone();
    forged.cookies.clear();
    h.jar = forged;
    let path = location.strip_prefix("http://app.test").unwrap();
    assert_eq!(h.get(path).await.status(), 400);
    assert!(!h.has_session());
}

#[tokio::test]
async fn provider_errors_on_the_callback_give_401() {
    let mut h = Setup::new("").start().await;
    let start = h.get("/").await.location().unwrap();
    let state = query(&start)["state"].clone();
    let outcome = h
        .get(&format!(
            "/callback?error=access_denied&error_description=no&state={state}"
        ))
        .await;
    assert_eq!(outcome.status(), 401);
    assert!(!h.has_session());
    assert!(
        !h.jar.has_prefix("oidc-test-state"),
        "the flow's cookie is gone"
    );
}

#[tokio::test]
async fn expired_login_flows_are_refused() {
    let mut h = Setup::new("stateCookie: { maxAge: 60 }\n").start().await;
    let start = h.get("/").await.location().unwrap();
    h.advance(std::time::Duration::from_secs(120));
    let outcome = h.finish_login(&start, "alice").await;
    assert_eq!(outcome.status(), 400);
    assert!(!h.has_session());
}
