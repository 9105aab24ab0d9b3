//! The translation, fed with the documentation's manifests and with broken variants of them.

use std::sync::Arc;

use portcullis_auth::AuthRegistry;
use portcullis_config::plugin::PluginConfig;
use portcullis_config::{LocalResolver, MiddlewareConfig};

use super::*;
use crate::secrets::KubeSecrets;
use crate::testing::{FixedSecrets, endpoint_slice, snapshot_from_yaml};

const GUIDE: &str = include_str!("../../tests/fixtures/guide.yaml");
const REFERENCE_EXAMPLE: &str = include_str!("../../tests/fixtures/reference-example.yaml");
const REFERENCE_REDIRECT: &str = include_str!("../../tests/fixtures/reference-redirect-url.yaml");
const REFERENCE_TLS: &str = include_str!("../../tests/fixtures/reference-tls.yaml");
const REFERENCE_REDIS: &str = include_str!("../../tests/fixtures/reference-redis.yaml");
const CLIENT_CREDENTIALS: &str = include_str!("../../tests/fixtures/client-credentials.yaml");

/// Builds plugin middlewares for real, as the gateway does.
struct Build {
    registry: AuthRegistry,
    resolver: KubeSecrets,
}

impl MiddlewareCheck for Build {
    fn check(
        &self,
        name: &str,
        config: &MiddlewareConfig,
        namespace: &str,
    ) -> Result<(), portcullis_config::MiddlewareError> {
        match config {
            MiddlewareConfig::Plugin(plugin) => self
                .registry
                .build(name, plugin, Some(namespace), &self.resolver)
                .map(|_| ())
                .map_err(Into::into),
            _ => Ok(()),
        }
    }
}

fn settings() -> Settings {
    Settings {
        entry_points: vec!["web".into(), "websecure".into()],
        allow_cross_namespace: false,
        ingress_class: None,
    }
}

/// Translates manifests (documents without a namespace go to `namespace`).
fn run(namespace: &str, yaml: &str, settings: &Settings) -> (Translation, Build) {
    let (snapshot, secrets) = snapshot_from_yaml(namespace, yaml).unwrap();
    let build = Build {
        registry: AuthRegistry::new(),
        resolver: KubeSecrets::new(
            Arc::new(FixedSecrets(secrets)),
            Arc::new(LocalResolver::new()),
        ),
    };
    let translation = translate(&snapshot, settings, &build);
    (translation, build)
}

fn whoami_endpoints(namespace: &str) -> String {
    serde_json::to_string(&endpoint_slice(
        namespace,
        "whoami",
        Some("whoami"),
        8080,
        &[("10.0.0.1", true), ("10.0.0.2", true), ("10.0.0.3", false)],
    ))
    .unwrap()
}

fn guide_with_issuer() -> String {
    format!(
        "{}\n---\n{}\n",
        GUIDE.replace("MY_ISSUER_URL", "https://idp.example.com"),
        whoami_endpoints("apps")
    )
}

fn router<'a>(translation: &'a Translation, name: &str) -> &'a RouterConfig {
    translation
        .dynamic
        .routers
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no router {name} in {:?}", translation.dynamic.routers))
}

