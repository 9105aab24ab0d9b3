//! Server-side sessions (`session.store`) with the shared store injected as a memory store that
//! can be switched off: what replicas share, and how a store outage is answered. The same
//! behaviour against real Redis deployments is tested end to end in the gateway's tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::Method;
use portcullis_devidp::{GrantType, LogoutTarget};
use portcullis_store::{MemoryStore, Store, StoreError};

use crate::logout::serve;
use crate::support::{Harness, Setup, send_raw};

const STORE: &str =
    "session: { store: { keyPrefix: shared-test, redis: { endpoints: [\"127.0.0.1:1\"] } } }\n";

/// A memory store that fails every operation while it is down, like an unreachable Redis.
#[derive(Debug, Default)]
struct SwitchableStore {
    inner: MemoryStore,
    down: AtomicBool,
    /// Every key written, with the TTL it was given.
    written: std::sync::Mutex<Vec<(String, Duration)>>,
}

impl SwitchableStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable {
                operation: "test",
                reason: "switched off".into(),
            })
        } else {
            Ok(())
        }
    }
}

impl Store for SwitchableStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            self.check()?;
            self.inner.get(key).await
        })
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.check()?;
            self.written.lock().unwrap().push((key.to_owned(), ttl));
            self.inner.set(key, value, ttl).await
        })
    }

    fn set_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            self.check()?;
            self.inner.set_if_absent(key, value, ttl).await
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            self.check()?;
            self.inner.delete(key).await
        })
    }

    fn delete_if_equals<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            self.check()?;
            self.inner.delete_if_equals(key, value).await
        })
    }
}

fn shared(extra: &str, store: &Arc<SwitchableStore>) -> Setup {
    let store = Arc::clone(store) as Arc<dyn Store>;
    Setup::new(&format!("{STORE}{extra}")).options(|o| o.shared_store = Some(store))
}

fn session_cookie(h: &Harness) -> String {
    h.jar
        .cookies
        .iter()
        .find(|(name, _)| name.starts_with("oidc-test-session"))
        .map(|(_, value)| value.clone())
        .expect("a session cookie")
}

async fn api(middleware: &portcullis_auth::oidc::OidcMiddleware, cookie: &str) -> u16 {
    send_raw(
        middleware,
        Method::GET,
        "/",
        &[("accept", "application/json")],
        Some(cookie),
    )
    .await
    .status()
}

#[tokio::test]
async fn the_cookie_carries_only_a_sealed_session_id() {
    let store = Arc::new(SwitchableStore::default());
    let mut h = shared("", &store).start().await;
    h.login_as("/", "alice").await;
    let outcome = h.get("/").await;
    assert_eq!(outcome.status(), 200);
    assert!(
        outcome
            .header("authorization")
            .unwrap()
            .starts_with("Bearer ")
    );
    let value = session_cookie(&h);
    // A cookie session holds the ID and access tokens (well over a kilobyte); this one only
    // an id, sealed.
    assert!(value.len() < 120, "{} bytes: {value}", value.len());
    assert_eq!(
        h.jar
            .names()
            .iter()
            .filter(|n| n.starts_with("oidc-test-session"))
            .count(),
        1
    );
}

#[tokio::test]
async fn replicas_share_sessions_and_logout_reaches_all_of_them() {
    let store = Arc::new(SwitchableStore::default());
    let mut h = shared("logoutUrl: /logout\n", &store).start().await;
    let replica = h.replica();
    h.login_as("/", "alice").await;
    let cookie = h.jar.header().unwrap();
    let through_replica = send_raw(&replica, Method::GET, "/", &[], Some(&cookie)).await;
    assert_eq!(through_replica.status(), 200);
    assert_eq!(
        through_replica.header("authorization"),
        h.get("/").await.header("authorization"),
        "the same session on both replicas"
    );

    let logout = h.send(Method::GET, "/logout", &[]).await;
    assert!(matches!(logout.status(), 204 | 302), "{}", logout.status());
    assert_eq!(
        api(&replica, &cookie).await,
        401,
        "the old cookie on the replica"
    );
    assert_eq!(
        api(&h.middleware, &cookie).await,
        401,
        "the old cookie here"
    );
}

