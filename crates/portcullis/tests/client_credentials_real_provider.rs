//! End-to-end: the client credentials middleware against a real OpenID Provider (npm
//! `oidc-provider`, JWT access tokens for a resource, custom claims).

#![cfg(test)]

mod support;

use support::real_provider::RealProvider;
use support::{Echo, client};

async fn echoed(response: reqwest::Response) -> serde_json::Value {
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn both_credential_modes_claims_headers_and_cache() {
    let provider = RealProvider::start(&[
        ("CC_TTL", "300".to_owned()),
        ("REDIRECT_URIS", "http://127.0.0.1:1/callback".to_owned()),
    ]);
    let upstream = Echo::start("api").await;
    let issuer = &provider.issuer;
    let yaml = format!(
        r#"
entryPoints:
  web: {{ address: "127.0.0.1:0" }}
http:
  routers:
    own:
      rule: PathPrefix(`/own`)
      middlewares: [own-token]
      service: echo
    caller:
      rule: PathPrefix(`/caller`)
      middlewares: [caller-token]
      service: echo
    admins:
      rule: PathPrefix(`/admins`)
      middlewares: [admins-only]
      service: echo
  middlewares:
    own-token:
      plugin:
        oAuthClientCredentials:
          url: "{issuer}/token"
          audience: urn:portcullis:api
          clientID: svc
          clientSecret: svc-secret
          claims: Equals(`grp`, `service`) && Contains(`areas`, `backend`)
          forwardHeaders:
            X-Grp: grp
            X-Robot: user.name
    caller-token:
      plugin:
        oAuthClientCredentials:
          url: "{issuer}/token"
          claims: OneOf(`grp`, `service`, `gateway`)
          forwardHeaders:
            X-Grp: grp
          usernameClaim: client_id
    admins-only:
      plugin:
        oAuthClientCredentials:
          url: "{issuer}/token"
          claims: Equals(`grp`, `admin`)
  services:
    echo:
      loadBalancer:
        servers: [{{ url: "{}" }}]
"#,
        upstream.url()
    );
    let gw = support::gateway(&yaml).await;
    let base = format!("http://{}", gw.entry_point("web").unwrap());
    let c = client();

    // The gateway's own token: the client's Authorization and forged headers never get through.
    let first = echoed(
        c.get(format!("{base}/own/a"))
            .header("authorization", "Basic Zm9yZ2VkOmZvcmdlZA==")
            .header("x-grp", "admin")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let headers = &first["headers"];
    assert_eq!(headers["x-grp"], "service");
    assert_eq!(headers["x-robot"], "svc-robot");
    let bearer = headers["authorization"].as_str().unwrap().to_owned();
    assert!(bearer.starts_with("Bearer ey"), "{bearer}");
    // Cached: the next request carries the same token.
    let second = echoed(c.get(format!("{base}/own/b")).send().await.unwrap()).await;
    assert_eq!(second["headers"]["authorization"], bearer.as_str());

    // The caller's own credentials, exchanged for the caller's token.
    let mine = echoed(
        c.get(format!("{base}/caller/x"))
            .basic_auth("gw", Some("gw-secret"))
            .header("x-grp", "forged")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(mine["headers"]["x-grp"], "gateway");
    let theirs = echoed(
        c.get(format!("{base}/caller/x"))
            .basic_auth("svc", Some("svc-secret"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(theirs["headers"]["x-grp"], "service");
    assert_ne!(
        mine["headers"]["authorization"],
        theirs["headers"]["authorization"]
    );
    // A wrong secret is refused by the provider and never served a cached token.
    let wrong = c
        .get(format!("{base}/caller/x"))
        .basic_auth("svc", Some("not-the-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(
        wrong.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let missing = c.get(format!("{base}/caller/x")).send().await.unwrap();
    assert_eq!(missing.status(), 401);

    // Claims that the token does not satisfy: 403.
    let refused = c
        .get(format!("{base}/admins/x"))
        .basic_auth("svc", Some("svc-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    gw.shutdown().await;
}