fn servers(translation: &Translation, router: &RouterConfig) -> Vec<String> {
    translation.dynamic.services[&router.service]
        .servers
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn messages(translation: &Translation, reason: Reason) -> Vec<String> {
    translation
        .problems
        .iter()
        .filter(|p| p.reason == reason)
        .map(|p| format!("{}: {}", p.subject(), p.message))
        .collect()
}

#[tokio::test]
async fn the_guide_becomes_a_router_a_middleware_and_a_service() {
    let (translation, build) = run("apps", &guide_with_issuer(), &settings());
    assert!(
        translation.problems.is_empty(),
        "{:?}",
        translation.problems
    );
    let middleware = "apps-oidc-login@kubernetescrd";
    let Some(MiddlewareConfig::Plugin(PluginConfig::Oidc(oidc))) =
        translation.dynamic.middlewares.get(middleware)
    else {
        panic!("{:?}", translation.dynamic.middlewares)
    };
    assert_eq!(oidc.issuer.as_str(), "https://idp.example.com");
    assert_eq!(translation.dynamic.namespace_of(middleware), Some("apps"));
    // The Secret of the Middleware's namespace provided the client credentials.
    let built = build.registry.oidc(Some("apps"), middleware).unwrap();
    assert_eq!(built.secrets().client_id.expose(), "my-oauth-client-ID");
    assert_eq!(
        built.secrets().client_secret.expose(),
        "my-oauth-client-secret"
    );

    let name = router_name(
        "apps",
        "secure-applications-apigateway-oauth2-client-credentials",
        "Path(`/my-app`)",
    );
    let route = router(&translation, &name);
    assert_eq!(route.rule_text, "Path(`/my-app`)");
    assert_eq!(route.entry_points, vec!["websecure".to_owned()]);
    assert_eq!(route.middlewares, vec![middleware.to_owned()]);
    assert_eq!(route.priority, "Path(`/my-app`)".len() as i64);
    // Ready endpoints only, on the EndpointSlice's port for the Service port.
    assert_eq!(
        servers(&translation, route),
        vec!["http://10.0.0.1:8080/", "http://10.0.0.2:8080/"]
    );
    assert_eq!(translation.dynamic.routers.len(), 1);
}

#[tokio::test]
async fn the_guide_as_written_reports_its_placeholder_issuer_and_holds_the_route_closed() {
    let yaml = format!("{GUIDE}\n---\n{}\n", whoami_endpoints("apps"));
    let (translation, _) = run("apps", &yaml, &settings());
    let invalid = messages(&translation, Reason::InvalidMiddleware);
    assert_eq!(invalid.len(), 1, "{invalid:?}");
    assert!(
        invalid[0].starts_with("Middleware apps/oidc-login: spec.plugin.oidc.issuer:"),
        "{invalid:?}"
    );
    assert!(translation.dynamic.middlewares.is_empty());
    let routes = messages(&translation, Reason::InvalidIngressRoute);
    assert_eq!(routes.len(), 1, "{routes:?}");
    assert!(
        routes[0].contains("middleware apps/oidc-login does not exist or is invalid")
            && routes[0].contains("answers 503"),
        "{routes:?}"
    );
    // Held closed: no middleware to skip, no server to reach.
    let route = &translation.dynamic.routers[0];
    assert!(route.middlewares.is_empty());
    assert!(servers(&translation, route).is_empty());
}

#[tokio::test]
async fn a_missing_secret_key_is_an_error_on_that_middleware() {
    // The reference's example refers to key `clientId` of a Secret whose key is `clientID`.
    let (translation, _) = run("whoami", REFERENCE_EXAMPLE, &settings());
    assert_eq!(
        messages(&translation, Reason::InvalidMiddleware),
        vec![
            "Middleware whoami/test-oidc: cannot be built: clientID: secret \"my-secret\" has no key \"clientId\""
        ]
    );
    let fixed = REFERENCE_EXAMPLE.replace("my-secret:clientId", "my-secret:clientID");
    let (translation, build) = run("whoami", &fixed, &settings());
    assert!(
        translation.problems.is_empty(),
        "{:?}",
        translation.problems
    );
    let built = build
        .registry
        .oidc(Some("whoami"), "whoami-test-oidc@kubernetescrd")
        .unwrap();
    assert_eq!(built.secrets().client_id.expose(), "my-oidc-client-name");
    assert_eq!(built.secrets().client_secret.expose(), "mysecret");
    // Without the Secret at all.
    let without_secret = fixed.split("---").next().unwrap().to_owned();
    let (translation, _) = run("whoami", &without_secret, &settings());
    assert_eq!(
        messages(&translation, Reason::InvalidMiddleware),
        vec![
            "Middleware whoami/test-oidc: cannot be built: clientID: secret \"my-secret\" not found in namespace \"whoami\""
        ]
    );
}

#[tokio::test]
async fn secrets_of_another_namespace_are_not_visible() {
    let yaml = guide_with_issuer().replace(
        "kind: Secret\nmetadata:\n  name: oidc-client\n",
        "kind: Secret\nmetadata:\n  name: oidc-client\n  namespace: elsewhere\n",
    );
    let (translation, _) = run("apps", &yaml, &settings());
    assert_eq!(
        messages(&translation, Reason::InvalidMiddleware),
        vec![
            "Middleware apps/oidc-login: cannot be built: clientID: secret \"oidc-client\" not found in namespace \"apps\""
        ]
    );
}

#[tokio::test]
async fn a_route_without_services_is_held_closed() {
    let (translation, _) = run("default", REFERENCE_REDIRECT, &settings());
    assert_eq!(
        messages(&translation, Reason::InvalidIngressRoute),
        vec![
            "IngressRoute default/whoami: spec.routes[0].services: at least one service is required; the route answers 503 until this is fixed"
        ]
    );
    let route = &translation.dynamic.routers[0];
    assert_eq!(
        route.rule_text,
        "Path(`/myapi`) || Path(`/login`) || Path(`/callback`)"
    );
    assert_eq!(route.entry_points, vec!["web", "websecure"]);
    assert!(servers(&translation, route).is_empty());
    // The Middleware itself (inline credentials) is fine.
    assert!(
        translation
            .dynamic
            .middlewares
            .contains_key("default-test-oidc@kubernetescrd")
    );
}

#[tokio::test]
async fn tls_material_from_a_secret_that_does_not_parse_is_reported() {
    // The reference's TLS Secret holds illustrative, not real, PEM blocks.
    let (translation, _) = run("default", REFERENCE_TLS, &settings());
    let invalid = messages(&translation, Reason::InvalidMiddleware);
    assert_eq!(invalid.len(), 1, "{invalid:?}");
    assert!(
        invalid[0].starts_with("Middleware default/test-oidc:"),
        "{invalid:?}"
    );
    // Not the reference or the value: only what is wrong.
    assert!(!invalid[0].contains("MIIB9TCC"), "{invalid:?}");
}

#[tokio::test]
async fn the_redis_password_comes_from_the_secret() {
    let (translation, _) = run("default", REFERENCE_REDIS, &settings());
    assert!(
        translation.problems.is_empty(),
        "{:?}",
        translation.problems
    );
    let without_key = REFERENCE_REDIS.replace("redisPass:", "otherKey:");
    let (translation, _) = run("default", &without_key, &settings());
    assert_eq!(
        messages(&translation, Reason::InvalidMiddleware),
        vec![
            "Middleware default/test-oidc: cannot be built: session.store.redis: invalid store configuration: redis password: secret \"oidc\" has no key \"redisPass\""
        ]
    );
}

#[tokio::test]
async fn the_client_credentials_example_translates() {
    let yaml = format!(
        "{CLIENT_CREDENTIALS}\n---\n{}\n",
        whoami_endpoints("default")
    ) + "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: whoami\nspec:\n  ports:\n  - port: 80\n    name: whoami\n";
    let (translation, _) = run("default", &yaml, &settings());
    assert!(
        translation.problems.is_empty(),
        "{:?}",
        translation.problems
    );
    let route = router(
        &translation,
        &router_name("default", "api", "PathPrefix(`/api`)"),
    );
    assert_eq!(route.entry_points, vec!["web"]);
    assert_eq!(
        route.middlewares,
        vec!["default-test-client-creds@kubernetescrd"]
    );
    assert!(matches!(
        translation.dynamic.middlewares["default-test-client-creds@kubernetescrd"],
        MiddlewareConfig::Plugin(PluginConfig::ClientCredentials(_))
    ));
    assert_eq!(servers(&translation, route).len(), 2);
}

const BROKEN: &str = r#"
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: basic, namespace: apps}
spec:
  basicAuth: {users: ["a:b"]}
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: uses-basic, namespace: apps}
spec:
  routes:
  - match: PathPrefix(`/basic`)
    services: [{name: whoami, port: 80}]
    middlewares: [{name: basic}]
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: bad-rule, namespace: apps}
spec:
  routes:
  - match: Path(`/x`
    services: [{name: whoami, port: 80}]
  - match: Path(`/y`)
    services: [{name: whoami, port: whoami}]
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: nowhere, namespace: apps}
spec:
  entryPoints: [admin]
  routes:
  - match: Path(`/z`)
    services: [{name: whoami, port: 80}]
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: not-a-spec, namespace: apps}
spec:
  routes: "no"
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: future, namespace: apps}
spec:
  newTraefikFeature: true
  routes:
  - match: Path(`/future`)
    services: [{name: whoami, port: 80}]
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: typo, namespace: apps}
spec:
  routes:
  - match: Path(`/typo`)
    services: [{name: whoami, port: 80}]
    middleware: [{name: oidc-login}]
  - match: Path(`/sticky`)
    services: [{name: whoami, port: 80, sticky: {cookie: {}}, weight: 2}]
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: with-tls, namespace: apps}
spec:
  tls: {secretName: cert}
  routes:
  - match: Path(`/t`)
    services: [{name: whoami, port: 8443}]
