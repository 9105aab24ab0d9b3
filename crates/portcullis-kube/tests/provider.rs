//! The provider against the fake API server: the first sync, updates and deletions, and a watch
//! that breaks in each of the ways a real one does (bookmarks, 410 Gone, a dropped connection).

#![cfg(test)]

use std::time::Duration;

use portcullis_config::KubernetesProvider;
use portcullis_kube::testing::FakeApiServer;
use portcullis_kube::{KubeProvider, Snapshot};

const GUIDE: &str = include_str!("fixtures/guide.yaml");

fn settings(server: &FakeApiServer) -> KubernetesProvider {
    KubernetesProvider {
        namespaces: Vec::new(),
        label_selector: None,
        endpoint: Some(server.url()),
        token: None,
        cert_auth_file_path: None,
        kubeconfig: None,
        allow_cross_namespace: false,
        throttle: Duration::from_millis(10),
        ingress_class: None,
    }
}

async fn provider(settings: &KubernetesProvider) -> KubeProvider {
    let client = portcullis_kube::connect(settings, &portcullis_config::LocalResolver::new())
        .await
        .unwrap();
    let provider = KubeProvider::start(client, settings);
    tokio::time::timeout(Duration::from_secs(10), provider.wait_synced())
        .await
        .expect("the first sync completes");
    provider
}

fn names(snapshot: &Snapshot) -> Vec<String> {
    let mut names: Vec<String> = snapshot
        .ingress_routes
        .iter()
        .map(|o| format!("IngressRoute {}", o.metadata.name.clone().unwrap()))
        .chain(
            snapshot
                .middlewares
                .iter()
                .map(|o| format!("Middleware {}", o.metadata.name.clone().unwrap())),
        )
        .chain(
            snapshot
                .services
                .iter()
                .map(|o| format!("Service {}", o.metadata.name.clone().unwrap())),
        )
        .collect();
    names.sort();
    names
}

/// Waits until `check` holds for the provider's snapshot.
async fn eventually(provider: &KubeProvider, what: &str, check: impl Fn(&Snapshot) -> bool) {
    for _ in 0..500 {
        if check(&provider.snapshot()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what}: snapshot is {:?}", names(&provider.snapshot()));
}

fn middleware(name: &str, prefix: &str) -> String {
    format!(
        "apiVersion: traefik.io/v1alpha1\nkind: Middleware\nmetadata: {{name: {name}}}\nspec:\n  stripPrefix: {{prefixes: [{prefix}]}}\n"
    )
}

fn has_middleware(snapshot: &Snapshot, name: &str) -> bool {
    snapshot
        .middlewares
        .iter()
        .any(|m| m.metadata.name.as_deref() == Some(name))
}

#[tokio::test]
async fn the_first_sync_sees_every_resource_of_the_guide() {
    let server = FakeApiServer::start().await.unwrap();
    server.apply_yaml("apps", GUIDE).unwrap();
    let provider = provider(&settings(&server)).await;
    assert_eq!(
        names(&provider.snapshot()),
        vec![
            "IngressRoute secure-applications-apigateway-oauth2-client-credentials",
            "Middleware oidc-login",
            "Service whoami",
        ]
    );
    let secret = provider.secrets().secret("apps", "oidc-client").unwrap();
    let data = secret.data.as_ref().unwrap();
    assert_eq!(data["client_id"].0, b"my-oauth-client-ID");
    assert_eq!(data["client_secret"].0, b"my-oauth-client-secret");
    assert!(provider.secrets().secret("other", "oidc-client").is_none());
}

#[tokio::test]
async fn updates_and_deletions_take_effect_and_tick_the_change_counter() {
    let server = FakeApiServer::start().await.unwrap();
    server.apply_yaml("apps", GUIDE).unwrap();
    let provider = provider(&settings(&server)).await;
    let mut changes = provider.changes();
    changes.borrow_and_update();
    server
        .apply_yaml("apps", &middleware("strip", "/a"))
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), changes.changed())
        .await
        .unwrap()
        .unwrap();
    eventually(&provider, "added", |s| has_middleware(s, "strip")).await;
    server
        .apply_yaml("apps", &middleware("strip", "/b"))
        .unwrap();
    eventually(&provider, "modified", |s| {
        s.middlewares.iter().any(|m| {
            m.metadata.name.as_deref() == Some("strip")
                && m.data["spec"]["stripPrefix"]["prefixes"][0] == "/b"
        })
    })
    .await;
    assert!(server.delete("Middleware", "apps", "strip"));
    eventually(&provider, "deleted", |s| !has_middleware(s, "strip")).await;
    server
        .apply_yaml(
            "apps",
            "apiVersion: v1\nkind: Secret\nmetadata: {name: oidc-client}\nstringData: {client_id: rotated, client_secret: rotated-secret}\n",
        )
        .unwrap();
    for _ in 0..500 {
        let secret = provider.secrets().secret("apps", "oidc-client").unwrap();
        if secret.data.as_ref().unwrap()["client_secret"].0 == b"rotated-secret" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the Secret update was not seen");
}

