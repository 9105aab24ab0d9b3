//! The client credentials token cache in a real Redis (`store.redis`), shared by several
//! middleware instances standing for the gateway's replicas, against the development provider,
//! whose counters show every token call.

#![cfg(test)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, StatusCode, header};
use portcullis_auth::client_credentials::{
    ClientCredentialsBuildError, ClientCredentialsMiddleware,
};
use portcullis_auth::clock::SystemClock;
use portcullis_auth::test_support::client_credentials::{self as support, basic, config};
use portcullis_config::LocalResolver;
use portcullis_config::plugin::client_credentials::ClientCredentialsConfig;
use portcullis_devidp::{ClientSpec, DevIdp, GrantType};
use portcullis_proxy::body::Body;
use portcullis_proxy::error::GatewayError;
use portcullis_proxy::middleware::Middleware;
use portcullis_store::testing::{Server, free_port};
use serde_json::{Value, json};

const CC: GrantType = GrantType::ClientCredentials;
const STORE_SECRET: &str = "0123456789abcdef0123456789abcdef";

async fn provider() -> DevIdp {
    DevIdp::builder()
        .client(
            ClientSpec::new("gateway", "gateway-secret")
                .grant_types([CC])
                .access_token_claims(json!({"grp": "admin"})),
        )
        .client(ClientSpec::new("alice", "alice-secret").grant_types([CC]))
        .client(ClientSpec::new("bob", "bob-secret").grant_types([CC]))
        .access_token_ttl(Duration::from_secs(300))
        .start()
        .await
        .unwrap()
}

/// `store` pointing at `redis`, with `extra` keys merged in.
fn store(redis: &Server, extra: Value) -> Value {
    let mut store = json!({"redis": {"endpoints": [redis.address()]}});
    if let (Some(store), Value::Object(extra)) = (store.as_object_mut(), extra) {
        store.extend(extra);
    }
    store
}

fn gateway_config(idp: &DevIdp, store: Value) -> ClientCredentialsConfig {
    config(json!({
        "url": idp.token_url(),
        "clientID": "gateway",
        "clientSecret": "gateway-secret",
        "clientConfig": {"maxRetries": 0},
        "store": store,
    }))
}

fn caller_config(idp: &DevIdp, store: Value) -> ClientCredentialsConfig {
    config(json!({
        "url": idp.token_url(),
        "clientConfig": {"maxRetries": 0},
        "store": store,
    }))
}

/// One replica of the gateway.
fn replica(config: &ClientCredentialsConfig) -> ClientCredentialsMiddleware {
    support::middleware(config, Arc::new(SystemClock))
}

async fn run(
    middleware: &dyn Middleware,
    authorization: Option<&str>,
) -> Result<Request<Body>, GatewayError> {
    let headers: Vec<(&str, &str)> = authorization
        .map(|value| ("authorization", value))
        .into_iter()
        .collect();
    let (forwarded, _) = support::run(middleware, support::request("/api/items", &headers)).await?;
    Ok(forwarded)
}

/// The bearer token sent upstream; panics when the request was refused.
async fn bearer(middleware: &dyn Middleware, authorization: Option<&str>) -> String {
    let forwarded = match run(middleware, authorization).await {
        Ok(forwarded) => forwarded,
        Err(error) => panic!("refused: {error}"),
    };
    let value = forwarded.headers()[header::AUTHORIZATION].to_str().unwrap();
    value.strip_prefix("Bearer ").unwrap().to_owned()
}

async fn refused(middleware: &dyn Middleware, authorization: Option<&str>) -> GatewayError {
    match run(middleware, authorization).await {
        Ok(_) => panic!("forwarded, expected a refusal"),
        Err(error) => error,
    }
}

