use super::*;
use crate::load_str;

const MAIN: &str = "entryPoints:\n  web: { address: \"127.0.0.1:0\" }\n";
const LEAVES: &str = "    appv1: { loadBalancer: { servers: [{ url: \"http://private-ip-server-1/\" }] } }\n    \
                      appv2: { loadBalancer: { servers: [{ url: \"http://private-ip-server-2/\" }] } }\n";

fn services(yaml: &str) -> Result<IndexMap<String, TraefikServiceConfig>, Vec<String>> {
    let text = format!("{MAIN}http:\n  services:\n{LEAVES}{yaml}");
    load_str(&text)
        .map(|c| c.dynamic.traefik_services)
        .map_err(|errors| errors.iter().map(ToString::to_string).collect())
}

#[test]
fn weighted_services_keep_their_weights_with_one_by_default() {
    let parsed = services(
        "    app:\n      weighted:\n        services:\n        - name: appv1\n          weight: 3\n        - name: appv2@file\n",
    )
    .unwrap();
    assert_eq!(
        parsed["app"],
        TraefikServiceConfig::Weighted(vec![("appv1".into(), 3), ("appv2".into(), 1)])
    );
}

#[test]
fn mirroring_defaults_match_traefik() {
    let parsed = services(
        "    mirrored-api:\n      mirroring:\n        service: appv1\n        mirrors:\n        - name: appv2\n          percent: 10\n        - name: appv1\n",
    )
    .unwrap();
    assert_eq!(
        parsed["mirrored-api"],
        TraefikServiceConfig::Mirroring(MirroringConfig {
            service: "appv1".into(),
            mirrors: vec![("appv2".into(), 10), ("appv1".into(), 0)],
            mirror_body: true,
            max_body_size: None,
        })
    );
}

#[test]
fn unknown_references_cycles_and_bad_numbers_are_refused() {
    let errors = services(
        "    a:\n      weighted: { services: [{ name: b }, { name: nope }] }\n    \
         b:\n      mirroring: { service: a, maxBodySize: -2, mirrors: [{ name: appv1, percent: 101 }] }\n    \
         c:\n      weighted: { services: [{ name: c }], sticky: { cookie: {} } }\n    \
         d:\n      loadBalancer: { servers: [{ url: \"http://x\" }] }\n      weighted: { services: [{ name: appv1 }] }\n",
    )
    .unwrap_err();
    assert_eq!(
        errors,
        [
            "http.services.a.weighted.services[1].name: unknown service \"nope\"",
            "http.services.b.mirroring.mirrors[0].percent: must be between 0 and 100",
            "http.services.b.mirroring.maxBodySize: must be 0 or greater, or -1 for no limit",
            "http.services.c.weighted.sticky: sticky sessions are not supported",
            "http.services.c.weighted.services[0].name: a service cannot refer to itself",
            "http.services.d: exactly one service type must be set, found 2; expected one of: loadBalancer, weighted, mirroring",
        ]
    );
    let errors = services(
        "    a:\n      weighted: { services: [{ name: b }] }\n    b:\n      mirroring: { service: a }\n",
    )
    .unwrap_err();
    assert_eq!(
        errors,
        [
            "http.services.a: services refer to each other in a cycle: a -> b -> a",
            "http.services.b: services refer to each other in a cycle: b -> a -> b",
        ]
    );
}

#[test]
fn routers_may_use_composed_services() {
    let text = format!(
        "{MAIN}http:\n  routers:\n    r: {{ rule: \"PathPrefix(`/`)\", service: app }}\n  services:\n{LEAVES}    \
         app:\n      weighted: {{ services: [{{ name: appv1 }}] }}\n"
    );
    let config = load_str(&text).unwrap();
    assert_eq!(config.dynamic.routers[0].service, "app");
}