"#;

#[tokio::test]
async fn broken_resources_are_reported_and_the_others_keep_working() {
    let yaml = format!("{}\n---\n{BROKEN}", guide_with_issuer());
    let (translation, _) = run("apps", &yaml, &settings());
    let middlewares = messages(&translation, Reason::InvalidMiddleware);
    assert_eq!(middlewares.len(), 1, "{middlewares:?}");
    assert!(
        // A plain-text password is not an htpasswd hash.
        middlewares[0].starts_with(
            "Middleware apps/basic: spec.basicAuth.users[0]: unsupported password hash"
        ),
        "{middlewares:?}"
    );
    let routes = messages(&translation, Reason::InvalidIngressRoute);
    let expect = [
        "IngressRoute apps/bad-rule: spec.routes[0].match:",
        "IngressRoute apps/future: spec: unsupported keys newTraefikFeature; its routes answer 503",
        "IngressRoute apps/not-a-spec: spec: invalid type",
        "IngressRoute apps/nowhere: spec.entryPoints[0]: unknown entry point \"admin\"",
        "IngressRoute apps/typo: spec.routes[0]: unsupported keys middleware; the route answers 503",
        "IngressRoute apps/uses-basic: spec.routes[0].middlewares[0]: middleware apps/basic does not exist or is invalid",
        // A TLS route whose certificate is missing is held closed, never served in clear text.
        "IngressRoute apps/with-tls: spec.tls.secretName: secret apps/cert not found; its routes answer 503",
    ];
    assert_eq!(routes.len(), expect.len(), "{routes:#?}");
    for (got, want) in routes.iter().zip(expect) {
        assert!(
            got.starts_with(want),
            "{got:?} does not start with {want:?}"
        );
    }
    assert_eq!(
        messages(&translation, Reason::IgnoredField),
        vec![
            "IngressRoute apps/typo: spec.routes[1].services[0]: sticky, weight not supported, ignored",
        ]
    );
    // A typo in a route's keys must not publish it without its middleware; Traefik options
    // that change nothing essential leave the route working.
    for rule in ["Path(`/future`)", "Path(`/typo`)"] {
        let name = if rule.contains("future") {
            "future"
        } else {
            "typo"
        };
        let closed = router(&translation, &router_name("apps", name, rule));
        assert!(servers(&translation, closed).is_empty(), "{rule}");
    }
    let sticky = router(
        &translation,
        &router_name("apps", "typo", "Path(`/sticky`)"),
    );
    assert_eq!(servers(&translation, sticky).len(), 2);
    // The guide's route is untouched.
    let guide = router(
        &translation,
        &router_name(
            "apps",
            "secure-applications-apigateway-oauth2-client-credentials",
            "Path(`/my-app`)",
        ),
    );
    assert_eq!(servers(&translation, guide).len(), 2);
    assert_eq!(guide.middlewares.len(), 1);
    // The good route of bad-rule (port by name) exists; the one with the broken rule does not.
    let y = router(&translation, &router_name("apps", "bad-rule", "Path(`/y`)"));
    assert_eq!(servers(&translation, y).len(), 2);
    assert!(
        translation
            .dynamic
            .routers
            .iter()
            .all(|r| r.rule_text != "Path(`/x`")
    );
    // Routes whose middleware or port is broken stay, closed; the route with no usable entry
    // point is not published anywhere.
    let basic = router(
        &translation,
        &router_name("apps", "uses-basic", "PathPrefix(`/basic`)"),
    );
    assert!(basic.middlewares.is_empty() && servers(&translation, basic).is_empty());
    assert!(
        translation
            .dynamic
            .routers
            .iter()
            .all(|r| r.rule_text != "Path(`/z`)")
    );
}

