//! End-to-end: identity headers the gateway forwards cannot be forged by a client, neither
//! doubled by spelling their names with underscores (CGI, WSGI and PHP upstreams read `X_Who`
//! and `X-Who` as the same `HTTP_X_WHO`) nor removed by naming them in `Connection`. Both
//! authenticating middlewares, through a running gateway, with a login at the development
//! provider and an echo upstream that shows what arrived.

#![cfg(test)]

mod support;

use base64::Engine;
use portcullis_devidp::{ClientSpec, DevIdp, GrantType, UserSpec};
use support::real_provider::free_port;
use support::{Echo, client, set_cookies};

const CLIENT_ID: &str = "gateway";
const CLIENT_SECRET: &str = "gateway-secret-0123456789";

/// The headers the echo upstream received, from its JSON answer.
async fn upstream_headers(
    response: reqwest::Response,
) -> serde_json::Map<String, serde_json::Value> {
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["headers"].as_object().unwrap().clone()
}

#[tokio::test]
async fn identity_headers_cannot_be_forged_by_the_client() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let idp = DevIdp::builder()
        .user(UserSpec::new("alice"))
        .client(ClientSpec::new(CLIENT_ID, CLIENT_SECRET).redirect_uri(format!("{base}/callback")))
        .client(
            ClientSpec::new("svc", "svc-secret")
                .grant_types([GrantType::ClientCredentials])
                .access_token_claims(serde_json::json!({"grp": "service"})),
        )
        .start()
        .await
        .unwrap();
    let upstream = Echo::start("app").await;
    let yaml = format!(
        r#"
entryPoints:
  web: {{ address: "127.0.0.1:{port}" }}
http:
  routers:
    api:
      rule: PathPrefix(`/api`)
      middlewares: [creds]
      service: echo
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
          forwardHeaders:
            X-Who: sub
    creds:
      plugin:
        oAuthClientCredentials:
          url: {token_url}
          forwardHeaders:
            X-Group: grp
  services:
    echo:
      loadBalancer:
        servers: [{{ url: "{upstream}" }}]
"#,
        issuer = idp.issuer(),
        token_url = idp.token_url(),
        upstream = upstream.url(),
    );
    let gateway = support::gateway(&yaml).await;
    let c = client();

    // OIDC: log alice in, then send a forged underscore copy of the forwarded header.
    let start = c
        .get(format!("{base}/page"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    let state = set_cookies(&start).join("; ");
    let authorization = start.headers()["location"].to_str().unwrap().to_owned();
    let callback = idp.complete_login(&authorization, "alice").await.unwrap();
    let done = c
        .get(&callback)
        .header("cookie", state)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 302);
    let session = set_cookies(&done)
        .into_iter()
        .filter(|c| c.contains("-session"))
        .collect::<Vec<_>>()
        .join("; ");
    let headers = upstream_headers(
        c.get(format!("{base}/page"))
            .header("cookie", &session)
            .header("X_Who", "bob")
            .header("x_unrelated", "kept")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(!headers.contains_key("x_who"), "{headers:?}");
    assert_eq!(headers["x-who"], "alice");
    assert_eq!(headers["x_unrelated"], "kept");

    // Naming the middleware's headers in `Connection` must not remove them after the middleware
    // set them (hop-by-hop headers go before the middleware runs), and the underscore copies the
    // client sends alongside do not take their place.
    let headers = upstream_headers(
        c.get(format!("{base}/page"))
            .header("cookie", &session)
            .header("connection", "keep-alive, X-Who, Authorization")
            .header("X_Who", "bob")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(headers["x-who"], "alice", "{headers:?}");
    assert!(!headers.contains_key("x_who"), "{headers:?}");
    assert!(
        headers["authorization"]
            .as_str()
            .unwrap()
            .starts_with("Bearer "),
        "{headers:?}"
    );

    // Client credentials (caller mode): the same for its forwarded header.
    let basic = base64::engine::general_purpose::STANDARD.encode("svc:svc-secret");
    let headers = upstream_headers(
        c.get(format!("{base}/api/items"))
            .header("authorization", format!("Basic {basic}"))
            .header("X_Group", "admin")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(!headers.contains_key("x_group"), "{headers:?}");
    assert_eq!(headers["x-group"], "service");
    assert!(
        headers["authorization"]
            .as_str()
            .unwrap()
            .starts_with("Bearer "),
        "{headers:?}"
    );

    gateway.shutdown().await;
}
