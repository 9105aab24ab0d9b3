//! End-to-end: the gateway as a Kubernetes ingress controller, fed by the fake API server with
//! the documentation's manifests. Logins go through the development provider; the client
//! credentials middleware talks to a token endpoint that records the credentials it receives.

#![cfg(test)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use portcullis_devidp::{ClientSpec, DevIdp, UserSpec};
use portcullis_kube::testing::{FakeApiServer, endpoint_slice};
use support::real_provider::free_port;
use support::{Echo, client, eventually, set_cookies};

const GUIDE: &str = include_str!("../../portcullis-kube/tests/fixtures/guide.yaml");
const CLIENT_CREDENTIALS: &str =
    include_str!("../../portcullis-kube/tests/fixtures/client-credentials.yaml");

/// A gateway following the fake API server, with entry points `web` and `websecure`.
struct Ingress {
    gateway: portcullis::app::Running,
    web: String,
    websecure: String,
}

async fn ingress(api: &FakeApiServer) -> Ingress {
    ingress_on(api, free_port()).await
}

/// The EndpointSlice the endpoint controller would write for Service `whoami` (port `whoami`)
/// whose pod is `upstream`.
fn whoami_endpoints(namespace: &str, upstream: &Echo) -> String {
    serde_json::to_string(&endpoint_slice(
        namespace,
        "whoami",
        Some("whoami"),
        upstream.address.port(),
        &[("127.0.0.1", true), ("127.0.0.2", false)],
    ))
    .unwrap()
}