const CROSS: &str = r#"
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: strip, namespace: shared}
spec:
  stripPrefix: {prefixes: [/app]}
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: cross, namespace: apps}
spec:
  routes:
  - match: PathPrefix(`/app`)
    services: [{name: whoami, port: 80}]
    middlewares: [{name: strip, namespace: shared}]
  - match: PathPrefix(`/app2`)
    services: [{name: whoami, port: 80}]
    middlewares: [{name: shared/strip}]
"#;

#[tokio::test]
async fn cross_namespace_middlewares_need_allow_cross_namespace() {
    let yaml = format!("{}\n---\n{CROSS}", guide_with_issuer());
    let (translation, _) = run("apps", &yaml, &settings());
    let routes = messages(&translation, Reason::InvalidIngressRoute);
    assert_eq!(routes.len(), 2, "{routes:?}");
    assert!(
        routes[0].contains("allowCrossNamespace is off"),
        "{routes:?}"
    );
    let allowed = Settings {
        allow_cross_namespace: true,
        ..settings()
    };
    let (translation, _) = run("apps", &yaml, &allowed);
    assert!(
        translation.problems.is_empty(),
        "{:?}",
        translation.problems
    );
    for rule in ["PathPrefix(`/app`)", "PathPrefix(`/app2`)"] {
        let route = router(&translation, &router_name("apps", "cross", rule));
        assert_eq!(route.middlewares, vec!["shared-strip@kubernetescrd"]);
    }
}

