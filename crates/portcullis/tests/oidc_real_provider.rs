//! End-to-end: a real OpenID Provider (npm `oidc-provider`) and a real headless browser (Debian's
//! chromium) logging in through the gateway's OIDC middleware.

#![cfg(test)]

mod support;

use serde_json::json;
use support::real_provider::{RealProvider, body, browse, free_port, upstream_header};
use support::{Echo, client};

struct Setup {
    _provider: RealProvider,
    _upstream: Echo,
    gateway: portcullis::app::Running,
    base: String,
}

/// Provider, echo upstream and gateway with two OIDC middlewares:
/// - `/app/...`: redirects browsers to the provider, refresh on, CSRF on, logout at `/logout`;
/// - `/api/...`: `loginUrl` `/api/login` with `postLoginRedirectUrl` `/api/welcome`.
async fn setup(access_token_ttl: u32) -> Setup {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let provider = RealProvider::start(&[
        (
            "REDIRECT_URIS",
            format!("{base}/callback,{base}/api/callback"),
        ),
        ("POST_LOGOUT_URIS", format!("{base}/logged-out")),
        ("AT_TTL", access_token_ttl.to_string()),
    ]);
    let upstream = Echo::start("app").await;
    let issuer = &provider.issuer;
    let yaml = format!(
        r#"
entryPoints:
  web: {{ address: "127.0.0.1:{port}" }}
http:
  routers:
    app:
      rule: PathPrefix(`/app`) || Path(`/callback`) || Path(`/logout`)
      middlewares: [oidc]
      service: echo
    public:
      rule: Path(`/logged-out`)
      service: echo
    api:
      rule: PathPrefix(`/api`)
      middlewares: [oidc-api]
      service: echo
  middlewares:
    oidc:
      plugin:
        oidc:
          issuer: "{issuer}"
          clientID: gw
          clientSecret: gw-secret
          redirectUrl: /callback
          pkce: true
          scopes: [openid, profile, email, offline_access]
          logoutUrl: /logout
          postLogoutRedirectUrl: /logged-out
          endProviderSession: true
          claims: Equals(`grp`, `admin`) || Equals(`grp`, `user`)
          forwardHeaders:
            X-User: preferred_username
            X-Group: grp
            X-Areas: areas
            X-Token-Exp: access_token.exp
          usernameClaim: preferred_username
          session: {{ name: app-session }}
          stateCookie: {{ name: app-state }}
          csrf: {{}}
    oidc-api:
      plugin:
        oidc:
          issuer: "{issuer}"
          clientId: gw
          clientSecret: gw-secret
          redirectUrl: /api/callback
          loginUrl: /api/login
          postLoginRedirectUrl: /api/welcome
          scopes: [openid, profile]
          forwardHeaders: {{ X-User: preferred_username }}
          session: {{ name: api-session }}
          stateCookie: {{ name: api-state }}
  services:
    echo:
      loadBalancer:
        servers: [{{ url: "{}" }}]
"#,
        upstream.url()
    );
    let gateway = support::gateway(&yaml).await;
    Setup {
        _provider: provider,
        _upstream: upstream,
        gateway,
        base,
    }
}