#[tokio::test]
async fn a_dropped_watch_resumes_without_losing_changes() {
    let server = FakeApiServer::start().await.unwrap();
    server.apply_yaml("apps", GUIDE).unwrap();
    let provider = provider(&settings(&server)).await;
    assert!(server.wait_for_watches(5).await);
    let lists_before = list_requests(&server);
    server.drop_watches().await;
    // A change made while no watch is open is delivered when the watch resumes.
    server
        .apply_yaml("apps", &middleware("while-down", "/x"))
        .unwrap();
    eventually(&provider, "change made during the drop", |s| {
        has_middleware(s, "while-down")
    })
    .await;
    assert!(server.wait_for_watches(5).await);
    // Resumed from the last resource version: no new list was needed.
    assert_eq!(list_requests(&server), lists_before);
}

#[tokio::test]
async fn bookmarks_move_the_resume_point_forward() {
    let server = FakeApiServer::start().await.unwrap();
    server.apply_yaml("apps", GUIDE).unwrap();
    let provider = provider(&settings(&server)).await;
    assert!(server.wait_for_watches(5).await);
    // Changes to other kinds advance the resource version; a bookmark tells the middleware
    // watch about it, so its resumed watch starts after them.
    for i in 0..3 {
        server
            .apply_yaml(
                "apps",
                &format!(
                    "apiVersion: v1\nkind: Secret\nmetadata: {{name: s{i}}}\nstringData: {{k: v}}\n"
                ),
            )
            .unwrap();
    }
    let version = server.requests().len();
    server.send_bookmarks();
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.drop_watches().await;
    assert!(server.wait_for_watches(5).await);
    let resumed: Vec<String> = server.requests()[version..]
        .iter()
        .filter(|r| r.contains("/middlewares?") && r.contains("watch=true"))
        .cloned()
        .collect();
    assert_eq!(resumed.len(), 1, "{resumed:?}");
    // The guide is 5 objects (versions 1..=5) and 3 Secrets followed (6..=8).
    assert!(
        resumed[0].contains("resourceVersion=8"),
        "resumed from the bookmark: {resumed:?}"
    );
    server
        .apply_yaml("apps", &middleware("after-bookmark", "/y"))
        .unwrap();
    eventually(&provider, "change after the bookmark", |s| {
        has_middleware(s, "after-bookmark")
    })
    .await;
}

fn list_requests(server: &FakeApiServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET") && !r.contains("watch=true"))
        .count()
}

