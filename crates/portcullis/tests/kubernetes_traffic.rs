//! End-to-end: Traefik's access and traffic middlewares as Kubernetes Middleware resources,
//! `basicAuth` reading its users from a Secret of the Middleware's namespace.

#![cfg(test)]

mod support;

use base64::Engine;
use portcullis_kube::testing::{FakeApiServer, endpoint_slice};
use support::real_provider::free_port;
use support::{Echo, client, eventually};

async fn ingress(api: &FakeApiServer) -> (portcullis::app::Running, String) {
    let web = free_port();
    let yaml = format!(
        "entryPoints:\n  web: {{ address: \"127.0.0.1:{web}\" }}\nping: {{ address: \"127.0.0.1:0\" }}\n\
         providers:\n  kubernetesCRD:\n    endpoint: {}\n    throttleDuration: 20ms\n",
        api.url()
    );
    let gateway = support::gateway(&yaml).await;
    support::until_ready(&gateway).await;
    (gateway, format!("http://127.0.0.1:{web}"))
}

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

async fn status(url: &str, authorization: Option<&str>) -> u16 {
    let mut request = client().get(url);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap().status().as_u16()
}

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: whoami}
spec:
  ports: [{port: 80, name: whoami}]
  selector: {app: whoami}
---
apiVersion: v1
kind: Secret
metadata: {name: basic-users}
type: kubernetes.io/basic-auth
stringData: {username: alice, password: wonderland}
---
apiVersion: v1
kind: Secret
metadata: {name: htpasswd-users}
stringData:
  users: |
    test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/
    test2:$apr1$d9hr9HBB$4HxwgUir3HP4EsggP/QNo0
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: basic}
spec:
  basicAuth: {secret: basic-users, realm: Staff}
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: htpasswd}
spec:
  basicAuth: {secret: htpasswd-users, removeHeader: true}
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: local-only}
spec:
  ipAllowList: {sourceRange: [127.0.0.1/32]}
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: probe}
spec:
  basicAuth: {usersFile: /etc/passwd}
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: app}
spec:
  entryPoints: [web]
  routes:
  - match: PathPrefix(`/basic`)
    middlewares: [{name: basic}, {name: local-only}]
    services: [{name: whoami, port: 80}]
  - match: PathPrefix(`/htpasswd`)
    middlewares: [{name: htpasswd}]
    services: [{name: whoami, port: 80}]
"#;

#[tokio::test]
async fn basic_auth_reads_its_users_from_a_secret_and_refuses_users_file() {
    let upstream = Echo::start("whoami").await;
    let api = FakeApiServer::start().await.unwrap();
    api.apply_yaml("apps", MANIFESTS).unwrap();
    let slice = serde_json::to_string(&endpoint_slice(
        "apps",
        "whoami",
        Some("whoami"),
        upstream.address.port(),
        &[("127.0.0.1", true)],
    ))
    .unwrap();
    api.apply_yaml("apps", &slice).unwrap();
    let (gateway, web) = ingress(&api).await;

    let basic_url = format!("{web}/basic");
    eventually("the route is served", || async {
        status(&basic_url, None).await == 401
    })
    .await;
    assert_eq!(
        status(&basic_url, Some(&basic("alice", "wonderland"))).await,
        200
    );
    assert_eq!(
        status(&basic_url, Some(&basic("alice", "other"))).await,
        401
    );
    let refused = client().get(&basic_url).send().await.unwrap();
    assert_eq!(
        refused.headers()["www-authenticate"],
        "Basic realm=\"Staff\""
    );

    let htpasswd_url = format!("{web}/htpasswd");
    assert_eq!(
        status(&htpasswd_url, Some(&basic("test", "test"))).await,
        200
    );
    assert_eq!(
        status(&htpasswd_url, Some(&basic("test", "nope"))).await,
        401
    );

    eventually("usersFile is reported", || async {
        api.events().iter().any(|e| {
            e["reason"] == "InvalidMiddleware"
                && e["regarding"]["name"] == "probe"
                && e["note"]
                    .as_str()
                    .is_some_and(|n| n.contains("usersFile: not allowed in Kubernetes"))
        })
    })
    .await;
    gateway.shutdown().await;
}

fn service_and_slice(name: &str, upstream: &Echo) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  ports: [{{port: 80, name: http}}]\n---\n{}\n",
        serde_json::to_string(&endpoint_slice(
            "apps",
            name,
            Some("http"),
            upstream.address.port(),
            &[("127.0.0.1", true)],
        ))
        .unwrap()
    )
}

#[tokio::test]
async fn a_weighted_traefik_service_spreads_requests_by_weight() {
    let (v1, v2) = (Echo::start("appv1").await, Echo::start("appv2").await);
    let api = FakeApiServer::start().await.unwrap();
    api.apply_yaml("apps", &service_and_slice("appv1", &v1))
        .unwrap();
    api.apply_yaml("apps", &service_and_slice("appv2", &v2))
        .unwrap();
    api.apply_yaml(
        "apps",
        r#"
apiVersion: traefik.io/v1alpha1
kind: TraefikService
metadata: {name: wrr1}
spec:
  weighted:
    services:
      - {name: appv1, port: 80, weight: 3}
      - {name: appv2, port: 80, weight: 1}
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: app}
spec:
  entryPoints: [web]
  routes:
  - match: PathPrefix(`/`)
    services: [{name: wrr1, namespace: apps, kind: TraefikService}]
"#,
    )
    .unwrap();
    let (gateway, web) = ingress(&api).await;
    let url = format!("{web}/");
    eventually("the route is served", || async {
        status(&url, None).await == 200
    })
    .await;
    let mut served = Vec::new();
    for _ in 0..8 {
        let response = client().get(&url).send().await.unwrap();
        served.push(
            response.headers()["x-upstream"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(
        served.iter().filter(|s| *s == "appv1").count(),
        6,
        "{served:?}"
    );
    assert_eq!(
        served.iter().filter(|s| *s == "appv2").count(),
        2,
        "{served:?}"
    );
    gateway.shutdown().await;
}
