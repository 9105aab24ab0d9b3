//! The client credentials middleware driven as a service (`handle` on hand-built requests)
//! against the development provider, whose counters show every token call.

#![cfg(test)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Request, StatusCode, header};
use portcullis_auth::client_credentials::ClientCredentialsMiddleware;
use portcullis_auth::clock::{Clock, ManualClock};
use portcullis_auth::test_support::client_credentials::{self as support, basic, config, ctx, run};
use portcullis_config::LocalResolver;
use portcullis_config::plugin::client_credentials::ClientCredentialsConfig;
use portcullis_devidp::{ClientSpec, DevIdp, Fault, GrantType};
use portcullis_proxy::body::Body;
use portcullis_proxy::error::GatewayError;
use portcullis_proxy::middleware::{Decision, Middleware};
use serde_json::{Value, json};

const CC: GrantType = GrantType::ClientCredentials;

async fn provider() -> DevIdp {
    provider_with_ttl(Duration::from_secs(300)).await
}

async fn provider_with_ttl(ttl: Duration) -> DevIdp {
    DevIdp::builder()
        .client(
            ClientSpec::new("gateway", "gateway-secret")
                .grant_types([CC])
                .access_token_claims(json!({"grp": "admin", "areas": ["office", "lab"]})),
        )
        .client(ClientSpec::new("alice", "alice-secret").grant_types([CC]))
        .client(ClientSpec::new("bob", "bob-secret").grant_types([CC]))
        .access_token_ttl(ttl)
        .start()
        .await
        .unwrap()
}

fn gateway_config(idp: &DevIdp, extra: Value) -> ClientCredentialsConfig {
    let mut options = json!({
        "url": idp.token_url(),
        "clientID": "gateway",
        "clientSecret": "gateway-secret",
        "clientConfig": {"maxRetries": 2},
    });
    merge(&mut options, extra);
    config(options)
}

fn caller_config(idp: &DevIdp, extra: Value) -> ClientCredentialsConfig {
    let mut options = json!({"url": idp.token_url(), "clientConfig": {"maxRetries": 2}});
    merge(&mut options, extra);
    config(options)
}

fn merge(base: &mut Value, extra: Value) {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
}

fn middleware(config: &ClientCredentialsConfig) -> Arc<ClientCredentialsMiddleware> {
    middleware_with_clock(config, Arc::new(portcullis_auth::clock::SystemClock))
}

fn middleware_with_clock(
    config: &ClientCredentialsConfig,
    clock: Arc<dyn Clock>,
) -> Arc<ClientCredentialsMiddleware> {
    Arc::new(support::middleware(config, clock))
}

fn request(headers: &[(&str, &str)]) -> Request<Body> {
    support::request("/api/items", headers)
}

async fn forwarded(
    middleware: &ClientCredentialsMiddleware,
    headers: &[(&str, &str)],
) -> Request<Body> {
    match run(middleware, request(headers)).await {
        Ok((request, _)) => request,
        Err(error) => panic!("refused: {error}"),
    }
}

async fn refused(
    middleware: &ClientCredentialsMiddleware,
    headers: &[(&str, &str)],
) -> GatewayError {
    match run(middleware, request(headers)).await {
        Ok(_) => panic!("forwarded, expected a refusal"),
        Err(error) => error,
    }
}

fn bearer(request: &Request<Body>) -> String {
    let value = request.headers()[header::AUTHORIZATION].to_str().unwrap();
    value
        .strip_prefix("Bearer ")
        .expect("a bearer token")
        .to_owned()
}

