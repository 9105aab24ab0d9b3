//! End-to-end: OIDC sessions in real Redis deployments (single instance, Sentinel, Cluster)
//! shared by two gateway instances. Logins go through the development provider; requests are
//! plain HTTP to the gateways' ports.

#![cfg(test)]

mod support;

use std::time::{Duration, Instant};

use portcullis_devidp::{ClientSpec, DevIdp, LogoutTarget, UserSpec};
use portcullis_store::testing::{
    Cluster, DATA_PASSWORD, MASTER_SET, SENTINEL_PASSWORD, SentinelGroup, Server, wait_until,
};
use support::real_provider::free_port;
use support::{Echo, client, set_cookies};

const CLIENT_ID: &str = "gateway";
const CLIENT_SECRET: &str = "gateway-secret-0123456789";

/// Two gateways (replicas) with the same OIDC middleware and session store, a provider and an
/// upstream.
struct Replicas {
    idp: DevIdp,
    _upstream: Echo,
    gateways: Vec<portcullis::app::Running>,
    bases: Vec<String>,
    configs: Vec<String>,
}

async fn replicas(redis_yaml: &str) -> Replicas {
    let ports = [free_port(), free_port()];
    let bases: Vec<String> = ports
        .iter()
        .map(|port| format!("http://127.0.0.1:{port}"))
        .collect();
    let mut spec = ClientSpec::new(CLIENT_ID, CLIENT_SECRET)
        .backchannel_logout_uri(format!("{}/backchannel-logout", bases[0]));
    for base in &bases {
        spec = spec.redirect_uri(format!("{base}/callback"));
    }
    let idp = DevIdp::builder()
        .user(UserSpec::new("alice"))
        .user(UserSpec::new("bob"))
        .user(UserSpec::new("carol"))
        .client(spec)
        .start()
        .await
        .unwrap();
    let upstream = Echo::start("app").await;
    let mut configs = Vec::new();
    for port in ports {
        let yaml = format!(
            r#"
entryPoints:
  web: {{ address: "127.0.0.1:{port}" }}
http:
  routers:
    app:
      rule: PathPrefix(`/`)
      middlewares: [oidc]
      service: echo
  middlewares:
    oidc:
      plugin:
        oidc:
          issuer: {issuer}
          clientID: {CLIENT_ID}
          clientSecret: {CLIENT_SECRET}
          redirectUrl: /callback
          logoutUrl: /logout
          backchannelLogoutUrl: /backchannel-logout
          session:
            store:
              keyPrefix: e2e
              redis:
{redis_yaml}
  services:
    echo:
      loadBalancer:
        servers: [{{ url: "{upstream}" }}]
"#,
            issuer = idp.issuer(),
            upstream = upstream.url(),
        );
        configs.push(yaml);
    }
    let mut gateways = Vec::new();
    for yaml in &configs {
        gateways.push(support::gateway(yaml).await);
    }
    Replicas {
        idp,
        _upstream: upstream,
        gateways,
        bases,
        configs,
    }
}

impl Replicas {
    /// Logs `user` in through replica `via`; returns the `Cookie` header of the session.
    async fn login(&self, via: usize, user: &str) -> String {
        let c = client();
        let start = c
            .get(format!("{}/page", self.bases[via]))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(start.status(), 302);
        let state = set_cookies(&start).join("; ");
        let authorization = start.headers()["location"].to_str().unwrap().to_owned();
        let callback = self.idp.complete_login(&authorization, user).await.unwrap();
        let done = c
            .get(&callback)
            .header("cookie", state)
            .send()
            .await
            .unwrap();
        let status = done.status();
        let cookies = set_cookies(&done);
        if status != 302 {
            panic!(
                "callback: {status}: {}",
                done.text().await.unwrap_or_default()
            );
        }
        let session = cookies
            .into_iter()
            .filter(|c| c.contains("-session"))
            .collect::<Vec<_>>();
        assert_eq!(session.len(), 1, "one small session cookie: {session:?}");
        session.join("; ")
    }