async fn status(url: &str, cookie: &str) -> u16 {
    client()
        .get(url)
        .header("accept", "text/html")
        .header("cookie", cookie)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

fn cookies(response: &reqwest::Response) -> String {
    set_cookies(response).join("; ")
}

/// Starts a login at `url` as a browser would; returns the response (state cookie, redirect).
async fn start_login(url: &str) -> reqwest::Response {
    client()
        .get(url)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_guides_manifests_protect_the_application() {
    let upstream = Echo::start("whoami").await;
    let api = FakeApiServer::start().await.unwrap();
    // The port is chosen before the provider starts: it must know the redirect URL.
    let websecure_port = free_port();
    let redirect = format!("http://127.0.0.1:{websecure_port}/oidc/callback");
    let idp = DevIdp::builder()
        .user(UserSpec::new("alice"))
        .client(
            ClientSpec::new("my-oauth-client-ID", "my-oauth-client-secret").redirect_uri(&redirect),
        )
        .start()
        .await
        .unwrap();
    api.apply_yaml("apps", &GUIDE.replace("MY_ISSUER_URL", &idp.issuer()))
        .unwrap();
    api.apply_yaml("apps", &whoami_endpoints("apps", &upstream))
        .unwrap();
    let ingress_holder = ingress_on(&api, websecure_port).await;
    let base = ingress_holder.websecure.clone();

    // The route of the guide starts a login with the client id read from the Secret.
    let start = start_login(&format!("{base}/my-app")).await;
    assert_eq!(start.status(), 302);
    let authorization = start.headers()["location"].to_str().unwrap().to_owned();
    assert!(authorization.starts_with(&idp.issuer()), "{authorization}");
    assert!(authorization.contains("client_id=my-oauth-client-ID"));
    assert!(authorization.contains(&format!("redirect_uri={}", url_encode(&redirect))));
    // Only on websecure, as the IngressRoute says.
    assert_eq!(
        status(&format!("{}/my-app", ingress_holder.web), "").await,
        404
    );

    // The guide's route does not match its own redirect path: the callback finds no router
    // until the IngressRoute includes it, as the reference tells.
    let callback = idp.complete_login(&authorization, "alice").await.unwrap();
    let state = cookies(&start);
    assert_eq!(status(&callback, &state).await, 404);
    api.apply_yaml(
        "apps",
        &GUIDE.replace("MY_ISSUER_URL", &idp.issuer()).replace(
            "Path(`/my-app`)",
            "Path(`/my-app`) || Path(`/oidc/callback`)",
        ),
    )
    .unwrap();
    eventually("the updated route serves the callback", || async {
        status(&format!("{base}/oidc/callback"), "").await != 404
    })
    .await;
    let start = start_login(&format!("{base}/my-app")).await;
    let authorization = start.headers()["location"].to_str().unwrap().to_owned();
    let callback = idp.complete_login(&authorization, "alice").await.unwrap();
    let done = client()
        .get(&callback)
        .header("cookie", cookies(&start))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 302);
    let session = cookies(&done);
    assert!(
        session.starts_with("apps-oidc-login-kubernetescrd-session"),
        "{session}"
    );
    let page = client()
        .get(format!("{base}/my-app"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let echoed: serde_json::Value = page.json().await.unwrap();
    assert_eq!(echoed["server"], "whoami");
    assert!(
        echoed["headers"]["authorization"]
            .as_str()
            .unwrap()
            .starts_with("Bearer ")
    );

    // A new client secret in the Secret rebuilds the middleware: the next code exchange uses it
    // (and fails, the provider still has the old one), while sessions sealed before stay
    // readable on this replica (the previous key is kept).
    api.apply_yaml(
        "apps",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: oidc-client}\nstringData: {client_id: my-oauth-client-ID, client_secret: rotated-secret}\n",
    )
    .unwrap();
    eventually("a login uses the new client secret", || async {
        let start = start_login(&format!("{base}/my-app")).await;
        let authorization = start.headers()["location"].to_str().unwrap().to_owned();
        let callback = idp.complete_login(&authorization, "alice").await.unwrap();
        status(&callback, &cookies(&start)).await == 502
    })
    .await;
    assert_eq!(status(&format!("{base}/my-app"), &session).await, 200);

    // Without its Middleware, the route is held closed, and the IngressRoute gets an Event.
    assert!(api.delete("Middleware", "apps", "oidc-login"));
    eventually("the route is closed", || async {
        status(&format!("{base}/my-app"), &session).await == 503
    })
    .await;
    eventually("an Event names the broken IngressRoute", || async {
        api.events().iter().any(|e| {
            e["reason"] == "InvalidIngressRoute"
                && e["regarding"]["name"]
                    == "secure-applications-apigateway-oauth2-client-credentials"
                && e["type"] == "Warning"
                && e["note"]
                    .as_str()
                    .is_some_and(|n| n.contains("middleware apps/oidc-login does not exist"))
        })
    })
    .await;

    // Deleting the IngressRoute removes the route.
    assert!(api.delete(
        "IngressRoute",
        "apps",
        "secure-applications-apigateway-oauth2-client-credentials"
    ));
    eventually("the route is gone", || async {
        status(&format!("{base}/my-app"), &session).await == 404
    })
    .await;
    ingress_holder.gateway.shutdown().await;
}

fn url_encode(text: &str) -> String {
    text.replace(':', "%3A").replace('/', "%2F")
}

async fn ingress_on(api: &FakeApiServer, websecure: u16) -> Ingress {
    let web = free_port();
    let yaml = format!(
        r#"
entryPoints:
  web: {{ address: "127.0.0.1:{web}" }}
  websecure: {{ address: "127.0.0.1:{websecure}" }}
ping: {{ address: "127.0.0.1:0" }}
providers:
  kubernetesCRD:
    endpoint: {api}
    throttleDuration: 20ms
"#,
        api = api.url()
    );
    let gateway = support::gateway(&yaml).await;
    support::until_ready(&gateway).await;
    Ingress {
        gateway,
        web: format!("http://127.0.0.1:{web}"),
        websecure: format!("http://127.0.0.1:{websecure}"),
    }
}

/// A token endpoint that records the Basic credentials of each request.
async fn token_endpoint() -> (String, Arc<Mutex<Vec<String>>>, tokio::task::JoinHandle<()>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/oauth/token",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let record = record.clone();
            async move {
                let basic = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Basic "))
                    .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
                    .map(|v| String::from_utf8_lossy(&v).into_owned())
                    .unwrap_or_default();
                let mut record = record.lock().unwrap();
                record.push(basic);
                axum::Json(serde_json::json!({
                    "access_token": format!("token-{}", record.len()),
                    "token_type": "Bearer",
                    "expires_in": 3600,
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/oauth/token", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen, task)
}

#[tokio::test]
async fn a_secret_rotation_changes_the_client_secret_of_the_next_token_request() {
    let upstream = Echo::start("whoami").await;
    let (token_url, seen, _task) = token_endpoint().await;
    let api = FakeApiServer::start().await.unwrap();
    // The reference's example, without claims and headers (the recording endpoint issues opaque
    // tokens), pointed at the recording endpoint.
    let manifests = CLIENT_CREDENTIALS
        .replace("https://tenant.auth0.com/oauth/token", &token_url)
        .replace(
            "      forwardHeaders:\n        Group: grp\n        Expires-At: exp\n      claims: Equals(`grp`, `admin`)\n",
            "",
        );
    api.apply_yaml("default", &manifests).unwrap();
    api.apply_yaml(
        "default",
        "apiVersion: v1\nkind: Service\nmetadata: {name: whoami}\nspec:\n  ports: [{name: whoami, port: 80}]\n",
    )
    .unwrap();
    api.apply_yaml("default", &whoami_endpoints("default", &upstream))
        .unwrap();
    let ingress = ingress(&api).await;
    let api_url = format!("{}/api/items", ingress.web);

    let first = client().get(&api_url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let echoed: serde_json::Value = first.json().await.unwrap();
    assert_eq!(echoed["headers"]["authorization"], "Bearer token-1");
    assert_eq!(*seen.lock().unwrap(), vec!["my-client:my-client-secret"]);
    // Cached: no second token request.
    assert_eq!(client().get(&api_url).send().await.unwrap().status(), 200);
    assert_eq!(seen.lock().unwrap().len(), 1);

    api.apply_yaml(
        "default",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: my-secret}\nstringData: {clientID: my-client, clientSecret: rotated-secret}\n",
    )
    .unwrap();
    eventually("a token request with the new secret", || async {
        let response = client().get(&api_url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        seen.lock().unwrap().len() > 1
    })
    .await;
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["my-client:my-client-secret", "my-client:rotated-secret"]
    );
    ingress.gateway.shutdown().await;
}

#[tokio::test]
async fn a_broken_middleware_is_reported_and_the_others_keep_working() {
    let upstream = Echo::start("whoami").await;
    let api = FakeApiServer::start().await.unwrap();
    api.apply_yaml(
        "apps",
        &GUIDE.replace("MY_ISSUER_URL", "http://127.0.0.1:9"),
    )
    .unwrap();
    api.apply_yaml("apps", &whoami_endpoints("apps", &upstream))
        .unwrap();
    api.apply_yaml(
        "apps",
        r#"
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: typo}
spec:
  plugin:
    oidc: {issuer: "https://idp.example.com", clientID: a, clientSecret: b, redirectUrl: /cb, sesion: {}}
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: open}
spec:
  entryPoints: [web]
  routes:
  - match: PathPrefix(`/public`)
    services: [{name: whoami, port: 80}]
"#,
    )
    .unwrap();
    let ingress = ingress(&api).await;
    eventually("the broken Middleware is reported", || async {
        api.events().iter().any(|e| {
            e["reason"] == "InvalidMiddleware"
                && e["regarding"]["kind"] == "Middleware"
                && e["regarding"]["name"] == "typo"
                && e["regarding"]["namespace"] == "apps"
                && e["note"].as_str().is_some_and(|n| n.contains("sesion"))
        })
    })
    .await;
    assert_eq!(status(&format!("{}/public/x", ingress.web), "").await, 200);
    // The guide's OIDC middleware still answers (its provider is down: 502, not a crash).
    let protected = status(&format!("{}/my-app", ingress.websecure), "").await;
    assert!(protected == 502 || protected == 302, "{protected}");
    ingress.gateway.shutdown().await;
}

#[tokio::test]
async fn the_gateway_is_not_ready_before_the_first_sync() {
    // An API server that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let yaml = format!(
        "entryPoints:\n  web: {{ address: \"127.0.0.1:0\" }}\nping: {{ address: \"127.0.0.1:0\" }}\nproviders:\n  kubernetesCRD:\n    endpoint: http://{address}\n"
    );
    let gateway = support::gateway(&yaml).await;
    let ping = format!("http://{}/ping", gateway.ping_address().unwrap());
    for _ in 0..5 {
        let response = client().get(&ping).send().await.unwrap();
        assert_eq!(response.status(), 503);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    gateway.shutdown().await;
}
