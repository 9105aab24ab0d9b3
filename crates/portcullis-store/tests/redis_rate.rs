//! The shared token bucket of the `rateLimit` middleware against real Redis deployments: two
//! replicas (two stores) share one bucket, and an idle bucket expires.

#![cfg(test)]

use std::time::Duration;

use portcullis_config::LocalResolver;
use portcullis_store::testing::*;
use portcullis_store::{RedisStore, TokenGrant};

fn store(config: &portcullis_config::plugin::common::RedisConfig) -> RedisStore {
    RedisStore::new(config, &LocalResolver::default(), None).unwrap()
}

const SECOND: Duration = Duration::from_secs(1);

async fn grant(s: &RedisStore) -> Result<TokenGrant, portcullis_store::StoreError> {
    s.take_token("rl:{shared}", SECOND, 2 * SECOND, Duration::ZERO)
        .await
}

async fn two_replicas_share_one_bucket(endpoints: Vec<String>) {
    let mut cfg = config(endpoints.clone());
    cfg.cluster = endpoints.len() > 1;
    let (a, b) = (store(&cfg), store(&cfg));
    // 1 token a second, burst 2, no waiting.
    assert_eq!(
        grant(&a).await.unwrap(),
        TokenGrant::Granted(Duration::ZERO)
    );
    assert_eq!(
        grant(&b).await.unwrap(),
        TokenGrant::Granted(Duration::ZERO)
    );
    match grant(&a).await.unwrap() {
        TokenGrant::Refused(wait) => assert!(wait <= SECOND && wait > Duration::from_millis(900)),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Another key is another bucket.
    assert!(matches!(
        b.take_token("rl:{other}", SECOND, SECOND, Duration::ZERO)
            .await
            .unwrap(),
        TokenGrant::Granted(_)
    ));
}

#[tokio::test]
async fn single_instance_replicas_share_the_limit() {
    let server = Server::start(&[]);
    two_replicas_share_one_bucket(vec![server.address()]).await;
    // The bucket expires once full again.
    let ttl: i64 = server
        .cli(&[], &["PTTL", "rl:{shared}"])
        .trim()
        .parse()
        .unwrap();
    assert!(ttl > 0 && ttl <= 4000, "{ttl}");
}

#[tokio::test]
async fn a_request_may_wait_for_a_near_token() {
    let server = Server::start(&[]);
    let s = store(&config(vec![server.address()]));
    let tenth = Duration::from_millis(100);
    assert!(matches!(
        s.take_token("k", tenth, tenth, tenth).await.unwrap(),
        TokenGrant::Granted(w) if w.is_zero()
    ));
    match s.take_token("k", tenth, tenth, tenth).await.unwrap() {
        TokenGrant::Granted(wait) => assert!(wait > Duration::from_millis(50) && wait <= tenth),
        other => panic!("expected a short wait, got {other:?}"),
    }
}

#[tokio::test]
async fn cluster_replicas_share_the_limit() {
    let cluster = Cluster::start(&[]);
    two_replicas_share_one_bucket(cluster.endpoints()).await;
}