fn keys(redis: &Server) -> Vec<String> {
    let mut keys: Vec<String> = redis
        .cli(&[], &["KEYS", "*"])
        .lines()
        .map(str::to_owned)
        .filter(|k| !k.is_empty())
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn replicas_share_the_gateway_token_through_redis() {
    let redis = Server::start(&[]);
    let idp = provider().await;
    let config = gateway_config(&idp, store(&redis, json!({"secret": STORE_SECRET})));
    let (first, second) = (replica(&config), replica(&config));

    let token = bearer(&first, None).await;
    assert_eq!(idp.token_calls_for("gateway", CC), 1);
    for _ in 0..3 {
        assert_eq!(bearer(&second, None).await, token);
        assert_eq!(bearer(&first, None).await, token);
    }
    assert_eq!(idp.token_calls_for("gateway", CC), 1, "served from Redis");
    assert_eq!(keys(&redis).len(), 1);

    // A middleware that reads claims never takes an entry cached without them (it would have
    // no claims to check), and shares its own entry with its peers.
    let with_headers = self::config(json!({
        "url": idp.token_url(),
        "clientID": "gateway",
        "clientSecret": "gateway-secret",
        "forwardHeaders": {"Group": "grp"},
        "store": store(&redis, json!({"secret": STORE_SECRET})),
    }));
    let (third, fourth) = (replica(&with_headers), replica(&with_headers));
    let forwarded = run(&third, None).await.unwrap();
    assert_eq!(forwarded.headers()["group"], "admin");
    assert_eq!(idp.token_calls_for("gateway", CC), 2);
    let forwarded = run(&fourth, None).await.unwrap();
    assert_eq!(forwarded.headers()["group"], "admin");
    assert_eq!(idp.token_calls_for("gateway", CC), 2);
    assert_eq!(keys(&redis).len(), 2);
}

#[tokio::test]
async fn callers_share_tokens_across_replicas_and_a_different_secret_gets_none() {
    let redis = Server::start(&[]);
    let idp = provider().await;
    // Without store.secret: entries are still shared, sealed with the callers' secrets.
    let config = caller_config(&idp, store(&redis, json!({})));
    let (first, second) = (replica(&config), replica(&config));
    let alice = basic("alice", "alice-secret");

    let token = bearer(&first, Some(&alice)).await;
    assert_eq!(bearer(&second, Some(&alice)).await, token);
    assert_eq!(idp.token_calls_for("alice", CC), 1);
    assert_eq!(keys(&redis).len(), 1);

    // Another secret for the same client id is another entry: it finds nothing, the provider
    // refuses it, and nothing is stored for it.
    let error = refused(&second, Some(&basic("alice", "guess"))).await;
    assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
    assert!(
        idp.token_calls_for("alice", CC) > 1,
        "the provider was asked"
    );
    assert_eq!(keys(&redis).len(), 1);

    let bob = bearer(&second, Some(&basic("bob", "bob-secret"))).await;
    assert_ne!(bob, token);
    assert_eq!(keys(&redis).len(), 2);

    // Other key material (store.secret) gives other entries: nothing is reused across it.
    let calls = idp.token_calls_for("alice", CC);
    let other = replica(&caller_config(
        &idp,
        store(&redis, json!({"secret": STORE_SECRET})),
    ));
    assert_ne!(bearer(&other, Some(&alice)).await, token);
    assert_eq!(idp.token_calls_for("alice", CC), calls + 1);
    assert_eq!(keys(&redis).len(), 3);
}

#[tokio::test]
async fn stored_entries_show_no_secret_and_no_token() {
    let redis = Server::start(&[]);
    let idp = provider().await;
    let gateway = replica(&gateway_config(
        &idp,
        store(
            &redis,
            json!({"keyPrefix": "portcullis-cc", "secret": STORE_SECRET}),
        ),
    ));
    let callers = replica(&caller_config(
        &idp,
        store(&redis, json!({"keyPrefix": "portcullis-cc"})),
    ));
    let gateway_token = bearer(&gateway, None).await;
    let alice_token = bearer(&callers, Some(&basic("alice", "alice-secret"))).await;

    let keys = keys(&redis);
    assert_eq!(keys.len(), 2, "{keys:?}");
    let forbidden = [
        "gateway-secret",
        "alice-secret",
        STORE_SECRET,
        gateway_token.as_str(),
        alice_token.as_str(),
        // The claims part of each JWT.
        gateway_token.split('.').nth(1).unwrap(),
        alice_token.split('.').nth(1).unwrap(),
    ];
    for key in &keys {
        let tag = key.strip_prefix("portcullis-cc:").expect("the key prefix");
        assert_eq!(tag.len(), 64, "{key}");
        assert!(tag.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
        assert!(!key.contains("alice") && !key.contains("gateway"), "{key}");
        let value = redis.cli(&[], &["GET", key]);
        assert!(!value.trim().is_empty());
        for secret in forbidden {
            assert!(!value.contains(secret), "{key} holds {secret:?} in clear");
        }
        let ttl: i64 = redis.cli(&[], &["TTL", key]).trim().parse().unwrap();
        assert!((1..=300).contains(&ttl), "TTL {ttl}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_is_503_and_recovery_needs_no_rebuild() {
    let mut redis = Server::start(&[]);
    let idp = provider().await;
    let middleware = replica(&gateway_config(
        &idp,
        store(&redis, json!({"secret": STORE_SECRET})),
    ));
    bearer(&middleware, None).await;
    assert_eq!(idp.token_calls_for("gateway", CC), 1);

    redis.stop();
    for _ in 0..3 {
        let error = refused(&middleware, None).await;
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE, "{error}");
        assert!(error.cause().contains("token store unavailable"), "{error}");
        assert!(!error.cause().contains("gateway-secret"), "{error}");
    }
    // A read that failed is neither a hit nor a miss: the provider was not asked.
    assert_eq!(idp.token_calls_for("gateway", CC), 1);

    // Same port, empty database: the same instance reconnects and obtains a new token.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    let token = loop {
        match run(&middleware, None).await {
            Ok(_) => break bearer(&middleware, None).await,
            Err(error) => {
                assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE, "{error}");
                assert!(Instant::now() < deadline, "still failing: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(idp.token_calls_for("gateway", CC), 2);
    assert_eq!(keys(&redis).len(), 1);
    assert_eq!(bearer(&middleware, None).await, token);
}

#[tokio::test]
async fn an_altered_or_swapped_value_is_a_miss() {
    let redis = Server::start(&[]);
    let idp = provider().await;
    let config = caller_config(&idp, store(&redis, json!({"secret": STORE_SECRET})));
    let (first, second) = (replica(&config), replica(&config));
    let alice = basic("alice", "alice-secret");
    let bob = basic("bob", "bob-secret");

    let alice_token = bearer(&first, Some(&alice)).await;
    let alice_key = keys(&redis).pop().unwrap();
    let bob_token = bearer(&first, Some(&bob)).await;
    let bob_key = keys(&redis).into_iter().find(|k| *k != alice_key).unwrap();

    // Garbage: a miss, a new token, which replaces the garbage.
    assert_eq!(
        redis
            .cli(&[], &["SET", &alice_key, "garbage", "EX", "300"])
            .trim(),
        "OK"
    );
    let renewed = bearer(&second, Some(&alice)).await;
    assert_ne!(renewed, alice_token);
    assert_eq!(idp.token_calls_for("alice", CC), 2);
    assert_ne!(redis.cli(&[], &["GET", &alice_key]).trim(), "garbage");
    assert_eq!(bearer(&first, Some(&alice)).await, renewed);

    // Bob's genuine value moved under Alice's key does not open there: Alice never gets Bob's
    // token.
    assert_eq!(
        redis
            .cli(&[], &["COPY", &bob_key, &alice_key, "REPLACE"])
            .trim(),
        "1"
    );
    let after_swap = bearer(&second, Some(&alice)).await;
    assert_ne!(after_swap, bob_token);
    assert_eq!(idp.token_calls_for("alice", CC), 3);
    assert_eq!(bearer(&second, Some(&bob)).await, bob_token);
    assert_eq!(idp.token_calls_for("bob", CC), 1);
}

#[test]
fn builds_outside_a_runtime_and_connects_on_first_use() {
    // `portcullis check` builds middlewares without an async runtime.
    let redis = Server::start(&[]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let idp = runtime.block_on(provider());
    let config = gateway_config(&idp, store(&redis, json!({"keyPrefix": "cc"})));
    let middleware = portcullis_auth::client_credentials::build(
        "api-creds",
        &config,
        None,
        &LocalResolver::new(),
    )
    .unwrap();
    let token = runtime.block_on(bearer(middleware.as_ref(), None));
    assert_eq!(runtime.block_on(bearer(middleware.as_ref(), None)), token);
    assert_eq!(idp.token_calls_for("gateway", CC), 1);
    assert_eq!(keys(&redis).len(), 1);
}

#[tokio::test]
async fn redis_and_store_secret_problems_fail_the_build_naming_the_option() {
    let build = |store: Value, resolver: &LocalResolver| {
        let config = config(json!({"url": "https://idp.example.com/token", "store": store}));
        portcullis_auth::client_credentials::build("api-creds", &config, None, resolver).err()
    };
    let endpoint = format!("127.0.0.1:{}", free_port());
    let mut resolver = LocalResolver::new();
    resolver.insert("cc", "short", "not-an-aes-key");
    resolver.insert("cc", "good", STORE_SECRET);

    // Redis being down is not a build error: it is checked per request.
    assert!(build(json!({"redis": {"endpoints": [endpoint]}}), &resolver).is_none());
    assert!(
        build(
            json!({"secret": "urn:k8s:secret:cc:good", "redis": {"endpoints": [endpoint]}}),
            &resolver
        )
        .is_none()
    );

    let error = build(
        json!({"redis": {"endpoints": [endpoint], "password": "env:PORTCULLIS_TEST_UNSET_REDIS_PASSWORD"}}),
        &resolver,
    )
    .unwrap();
    assert!(
        matches!(error, ClientCredentialsBuildError::Redis { .. }),
        "{error:?}"
    );
    assert!(error.to_string().starts_with("store.redis: "), "{error}");
    assert!(error.to_string().contains("password"), "{error}");

    let error = build(
        json!({"secret": "urn:k8s:secret:cc:short", "redis": {"endpoints": [endpoint]}}),
        &resolver,
    )
    .unwrap();
    assert!(
        matches!(error, ClientCredentialsBuildError::StoreSecretLength(14)),
        "{error}"
    );
    assert!(error.to_string().starts_with("store.secret: "), "{error}");
    assert!(!error.to_string().contains("not-an-aes-key"), "{error}");

    let error = build(
        json!({"secret": "urn:k8s:secret:cc:missing", "redis": {"endpoints": [endpoint]}}),
        &resolver,
    )
    .unwrap();
    assert!(error.to_string().starts_with("store.secret: "), "{error}");
}
