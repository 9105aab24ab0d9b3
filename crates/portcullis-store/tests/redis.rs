//! The store conformance suite against real Redis deployments (single instance, ACL users, TLS,
//! Cluster, Sentinel), and the store's behaviour through outages and failovers.

#![cfg(test)]

use std::time::{Duration, Instant};

use portcullis_config::LocalResolver;
use portcullis_store::testing::{self as support, *};
use portcullis_store::{RedisMode, RedisStore, Store, StoreError, conformance};

fn store(config: &portcullis_config::plugin::common::RedisConfig) -> RedisStore {
    RedisStore::new(config, &LocalResolver::default(), None).unwrap()
}

async fn conform(store: &dyn Store) {
    if let Err(failure) = conformance::run(store).await {
        panic!("conformance failed for {store:?}: {failure}");
    }
}

#[tokio::test]
async fn single_instance() {
    let server = Server::start(&[]);
    let store = store(&config(vec![server.address()]));
    assert_eq!(store.mode(), RedisMode::Single);
    conform(&store).await;
}

#[tokio::test]
async fn database_is_used() {
    let server = Server::start(&[]);
    let mut cfg = config(vec![server.address()]);
    cfg.database = 3;
    let store = store(&cfg);
    store
        .set("in-db-3", b"v", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(server.cli(&["-n", "3"], &["GET", "in-db-3"]).trim(), "v");
    assert_eq!(server.cli(&[], &["EXISTS", "in-db-3"]).trim(), "0");
}

#[tokio::test]
async fn password_and_acl_user() {
    let server = Server::start(&[
        "--requirepass",
        "default-secret",
        "--user",
        "gateway",
        "on",
        ">gateway-secret",
        "~*",
        "+@all",
    ]);
    let mut with_password = config(vec![server.address()]);
    with_password.password = secret("default-secret");
    conform(&store(&with_password)).await;

    let mut with_user = config(vec![server.address()]);
    with_user.username = secret("gateway");
    with_user.password = secret("gateway-secret");
    conform(&store(&with_user)).await;

    // Wrong credentials: an error, never "absent".
    let mut wrong = config(vec![server.address()]);
    wrong.username = secret("gateway");
    wrong.password = secret("not-the-password");
    let error = store(&wrong).get("anything").await.unwrap_err();
    assert!(!format!("{error}").contains("not-the-password"));
    assert!(!format!("{error:?}").contains("not-the-password"));

    let unauthenticated = store(&config(vec![server.address()]));
    assert!(unauthenticated.get("anything").await.is_err());
}

#[tokio::test]
async fn tls_single_instance() {
    let pki = Pki::generate();
    let files = tempfile::tempdir().unwrap();
    let tls_files = pki.write_server_files(files.path());
    // Clients must present a certificate of the CA (mutual TLS).
    let mut args = tls_files.server_args();
    args.extend(["--tls-auth-clients", "yes"]);
    let server = Server::start(&args);
    let client = Some((pki.client_cert_pem.as_str(), pki.client_key_pem.as_str()));

    let mut verified = config(vec![format!("localhost:{}", server.port)]);
    verified.tls = Some(tls(Some(&pki.ca_pem), client, false));
    conform(&store(&verified)).await;

    let mut by_ip = config(vec![server.address()]);
    by_ip.tls = Some(tls(Some(&pki.ca_pem), client, false));
    store(&by_ip)
        .set("ip", b"v", Duration::from_secs(5))
        .await
        .unwrap();

    // Without the CA the server's certificate is not trusted.
    let mut untrusted = config(vec![server.address()]);
    untrusted.tls = Some(tls(None, client, false));
    assert!(store(&untrusted).get("x").await.is_err());

    // insecureSkipVerify accepts it without the CA.
    let mut insecure = config(vec![server.address()]);
    insecure.tls = Some(tls(None, client, true));
    let store_insecure = store(&insecure);
    store_insecure
        .set("k", b"v", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(store_insecure.get("k").await.unwrap(), Some(b"v".to_vec()));

    // Without a client certificate the server refuses the connection.
    let mut no_client_cert = config(vec![server.address()]);
    no_client_cert.tls = Some(tls(Some(&pki.ca_pem), None, false));
    assert!(store(&no_client_cert).get("x").await.is_err());
}

#[tokio::test]
async fn cluster() {
    let cluster = Cluster::start(&[]);
    let mut cfg = config(cluster.endpoints());
    cfg.cluster = true;
    cfg.database = 2; // ignored, with a warning
    let store = store(&cfg);
    assert_eq!(store.mode(), RedisMode::Cluster);
    conform(&store).await;

    // Only some of the nodes listed is enough to find the others.
    let mut one_node = config(vec![cluster.nodes[3].address()]);
    one_node.cluster = true;
    conform(&self::store(&one_node)).await;
}

#[tokio::test]
async fn cluster_with_tls() {
    let pki = Pki::generate();
    let files = tempfile::tempdir().unwrap();
    let tls_files = pki.write_server_files(files.path());
    // Clients, the cluster bus and replication all use TLS; clients need no certificate here.
    let mut args = tls_files.server_args();
    args.extend([
        "--tls-cluster",
        "yes",
        "--tls-replication",
        "yes",
        "--tls-auth-clients",
        "no",
        "--requirepass",
        "cluster-secret",
        "--masterauth",
        "cluster-secret",
    ]);
    let cluster = Cluster::start_with_cli(
        &args,
        &[
            "--tls",
            "--cacert",
            &tls_files.ca,
            "--no-auth-warning",
            "-a",
            "cluster-secret",
        ],
    );
    let mut cfg = config(cluster.endpoints());
    cfg.cluster = true;
    cfg.password = secret("cluster-secret");
    cfg.tls = Some(tls(Some(&pki.ca_pem), None, false));
    conform(&store(&cfg)).await;

    // Without the CA the nodes' certificates are not trusted.
    let mut untrusted = cfg.clone();
    untrusted.tls = Some(tls(None, None, false));
    assert!(store(&untrusted).get("x").await.is_err());
}

#[tokio::test]
async fn cluster_with_acl_user() {
    let cluster = Cluster::start(&["--user", "gateway", "on", ">gateway-secret", "~*", "+@all"]);
    let mut cfg = config(cluster.endpoints());
    cfg.cluster = true;
    cfg.username = secret("gateway");
    cfg.password = secret("gateway-secret");
    conform(&store(&cfg)).await;
}

#[tokio::test]
async fn sentinel() {
    let group = SentinelGroup::start();
    let mut cfg = config(group.endpoints());
    cfg.password = secret(DATA_PASSWORD);
    cfg.sentinel = Some(support::sentinel(MASTER_SET, SENTINEL_PASSWORD));
    let store = store(&cfg);
    assert_eq!(store.mode(), RedisMode::Sentinel);
    conform(&store).await;

    // The sentinels' password is not the data nodes'.
    let mut wrong_sentinel_password = cfg.clone();
    wrong_sentinel_password.sentinel = Some(support::sentinel(MASTER_SET, DATA_PASSWORD));
    assert!(
        self::store(&wrong_sentinel_password)
            .get("x")
            .await
            .is_err()
    );

    // Failover: the replica is promoted; writes reach the new master without a new store.
    store
        .set("before", b"1", Duration::from_secs(60))
        .await
        .unwrap();
    // Replication is asynchronous: only what reached the replica survives its promotion.
    let auth = ["--no-auth-warning", "-a", DATA_PASSWORD];
    wait_until(
        Duration::from_secs(10),
        "the replica to receive the write",
        || group.replica.cli(&auth, &["GET", "before"]).trim() == "1",
    );
    let promoted = group.replica.port.to_string();
    let reply = group.sentinel_cli(&["SENTINEL", "FAILOVER", MASTER_SET]);
    assert!(reply.contains("OK"), "SENTINEL FAILOVER: {reply}");
    wait_until(
        Duration::from_secs(30),
        "the sentinels to announce the new master",
        || {
            group
                .sentinel_cli(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_SET])
                .contains(&promoted)
        },
    );
    // Writes accepted by the old master before it is demoted are lost to any client (Redis
    // replication is asynchronous); what matters is that, once it refuses them (READONLY), the
    // store finds the new master by itself.
    wait_until(
        Duration::from_secs(30),
        "the old master to be demoted",
        || group.master.cli(&auth, &["ROLE"]).starts_with("slave"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut attempts = 0;
    loop {
        attempts += 1;
        match store.set("after", b"2", Duration::from_secs(60)).await {
            Ok(()) => break,
            Err(error) => {
                assert!(error.is_transient(), "{error}");
                assert!(
                    Instant::now() < deadline,
                    "writes never reached the new master: {error}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    assert_eq!(
        group.replica.cli(&auth, &["GET", "after"]).trim(),
        "2",
        "after {attempts} attempts"
    );
    assert_eq!(store.get("before").await.unwrap(), Some(b"1".to_vec()));
    conform(&store).await;
}

#[tokio::test]
async fn sentinel_with_tls() {
    let pki = Pki::generate();
    let files = tempfile::tempdir().unwrap();
    let group = SentinelGroup::start_tls(&pki.write_server_files(files.path()));
    let mut cfg = config(group.endpoints());
    cfg.password = secret(DATA_PASSWORD);
    cfg.sentinel = Some(support::sentinel(MASTER_SET, SENTINEL_PASSWORD));
    cfg.tls = Some(tls(Some(&pki.ca_pem), None, false));
    let store = store(&cfg);
    conform(&store).await;
    store
        .set("over-tls", b"1", Duration::from_secs(60))
        .await
        .unwrap();
    let auth = group.data_auth();
    let auth: Vec<&str> = auth.iter().map(String::as_str).collect();
    assert_eq!(group.master.cli(&auth, &["GET", "over-tls"]).trim(), "1");

    let mut untrusted = cfg.clone();
    untrusted.tls = Some(tls(None, None, false));
    assert!(self::store(&untrusted).get("x").await.is_err());
}

#[tokio::test]
async fn outage_and_recovery() {
    let mut server = Server::start(&[]);
    let store = store(&config(vec![server.address()]));
    store.set("k", b"v", Duration::from_secs(60)).await.unwrap();

    server.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let error = store.get("k").await.unwrap_err();
        assert!(error.is_transient(), "{error}");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "took {:?}",
            started.elapsed()
        );
        let error = store
            .set_if_absent("jti", b"1", Duration::from_secs(60))
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            StoreError::Unavailable { .. } | StoreError::Timeout { .. }
        ));
    }

    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.set("k", b"again", Duration::from_secs(60)).await {
            Ok(()) => break,
            Err(error) => {
                assert!(Instant::now() < deadline, "never recovered: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert_eq!(store.get("k").await.unwrap(), Some(b"again".to_vec()));
    conform(&store).await;
}

#[tokio::test]
async fn built_while_redis_is_down() {
    let port = free_port();
    let store = store(&config(vec![format!("127.0.0.1:{port}")]));
    assert!(store.get("k").await.unwrap_err().is_transient());
}

#[tokio::test]
async fn unreachable_sentinels_and_cluster_fail_quickly() {
    let mut sentinel_cfg = config(vec![format!("127.0.0.1:{}", free_port())]);
    sentinel_cfg.sentinel = Some(support::sentinel(MASTER_SET, SENTINEL_PASSWORD));
    let started = Instant::now();
    assert!(store(&sentinel_cfg).get("k").await.is_err());

    let mut cluster_cfg = config(vec![format!("127.0.0.1:{}", free_port())]);
    cluster_cfg.cluster = true;
    assert!(store(&cluster_cfg).get("k").await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn cluster_failover() {
    let mut cluster = Cluster::start(&[]);
    let mut cfg = config(cluster.endpoints());
    cfg.cluster = true;
    let store = store(&cfg);
    let keys: Vec<String> = (0..30).map(|i| format!("failover-{i}")).collect();
    for key in &keys {
        store
            .set(key, key.as_bytes(), Duration::from_secs(300))
            .await
            .unwrap();
    }
    let victim = (0..cluster.nodes.len())
        .find(|&i| cluster.nodes[i].cli(&[], &["ROLE"]).starts_with("master"))
        .unwrap();
    let victim_port = cluster.nodes[victim].port.to_string();
    let replica = (0..cluster.nodes.len())
        .find(|&i| {
            let role = cluster.nodes[i].cli(&[], &["ROLE"]);
            role.starts_with("slave") && role.contains(&victim_port)
        })
        .unwrap();
    wait_until(Duration::from_secs(10), "replication", || {
        cluster.nodes[replica].cli(&[], &["DBSIZE"]).trim()
            == cluster.nodes[victim].cli(&[], &["DBSIZE"]).trim()
    });
    cluster.nodes[victim].stop();
    let started = Instant::now();
    let mut errors = 0;
    loop {
        let mut failed = store.get_many(&keys).await.err();
        for key in &keys {
            if let Err(error) = store.get(key).await {
                failed = Some(error);
                break;
            }
        }
        match failed {
            None if cluster.nodes[replica]
                .cli(&[], &["ROLE"])
                .starts_with("master") =>
            {
                break;
            }
            None => {}
            Some(error) => {
                errors += 1;
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "never recovered: {error}"
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "cluster failover: {errors} failed rounds in {:?}",
        started.elapsed()
    );
    for key in &keys {
        assert_eq!(store.get(key).await.unwrap(), Some(key.as_bytes().to_vec()));
    }
    let values = store.get_many(&keys).await.unwrap();
    assert!(values.iter().all(Option::is_some));
}