#[tokio::test]
async fn services_resolve_by_port_name_number_and_readiness() {
    let yaml = r#"
apiVersion: v1
kind: Service
metadata: {name: multi, namespace: apps}
spec:
  ports:
  - {name: http, port: 80}
  - {name: metrics, port: 9090}
---
apiVersion: v1
kind: Service
metadata: {name: external, namespace: apps}
spec:
  type: ExternalName
  externalName: example.com
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: svc, namespace: apps}
spec:
  routes:
  - match: Path(`/by-name`)
    services: [{name: multi, port: metrics}]
  - match: Path(`/no-port`)
    services: [{name: multi}]
  - match: Path(`/external`)
    services: [{name: external, port: 80}]
  - match: Path(`/missing`)
    services: [{name: nope, port: 80}]
  - match: Path(`/two`)
    services: [{name: multi, port: 80}, {name: multi, port: 9090}]
  - match: Path(`/tls`)
    services: [{name: multi, port: 80, scheme: https}]
"#
    .to_owned()
        + "---\n"
        + &serde_json::to_string(&endpoint_slice(
            "apps",
            "multi",
            Some("http"),
            8080,
            &[("10.1.0.1", true)],
        ))
        .unwrap()
        + "\n---\n"
        + &serde_json::to_string(&endpoint_slice(
            "apps",
            "multi",
            Some("metrics"),
            9100,
            &[("10.1.0.2", true)],
        ))
        .unwrap()
        .replace("multi-abcde", "multi-fghij");
    let (translation, _) = run("apps", &yaml, &settings());
    let get = |rule: &str| router(&translation, &router_name("apps", "svc", rule));
    assert_eq!(
        servers(&translation, get("Path(`/by-name`)")),
        vec!["http://10.1.0.2:9100/"]
    );
    assert_eq!(
        servers(&translation, get("Path(`/two`)")),
        vec!["http://10.1.0.1:8080/", "http://10.1.0.2:9100/"]
    );
    assert_eq!(
        servers(&translation, get("Path(`/tls`)")),
        vec!["https://10.1.0.1:8080/"]
    );
    let problems = messages(&translation, Reason::InvalidIngressRoute);
    let expect = [
        "spec.routes[1].services[0].port: required, service apps/multi has 2 ports",
        "spec.routes[2].services[0]: service apps/external is an ExternalName service",
        "spec.routes[3].services[0]: service apps/nope not found",
    ];
    assert_eq!(problems.len(), expect.len(), "{problems:#?}");
    for (got, want) in problems.iter().zip(expect) {
        assert!(got.contains(want), "{got:?} does not contain {want:?}");
    }
}