#[tokio::test]
async fn a_backchannel_logout_received_by_one_replica_revokes_on_every_replica() {
    let store = Arc::new(SwitchableStore::default());
    let (url, slot) = serve().await;
    let mut h = shared("backchannelLogoutUrl: /backchannel-logout\n", &store)
        .client(|c| c.backchannel_logout_uri(url.clone()))
        .start()
        .await;
    slot.set(h.middleware.clone()).unwrap();
    let replica = h.replica();
    h.login_as("/", "alice").await;
    let alice = h.jar.header().unwrap();
    h.jar = crate::support::Jar::default();
    h.login_as("/", "bob").await;
    let bob = h.jar.header().unwrap();
    assert_eq!(api(&replica, &alice).await, 200);

    let sid = h
        .idp
        .sessions()
        .into_iter()
        .find(|(_, user)| user == "alice")
        .unwrap()
        .0;
    let deliveries = h.idp.backchannel_logout(LogoutTarget::session(sid)).await;
    assert_eq!(deliveries[0].status, Some(200), "{deliveries:?}");
    assert_eq!(api(&replica, &alice).await, 401, "revoked on the replica");
    assert_eq!(
        api(&h.middleware, &alice).await,
        401,
        "revoked where received"
    );
    assert_eq!(api(&replica, &bob).await, 200, "other sessions live on");

    // By subject, and a replayed token is refused.
    let deliveries = h.idp.backchannel_logout(LogoutTarget::subject("bob")).await;
    assert_eq!(deliveries[0].status, Some(200), "{deliveries:?}");
    assert_eq!(api(&replica, &bob).await, 401);
}

#[tokio::test]
async fn replicas_refresh_a_session_once() {
    let store = Arc::new(SwitchableStore::default());
    let mut h = shared("", &store)
        .idp(|b| b.access_token_ttl(Duration::from_secs(60)))
        .start()
        .await;
    let replicas = [h.middleware.clone(), h.replica(), h.replica()];
    h.login_as("/", "alice").await;
    h.advance(Duration::from_secs(120));
    let cookie = h.jar.header().unwrap();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let middleware = replicas[i % replicas.len()].clone();
        let cookie = cookie.clone();
        tasks.push(tokio::spawn(async move {
            let outcome = send_raw(&middleware, Method::GET, "/", &[], Some(&cookie)).await;
            (outcome.status(), outcome.header("authorization"))
        }));
    }
    let mut tokens = Vec::new();
    for task in tasks {
        let (status, token) = task.await.unwrap();
        assert_eq!(status, 200);
        tokens.push(token.unwrap());
    }
    tokens.sort();
    tokens.dedup();
    assert_eq!(
        tokens.len(),
        1,
        "every replica uses the one refreshed token"
    );
    assert_eq!(h.idp.token_calls(GrantType::RefreshToken), 1);
}

/// A refresh on one replica rotates the CSRF token for every replica: the generation lives in
/// the shared session, so another replica accepts the new token, and the previous one only
/// for the grace period after the rotation.
#[tokio::test]
async fn a_refresh_on_one_replica_rotates_the_csrf_token_on_every_replica() {
    const CSRF_COOKIE: &str = "traefikee-csrf-token";
    const CSRF_HEADER: &str = "traefikhub-csrf-token";
    let store = Arc::new(SwitchableStore::default());
    let mut h = shared("csrf: {}\n", &store)
        .idp(|b| b.access_token_ttl(Duration::from_secs(100)))
        .start()
        .await;
    let replica = h.replica();
    h.login_as("/", "alice").await;
    let old = h.jar.cookies[CSRF_COOKIE].clone();
    let old_jar = h.jar.clone();
    h.advance(Duration::from_secs(120));
    let refreshing = h.send(Method::POST, "/api", &[(CSRF_HEADER, &old)]).await;
    assert_eq!(refreshing.status(), 200);
    let new = h.jar.cookies[CSRF_COOKIE].clone();
    assert_ne!(new, old, "the refresh rotated the token");
    assert_eq!(h.idp.token_calls(GrantType::RefreshToken), 1);

    let post = |jar: &crate::support::Jar, token: &str| {
        let cookie = jar.header().unwrap();
        let token = token.to_owned();
        let replica = replica.clone();
        async move {
            send_raw(
                &replica,
                Method::POST,
                "/api",
                &[(CSRF_HEADER, token.as_str())],
                Some(&cookie),
            )
            .await
            .status()
        }
    };
    assert_eq!(
        post(&h.jar, &new).await,
        200,
        "the new token on the other replica"
    );
    h.advance(Duration::from_secs(30));
    assert_eq!(
        post(&old_jar, &old).await,
        200,
        "a request sent before the rotation, within the grace period"
    );
    h.advance(Duration::from_secs(31));
    assert_eq!(
        post(&old_jar, &old).await,
        403,
        "the previous token after the grace period"
    );
    assert_eq!(post(&h.jar, &new).await, 200);
    assert_eq!(h.idp.token_calls(GrantType::RefreshToken), 1);
}