#[tokio::test]
async fn browser_login_refresh_csrf_and_logout() {
    let s = setup(3).await;
    let base = &s.base;
    let steps = browse(json!([
        { "goto": format!("{base}/app/page?x=1"), "login": "alice" },
        { "cookies": base },
        // The access token lives 3 s: after 5 s the next request must refresh it silently.
        { "sleep": 5000 },
        { "goto": format!("{base}/app/again") },
        // CSRF: a POST without the header is refused, with it accepted.
        { "request": { "url": format!("{base}/app/post"), "method": "POST", "body": "x" } },
        { "request": { "url": format!("{base}/app/post"), "method": "POST", "body": "x",
                       "csrfCookie": "traefikee-csrf-token", "csrfHeader": "TraefikHub-Csrf-Token" } },
        // Logout ends the session at the gateway and at the provider.
        { "goto": format!("{base}/logout") },
        { "confirmLogout": true },
        { "request": { "url": format!("{base}/app/page") } },
    ]))
    .await;

    let login = &steps[0];
    assert_eq!(login["loggedIn"], true, "{login}");
    assert_eq!(
        login["url"],
        format!("{base}/app/page?x=1"),
        "back to the original URL"
    );
    assert_eq!(login["status"], 200);
    let page = body(login);
    assert_eq!(
        upstream_header(login, "x-user").as_deref(),
        Some("alice"),
        "{page}"
    );
    assert_eq!(
        upstream_header(login, "x-group").as_deref(),
        Some("admin"),
        "{page}"
    );
    // An array claim becomes several values of the header (joined by the echo with ", ").
    let areas = upstream_header(login, "x-areas").unwrap_or_default();
    assert!(areas.contains("office") && areas.contains("home"), "{page}");
    assert!(
        upstream_header(login, "authorization")
            .unwrap_or_default()
            .starts_with("Bearer ey"),
        "{page}"
    );
    assert!(
        !upstream_header(login, "cookie")
            .unwrap_or_default()
            .contains("app-session"),
        "session cookie must not reach the upstream: {page}"
    );
    let first_exp = upstream_header(login, "x-token-exp").unwrap();

    let cookies = steps[1]["cookies"].as_array().unwrap();
    assert!(
        cookies
            .iter()
            .any(|c| c["name"].as_str().unwrap().starts_with("app-session"))
    );
    assert!(
        !cookies
            .iter()
            .any(|c| c["name"].as_str().unwrap().starts_with("app-state")),
        "the state cookie is deleted after the callback: {cookies:?}"
    );

    let again = &steps[3];
    assert_eq!(again["status"], 200, "{again}");
    assert_eq!(again["loggedIn"], false, "no second login: {again}");
    let second_exp = upstream_header(again, "x-token-exp").unwrap();
    assert_ne!(first_exp, second_exp, "the access token was refreshed");

    assert_eq!(
        steps[4]["status"], 403,
        "POST without CSRF header: {}",
        steps[4]
    );
    assert_eq!(
        steps[5]["status"], 200,
        "POST with CSRF header: {}",
        steps[5]
    );

    let after_logout = &steps[7];
    assert_eq!(
        after_logout["url"],
        format!("{base}/logged-out"),
        "{after_logout}"
    );
    let protected = &steps[8];
    assert_eq!(
        protected["status"], 302,
        "logged out: back to the provider: {protected}"
    );
    s.gateway.shutdown().await;
}

#[tokio::test]
async fn login_url_post_login_redirect_and_api_requests() {
    let s = setup(300).await;
    let base = &s.base;
    // Without a session, API calls get 401 and only the login URL starts a login.
    let c = client();
    assert_eq!(
        c.get(format!("{base}/api/data"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let start = c.get(format!("{base}/api/login")).send().await.unwrap();
    assert_eq!(start.status(), 302);
    // Browser navigations to /app redirect; XHR-style requests get 401.
    let xhr = c
        .get(format!("{base}/app/x"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(xhr.status(), 401);

    let steps = browse(json!([
        { "goto": format!("{base}/api/login"), "login": "bob" },
        { "request": { "url": format!("{base}/api/data") } },
    ]))
    .await;
    assert_eq!(
        steps[0]["url"],
        format!("{base}/api/welcome"),
        "{}",
        steps[0]
    );
    assert_eq!(
        upstream_header(&steps[1], "x-user").as_deref(),
        Some("bob"),
        "{}",
        steps[1]
    );
    s.gateway.shutdown().await;
}

#[tokio::test]
async fn large_sessions_are_chunked_into_several_cookies() {
    let s = setup(300).await;
    let base = &s.base;
    let steps = browse(json!([
        { "goto": format!("{base}/app/big"), "login": "big-carol" },
        { "cookies": base },
        { "goto": format!("{base}/app/big-again") },
    ]))
    .await;
    assert_eq!(steps[0]["status"], 200, "{}", steps[0]);
    let cookies = steps[1]["cookies"].as_array().unwrap();
    let chunks = cookies
        .iter()
        .filter(|c| c["name"].as_str().unwrap().starts_with("app-session"))
        .count();
    assert!(chunks >= 2, "expected a chunked session, got {cookies:?}");
    for cookie in cookies {
        assert!(cookie["size"].as_u64().unwrap() < 4096, "{cookie}");
    }
    assert_eq!(steps[2]["status"], 200);
    assert_eq!(steps[2]["loggedIn"], false);
    assert_eq!(
        upstream_header(&steps[2], "x-user").as_deref(),
        Some("big-carol")
    );
    s.gateway.shutdown().await;
}
