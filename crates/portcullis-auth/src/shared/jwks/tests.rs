use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};

use portcullis_config::plugin::common::ClientConfig;
use serde_json::json;

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::shared::provider_client::ClientTlsMaterial;
use crate::test_support::TestKey;

#[test]
fn kid_selects_the_key_and_unknown_kids_are_reported() {
    let a = TestKey::ec("a");
    let b = TestKey::ec("b");
    let keys = vec![a.jwk(), b.jwk()];
    let token = b.sign(&json!({"sub": "x"}));
    assert_eq!(verify_with(&jwt::decode(&token).unwrap(), &keys), Ok(()));
    let c = TestKey::ec("c");
    let token = c.sign(&json!({"sub": "x"}));
    assert_eq!(
        verify_with(&jwt::decode(&token).unwrap(), &keys),
        Err(JwtError::UnknownKey(Some("c".into())))
    );
}

#[test]
fn without_kid_every_fitting_key_is_tried() {
    let a = TestKey::ec("a");
    let b = TestKey::ec("b");
    let keys = vec![a.jwk(), b.jwk()];
    let token = b.sign_with_header(&json!({"alg": "ES256"}), &json!({"sub": "x"}));
    assert_eq!(verify_with(&jwt::decode(&token).unwrap(), &keys), Ok(()));
    let stranger = TestKey::ec("s");
    let token = stranger.sign_with_header(&json!({"alg": "ES256"}), &json!({"sub": "x"}));
    assert_eq!(
        verify_with(&jwt::decode(&token).unwrap(), &keys),
        Err(JwtError::BadSignature)
    );
    let token = TestKey::ed("e").sign_with_header(&json!({"alg": "EdDSA"}), &json!({}));
    assert_eq!(
        verify_with(&jwt::decode(&token).unwrap(), &keys),
        Err(JwtError::UnknownKey(None))
    );
}

/// A JWKS endpoint on a loopback port that counts its fetches and can be made slow or broken.
struct FakeJwks {
    keys: Mutex<Vec<Value>>,
    status: AtomicU16,
    delay_ms: AtomicU64,
    fetches: AtomicUsize,
}

impl FakeJwks {
    async fn start(keys: Vec<Value>) -> (Arc<FakeJwks>, Url) {
        let fake = Arc::new(FakeJwks {
            keys: Mutex::new(keys),
            status: AtomicU16::new(200),
            delay_ms: AtomicU64::new(0),
            fetches: AtomicUsize::new(0),
        });
        let served = Arc::clone(&fake);
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let fake = Arc::clone(&served);
                async move {
                    fake.fetches.fetch_add(1, Ordering::SeqCst);
                    let delay = fake.delay_ms.load(Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    let status =
                        axum::http::StatusCode::from_u16(fake.status.load(Ordering::SeqCst))
                            .unwrap();
                    let keys = fake.keys.lock().unwrap().clone();
                    (status, axum::Json(json!({ "keys": keys })))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/jwks", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (fake, url)
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn cache(url: Url, clock: &Arc<ManualClock>) -> JwksCache {
    let config = ClientConfig {
        max_retries: 0,
        ..ClientConfig::default()
    };
    let client = ProviderClient::new(&config, &ClientTlsMaterial::default()).unwrap();
    let clock: Arc<dyn Clock> = clock.clone();
    JwksCache::new(client, url)
        .with_refetch_interval(Duration::from_secs(30))
        .with_clock(clock)
}

/// A provider whose JWKS endpoint is down is asked once per refetch interval, not once per
/// token, even before any fetch has ever succeeded.
#[tokio::test]
async fn failed_fetches_are_rate_limited_like_refetches() {
    let key = TestKey::ec("a");
    let (fake, url) = FakeJwks::start(vec![key.jwk_json()]).await;
    fake.status.store(503, Ordering::SeqCst);
    let clock = Arc::new(ManualClock::new());
    let jwks = cache(url, &clock);
    let token = key.sign(&json!({"sub": "x"}));
    for _ in 0..5 {
        assert!(matches!(
            jwks.verify(&token).await,
            Err(JwksError::Fetch(_))
        ));
    }
    assert_eq!(fake.fetches(), 1);

    fake.status.store(200, Ordering::SeqCst);
    clock.advance(Duration::from_secs(29));
    assert!(matches!(
        jwks.verify(&token).await,
        Err(JwksError::Fetch(_))
    ));
    assert_eq!(fake.fetches(), 1);
    clock.advance(Duration::from_secs(1));
    assert!(jwks.verify(&token).await.is_ok());
    assert_eq!(fake.fetches(), 2);
}

/// An ID token comes from the token endpoint: a `kid` the cache does not know is looked up at
/// once, even right after a fetch, and concurrent lookups share one fetch. Tokens anyone can
/// present keep the rate limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_answers_refetch_at_once_and_share_one_fetch() {
    let old = TestKey::ec("old");
    let new = Arc::new(TestKey::ec("new"));
    let (fake, url) = FakeJwks::start(vec![old.jwk_json()]).await;
    let clock = Arc::new(ManualClock::new());
    let jwks = Arc::new(cache(url, &clock));
    assert!(jwks.verify(&old.sign(&json!({}))).await.is_ok());
    assert_eq!(fake.fetches(), 1);

    // The provider rotates within the refetch interval; its endpoint answers slowly, so the
    // lookups overlap.
    *fake.keys.lock().unwrap() = vec![old.jwk_json(), new.jwk_json()];
    fake.delay_ms.store(300, Ordering::SeqCst);
    let token = new.sign(&json!({}));
    let rate_limited = jwks.verify(&token).await;
    assert!(
        matches!(rate_limited, Err(JwksError::Token(JwtError::UnknownKey(_)))),
        "{rate_limited:?}"
    );
    assert_eq!(fake.fetches(), 1);
    let mut lookups = Vec::new();
    for _ in 0..8 {
        let (jwks, token) = (Arc::clone(&jwks), token.clone());
        lookups.push(tokio::spawn(async move {
            jwks.verify_from_token_endpoint(&token).await
        }));
    }
    for lookup in lookups {
        assert!(lookup.await.unwrap().is_ok());
    }
    assert_eq!(fake.fetches(), 2);

    // A kid still unknown after the lookup is refused; the rate-limited path does not fetch.
    let stranger = TestKey::ec("stranger").sign(&json!({}));
    assert!(matches!(
        jwks.verify(&stranger).await,
        Err(JwksError::Token(JwtError::UnknownKey(_)))
    ));
    assert_eq!(fake.fetches(), 2);
}
