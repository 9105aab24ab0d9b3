use super::super::{Reason, Settings, Translation, translate};
use super::*;
use crate::testing::{AcceptAll, endpoint_slice, snapshot_from_yaml};

fn run(yaml: &str) -> Translation {
    let slices: Vec<String> = ["appv1", "appv2"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            serde_json::to_string(&endpoint_slice(
                "apps",
                name,
                Some("http"),
                8080,
                &[(["10.0.0.1", "10.0.0.2"][i], true)],
            ))
            .unwrap()
        })
        .collect();
    let all = format!(
        "{SERVICES}---\n{}\n---\n{}\n---\n{yaml}",
        slices[0], slices[1]
    );
    let (snapshot, _) = snapshot_from_yaml("apps", &all).unwrap();
    translate(
        &snapshot,
        &Settings {
            entry_points: vec!["web".into()],
            allow_cross_namespace: false,
            ingress_class: None,
        },
        &AcceptAll,
    )
}

const SERVICES: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: appv1}
spec: {ports: [{port: 80, name: http}]}
---
apiVersion: v1
kind: Service
metadata: {name: appv2}
spec: {ports: [{port: 80, name: http}]}
"#;

// Traefik's documented TraefikService examples, with an IngressRoute using each.
const DOCUMENTED: &str = r#"
apiVersion: traefik.io/v1alpha1
kind: TraefikService
metadata: {name: wrr1}
spec:
  weighted:
    services:
      - name: appv1
        port: 80
        weight: 3
      - name: appv2
        port: 80
        weight: 1
---
apiVersion: traefik.io/v1alpha1
kind: TraefikService
metadata: {name: mirror1}
spec:
  mirroring:
    name: appv1
    port: 80
    mirrors:
      - name: appv2
        port: 80
        percent: 20
---
apiVersion: traefik.io/v1alpha1
kind: TraefikService
metadata: {name: wrr-of-mirror}
spec:
  weighted:
    services:
      - name: mirror1
        kind: TraefikService
        weight: 1
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: app}
spec:
  entryPoints: [web]
  routes:
  - match: PathPrefix(`/weighted`)
    services: [{name: wrr1, kind: TraefikService}]
  - match: PathPrefix(`/nested`)
    services: [{name: wrr-of-mirror, kind: TraefikService}]
"#;

#[test]
fn weighted_and_mirroring_traefik_services_translate() {
    let out = run(DOCUMENTED);
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    let wrr = &out.dynamic.traefik_services["apps-wrr1@kubernetescrd"];
    let TraefikServiceConfig::Weighted(children) = wrr else {
        panic!("{wrr:?}")
    };
    assert_eq!(children.iter().map(|(_, w)| *w).collect::<Vec<_>>(), [3, 1]);
    let first = &out.dynamic.services[&children[0].0];
    assert_eq!(first.servers[0].to_string(), "http://10.0.0.1:8080/");
    let TraefikServiceConfig::Mirroring(mirror) =
        &out.dynamic.traefik_services["apps-mirror1@kubernetescrd"]
    else {
        panic!("not mirroring")
    };
    assert_eq!(mirror.mirrors[0].1, 20);
    assert!(mirror.mirror_body);
    let services: Vec<&str> = out
        .dynamic
        .routers
        .iter()
        .map(|r| r.service.as_str())
        .collect();
    assert!(
        services.contains(&"apps-wrr1@kubernetescrd"),
        "{services:?}"
    );
    assert!(
        services.contains(&"apps-wrr-of-mirror@kubernetescrd"),
        "{services:?}"
    );
}

#[test]
fn broken_missing_and_cyclic_traefik_services_are_reported_and_their_routes_closed() {
    let out = run(r#"
apiVersion: traefik.io/v1alpha1
kind: TraefikService
metadata: {name: loop-a}
spec:
  weighted: {services: [{name: loop-b, kind: TraefikService}]}
---
apiVersion: traefik.io/v1alpha1
kind: TraefikService
metadata: {name: loop-b}
spec:
  weighted: {services: [{name: loop-a, kind: TraefikService}]}
---
apiVersion: traefik.io/v1alpha1
kind: TraefikService
metadata: {name: bad-percent}
spec:
  mirroring: {name: appv1, port: 80, mirrors: [{name: appv2, port: 80, percent: 120}]}
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: app}
spec:
  entryPoints: [web]
  routes:
  - match: PathPrefix(`/loop`)
    services: [{name: loop-a, kind: TraefikService}]
  - match: PathPrefix(`/missing`)
    services: [{name: nope, kind: TraefikService}]
"#);
    let messages: Vec<String> = out
        .problems
        .iter()
        .map(|p| format!("{} {}: {}", p.reason.as_str(), p.subject(), p.message))
        .collect();
    assert!(
        messages.iter().any(|m| m.starts_with(
            "InvalidTraefikService TraefikService apps/bad-percent: spec.mirroring.mirrors[0].percent: must be between 0 and 100"
        )),
        "{messages:#?}"
    );
    for name in ["loop-a", "loop-b"] {
        assert!(
            messages.iter().any(|m| m.starts_with(&format!(
                "InvalidTraefikService TraefikService apps/{name}: spec:"
            ))),
            "{messages:#?}"
        );
    }
    let closed: Vec<&String> = messages
        .iter()
        .filter(|m| m.starts_with("InvalidIngressRoute"))
        .collect();
    assert_eq!(closed.len(), 2, "{messages:#?}");
    assert!(
        closed
            .iter()
            .all(|m| m.contains("does not exist or is invalid"))
    );
    // Held closed: each route has its own service without servers.
    for router in &out.dynamic.routers {
        assert!(out.dynamic.services[&router.service].servers.is_empty());
    }
    assert!(matches!(
        Reason::InvalidTraefikService.as_str(),
        "InvalidTraefikService"
    ));
}