#[tokio::test]
async fn gone_forces_a_fresh_list_that_replaces_the_store() {
    let server = FakeApiServer::start().await.unwrap();
    server.apply_yaml("apps", GUIDE).unwrap();
    server.apply_yaml("apps", &middleware("old", "/o")).unwrap();
    let provider = provider(&settings(&server)).await;
    assert!(server.wait_for_watches(5).await);
    let lists_before = list_requests(&server);
    // A deletion and an addition that no watch hears of (compacted away), then every watch is
    // told 410 Gone: only the new list shows them, and it replaces the store.
    server.unannounced(|server| {
        assert!(server.delete("Middleware", "apps", "old"));
        server.apply_yaml("apps", &middleware("new", "/n")).unwrap();
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(has_middleware(&provider.snapshot(), "old"));
    server.expire_watches().await;
    eventually(&provider, "re-listed after 410", |s| {
        has_middleware(s, "new") && !has_middleware(s, "old")
    })
    .await;
    assert!(list_requests(&server) > lists_before, "a new list was made");
    assert!(has_middleware(&provider.snapshot(), "oidc-login"));
}

#[tokio::test]
async fn namespaces_and_label_selector_limit_what_is_watched() {
    let server = FakeApiServer::start().await.unwrap();
    server.apply_yaml("apps", GUIDE).unwrap();
    server
        .apply_yaml("other", &middleware("elsewhere", "/e"))
        .unwrap();
    let labelled = "apiVersion: traefik.io/v1alpha1\nkind: Middleware\nmetadata: {name: labelled, labels: {team: web}}\nspec:\n  stripPrefix: {prefixes: [/l]}\n";
    server.apply_yaml("apps", labelled).unwrap();
    let mut limited = settings(&server);
    limited.namespaces = vec!["apps".into()];
    limited.label_selector = Some("team=web".into());
    let provider = provider(&limited).await;
    let snapshot = provider.snapshot();
    // Only the labelled Middleware of `apps`; the selector applies to Traefik resources only.
    assert_eq!(
        names(&snapshot),
        vec!["Middleware labelled", "Service whoami"]
    );
    assert!(
        server
            .requests()
            .iter()
            .all(|r| !r.contains("/namespaces/other/") && !r.contains("v1alpha1/middlewares"))
    );
    // Relabelled out of the selector: the watch reports it deleted.
    server
        .apply_yaml("apps", &labelled.replace("team: web", "team: ops"))
        .unwrap();
    eventually(&provider, "left the selector", |s| {
        !has_middleware(s, "labelled")
    })
    .await;
}

#[tokio::test]
async fn the_token_is_sent_to_the_endpoint() {
    let server = FakeApiServer::start().await.unwrap();
    server.apply_yaml("apps", GUIDE).unwrap();
    let mut with_token = settings(&server);
    with_token.token = Some(portcullis_config::SecretRef::parse("sa-token-123").unwrap());
    let _provider = provider(&with_token).await;
    let seen = server.authorizations();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|a| a == "Bearer sa-token-123"), "{seen:?}");
}

#[tokio::test]
async fn a_kubeconfig_file_names_the_server_and_the_credentials() {
    let server = FakeApiServer::start().await.unwrap();
    server.apply_yaml("apps", GUIDE).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    std::fs::write(
        &path,
        format!(
            r#"apiVersion: v1
kind: Config
current-context: test
clusters:
- name: fake
  cluster: {{server: "{url}"}}
users:
- name: gateway
  user: {{token: kubeconfig-token}}
contexts:
- name: test
  context: {{cluster: fake, user: gateway, namespace: apps}}
"#,
            url = server.url()
        ),
    )
    .unwrap();
    let mut from_file = settings(&server);
    from_file.endpoint = None;
    from_file.kubeconfig = Some(path);
    let provider = provider(&from_file).await;
    assert!(has_middleware(&provider.snapshot(), "oidc-login"));
    assert!(
        server
            .authorizations()
            .iter()
            .all(|a| a == "Bearer kubeconfig-token")
    );
}

