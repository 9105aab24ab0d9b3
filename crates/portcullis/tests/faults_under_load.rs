//! Faults while requests flow: the provider down at start-up and then up, the provider down
//! mid-traffic (sessions keep working, logins fail with 502), the upstream killed and restarted.
//! Several clients send requests concurrently through the whole scenario; every answer must be
//! the status the fault calls for, and the gateway must recover by itself.

#![cfg(test)]

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_devidp::{ClientSpec, DevIdp, UserSpec};
use support::real_provider::free_port;
use support::{Echo, client};

const CLIENTS: usize = 8;

/// Sends `request` from `CLIENTS` concurrent clients for `duration`; returns the count of each
/// status (0: no answer).
async fn load(
    duration: Duration,
    request: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync + 'static,
) -> BTreeMap<u16, usize> {
    let request = Arc::new(request);
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let request = Arc::clone(&request);
        tasks.push(tokio::spawn(async move {
            let c = client();
            let mut seen = BTreeMap::new();
            while Instant::now() < deadline {
                let status = request(&c)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                *seen.entry(status).or_insert(0) += 1;
            }
            seen
        }));
    }
    let mut total = BTreeMap::new();
    for task in tasks {
        for (status, count) in task.await.unwrap() {
            *total.entry(status).or_insert(0) += count;
        }
    }
    total
}

fn only(seen: &BTreeMap<u16, usize>, status: u16, phase: &str) {
    assert!(
        seen.keys().all(|s| *s == status) && seen.get(&status).is_some_and(|n| *n > 0),
        "{phase}: {seen:?}"
    );
    eprintln!("{phase}: {seen:?}");
}

async fn provider(address: SocketAddr, base: &str) -> DevIdp {
    DevIdp::builder()
        .bind(address)
        .user(UserSpec::new("alice"))
        .client(
            ClientSpec::new("gateway", "gateway-secret").redirect_uri(format!("{base}/callback")),
        )
        .start()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_rides_out_provider_and_upstream_faults_under_load() {
    let idp_address: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let upstream_address: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut upstream = Some(Echo::start_on("app", upstream_address).await);
    let yaml = format!(
        r#"
entryPoints:
  web: {{ address: "127.0.0.1:{port}" }}
http:
  routers:
    app: {{ rule: PathPrefix(`/`), middlewares: [oidc], service: echo }}
  middlewares:
    oidc:
      plugin:
        oidc:
          issuer: http://{idp_address}
          clientID: gateway
          clientSecret: gateway-secret
          redirectUrl: /callback
  services:
    echo:
      loadBalancer:
        servers: [{{ url: "http://{upstream_address}" }}]
"#
    );
    // The provider is down when the gateway starts.
    let gateway = support::gateway(&yaml).await;
    let page = format!("{base}/page");
    let navigation = {
        let page = page.clone();
        move |c: &reqwest::Client| c.get(&page).header("accept", "text/html")
    };
    only(
        &load(Duration::from_secs(1), navigation.clone()).await,
        502,
        "provider down at start-up: logins",
    );

    // The provider comes up: discovery is retried in the background, logins start working.
    let idp = provider(idp_address, &base).await;
    let started = Instant::now();
    loop {
        let status = navigation(&client()).send().await.unwrap().status();
        if status == 302 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(70),
            "discovery never recovered: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "provider up: logins work again after {:?}",
        started.elapsed()
    );

    // Log in, and start one more login whose code will be redeemed while the provider is down.
    let login = |c: reqwest::Client| {
        let navigation = navigation.clone();
        async move {
            let start = navigation(&c).send().await.unwrap();
            let state: Vec<String> = start
                .headers()
                .get_all("set-cookie")
                .iter()
                .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
                .collect();
            (
                start.headers()["location"].to_str().unwrap().to_owned(),
                state.join("; "),
            )
        }
    };
    let (authorization, state) = login(client()).await;
    let callback = idp.complete_login(&authorization, "alice").await.unwrap();
    let done = client()
        .get(&callback)
        .header("cookie", &state)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 302);
    let session: String = done
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .filter(|c| c.contains("-session"))
        .collect::<Vec<_>>()
        .join("; ");
    let (pending_authorization, pending_state) = login(client()).await;
    let pending_callback = idp
        .complete_login(&pending_authorization, "alice")
        .await
        .unwrap();

    let api = {
        let url = format!("{base}/api");
        let session = session.clone();
        move |c: &reqwest::Client| {
            c.get(&url)
                .header("accept", "application/json")
                .header("cookie", &session)
        }
    };
    only(
        &load(Duration::from_secs(1), api.clone()).await,
        200,
        "steady",
    );

    // The provider goes down mid-traffic: sessions keep working, a login cannot complete.
    drop(idp);
    only(
        &load(Duration::from_secs(2), api.clone()).await,
        200,
        "provider down: authenticated requests",
    );
    let redeemed = client()
        .get(&pending_callback)
        .header("cookie", &pending_state)
        .send()
        .await
        .unwrap();
    assert_eq!(redeemed.status(), 502, "a login while the provider is down");

    // The upstream is killed, then comes back on the same port.
    drop(upstream.take());
    tokio::time::sleep(Duration::from_millis(200)).await;
    only(
        &load(Duration::from_secs(1), api.clone()).await,
        502,
        "upstream down",
    );
    upstream = Some(Echo::start_on("app", upstream_address).await);
    only(
        &load(Duration::from_secs(1), api.clone()).await,
        200,
        "upstream back",
    );
    drop(upstream);
    gateway.shutdown().await;
}