#[test]
fn router_names_depend_on_the_rule_not_the_position() {
    let a = router_name("apps", "web", "Path(`/a`)");
    assert_eq!(a, router_name("apps", "web", "Path(`/a`)"));
    assert_ne!(a, router_name("apps", "web", "Path(`/b`)"));
    assert!(a.starts_with("apps-web-") && a.ends_with("@kubernetescrd"));
}

#[test]
fn ingress_class_selects_the_ingress_routes_served_as_traefik_does() {
    let route = |name: &str, class: Option<&str>| {
        let annotations = class
            .map(|c| format!("\n  annotations: {{kubernetes.io/ingress.class: {c}}}"))
            .unwrap_or_default();
        format!(
            "apiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata:\n  name: {name}{annotations}\nspec:\n  routes:\n  - match: Path(`/{name}`)\n    services: [{{name: whoami, port: 80}}]\n---\n"
        )
    };
    let yaml = format!(
        "{}{}{}{}{}",
        route("plain", None),
        route("traefik", Some("traefik")),
        route("nginx", Some("nginx")),
        route("ours", Some("portcullis")),
        "apiVersion: v1\nkind: Service\nmetadata: {name: whoami}\nspec:\n  ports: [{port: 80}]\n"
    );
    let served = |settings: &Settings| {
        let (translation, _) = run("apps", &yaml, settings);
        let mut rules: Vec<String> = translation
            .dynamic
            .routers
            .iter()
            .map(|r| r.rule_text.clone())
            .collect();
        rules.sort();
        rules
    };
    // Without ingressClass: unannotated and `traefik` ones; another controller's are left alone.
    assert_eq!(
        served(&settings()),
        vec!["Path(`/plain`)", "Path(`/traefik`)"]
    );
    let ours = Settings {
        ingress_class: Some("portcullis".into()),
        ..settings()
    };
    assert_eq!(served(&ours), vec!["Path(`/ours`)"]);
}

#[test]
fn an_ingress_route_with_tls_makes_tls_routers_with_the_secret_certificate() {
    let yaml = r#"
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: secure}
spec:
  tls:
    options: {name: modern}
  routes:
  - match: Host(`a.test`)
    services: [{name: whoami, port: 443}]
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: missing}
spec:
  tls: {secretName: site-cert}
  routes:
  - match: Host(`c.test`)
    services: [{name: whoami, port: 443, serversTransport: backend}]
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: acme}
spec:
  tls: {certResolver: letsencrypt}
  routes:
  - match: Host(`b.test`)
    services: [{name: whoami, port: 443}]
