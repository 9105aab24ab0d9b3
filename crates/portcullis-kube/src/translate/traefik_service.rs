//! TraefikService resources: `weighted` and `mirroring` services made of Kubernetes Services
//! and other TraefikServices, as Traefik reads them.
//!
//! A TraefikService becomes the service `NAMESPACE-NAME@kubernetescrd`; each Kubernetes Service
//! it names becomes a load balancer of its own. One that is broken, names a TraefikService that
//! does not exist or is broken, or takes part in a cycle is reported and left out, so routes
//! using it are held closed (503) rather than sent elsewhere.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use portcullis_config::service_traefik::{MirroringConfig, TraefikServiceConfig};
use serde::Deserialize;

use super::{
    Endpoints, PROVIDER_SUFFIX, Problem, Reason, Settings, Snapshot, Translation,
    cross_namespace_allowed, ignored_keys, reference,
};
use crate::resources::{self, IGNORED_SERVICE_KEYS, ServiceRef};

/// The service name of TraefikService `name` in `namespace`.
pub fn traefik_service_name(namespace: &str, name: &str) -> String {
    format!("{namespace}-{name}{PROVIDER_SUFFIX}")
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    weighted: Option<Weighted>,
    #[serde(default)]
    mirroring: Option<ServiceRef>,
    #[serde(flatten)]
    unknown: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Weighted {
    #[serde(default)]
    services: Vec<ServiceRef>,
    #[serde(flatten)]
    unknown: BTreeMap<String, serde_json::Value>,
}

/// Translates every TraefikService of `snapshot` into `out`.
pub(super) fn translate_traefik_services(
    snapshot: &Snapshot,
    settings: &Settings,
    endpoints: &Endpoints<'_>,
    out: &mut Translation,
) {
    let mut objects: Vec<_> = snapshot.traefik_services.iter().collect();
    objects.sort_by_key(|o| resources::key_of(&o.metadata));
    let mut candidates: IndexMap<String, (TraefikServiceConfig, usize)> = IndexMap::new();
    let mut owners = Vec::new();
    for object in objects {
        let (namespace, name) = resources::key_of(&object.metadata);
        let key = traefik_service_name(&namespace, &name);
        let mut problems = Vec::new();
        let mut report = |reason: Reason, message: String| {
            problems.push(Problem {
                object: reference(object, "TraefikService"),
                reason,
                message,
            });
        };
        let translated = resources::spec_of(object).and_then(|spec| {
            let spec: Spec =
                serde_json::from_value(spec.clone()).map_err(|e| format!("spec: {e}"))?;
            one(
                &spec,
                &namespace,
                &key,
                settings,
                endpoints,
                out,
                &mut report,
            )
        });
        match translated {
            Ok(config) => {
                candidates.insert(key, (config, owners.len()));
            }
            Err(message) => report(Reason::InvalidTraefikService, message),
        }
        owners.push(object);
        out.problems.append(&mut problems);
    }
    // Children first: a service is kept once every service it names is.
    loop {
        let ready: Vec<String> = candidates
            .iter()
            .filter(|(_, (config, _))| {
                config.children().iter().all(|child| {
                    out.dynamic.services.contains_key(*child)
                        || out.dynamic.traefik_services.contains_key(*child)
                })
            })
            .map(|(key, _)| key.clone())
            .collect();
        if ready.is_empty() {
            break;
        }
        for key in ready {
            if let Some((config, _)) = candidates.shift_remove(&key) {
                out.dynamic.traefik_services.insert(key, config);
            }
        }
    }
    for (_, (config, owner)) in candidates {
        let missing: Vec<&str> = config
            .children()
            .into_iter()
            .filter(|c| {
                !out.dynamic.services.contains_key(*c)
                    && !out.dynamic.traefik_services.contains_key(*c)
            })
            .collect();
        if let Some(object) = owners.get(owner) {
            out.problems.push(Problem {
                object: reference(object, "TraefikService"),
                reason: Reason::InvalidTraefikService,
                message: format!(
                    "spec: {} does not exist, is invalid or refers back to this one; routes using it answer 503",
                    missing.join(", ")
                ),
            });
        }
    }
}

/// One TraefikService's configuration; its Kubernetes Services are added to `out`.
fn one(
    spec: &Spec,
    namespace: &str,
    key: &str,
    settings: &Settings,
    endpoints: &Endpoints<'_>,
    out: &mut Translation,
    report: &mut dyn FnMut(Reason, String),
) -> Result<TraefikServiceConfig, String> {
    ignored_keys("spec", &spec.unknown, &[], report)?;
    let mut leaf = 0;
    let mut child = |reference: &ServiceRef,
                     own: &[&str],
                     path: &str,
                     out: &mut Translation,
                     report: &mut dyn FnMut(Reason, String)|
     -> Result<String, String> {
        let rest: BTreeMap<String, serde_json::Value> = reference
            .unknown
            .iter()
            .filter(|(k, _)| !own.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if reference.kind.as_deref() == Some("TraefikService") {
            ignored_keys(path, &rest, &[], report)?;
            let ns = reference
                .namespace
                .as_deref()
                .filter(|ns| !ns.is_empty())
                .unwrap_or(namespace);
            cross_namespace_allowed(ns, namespace, settings, path)?;
            return Ok(traefik_service_name(ns, &reference.name));
        }
        let ignorable: Vec<&str> = IGNORED_SERVICE_KEYS
            .iter()
            .copied()
            .filter(|k| *k != "weight")
            .collect();
        ignored_keys(path, &rest, &ignorable, report)?;
        let servers = endpoints.servers(reference, namespace, settings, path)?;
        leaf += 1;
        let name = format!(
            "{}#{leaf}{PROVIDER_SUFFIX}",
            key.trim_end_matches(PROVIDER_SUFFIX)
        );
        out.dynamic.services.insert(
            name.clone(),
            portcullis_config::ServiceConfig {
                servers,
                pass_host_header: reference.pass_host_header.unwrap_or(true),
                // A member's serversTransport is not read: members are reached with the
                // default transport.
                servers_transport: None,
            },
        );
        Ok(name)
    };
    let number = |reference: &ServiceRef, field: &str| -> Option<i64> {
        reference
            .unknown
            .get(field)
            .and_then(serde_json::Value::as_i64)
    };
    match (&spec.weighted, &spec.mirroring) {
        (Some(weighted), None) => {
            ignored_keys("spec.weighted", &weighted.unknown, &["sticky"], report)?;
            if weighted.services.is_empty() {
                return Err("spec.weighted.services: at least one service is required".into());
            }
            let mut services = Vec::new();
            for (i, service) in weighted.services.iter().enumerate() {
                let path = format!("spec.weighted.services[{i}]");
                let name = child(service, &["weight"], &path, out, report)?;
                match number(service, "weight").unwrap_or(1) {
                    0 => {}
                    w if w > 0 => services.push((name, u32::try_from(w).unwrap_or(u32::MAX))),
                    _ => return Err(format!("{path}.weight: must be 0 or greater")),
                }
            }
            if services.is_empty() {
                return Err("spec.weighted.services: every weight is 0".into());
            }
            Ok(TraefikServiceConfig::Weighted(services))
        }
        (None, Some(mirroring)) => {
            let own = ["mirrors", "mirrorBody", "maxBodySize"];
            let service = child(mirroring, &own, "spec.mirroring", out, report)?;
            let mirrors: Vec<ServiceRef> = match mirroring.unknown.get("mirrors") {
                None => Vec::new(),
                Some(value) => serde_json::from_value(value.clone())
                    .map_err(|e| format!("spec.mirroring.mirrors: {e}"))?,
            };
            let mut copies = Vec::new();
            for (i, mirror) in mirrors.iter().enumerate() {
                let path = format!("spec.mirroring.mirrors[{i}]");
                let name = child(mirror, &["percent"], &path, out, report)?;
                match number(mirror, "percent").unwrap_or(0) {
                    p @ 0..=100 => copies.push((name, u8::try_from(p).unwrap_or(0))),
                    _ => return Err(format!("{path}.percent: must be between 0 and 100")),
                }
            }
            let mirror_body = mirroring
                .unknown
                .get("mirrorBody")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(true);
            let max_body_size = match number(mirroring, "maxBodySize") {
                None | Some(-1) => None,
                Some(n) => Some(u64::try_from(n).map_err(|_| {
                    "spec.mirroring.maxBodySize: must be 0 or greater, or -1 for no limit"
                        .to_owned()
                })?),
            };
            Ok(TraefikServiceConfig::Mirroring(MirroringConfig {
                service,
                mirrors: copies,
                mirror_body,
                max_body_size,
            }))
        }
        _ => Err("spec: set exactly one of weighted and mirroring".into()),
    }
}

#[cfg(test)]
mod tests;
