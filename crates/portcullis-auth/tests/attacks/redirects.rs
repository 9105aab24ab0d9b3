//! Open redirects: the gateway must only ever send the browser back to the origin it was
//! addressed at, to the configured URLs, or to the provider.

use http::Method;

use crate::support::{Harness, Outcome, Setup, query, send_raw};

/// The host a browser would go to for `location` (WHATWG parsing, as browsers do).
fn host_of(location: &str) -> String {
    url::Url::parse(location)
        .unwrap()
        .host_str()
        .unwrap()
        .to_owned()
}

/// Starts a login at `path` and completes it; returns the callback's redirect.
async fn login_from(h: &mut Harness, path: &str) -> String {
    h.jar.cookies.clear();
    let start = h.get(path).await;
    assert_eq!(start.status(), 302, "{path}");
    let done = h.finish_login(&start.location().unwrap(), "alice").await;
    assert_eq!(done.status(), 302, "{path}");
    done.location().unwrap()
}

#[tokio::test]
async fn the_original_url_cannot_lead_off_the_origin() {
    let mut h = Setup::new("").start().await;
    for path in [
        "//evil.example/",
        "///evil.example/",
        "//evil.example/%2F..",
        "/%2F%2Fevil.example/",
        "/%5Cevil.example",
        "/%5C%5Cevil.example",
        "/.//evil.example/",
        "/https://evil.example/",
        "/https:/evil.example/",
        "/%68ttps://evil.example/",
        "/?next=https://evil.example/",
        "//evil.example@app.test/",
        "/\\evil.example",
        "/\\\\evil.example/",
        "/\\/evil.example/",
    ] {
        let location = login_from(&mut h, path).await;
        assert_eq!(host_of(&location), "app.test", "{path} -> {location}");
        assert!(
            location.starts_with("http://app.test/"),
            "{path} -> {location}"
        );
    }
}

#[tokio::test]
async fn an_absolute_form_target_cannot_borrow_the_registered_callback() {
    // `GET https://evil.example/ HTTP/1.1` names its own authority; the login it starts asks
    // the provider to return to that host, which the provider refuses (not registered).
    let h = Setup::new("").start().await;
    let request = http::Request::builder()
        .uri("http://evil.example/")
        .header("host", "app.test")
        .header("accept", "text/html")
        .body(portcullis_proxy::body::empty())
        .unwrap();
    let start = crate::support::send_request(&h.middleware, request).await;
    assert_eq!(start.status(), 302);
    let authorize = start.location().unwrap();
    assert_eq!(
        query(&authorize)["redirect_uri"],
        "http://evil.example/callback"
    );
    assert!(h.idp.complete_login(&authorize, "alice").await.is_err());
}

#[tokio::test]
async fn the_host_header_cannot_lead_off_the_origin() {
    let h = Setup::new("").start().await;
    let nav = [("accept", "text/html")];
    // Hosts that are not a plain host[:port] are refused outright.
    for host in [
        "app.test@evil.example",
        "evil.example/app.test",
        "evil.example\\app.test",
        "app.test:evil",
        "app.test evil.example",
        "",
    ] {
        let outcome = send_raw_with_host(&h, host, &nav).await;
        assert_eq!(outcome.status(), 400, "{host:?}");
        assert!(outcome.location().is_none(), "{host:?}");
        assert!(outcome.set_cookies().is_empty(), "{host:?}");
    }
    // Forwarding headers are not trusted to change the origin.
    let outcome = send_raw(
        &h.middleware,
        Method::GET,
        "/page",
        &[
            ("accept", "text/html"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "host=evil.example;proto=https"),
        ],
        None,
    )
    .await;
    assert_eq!(
        query(&outcome.location().unwrap())["redirect_uri"],
        "http://app.test/callback"
    );
    // Another Host is another origin: the provider refuses its callback URL.
    let outcome = send_raw_with_host(&h, "evil.example", &nav).await;
    let authorize = outcome.location().unwrap();
    assert_eq!(
        query(&authorize)["redirect_uri"],
        "http://evil.example/callback"
    );
    assert!(h.idp.complete_login(&authorize, "alice").await.is_err());
}

async fn send_raw_with_host(h: &Harness, host: &str, headers: &[(&str, &str)]) -> Outcome {
    let mut builder = http::Request::builder().uri("/page").header("host", host);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(portcullis_proxy::body::empty()).unwrap();
    crate::support::send_request(&h.middleware, request).await
}

#[tokio::test]
async fn post_login_redirect_url_is_not_taken_from_the_request() {
    let mut h = Setup::new("loginUrl: /login\npostLoginRedirectUrl: /welcome\n")
        .start()
        .await;
    let hostile = "/login?postLoginRedirectUrl=https://evil.example/&redirect_uri=https://evil.example/&rd=https://evil.example/&return_to=//evil.example/&next=//evil.example/";
    let location = login_from(&mut h, hostile).await;
    assert_eq!(location, "http://app.test/welcome");
    // Already logged in: the same answer at once.
    let again = h.get(hostile).await;
    assert_eq!(again.location().unwrap(), "http://app.test/welcome");
}

#[tokio::test]
async fn post_logout_redirect_url_is_not_taken_from_the_request() {
    let hostile = "/logout?post_logout_redirect_uri=https://evil.example/&postLogoutRedirectUrl=https://evil.example/&rd=//evil.example/";
    let mut h =
        Setup::new("logoutUrl: /logout\npostLogoutRedirectUrl: /bye\nendProviderSession: true\n")
            .start()
            .await;
    // Without a session: straight to the configured page.
    let outcome = h.get(hostile).await;
    assert_eq!(outcome.location().unwrap(), "http://app.test/bye");
    // With a session: through the provider, which is told the configured page only.
    h.login_as("/", "alice").await;
    let outcome = h.get(hostile).await;
    let location = outcome.location().unwrap();
    assert_eq!(host_of(&location), host_of(&h.idp.issuer()));
    let params = query(&location);
    assert_eq!(params["post_logout_redirect_uri"], "http://app.test/bye");
    assert_eq!(
        location.matches("post_logout_redirect_uri").count(),
        1,
        "{location}"
    );
}