---
apiVersion: traefik.io/v1alpha1
kind: TLSOption
metadata: {name: modern}
spec: {minVersion: VersionTLS13}
---
apiVersion: traefik.io/v1alpha1
kind: ServersTransport
metadata: {name: backend}
spec: {serverName: backend.internal, insecureSkipVerify: true, peerCertURI: "spiffe://x"}
---
apiVersion: v1
kind: Service
metadata: {name: whoami}
spec:
  ports: [{name: https, port: 443}]
"#;
    let (translation, _) = run("apps", yaml, &settings());
    let secure = router(
        &translation,
        &router_name("apps", "secure", "Host(`a.test`)"),
    );
    assert_eq!(
        secure.tls.as_ref().and_then(|t| t.options.as_deref()),
        Some("apps-modern@kubernetescrd")
    );
    // The ACME route stays TLS-only and closed.
    let acme = router(&translation, &router_name("apps", "acme", "Host(`b.test`)"));
    assert!(acme.tls.is_some());
    assert!(
        translation.dynamic.services[&acme.service]
            .servers
            .is_empty()
    );
    let routes = messages(&translation, Reason::InvalidIngressRoute);
    assert!(
        routes
            .iter()
            .any(|m| m.contains("certResolver") && m.contains("not supported")),
        "{routes:?}"
    );
    // The missing Secret and the unsupported transport key are reported.
    assert!(
        routes
            .iter()
            .any(|m| m.contains("secret apps/site-cert not found")),
        "{routes:?}"
    );
    let transports = messages(&translation, Reason::InvalidServersTransport);
    assert!(transports[0].contains("peerCertURI"), "{transports:?}");
}

const TRANSFORMS: &str = r#"
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: test-header, namespace: apps}
spec:
  headers:
    frameDeny: true
    browserXssFilter: true
    accessControlAllowMethods: ["GET", "OPTIONS", "PUT"]
    accessControlAllowOriginList: ["https://foo.bar.org"]
    accessControlMaxAge: 100
    addVaryHeader: true
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: test-replacepathregex, namespace: apps}
spec:
  replacePathRegex:
    regex: "^/foo/(.*)"
    replacement: "/bar/$1"
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: test-compress, namespace: apps}
spec:
  compress: {}
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: limit, namespace: apps}
spec:
  buffering:
    maxRequestBodyBytes: 2000000
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: secured, namespace: apps}
spec:
  chain:
    middlewares:
    - name: test-header
    - name: test-replacepathregex
      namespace: apps
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: elsewhere, namespace: apps}
spec:
  chain:
    middlewares:
    - name: strip
      namespace: shared
"#;

#[tokio::test]
async fn traefik_transform_middlewares_and_chains_translate() {
    let (translation, _) = run("apps", TRANSFORMS, &settings());
    let middlewares = &translation.dynamic.middlewares;
    for name in [
        "test-header",
        "test-replacepathregex",
        "test-compress",
        "limit",
    ] {
        assert!(
            middlewares.contains_key(&middleware_name("apps", name)),
            "{name} missing: {:?}",
            translation.problems
        );
    }
    let Some(MiddlewareConfig::Chain {
        middlewares: members,
    }) = middlewares.get(&middleware_name("apps", "secured"))
    else {
        panic!("chain missing: {:?}", translation.problems)
    };
    assert_eq!(
        members,
        &vec![
            "apps-test-header@kubernetescrd".to_owned(),
            "apps-test-replacepathregex@kubernetescrd".to_owned()
        ]
    );
    assert_eq!(
        translation
            .dynamic
            .expand_chains(&[middleware_name("apps", "secured")])
            .unwrap(),
        members.clone()
    );
    let problems = messages(&translation, Reason::InvalidMiddleware);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("chain members must be in the chain's namespace"),
        "{problems:?}"
    );
}