#[tokio::test]
async fn a_store_outage_answers_503_and_loses_nothing() {
    let store = Arc::new(SwitchableStore::default());
    let mut h = shared("logoutUrl: /logout\n", &store).start().await;
    h.login_as("/", "alice").await;
    let cookie = h.jar.header().unwrap();

    store.down.store(true, Ordering::SeqCst);
    assert_eq!(api(&h.middleware, &cookie).await, 503);
    let navigation = send_raw(
        &h.middleware,
        Method::GET,
        "/",
        &[("accept", "text/html")],
        Some(&cookie),
    )
    .await;
    assert_eq!(navigation.status(), 503, "not sent to log in again");
    let logout = send_raw(&h.middleware, Method::GET, "/logout", &[], Some(&cookie)).await;
    assert_eq!(
        logout.status(),
        503,
        "a logout that cannot be recorded fails"
    );

    store.down.store(false, Ordering::SeqCst);
    assert_eq!(
        api(&h.middleware, &cookie).await,
        200,
        "the session survived"
    );
}

/// With server-side sessions, the logout's revocation record must also last a full
/// `session.expiry` from the logout: a refresh finishing on another replica after the logout
/// can write the session back with an expiry moved forward by sliding.
#[tokio::test]
async fn a_logout_record_in_the_shared_store_lasts_a_full_session_expiry() {
    let store = Arc::new(SwitchableStore::default());
    let mut h = Setup::new(
        "logoutUrl: /logout\nsession: { expiry: 600, store: { keyPrefix: shared-test, redis: { endpoints: [\"127.0.0.1:1\"] } } }\n",
    )
    .idp(|b| b.access_token_ttl(Duration::from_secs(36_000)))
    .options({
        let store = Arc::clone(&store) as Arc<dyn Store>;
        |o| o.shared_store = Some(store)
    })
    .start()
    .await;
    h.login_as("/", "alice").await;
    // 400 s without a request: the stored session has 200 s left.
    h.advance(Duration::from_secs(400));
    let logout = h.get("/logout").await;
    assert!(matches!(logout.status(), 204 | 302), "{}", logout.status());
    let written = store.written.lock().unwrap().clone();
    let (_, ttl) = written
        .iter()
        .find(|(key, _)| key.starts_with("shared-test:revoked:session:"))
        .expect("the logout is recorded");
    assert!(*ttl >= Duration::from_secs(600), "{ttl:?}");
}

/// The same guarantee against a real Redis: the record's TTL there is a full `session.expiry`.
#[tokio::test]
async fn a_logout_record_in_redis_lasts_a_full_session_expiry() {
    use portcullis_store::testing::{Server, config};
    let redis = Server::start(&[]);
    let store = portcullis_store::RedisStore::new(
        &config(vec![redis.address()]),
        &portcullis_config::LocalResolver::new(),
        None,
    )
    .unwrap();
    let store = Arc::new(store) as Arc<dyn Store>;
    let mut h = Setup::new(&format!(
        "logoutUrl: /logout\nsession: {{ expiry: 600, store: {{ keyPrefix: redis-test, redis: {{ endpoints: [\"{}\"] }} }} }}\n",
        redis.address()
    ))
    .idp(|b| b.access_token_ttl(Duration::from_secs(36_000)))
    .options(|o| o.shared_store = Some(store))
    .start()
    .await;
    h.login_as("/", "alice").await;
    h.advance(Duration::from_secs(400));
    let logout = h.get("/logout").await;
    assert!(matches!(logout.status(), 204 | 302), "{}", logout.status());
    let keys = redis.cli(&[], &["KEYS", "redis-test:revoked:session:*"]);
    let key = keys.lines().next().expect("the logout is recorded").trim();
    let ttl: u64 = redis.cli(&[], &["TTL", key]).trim().parse().unwrap();
    assert!(ttl >= 590, "TTL {ttl}");
}
