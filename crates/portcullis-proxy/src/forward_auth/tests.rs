use super::*;
use crate::middleware::{HeaderEdit, run_chain};
use portcullis_config::ForwardedHeaders;

fn describe(proxy: ForwardAuthProxy, path_prefix: Option<&str>) -> Describe {
    Describe {
        proxy,
        path_prefix: path_prefix.map(str::to_owned),
        entry_points: HashMap::from([(
            "web".to_owned(),
            RequestPolicy {
                forwarded_headers: ForwardedHeaders {
                    insecure: false,
                    trusted_ips: vec!["127.0.0.1/32".parse().unwrap()],
                },
                ..RequestPolicy::default()
            },
        )]),
    }
}

/// A loopback proxy (trusted by [`describe`]) on entry point `web`.
fn ctx() -> RequestContext {
    RequestContext::for_test(Scheme::Http)
}

fn auth_request(method: Method, uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut request = Request::new(body::empty());
    *request.method_mut() = method;
    *request.uri_mut() = uri.parse().unwrap();
    for (name, value) in headers {
        request.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    request
}

async fn described(
    describe: &Describe,
    request: Request<Body>,
    ctx: &mut RequestContext,
) -> Result<Request<Body>, GatewayError> {
    match describe.handle(request, ctx).await? {
        Decision::Forward(request) => Ok(request),
        Decision::Respond(response) => panic!("answered {}", response.status()),
    }
}

/// What Traefik's ForwardAuth sends (after the gateway appended the proxy to
/// `X-Forwarded-For`, as it does for every request from a trusted proxy).
fn traefik_request() -> Request<Body> {
    auth_request(
        Method::GET,
        "/auth",
        &[
            ("host", "portcullis:8080"),
            ("x-forwarded-method", "POST"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "app.example"),
            ("x-forwarded-uri", "/orders/7?view=full"),
            ("x-forwarded-for", "203.0.113.9, 127.0.0.1"),
            ("x-forwarded-prefix", "/forged"),
            ("cookie", "s=1; t=2"),
            ("authorization", "Bearer abc"),
            ("accept", "text/html"),
        ],
    )
}

#[tokio::test]
async fn a_traefik_request_describes_method_scheme_host_uri_and_client() {
    let mut ctx = ctx();
    let request = described(
        &describe(ForwardAuthProxy::Traefik, None),
        traefik_request(),
        &mut ctx,
    )
    .await
    .unwrap();
    assert_eq!(request.method(), Method::POST);
    assert_eq!(request.uri(), "/orders/7?view=full");
    let h = request.headers();
    assert_eq!(h[header::HOST], "app.example");
    assert_eq!(h[header::COOKIE], "s=1; t=2");
    assert_eq!(h[header::AUTHORIZATION], "Bearer abc");
    assert_eq!(h[header::ACCEPT], "text/html");
    // The forwarded headers are the description's, not the auth request's.
    assert_eq!(h["x-forwarded-for"], "203.0.113.9");
    assert_eq!(h["x-forwarded-proto"], "https");
    assert_eq!(h["x-forwarded-host"], "app.example");
    assert_eq!(h["x-real-ip"], "203.0.113.9");
    for gone in [
        "x-forwarded-method",
        "x-forwarded-uri",
        "x-forwarded-prefix",
    ] {
        assert!(!h.contains_key(gone), "{gone}");
    }
    assert_eq!(ctx.scheme, Scheme::Https);
    assert_eq!(
        ctx.client_addr.ip(),
        "203.0.113.9".parse::<IpAddr>().unwrap()
    );
}

#[tokio::test]
async fn caddy_sends_the_traefik_shape() {
    let mut ctx = ctx();
    let request = described(
        &describe(ForwardAuthProxy::Caddy, None),
        traefik_request(),
        &mut ctx,
    )
    .await
    .unwrap();
    assert_eq!(request.uri(), "/orders/7?view=full");
    assert_eq!(request.headers()[header::HOST], "app.example");
}

#[tokio::test]
async fn an_envoy_request_is_the_original_behind_the_path_prefix() {
    let envoy = describe(ForwardAuthProxy::Envoy, Some("/ext-authz"));
    let mut ctx = ctx();
    let request = described(
        &envoy,
        auth_request(
            Method::DELETE,
            "/ext-authz/orders/7?force=1",
            &[
                ("host", "app.example:8443"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-for", "198.51.100.4,127.0.0.1"),
                ("cookie", "s=1"),
                ("content-length", "0"),
            ],
        ),
        &mut ctx,
    )
    .await
    .unwrap();
    assert_eq!(request.method(), Method::DELETE);
    assert_eq!(request.uri(), "/orders/7?force=1");
    assert_eq!(request.headers()[header::HOST], "app.example:8443");
    assert!(!request.headers().contains_key(header::CONTENT_LENGTH));
    assert_eq!(ctx.scheme, Scheme::Https);
    assert_eq!(
        ctx.client_addr.ip(),
        "198.51.100.4".parse::<IpAddr>().unwrap()
    );

    // The prefix alone is the root; a query right after it is the root's query.
    for (path, original) in [("/ext-authz", "/"), ("/ext-authz?a=b", "/?a=b")] {
        let request = described(
            &envoy,
            auth_request(Method::GET, path, &[("host", "a")]),
            &mut self::ctx(),
        )
        .await
        .unwrap();
        assert_eq!(request.uri(), original, "{path}");
    }
    // A path outside the prefix, or one that only shares its first letters, describes nothing.
    for path in ["/other/x", "/ext-authzx/y"] {
        let error = described(
            &envoy,
            auth_request(Method::GET, path, &[("host", "a")]),
            &mut self::ctx(),
        )
        .await
        .unwrap_err();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{path}");
    }
}

#[tokio::test]
async fn an_nginx_request_and_its_redirects_become_401_with_the_target() {
    let mut ctx = ctx();
    let request = described(
        &describe(ForwardAuthProxy::Nginx, None),
        auth_request(
            Method::GET,
            "/_auth",
            &[
                ("host", "app.example"),
                ("x-original-uri", "/page?x=1"),
                ("x-original-method", "PUT"),
                ("x-forwarded-proto", "http"),
                ("x-forwarded-for", "192.0.2.1, 127.0.0.1"),
            ],
        ),
        &mut ctx,
    )
    .await
    .unwrap();
    assert_eq!(request.method(), Method::PUT);
    assert_eq!(request.uri(), "/page?x=1");
    assert!(!request.headers().contains_key("x-original-method"));
    assert!(!request.headers().contains_key("x-original-uri"));

    let stage = ctx
        .response_stages
        .pop()
        .expect("nginx answers through a stage");
    let mut redirect = Response::new(body::full("see other"));
    *redirect.status_mut() = StatusCode::FOUND;
    redirect.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_static("https://idp/authorize?x"),
    );
    redirect
        .headers_mut()
        .append(header::SET_COOKIE, HeaderValue::from_static("state=1"));
    let answered = stage.apply(redirect).await;
    assert_eq!(answered.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        answered.headers()[&X_AUTH_REDIRECT],
        "https://idp/authorize?x"
    );
    assert_eq!(answered.headers()[header::SET_COOKIE], "state=1");
    assert!(!answered.headers().contains_key(header::LOCATION));

    // Everything else (an allowed request, a 401 or a 403) is left alone.
    let mut forbidden = Response::new(body::empty());
    *forbidden.status_mut() = StatusCode::FORBIDDEN;
    assert_eq!(nginx_answer(forbidden).status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn only_trusted_proxies_may_describe_a_request() {
    let traefik = describe(ForwardAuthProxy::Traefik, None);
    let mut ctx = ctx();
    ctx.client_addr = "127.0.0.2:4000".parse().unwrap();
    let error = described(&traefik, traefik_request(), &mut ctx)
        .await
        .unwrap_err();
    assert_eq!(error.status(), StatusCode::FORBIDDEN);
    assert_eq!(error.origin(), Some(("r", CHECK)));

    // An entry point the router does not know trusts nobody.
    let mut ctx = ctx_on("other");
    let error = described(&traefik, traefik_request(), &mut ctx)
        .await
        .unwrap_err();
    assert_eq!(error.status(), StatusCode::FORBIDDEN);
}

fn ctx_on(entry_point: &str) -> RequestContext {
    RequestContext::new(
        "127.0.0.1:9".parse().unwrap(),
        Scheme::Http,
        entry_point.into(),
        "r".into(),
    )
}

#[tokio::test]
async fn a_request_that_describes_nothing_or_garbage_is_refused() {
    let traefik = describe(ForwardAuthProxy::Traefik, None);
    let cases: [&[(&str, &str)]; 5] = [
        &[("x-forwarded-method", "GET"), ("x-forwarded-host", "a")],
        &[("x-forwarded-uri", "/"), ("x-forwarded-host", "a")],
        &[
            ("x-forwarded-method", "GET"),
            ("x-forwarded-uri", "/"),
            ("x-forwarded-host", "user@evil"),
        ],
        &[
            ("x-forwarded-method", "GET"),
            ("x-forwarded-uri", "not a uri"),
            ("x-forwarded-host", "a"),
        ],
        &[
            ("x-forwarded-method", "GET"),
            ("x-forwarded-uri", "/"),
            ("x-forwarded-host", "a"),
            ("x-forwarded-proto", "gopher"),
        ],
    ];
    for headers in cases {
        let error = described(
            &traefik,
            auth_request(Method::GET, "/auth", headers),
            &mut ctx(),
        )
        .await
        .unwrap_err();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{headers:?}");
        // Named as this router's refusal, so the gateway logs it for the operator.
        assert_eq!(error.origin().map(|(_, check)| check), Some(CHECK));
    }
}

/// A proxy that appends instead of replacing leaves the client's own value beside its own: a
/// description that says two things is ambiguous, and refused rather than read either way.
#[tokio::test]
async fn a_description_with_two_values_for_one_header_is_refused() {
    let traefik = describe(ForwardAuthProxy::Traefik, None);
    let base = [
        ("x-forwarded-method", "GET"),
        ("x-forwarded-uri", "/public"),
        ("x-forwarded-host", "app.example"),
        ("x-forwarded-proto", "https"),
    ];
    for (twice, second) in [
        ("x-forwarded-uri", "/admin"),
        ("x-forwarded-method", "DELETE"),
        ("x-forwarded-host", "admin.example"),
        ("x-forwarded-proto", "http"),
    ] {
        let mut headers = base.to_vec();
        headers.push((twice, second));
        let error = described(
            &traefik,
            auth_request(Method::GET, "/auth", &headers),
            &mut ctx(),
        )
        .await
        .unwrap_err();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{twice} twice");
        assert!(error.cause().contains(twice), "{}", error.cause());
    }
    let nginx = describe(ForwardAuthProxy::Nginx, None);
    let error = described(
        &nginx,
        auth_request(
            Method::GET,
            "/auth",
            &[
                ("host", "app.example"),
                ("x-original-uri", "/public"),
                ("x-original-uri", "/admin"),
            ],
        ),
        &mut ctx(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
}

/// The middlewares judge the path the application will serve: a described path is cleaned as
/// the entry point cleans its own requests, and one hiding a dot segment behind an encoded
/// separator is refused.
#[tokio::test]
async fn a_described_path_is_sanitised_like_a_request_of_the_entry_point() {
    let traefik = describe(ForwardAuthProxy::Traefik, None);
    let described_uri = |uri: &'static str| {
        auth_request(
            Method::GET,
            "/auth",
            &[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", uri),
                ("x-forwarded-host", "app.example"),
            ],
        )
    };
    for (uri, cleaned) in [
        ("/public/../admin?x=1", "/admin?x=1"),
        ("//admin/./panel", "/admin/panel"),
        ("/a/b/..", "/a/"),
        ("/public/%2e%2e/admin", "/admin"),
    ] {
        let request = described(&traefik, described_uri(uri), &mut ctx())
            .await
            .unwrap();
        assert_eq!(request.uri(), cleaned, "{uri}");
    }
    let error = described(&traefik, described_uri("/public/..%2fadmin"), &mut ctx())
        .await
        .unwrap_err();
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);

    // An entry point with `sanitizePath: false` leaves the path as described.
    let mut raw = describe(ForwardAuthProxy::Traefik, None);
    for trust in raw.entry_points.values_mut() {
        trust.sanitize_path = false;
    }
    let request = described(&raw, described_uri("/public/../admin"), &mut ctx())
        .await
        .unwrap();
    assert_eq!(request.uri(), "/public/../admin");
}

#[test]
fn absolute_targets_give_their_path_and_query() {
    assert_eq!(
        parse_target("http://a.example/x?y").unwrap().as_str(),
        "/x?y"
    );
    assert!(parse_target("ftp://a/x").is_err());
}

/// Sets `x-user`, replaces `authorization`, and renews a cookie, as a login middleware does.
struct Vouch;

impl Middleware for Vouch {
    fn handle<'a>(
        &'a self,
        mut request: Request<Body>,
        ctx: &'a mut RequestContext,
    ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
        Box::pin(async move {
            let headers = request.headers_mut();
            headers.insert("x-user", HeaderValue::from_static("alice"));
            headers.append("x-group", HeaderValue::from_static("a"));
            headers.append("x-group", HeaderValue::from_static("b"));
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_static("Bearer from-session"),
            );
            headers.insert(header::COOKIE, HeaderValue::from_static("t=2"));
            ctx.response_edits.push(HeaderEdit::Append(
                header::SET_COOKIE,
                HeaderValue::from_static("s=renewed"),
            ));
            Ok(Decision::Forward(request))
        })
    }
}

#[tokio::test]
async fn an_allowed_request_is_answered_200_with_what_the_middlewares_changed() {
    let chain: Vec<Arc<dyn Middleware>> = vec![
        Arc::new(describe(ForwardAuthProxy::Traefik, None)),
        Arc::new(Vouch),
    ];
    let mut ctx = ctx();
    let Decision::Forward(request) = run_chain(&chain, traefik_request(), &mut ctx)
        .await
        .unwrap()
    else {
        panic!("expected the request to be let through")
    };
    let mut response = Answer::new("noop").forward(request).await.unwrap();
    ctx.finish_response(&mut response);
    assert_eq!(response.status(), StatusCode::OK);
    let h = response.headers();
    assert_eq!(h["x-user"], "alice");
    let groups: Vec<_> = h.get_all("x-group").iter().collect();
    assert_eq!(groups, ["a", "b"]);
    assert_eq!(h[header::AUTHORIZATION], "Bearer from-session");
    assert_eq!(h[header::SET_COOKIE], "s=renewed");
    // Unchanged headers, the cookies the client sent and the description stay home.
    for kept in [
        "accept",
        "cookie",
        "host",
        "x-forwarded-for",
        "x-forwarded-proto",
    ] {
        assert!(!h.contains_key(kept), "{kept}");
    }
}

#[tokio::test]
async fn the_answer_needs_a_described_request() {
    let error = Answer::new("noop")
        .forward(Request::new(body::empty()))
        .await
        .unwrap_err();
    assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
}