    /// The status of an API call (no login redirect) through replica `via`.
    async fn status(&self, via: usize, cookie: &str) -> u16 {
        client()
            .get(format!("{}/api", self.bases[via]))
            .header("accept", "application/json")
            .header("cookie", cookie)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    async fn shutdown(self) {
        for gateway in self.gateways {
            gateway.shutdown().await;
        }
    }

    /// Stops both gateways and starts them again on the same ports (nothing kept in memory).
    async fn restart(&mut self) {
        for gateway in self.gateways.drain(..) {
            gateway.shutdown().await;
        }
        for yaml in &self.configs {
            self.gateways.push(support::gateway(yaml).await);
        }
    }
}

fn endpoints_yaml(endpoints: &[String], extra: &str) -> String {
    let list = endpoints
        .iter()
        .map(|e| format!("\"{e}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!("                endpoints: [{list}]\n{extra}")
}

#[tokio::test]
async fn replicas_share_sessions_and_back_channel_logout_through_redis() {
    let server = Server::start(&[]);
    let r = replicas(&endpoints_yaml(&[server.address()], "")).await;
    let alice = r.login(0, "alice").await;
    let bob = r.login(1, "bob").await;
    for via in 0..2 {
        assert_eq!(r.status(via, &alice).await, 200, "alice via replica {via}");
        assert_eq!(r.status(via, &bob).await, 200, "bob via replica {via}");
    }
    let keys = server.cli(&[], &["KEYS", "e2e:session:*"]);
    assert_eq!(keys.lines().count(), 2, "{keys}");

    // The provider tells replica 0 that alice's provider session ended; replica 1 knows too.
    let sid = r
        .idp
        .sessions()
        .into_iter()
        .find(|(_, user)| user == "alice")
        .unwrap()
        .0;
    let deliveries = r.idp.backchannel_logout(LogoutTarget::session(sid)).await;
    assert_eq!(deliveries[0].status, Some(200), "{deliveries:?}");
    assert_eq!(r.status(1, &alice).await, 401);
    assert_eq!(r.status(0, &alice).await, 401);
    assert_eq!(r.status(1, &bob).await, 200);

    // Logout through one replica ends the session on the other.
    let logout = client()
        .get(format!("{}/logout", r.bases[1]))
        .header("cookie", &bob)
        .send()
        .await
        .unwrap();
    assert!(logout.status().is_redirection() || logout.status() == 204);
    assert_eq!(r.status(0, &bob).await, 401);
    assert_eq!(
        server.cli(&[], &["KEYS", "e2e:session:*"]).lines().count(),
        1,
        "bob's entry is deleted (alice's, revoked, stays until it expires)"
    );
    r.shutdown().await;
}

#[tokio::test]
async fn sessions_survive_a_gateway_restart() {
    let server = Server::start(&[]);
    let mut r = replicas(&endpoints_yaml(&[server.address()], "")).await;
    let alice = r.login(0, "alice").await;
    r.restart().await;
    assert_eq!(r.status(0, &alice).await, 200);
    assert_eq!(r.status(1, &alice).await, 200);
    r.shutdown().await;
}

#[tokio::test]
async fn redis_down_answers_503_and_recovers_without_a_restart() {
    // Persistence on, so the restarted server still holds the session.
    let mut server = Server::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let r = replicas(&endpoints_yaml(&[server.address()], "")).await;
    let alice = r.login(0, "alice").await;
    assert_eq!(r.status(0, &alice).await, 200);

    server.stop();
    for via in 0..2 {
        let started = Instant::now();
        assert_eq!(r.status(via, &alice).await, 503);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
    // A browser navigation is not sent to log in again: the session may well exist.
    let navigation = client()
        .get(format!("{}/page", r.bases[0]))
        .header("accept", "text/html")
        .header("cookie", &alice)
        .send()
        .await
        .unwrap();
    assert_eq!(navigation.status(), 503);

    server.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    for via in 0..2 {
        while r.status(via, &alice).await != 200 {
            assert!(Instant::now() < deadline, "replica {via} never recovered");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    r.shutdown().await;
}

/// Sends requests with `cookies` through both replicas until `done` holds; returns how many
/// answers were not 200 on the way.
async fn traffic_until(r: &Replicas, cookies: &[String], mut done: impl FnMut() -> bool) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut errors = 0;
    let mut round = 0;
    while !done() {
        assert!(Instant::now() < deadline, "failover did not finish");
        for cookie in cookies {
            if r.status(round % 2, cookie).await != 200 {
                errors += 1;
            }
        }
        round += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    errors
}

#[tokio::test]
async fn sentinel_failover_keeps_sessions() {
    let mut group = SentinelGroup::start();
    let extra = format!(
        "                password: {DATA_PASSWORD}\n                sentinel:\n                  masterSet: {MASTER_SET}\n                  password: {SENTINEL_PASSWORD}\n"
    );
    let r = replicas(&endpoints_yaml(&group.endpoints(), &extra)).await;
    let cookies = vec![r.login(0, "alice").await, r.login(1, "bob").await];
    let auth = ["--no-auth-warning", "-a", DATA_PASSWORD];
    // Replication is asynchronous: wait until the replica holds both sessions.
    wait_until(
        Duration::from_secs(10),
        "replication of the sessions",
        || {
            group
                .replica
                .cli(&auth, &["KEYS", "e2e:session:*"])
                .lines()
                .count()
                == 2
        },
    );

    group.master.stop();
    let promoted = group.replica.port.to_string();
    let errors = traffic_until(&r, &cookies, || {
        group
            .sentinel_cli(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_SET])
            .contains(&promoted)
    })
    .await;
    eprintln!("sentinel failover: {errors} non-200 answers during the switch");
    let deadline = Instant::now() + Duration::from_secs(20);
    for cookie in &cookies {
        for via in 0..2 {
            loop {
                let status = r.status(via, cookie).await;
                if status == 200 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "session lost after failover: {status}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    // New logins are written to the new master.
    let carol = r.login(1, "carol").await;
    assert_eq!(r.status(0, &carol).await, 200);
    r.shutdown().await;
}

#[tokio::test]
async fn cluster_failover_keeps_sessions() {
    let mut cluster = Cluster::start(&[]);
    let r = replicas(&endpoints_yaml(
        &cluster.endpoints(),
        "                cluster: true\n",
    ))
    .await;
    let mut cookies = Vec::new();
    for (i, user) in ["alice", "bob", "carol", "alice", "bob", "carol"]
        .iter()
        .enumerate()
    {
        cookies.push(r.login(i % 2, user).await);
    }
    // The master holding the most sessions goes down.
    let masters: Vec<usize> = (0..cluster.nodes.len())
        .filter(|&i| cluster.nodes[i].cli(&[], &["ROLE"]).starts_with("master"))
        .collect();
    let victim = *masters
        .iter()
        .max_by_key(|&&i| {
            cluster.nodes[i]
                .cli(&[], &["KEYS", "e2e:session:*"])
                .lines()
                .count()
        })
        .unwrap();
    let held = cluster.nodes[victim]
        .cli(&[], &["KEYS", "e2e:session:*"])
        .lines()
        .count();
    assert!(held > 0, "some master holds sessions");
    let replica = (0..cluster.nodes.len())
        .find(|&i| {
            let role = cluster.nodes[i].cli(&[], &["ROLE"]);
            role.starts_with("slave") && role.contains(&cluster.nodes[victim].port.to_string())
        })
        .expect("the victim's replica");
    wait_until(
        Duration::from_secs(10),
        "replication of the sessions",
        || {
            cluster.nodes[replica]
                .cli(&[], &["KEYS", "e2e:session:*"])
                .lines()
                .count()
                == held
        },
    );

    cluster.nodes[victim].stop();
    let errors = traffic_until(&r, &cookies, || {
        cluster.nodes[replica]
            .cli(&[], &["ROLE"])
            .starts_with("master")
    })
    .await;
    eprintln!(
        "cluster failover: {errors} non-200 answers during the switch ({held} sessions on the failed master)"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    for cookie in &cookies {
        for via in 0..2 {
            loop {
                let status = r.status(via, cookie).await;
                if status == 200 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "session lost after failover: {status}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    r.shutdown().await;
}

/// `portcullis check` runs outside any async runtime: every Redis client (sessions, cached
/// tokens, rate limits) is checked there and built on first use, without connecting.
#[test]
fn check_builds_redis_stores_without_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.yaml");
    std::fs::write(
        &file,
        r#"
entryPoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    app: { rule: PathPrefix(`/`), middlewares: [oidc, cc, limit], service: echo }
  middlewares:
    limit:
      rateLimit:
        average: 10
        redis: { endpoints: ["127.0.0.1:9"] }
    oidc:
      plugin:
        oidc:
          issuer: http://127.0.0.1:9
          clientID: gateway
          clientSecret: secret
          redirectUrl: /callback
          session:
            store:
              redis: { endpoints: ["127.0.0.1:9"], cluster: true }
    cc:
      plugin:
        oAuthClientCredentials:
          url: http://127.0.0.1:9/token
          store:
            redis:
              endpoints: ["127.0.0.1:9"]
              sentinel: { masterSet: main }
  services:
    echo:
      loadBalancer:
        servers: [{ url: "http://127.0.0.1:9" }]
"#,
    )
    .unwrap();
    let (ok, stdout, stderr) = support::binary::check(dir.path(), "gateway.yaml");
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("OK"), "{stdout}");
}

#[test]
fn check_says_what_each_session_key_derives_from() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.yaml");
    std::fs::write(
        &file,
        r#"
entryPoints:
  web: { address: "127.0.0.1:0" }
http:
  routers:
    app: { rule: PathPrefix(`/`), middlewares: [plain, keyed], service: echo }
  middlewares:
    plain:
      plugin:
        oidc:
          issuer: http://127.0.0.1:9
          clientID: gateway
          clientSecret: secret
          redirectUrl: /callback
    keyed:
      plugin:
        oidc:
          issuer: http://127.0.0.1:9
          clientID: gateway
          clientSecret: secret
          redirectUrl: /callback
          session:
            name: keyed-session
            secret: "0123456789abcdef0123456789abcdef"
  services:
    echo:
      loadBalancer:
        servers: [{ url: "http://127.0.0.1:9" }]
"#,
    )
    .unwrap();
    let (ok, stdout, stderr) = support::binary::check(dir.path(), "gateway.yaml");
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("middleware \"keyed\": session key derived from session.secret"),
        "{stdout}"
    );
    assert!(
        stdout.contains("middleware \"plain\": session key derived from the client secret: anyone holding the client secret can forge sessions; set session.secret"),
        "{stdout}"
    );
}