#[tokio::test]
async fn a_missing_kubeconfig_is_a_clear_error() {
    let mut missing = KubernetesProvider {
        namespaces: Vec::new(),
        label_selector: None,
        endpoint: None,
        token: None,
        cert_auth_file_path: None,
        kubeconfig: Some("/nonexistent/kubeconfig".into()),
        allow_cross_namespace: false,
        throttle: Duration::from_millis(10),
        ingress_class: None,
    };
    let error = portcullis_kube::connect(&missing, &portcullis_config::LocalResolver::new())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.starts_with("kubernetesCRD: kubeconfig /nonexistent/kubeconfig:"),
        "{error}"
    );
    missing.kubeconfig = None;
    missing.endpoint = Some("http://127.0.0.1:1".into());
    missing.token =
        Some(portcullis_config::SecretRef::parse("env:PORTCULLIS_SURELY_UNSET").unwrap());
    let error = portcullis_kube::connect(&missing, &portcullis_config::LocalResolver::new())
        .await
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        error,
        "kubernetesCRD: token: environment variable \"PORTCULLIS_SURELY_UNSET\" is not set"
    );
}

/// A Middleware written with Go-style key spellings (Traefik Hub's decoder matches keys
/// case-insensitively) is accepted, and a Warning Event names the canonical spellings.
#[tokio::test]
async fn a_middleware_with_go_style_key_spellings_works_and_gets_a_warning_event() {
    use portcullis_config::MiddlewareConfig;
    use portcullis_config::plugin::PluginConfig;
    use portcullis_kube::testing::AcceptAll;
    use portcullis_kube::{ProblemReporter, Reason, Settings};

    let server = FakeApiServer::start().await.unwrap();
    server
        .apply_yaml(
            "apps",
            r#"apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: spelled}
spec:
  plugin:
    oidc:
      issuer: https://idp.example.com
      clientid: urn:k8s:secret:oidc-client:client_id
      ClientSecret: urn:k8s:secret:oidc-client:client_secret
      redirectURL: /callback
      Session: {Expiry: 60}
      forwardHeaders: {X-User-Name: preferred_username}
"#,
        )
        .unwrap();
    let settings = settings(&server);
    let provider = provider(&settings).await;
    eventually(&provider, "the Middleware is seen", |s| {
        has_middleware(s, "spelled")
    })
    .await;
    let translation =
        portcullis_kube::translate(&provider.snapshot(), &Settings::default(), &AcceptAll);
    let Some(MiddlewareConfig::Plugin(PluginConfig::Oidc(oidc))) = translation
        .dynamic
        .middlewares
        .get("apps-spelled@kubernetescrd")
    else {
        panic!("the Middleware is accepted: {:?}", translation.problems);
    };
    assert_eq!(oidc.session.expiry.as_secs(), 60);
    assert_eq!(oidc.forward_headers[0].header.as_str(), "x-user-name");
    let warning = translation
        .problems
        .iter()
        .find(|p| p.reason == Reason::NonCanonicalKey)
        .expect("a warning about the spellings");
    for expected in [
        "spec.plugin.oidc.clientID: key \"clientid\" read as \"clientID\"",
        "spec.plugin.oidc.clientSecret: key \"ClientSecret\" read as \"clientSecret\"",
        "spec.plugin.oidc.redirectUrl: key \"redirectURL\" read as \"redirectUrl\"",
        "spec.plugin.oidc.session.expiry: key \"Expiry\" read as \"expiry\"",
    ] {
        assert!(
            warning.message.contains(expected),
            "{expected} in {}",
            warning.message
        );
    }
    assert_eq!(translation.problems.len(), 1, "{:?}", translation.problems);

    // Reported as a Warning Event on the Middleware.
    let client = portcullis_kube::connect(&settings, &portcullis_config::LocalResolver::new())
        .await
        .unwrap();
    ProblemReporter::new(Some(client)).report(&translation.problems);
    for _ in 0..500 {
        let published = server.events().iter().any(|e| {
            e["reason"] == "NonCanonicalKey"
                && e["type"] == "Warning"
                && e["regarding"]["name"] == "spelled"
                && e["note"]
                    .as_str()
                    .is_some_and(|n| n.contains("redirectUrl"))
        });
        if published {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no Warning Event: {:?}", server.events());
}