fn token_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn values(request: &Request<Body>, name: &str) -> Vec<String> {
    request
        .headers()
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// Waits until the provider has answered `count` client-credentials calls.
async fn wait_for_calls(idp: &DevIdp, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while idp.token_calls(CC) < count {
        assert!(
            Instant::now() < deadline,
            "only {} token calls",
            idp.token_calls(CC)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn gateway_mode_sends_its_own_token_and_reuses_it() {
    let idp = provider().await;
    let config = gateway_config(&idp, json!({"audience": "https://api.example.com"}));
    let middleware = middleware(&config);
    let first = forwarded(&middleware, &[("authorization", &basic("mallory", "x"))]).await;
    let token = bearer(&first);
    let claims = token_claims(&token);
    assert_eq!(claims["sub"], "gateway");
    assert_eq!(claims["aud"], "https://api.example.com");
    assert_eq!(values(&first, "authorization").len(), 1);
    for _ in 0..5 {
        assert_eq!(bearer(&forwarded(&middleware, &[]).await), token);
    }
    assert_eq!(idp.token_calls_for("gateway", CC), 1);
    // Without claims options, the token is never verified: no discovery, no JWKS.
    assert_eq!(idp.discovery_fetches(), 0);
    assert_eq!(idp.jwks_fetches(), 0);
}

#[tokio::test]
async fn caller_mode_exchanges_each_callers_basic_credentials() {
    let idp = provider().await;
    let middleware = middleware(&caller_config(&idp, json!({})));
    let alice = basic("alice", "alice-secret");
    let bob = basic("bob", "bob-secret");
    let alice_token = bearer(&forwarded(&middleware, &[("authorization", &alice)]).await);
    let bob_token = bearer(&forwarded(&middleware, &[("authorization", &bob)]).await);
    assert_eq!(token_claims(&alice_token)["sub"], "alice");
    assert_eq!(token_claims(&bob_token)["sub"], "bob");
    for _ in 0..3 {
        assert_eq!(
            bearer(&forwarded(&middleware, &[("authorization", &alice)]).await),
            alice_token
        );
        assert_eq!(
            bearer(&forwarded(&middleware, &[("authorization", &bob)]).await),
            bob_token
        );
    }
    assert_eq!(idp.token_calls_for("alice", CC), 1);
    assert_eq!(idp.token_calls_for("bob", CC), 1);
}

#[tokio::test]
async fn caller_mode_without_credentials_gets_a_basic_challenge() {
    let idp = provider().await;
    let middleware = middleware(&caller_config(&idp, json!({})));
    for headers in [
        vec![],
        vec![("authorization", "Bearer abc")],
        vec![("authorization", "Basic !!")],
    ] {
        let error = refused(&middleware, &headers).await;
        assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
        let response = error.into_response();
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Basic realm=\"api-creds\""
        );
    }
    assert_eq!(idp.token_calls(CC), 0);
}

#[tokio::test]
async fn a_wrong_secret_never_gets_the_cached_token_of_the_right_one() {
    let idp = provider().await;
    let middleware = middleware(&caller_config(&idp, json!({})));
    let right = basic("alice", "alice-secret");
    let token = bearer(&forwarded(&middleware, &[("authorization", &right)]).await);
    assert_eq!(idp.token_calls_for("alice", CC), 1);

    let error = refused(&middleware, &[("authorization", &basic("alice", "guess"))]).await;
    assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
    assert!(
        error
            .into_response()
            .headers()
            .contains_key(header::WWW_AUTHENTICATE)
    );
    // The provider was asked (basic, then post as the fallback) and refused.
    assert_eq!(idp.token_calls_for("alice", CC), 3);
    // The right secret still gets its cached token.
    assert_eq!(
        bearer(&forwarded(&middleware, &[("authorization", &right)]).await),
        token
    );
    assert_eq!(idp.token_calls_for("alice", CC), 3);
}

/// A caller whose credentials the provider refused is remembered for a short time (by the keyed
/// hash of its credentials): repeats get 401 at once, without asking the provider again.
#[tokio::test]
async fn a_refused_caller_is_answered_from_memory_for_a_short_time() {
    let idp = provider().await;
    let clock = Arc::new(ManualClock::new());
    let middleware = middleware_with_clock(&caller_config(&idp, json!({})), clock.clone());
    let wrong = basic("alice", "guess");
    for _ in 0..10 {
        let error = refused(&middleware, &[("authorization", &wrong)]).await;
        assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
        assert!(
            error
                .into_response()
                .headers()
                .contains_key(header::WWW_AUTHENTICATE)
        );
    }
    // One exchange: client_secret_basic, then client_secret_post as the fallback.
    assert_eq!(idp.token_calls_for("alice", CC), 2);
    // Another secret of the same client is not affected.
    forwarded(
        &middleware,
        &[("authorization", &basic("alice", "alice-secret"))],
    )
    .await;
    assert_eq!(idp.token_calls_for("alice", CC), 3);
    // Once the memory has passed, the provider is asked again.
    clock.advance(Duration::from_secs(29));
    refused(&middleware, &[("authorization", &wrong)]).await;
    assert_eq!(idp.token_calls_for("alice", CC), 3);
    clock.advance(Duration::from_secs(1));
    refused(&middleware, &[("authorization", &wrong)]).await;
    assert_eq!(idp.token_calls_for("alice", CC), 5);
}

/// At most two token requests of one client id run at once in caller mode; the others wait
/// briefly, then get 503 with `Retry-After`. Other client ids are not held up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_exchanges_of_one_client_id_are_bounded() {
    let idp = provider().await;
    idp.set_client_fault("alice", Fault::TokenDelay(Duration::from_secs(2)));
    let middleware = middleware(&caller_config(&idp, json!({})));
    let mut tasks = Vec::new();
    for i in 0..10 {
        let middleware = Arc::clone(&middleware);
        let credentials = basic("alice", &format!("guess-{i}"));
        tasks.push(tokio::spawn(async move {
            match run(&*middleware, request(&[("authorization", &credentials)])).await {
                Ok(_) => (200, None),
                Err(error) => {
                    let response = error.into_response();
                    let retry_after = response
                        .headers()
                        .get(header::RETRY_AFTER)
                        .map(|v| v.to_str().unwrap().to_owned());
                    (response.status().as_u16(), retry_after)
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Bob's exchange runs meanwhile.
    forwarded(
        &middleware,
        &[("authorization", &basic("bob", "bob-secret"))],
    )
    .await;
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let refused = statuses.iter().filter(|(s, _)| *s == 401).count();
    let busy: Vec<_> = statuses.iter().filter(|(s, _)| *s == 503).collect();
    assert_eq!(refused, 2, "{statuses:?}");
    assert_eq!(busy.len(), 8, "{statuses:?}");
    assert!(
        busy.iter().all(|(_, retry)| retry.is_some()),
        "{statuses:?}"
    );
    // Two exchanges of two calls each (basic, then post).
    assert_eq!(idp.token_calls_for("alice", CC), 4);
}

#[tokio::test]
async fn rejected_credentials_are_401_for_callers_and_502_for_the_gateway() {
    let idp = provider().await;
    idp.set_fault(Fault::TokenInvalidGrant);
    let callers = middleware(&caller_config(&idp, json!({})));
    let error = refused(
        &callers,
        &[("authorization", &basic("alice", "alice-secret"))],
    )
    .await;
    assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
    assert!(
        error
            .into_response()
            .headers()
            .contains_key(header::WWW_AUTHENTICATE)
    );

    let gateway = middleware(&gateway_config(&idp, json!({})));
    let error = refused(&gateway, &[]).await;
    assert_eq!(error.status(), StatusCode::BAD_GATEWAY);
    assert!(
        !error
            .into_response()
            .headers()
            .contains_key(header::WWW_AUTHENTICATE)
    );

    idp.clear_faults();
    let misconfigured = middleware(&config(json!({
        "url": idp.token_url(), "clientID": "gateway", "clientSecret": "wrong",
    })));
    assert_eq!(
        refused(&misconfigured, &[]).await.status(),
        StatusCode::BAD_GATEWAY
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_requests_make_exactly_one_token_call() {
    let idp = provider().await;
    // A slow answer keeps every request waiting on the same call.
    idp.set_fault(Fault::TokenDelay(Duration::from_millis(300)));
    let middleware = middleware(&gateway_config(&idp, json!({})));
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let middleware = Arc::clone(&middleware);
        tasks.push(tokio::spawn(async move {
            bearer(&forwarded(&middleware, &[]).await)
        }));
    }
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(task.await.unwrap());
    }
    assert_eq!(idp.token_calls(CC), 1);
    assert!(tokens.iter().all(|t| t == &tokens[0]));

    let callers = self::middleware(&caller_config(&idp, json!({})));
    let mut tasks = Vec::new();
    for i in 0..100 {
        let callers = Arc::clone(&callers);
        let who = if i % 2 == 0 {
            ("alice", "alice-secret")
        } else {
            ("bob", "bob-secret")
        };
        tasks.push(tokio::spawn(async move {
            bearer(&forwarded(&callers, &[("authorization", &basic(who.0, who.1))]).await)
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(idp.token_calls_for("alice", CC), 1);
    assert_eq!(idp.token_calls_for("bob", CC), 1);
}

#[tokio::test]
async fn tokens_are_renewed_before_they_expire() {
    // 60 s tokens: renewed from 54 s on, never served after 59 s.
    let idp = provider_with_ttl(Duration::from_secs(60)).await;
    let clock = Arc::new(ManualClock::new());
    let middleware = middleware_with_clock(&gateway_config(&idp, json!({})), clock.clone());
    let first = bearer(&forwarded(&middleware, &[]).await);

    clock.advance(Duration::from_secs(53));
    assert_eq!(bearer(&forwarded(&middleware, &[]).await), first);
    assert_eq!(idp.token_calls(CC), 1);

    // In the renewal window the cached token is served while a new one is fetched.
    clock.advance(Duration::from_secs(2));
    assert_eq!(bearer(&forwarded(&middleware, &[]).await), first);
    wait_for_calls(&idp, 2).await;
    let mut second = first.clone();
    for _ in 0..100 {
        second = bearer(&forwarded(&middleware, &[]).await);
        if second != first {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_ne!(second, first);
    assert_eq!(idp.token_calls(CC), 2);

    // Past the end of the renewed token: a new one is fetched before forwarding.
    clock.advance(Duration::from_secs(61));
    let third = bearer(&forwarded(&middleware, &[]).await);
    assert_ne!(third, second);
    assert_eq!(idp.token_calls(CC), 3);
}

#[tokio::test]
async fn a_cached_token_keeps_serving_while_the_provider_is_down() {
    let idp = provider_with_ttl(Duration::from_secs(60)).await;
    let clock = Arc::new(ManualClock::new());
    let middleware = middleware_with_clock(&gateway_config(&idp, json!({})), clock.clone());
    let token = bearer(&forwarded(&middleware, &[]).await);
    idp.set_fault(Fault::TokenServerError);
    assert_eq!(bearer(&forwarded(&middleware, &[]).await), token);
    assert_eq!(idp.token_calls(CC), 1);

    // Renewal fails in the background; the still-valid token is served meanwhile.
    clock.advance(Duration::from_secs(56));
    assert_eq!(bearer(&forwarded(&middleware, &[]).await), token);
    wait_for_calls(&idp, 4).await; // one call and two retries
    assert_eq!(bearer(&forwarded(&middleware, &[]).await), token);

    // Once it has expired, the outage shows.
    clock.advance(Duration::from_secs(4));
    assert_eq!(
        refused(&middleware, &[]).await.status(),
        StatusCode::BAD_GATEWAY
    );
}

#[tokio::test]
async fn provider_errors_become_502_after_the_retries() {
    let idp = provider().await;
    idp.set_fault(Fault::TokenServerError);
    let middleware = middleware(&gateway_config(&idp, json!({})));
    assert_eq!(
        refused(&middleware, &[]).await.status(),
        StatusCode::BAD_GATEWAY
    );
    assert_eq!(idp.token_calls(CC), 3, "one call and maxRetries=2 retries");

    idp.clear_faults();
    idp.set_fault(Fault::TokenInvalidJson);
    assert_eq!(
        refused(&middleware, &[]).await.status(),
        StatusCode::BAD_GATEWAY
    );
    assert_eq!(idp.token_calls(CC), 4, "an invalid answer is not retried");

    // A failure is not cached: the next request asks again and succeeds.
    idp.clear_faults();
    forwarded(&middleware, &[]).await;
    assert_eq!(idp.token_calls(CC), 5);
}

#[tokio::test]
async fn a_slow_provider_is_504_within_the_timeout() {
    let idp = provider().await;
    idp.set_fault(Fault::TokenDelay(Duration::from_secs(5)));
    let config = gateway_config(
        &idp,
        json!({"clientConfig": {"timeoutSeconds": 1, "maxRetries": 3}}),
    );
    let middleware = middleware(&config);
    let started = Instant::now();
    let error = refused(&middleware, &[]).await;
    assert_eq!(error.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(
        started.elapsed() < Duration::from_millis(2_500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_unreachable_provider_is_502() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/token", closed.local_addr().unwrap());
    drop(closed);
    let middleware = middleware(&config(json!({
        "url": url, "clientID": "gateway", "clientSecret": "s", "clientConfig": {"maxRetries": 1},
    })));
    assert_eq!(
        refused(&middleware, &[]).await.status(),
        StatusCode::BAD_GATEWAY
    );
}

#[tokio::test]
async fn claims_are_checked_on_the_verified_access_token() {
    let idp = provider().await;
    let allowed = middleware(&gateway_config(
        &idp,
        json!({"claims": "Equals(`grp`, `admin`) && Contains(`areas`, `lab`) && Equals(`access_token.sub`, `gateway`)"}),
    ));
    forwarded(&allowed, &[]).await;
    // The signature was checked with the issuer's published keys.
    assert_eq!(idp.discovery_fetches(), 1);
    assert_eq!(idp.jwks_fetches(), 1);

    let denied = middleware(&gateway_config(
        &idp,
        json!({"claims": "Equals(`grp`, `admin`) && OneOf(`areas`, `home`, `garden`)"}),
    ));
    let error = refused(&denied, &[]).await;
    assert_eq!(error.status(), StatusCode::FORBIDDEN);
    assert!(error.cause().contains("OneOf"), "{}", error.cause());
    // The refusal is not a token problem: the cached token is kept.
    assert_eq!(refused(&denied, &[]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(idp.token_calls_for("gateway", CC), 2);
}

#[tokio::test]
async fn forwarded_headers_come_from_claims_and_replace_client_copies() {
    let idp = provider().await;
    let config = gateway_config(
        &idp,
        json!({
            "forwardHeaders": {"X-Group": "grp", "X-Areas": "areas", "X-Missing": "nope", "X-Client": "client_id"},
            "usernameClaim": "sub",
        }),
    );
    let middleware = middleware(&config);
    let (upstream, ctx) = run(
        &*middleware,
        request(&[
            ("x-group", "forged"),
            ("x-missing", "forged"),
            ("x-client", "forged"),
            ("authorization", "Bearer forged"),
            ("x-other", "kept"),
        ]),
    )
    .await
    .unwrap();
    assert_eq!(values(&upstream, "x-group"), ["admin"]);
    assert_eq!(values(&upstream, "x-areas"), ["office", "lab"]);
    assert_eq!(values(&upstream, "x-missing"), [""]);
    assert_eq!(values(&upstream, "x-client"), ["gateway"]);
    assert_eq!(values(&upstream, "x-other"), ["kept"]);
    let authorization = values(&upstream, "authorization");
    assert_eq!(authorization.len(), 1);
    assert_ne!(authorization[0], "Bearer forged");
    assert_eq!(ctx.username.as_deref(), Some("gateway"));
}

/// CGI, WSGI and PHP upstreams read `X_Group` as `HTTP_X_GROUP`, the same variable as the
/// gateway's `X-Group`: a client's underscore spelling of a forwarded name never arrives, in
/// either credential mode.
#[tokio::test]
async fn underscore_spellings_of_forwarded_headers_are_removed() {
    let idp = provider().await;
    let extra = json!({"forwardHeaders": {"X-Group": "grp", "X-Client": "client_id"}});
    for (middleware, authorization) in [
        (middleware(&gateway_config(&idp, extra.clone())), None),
        (
            middleware(&caller_config(&idp, extra.clone())),
            Some(basic("gateway", "gateway-secret")),
        ),
    ] {
        let mut headers = vec![
            ("x_group", "forged"),
            ("X_Client", "forged"),
            ("x_unrelated", "kept"),
        ];
        if let Some(authorization) = &authorization {
            headers.push(("authorization", authorization));
        }
        let upstream = forwarded(&middleware, &headers).await;
        assert!(values(&upstream, "x_group").is_empty());
        assert!(values(&upstream, "x_client").is_empty());
        assert_eq!(values(&upstream, "x-group"), ["admin"]);
        assert_eq!(values(&upstream, "x-client"), ["gateway"]);
        assert_eq!(values(&upstream, "x_unrelated"), ["kept"]);
    }
}

#[tokio::test]
async fn an_unresolvable_secret_fails_the_build_naming_the_option() {
    let unresolved = config(json!({
        "url": "https://idp.example.com/token",
        "clientID": "env:PORTCULLIS_TEST_UNSET_CLIENT_ID",
        "clientSecret": "s",
    }));
    let error = portcullis_auth::client_credentials::build(
        "api-creds",
        &unresolved,
        None,
        &LocalResolver::new(),
    )
    .err()
    .unwrap();
    assert!(error.to_string().starts_with("clientID: "), "{error}");
}

#[tokio::test]
async fn a_rebuild_with_unchanged_configuration_and_secrets_keeps_the_token_cache() {
    use portcullis_auth::AuthRegistry;
    use portcullis_config::plugin::PluginConfig;
    let idp = provider().await;
    let plugin = PluginConfig::ClientCredentials(Box::new(gateway_config(
        &idp,
        json!({"clientSecret": "urn:k8s:secret:creds:secret"}),
    )));
    let mut resolver = LocalResolver::new();
    resolver.insert("creds", "secret", "gateway-secret");
    let registry = AuthRegistry::new();
    let token_of = |middleware: Arc<dyn Middleware>| async move {
        let mut ctx = ctx();
        match middleware.handle(request(&[]), &mut ctx).await.unwrap() {
            Decision::Forward(forwarded) => bearer(&forwarded),
            Decision::Respond(response) => panic!("answered {}", response.status()),
        }
    };
    let first = registry
        .build("api", &plugin, Some("apps"), &resolver)
        .unwrap();
    let token = token_of(first.clone()).await;
    // A reload (with Kubernetes: any change in the cluster) rebuilds the configuration.
    let rebuilt = registry
        .build("api", &plugin, Some("apps"), &resolver)
        .unwrap();
    assert!(Arc::ptr_eq(&first, &rebuilt));
    assert_eq!(token_of(rebuilt).await, token);
    assert_eq!(idp.token_calls_for("gateway", CC), 1);
    // A new secret value is a new instance.
    resolver.insert("creds", "secret", "rotated-secret");
    let rotated = registry
        .build("api", &plugin, Some("apps"), &resolver)
        .unwrap();
    assert!(!Arc::ptr_eq(&first, &rotated));
    // So is another namespace's middleware of the same name.
    resolver.insert("creds", "secret", "gateway-secret");
    let elsewhere = registry
        .build("api", &plugin, Some("other"), &resolver)
        .unwrap();
    assert!(!Arc::ptr_eq(&first, &elsewhere));
}
