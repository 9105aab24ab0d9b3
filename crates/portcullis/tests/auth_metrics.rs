//! End-to-end: the authentication metrics on `/metrics` after a login, a refresh, cached
//! client-credentials tokens and a back-channel logout through a running gateway.

#![cfg(test)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use portcullis_devidp::{ClientSpec, DevIdp, GrantType, LogoutTarget, UserSpec};
use support::real_provider::free_port;
use support::{Echo, client};

/// The value of the sample of `name` whose labels contain every one of `labels`.
fn sample(metrics: &str, name: &str, labels: &[&str]) -> f64 {
    let found: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?} in:\n{metrics}");
    found[0].rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn metrics_count_logins_refreshes_provider_calls_cached_tokens_and_backchannel_logouts() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let idp = DevIdp::builder()
        .client(
            ClientSpec::new("gw", "gw-secret")
                .redirect_uri(format!("{base}/callback"))
                .backchannel_logout_uri(format!("{base}/backchannel")),
        )
        .client(ClientSpec::new("svc", "svc-secret").grant_types([GrantType::ClientCredentials]))
        .user(UserSpec::new("alice"))
        .access_token_ttl(Duration::from_secs(2))
        .start()
        .await
        .unwrap();
    let upstream = Echo::start("app").await;
    let yaml = format!(
        r#"
entryPoints:
  web: {{ address: "127.0.0.1:{port}" }}
metrics:
  prometheus: {{ address: "127.0.0.1:0" }}
http:
  routers:
    app:
      rule: PathPrefix(`/app`) || Path(`/callback`) || Path(`/backchannel`)
      middlewares: [login]
      service: echo
    api:
      rule: PathPrefix(`/api`)
      middlewares: [machine]
      service: echo
  middlewares:
    login:
      plugin:
        oidc:
          issuer: "{issuer}"
          clientID: gw
          clientSecret: gw-secret
          redirectUrl: /callback
          backchannelLogoutUrl: /backchannel
          scopes: [openid, offline_access]
          session: {{ refresh: true }}
    machine:
      plugin:
        oAuthClientCredentials:
          url: "{token}"
          clientID: svc
          clientSecret: svc-secret
  services:
    echo:
      loadBalancer:
        servers: [{{ url: "{echo}" }}]
"#,
        issuer = idp.issuer(),
        token = idp.token_url(),
        echo = upstream.url(),
    );
    let gateway = support::gateway(&yaml).await;
    let metrics_url = format!("http://{}/metrics", gateway.metrics_address().unwrap());
    let c = client();
    let mut jar: BTreeMap<String, String> = BTreeMap::new();
    let cookie = |jar: &BTreeMap<String, String>| {
        jar.iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let keep = |jar: &mut BTreeMap<String, String>, response: &reqwest::Response| {
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (name, value) = set.split(';').next().unwrap().split_once('=').unwrap();
            if set.contains("Max-Age=0") {
                jar.remove(name);
            } else {
                jar.insert(name.to_owned(), value.to_owned());
            }
        }
    };
    let browse = |path: String, jar: &BTreeMap<String, String>| {
        let mut request = c.get(path).header("accept", "text/html");
        if !jar.is_empty() {
            request = request.header("cookie", cookie(jar));
        }
        request.send()
    };

    // A login.
    let start = browse(format!("{base}/app/"), &jar).await.unwrap();
    assert_eq!(start.status(), 302);
    keep(&mut jar, &start);
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    let callback = idp.complete_login(&authorize, "alice").await.unwrap();
    let done = browse(callback, &jar).await.unwrap();
    assert_eq!(done.status(), 302);
    keep(&mut jar, &done);
    let page = browse(format!("{base}/app/"), &jar).await.unwrap();
    assert_eq!(page.status(), 200);
    keep(&mut jar, &page);

    // A refresh, once the access token has expired.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let refreshed = browse(format!("{base}/app/"), &jar).await.unwrap();
    assert_eq!(refreshed.status(), 200);
    keep(&mut jar, &refreshed);

    // Two API calls: a token from the provider, then the cached one.
    for _ in 0..2 {
        let api = c.get(format!("{base}/api/items")).send().await.unwrap();
        assert_eq!(api.status(), 200);
    }

    // A back-channel logout from the provider.
    let deliveries = idp.backchannel_logout(LogoutTarget::user("alice")).await;
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].status, Some(200), "{deliveries:?}");

    let text = c
        .get(&metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let login = "middleware=\"login";
    let machine = "middleware=\"machine";
    assert_eq!(
        sample(&text, "portcullis_auth_logins_started_total", &[login]),
        1.0
    );
    assert_eq!(
        sample(&text, "portcullis_auth_logins_completed_total", &[login]),
        1.0
    );
    assert!(
        !text.contains("portcullis_auth_logins_failed_total{"),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "portcullis_auth_refreshes_total",
            &[login, "result=\"success\""]
        ),
        1.0
    );
    let call = |middleware: &str, endpoint: &str| {
        sample(
            &text,
            "portcullis_auth_provider_requests_total",
            &[
                middleware,
                &format!("endpoint=\"{endpoint}\""),
                "result=\"success\"",
            ],
        )
    };
    assert_eq!(call(login, "discovery"), 1.0);
    assert!(call(login, "jwks") >= 1.0);
    assert_eq!(call(login, "token"), 2.0, "code exchange and refresh");
    assert_eq!(call(machine, "token"), 1.0);
    assert_eq!(
        sample(
            &text,
            "portcullis_auth_provider_request_duration_seconds_count",
            &[machine, "endpoint=\"token\""]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "portcullis_auth_token_cache_total",
            &[machine, "result=\"miss\""]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "portcullis_auth_token_cache_total",
            &[machine, "result=\"hit\""]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "portcullis_auth_backchannel_logouts_total",
            &[login, "result=\"accepted\""]
        ),
        1.0
    );
    assert!(
        sample(
            &text,
            "portcullis_auth_session_store_duration_seconds_count",
            &[login, "operation=\"load\""]
        ) >= 3.0,
        "{text}"
    );
    gateway.shutdown().await;
}
