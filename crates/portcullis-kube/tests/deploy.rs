//! The manifests under `deploy/` agree with the code: the gateway configuration validates, the
//! CustomResourceDefinitions serve what the provider watches, RBAC grants what it reads, and the
//! example translates without problems once its placeholders are filled in.

#![cfg(test)]

use std::path::{Path, PathBuf};

use portcullis_kube::testing::{AcceptAll, endpoint_slice, snapshot_from_yaml};
use portcullis_kube::{Reason, Settings, resources, translate};
use serde_json::Value;

fn deploy(file: &str) -> String {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn documents(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

#[test]
fn the_config_map_holds_a_valid_configuration_with_the_provider() {
    let docs = documents(&deploy("config.yaml"));
    let text = docs[0]["data"]["portcullis.yaml"].as_str().unwrap();
    let config = portcullis_config::load_str(text).unwrap();
    let kube = config.static_config.kubernetes.unwrap();
    assert!(kube.namespaces.is_empty() && kube.endpoint.is_none());
    assert!(config.static_config.ping_address.is_some());
}

#[test]
fn the_crds_serve_what_the_provider_watches() {
    let docs = documents(&deploy("crds.yaml"));
    for resource in [
        resources::ingress_route(),
        resources::middleware(),
        resources::traefik_service(),
        resources::servers_transport(),
        resources::tls_option(),
    ] {
        let crd = docs
            .iter()
            .find(|d| d["spec"]["names"]["kind"] == resource.kind.as_str())
            .unwrap_or_else(|| panic!("no CRD for {}", resource.kind));
        assert_eq!(
            crd["metadata"]["name"],
            format!("{}.{}", resource.plural, resource.group)
        );
        assert_eq!(crd["spec"]["group"], resource.group.as_str());
        assert_eq!(crd["spec"]["names"]["plural"], resource.plural.as_str());
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        let versions = crd["spec"]["versions"].as_array().unwrap();
        assert!(
            versions
                .iter()
                .any(|v| v["name"] == resource.version.as_str()
                    && v["served"] == true
                    && v["storage"] == true)
        );
    }
}

#[test]
fn rbac_grants_every_read_the_provider_makes_and_no_write_but_events() {
    let docs = documents(&deploy("rbac.yaml"));
    let role = docs.iter().find(|d| d["kind"] == "ClusterRole").unwrap();
    let rules = role["rules"].as_array().unwrap();
    let allows = |group: &str, resource: &str, verb: &str| {
        rules.iter().any(|r| {
            r["apiGroups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g == group)
                && r["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x == resource)
                && r["verbs"].as_array().unwrap().iter().any(|v| v == verb)
        })
    };
    let watched = [
        ("traefik.io", "ingressroutes"),
        ("traefik.io", "middlewares"),
        ("traefik.io", "traefikservices"),
        ("traefik.io", "serverstransports"),
        ("traefik.io", "tlsoptions"),
        ("", "secrets"),
        ("", "services"),
        ("discovery.k8s.io", "endpointslices"),
    ];
    for (group, resource) in watched {
        for verb in ["list", "watch"] {
            assert!(allows(group, resource, verb), "{verb} {group}/{resource}");
        }
    }
    assert!(allows("events.k8s.io", "events", "create"));
    assert!(allows("events.k8s.io", "events", "patch"));
    for rule in rules {
        for verb in rule["verbs"].as_array().unwrap() {
            let write = !matches!(verb.as_str(), Some("get" | "list" | "watch"));
            let events = rule["resources"] == serde_json::json!(["events"]);
            assert!(!write || events, "unexpected write right: {rule}");
        }
    }
}

#[test]
fn the_example_translates_once_its_placeholders_are_filled_in() {
    let mut yaml = String::new();
    for file in [
        "namespace.yaml",
        "whoami.yaml",
        "secret.yaml",
        "middleware.yaml",
        "ingressroute.yaml",
        "client-credentials.yaml",
    ] {
        yaml.push_str(&deploy(&format!("example/{file}")));
        yaml.push_str("\n---\n");
    }
    yaml.push_str(
        &serde_json::to_string(&endpoint_slice(
            "apps",
            "whoami",
            Some("whoami"),
            80,
            &[("10.0.0.1", true)],
        ))
        .unwrap(),
    );
    let settings = Settings {
        entry_points: vec!["web".into()],
        allow_cross_namespace: false,
        ingress_class: None,
    };
    // As shipped, the placeholders are refused.
    let (snapshot, _) = snapshot_from_yaml("apps", &yaml).unwrap();
    let shipped = translate(&snapshot, &settings, &AcceptAll);
    let invalid: Vec<&str> = shipped
        .problems
        .iter()
        .filter(|p| p.reason == Reason::InvalidMiddleware)
        .map(|p| p.object.name.as_deref().unwrap())
        .collect();
    assert_eq!(invalid.len(), 2, "{:?}", shipped.problems);
    let filled = yaml
        .replace("MY_ISSUER_URL", "https://idp.example.com")
        .replace("MY_TOKEN_URL", "https://idp.example.com/oauth/token")
        .replace("MY_API_AUDIENCE", "https://api.example.com");
    let (snapshot, _) = snapshot_from_yaml("apps", &filled).unwrap();
    let translation = translate(&snapshot, &settings, &AcceptAll);
    assert!(
        translation.problems.is_empty(),
        "{:?}",
        translation.problems
    );
    assert_eq!(translation.dynamic.routers.len(), 2);
    assert!(translation.dynamic.routers.iter().all(|r| {
        !translation.dynamic.services[&r.service].servers.is_empty() && r.middlewares.len() == 1
    }));
}
