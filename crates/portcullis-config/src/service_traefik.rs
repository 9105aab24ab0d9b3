//! Traefik's service types that compose other services: `weighted` (weighted round robin over
//! services) and `mirroring` (requests copied to other services). Raw types, validation with
//! paths, and the typed result. Names refer to other services of `http.services` (a `@file`
//! suffix is accepted); cycles are refused.

use indexmap::IndexMap;
use serde::Deserialize;

use crate::errors::{Errors, Path};
use crate::raw::RawService;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawWeighted {
    #[serde(default)]
    pub services: Vec<RawWeightedService>,
    /// Accepted so Traefik files load; refused with a message when set.
    #[serde(default)]
    pub sticky: Option<serde_json::Value>,
    #[serde(default)]
    pub health_check: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawWeightedService {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub weight: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawMirroring {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub mirror_body: Option<bool>,
    #[serde(default)]
    pub max_body_size: Option<i64>,
    #[serde(default)]
    pub mirrors: Vec<RawMirror>,
    #[serde(default)]
    pub health_check: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawMirror {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub percent: Option<i64>,
}

/// A service made of other services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraefikServiceConfig {
    /// Services and their weights (each at least 1; weight 0 services are left out).
    Weighted(Vec<(String, u32)>),
    Mirroring(MirroringConfig),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirroringConfig {
    /// The service that answers.
    pub service: String,
    /// Services that get a copy of `percent` % of the requests.
    pub mirrors: Vec<(String, u8)>,
    /// Whether the copies carry the request body.
    pub mirror_body: bool,
    /// Largest body mirrored (`None`: no limit); a larger request is not mirrored.
    pub max_body_size: Option<u64>,
}

impl TraefikServiceConfig {
    /// The services this one sends requests to.
    pub fn children(&self) -> Vec<&str> {
        match self {
            TraefikServiceConfig::Weighted(services) => {
                services.iter().map(|(n, _)| n.as_str()).collect()
            }
            TraefikServiceConfig::Mirroring(m) => std::iter::once(m.service.as_str())
                .chain(m.mirrors.iter().map(|(n, _)| n.as_str()))
                .collect(),
        }
    }
}

/// Validates `raw` when it is a `weighted` or `mirroring` service (`None`: it is not).
pub fn validate_traefik_service(
    name: &str,
    raw: &RawService,
    all: &IndexMap<String, RawService>,
    path: &Path,
    errors: &mut Errors,
) -> Option<Option<TraefikServiceConfig>> {
    let kinds = usize::from(raw.load_balancer.is_some())
        + usize::from(raw.weighted.is_some())
        + usize::from(raw.mirroring.is_some());
    if kinds != 1 {
        errors.push(
            path,
            format!(
                "exactly one service type must be set, found {kinds}; expected one of: loadBalancer, weighted, mirroring"
            ),
        );
        return Some(None);
    }
    let before = errors.len();
    let reference = |text: &str, at: &Path, errors: &mut Errors| -> String {
        let local = text.strip_suffix("@file").unwrap_or(text);
        if local.is_empty() {
            errors.push(at, "a service name is required");
        } else if !all.contains_key(local) {
            errors.push(at, format!("unknown service {text:?}"));
        } else if local == name {
            errors.push(at, "a service cannot refer to itself");
        }
        local.to_owned()
    };
    let config = if let Some(weighted) = &raw.weighted {
        let wpath = path.key("weighted");
        if weighted.sticky.is_some() {
            errors.push(&wpath.key("sticky"), "sticky sessions are not supported");
        }
        if weighted.health_check.is_some() {
            errors.push(&wpath.key("healthCheck"), "health checks are not supported");
        }
        if weighted.services.is_empty() {
            errors.push(&wpath.key("services"), "at least one service is required");
        }
        let mut services = Vec::new();
        for (i, service) in weighted.services.iter().enumerate() {
            let spath = wpath.key("services").index(i);
            let child = reference(&service.name, &spath.key("name"), errors);
            // Traefik's default weight is 1.
            match service.weight.unwrap_or(1) {
                0 => {}
                w if w > 0 => services.push((child, u32::try_from(w).unwrap_or(u32::MAX))),
                _ => errors.push(&spath.key("weight"), "must be 0 or greater"),
            }
        }
        if !weighted.services.is_empty() && services.is_empty() && errors.len() == before {
            errors.push(&wpath.key("services"), "every weight is 0");
        }
        TraefikServiceConfig::Weighted(services)
    } else {
        let mirroring = raw.mirroring.as_ref()?;
        let mpath = path.key("mirroring");
        if mirroring.health_check.is_some() {
            errors.push(&mpath.key("healthCheck"), "health checks are not supported");
        }
        let service = reference(&mirroring.service, &mpath.key("service"), errors);
        let mut mirrors = Vec::new();
        for (i, mirror) in mirroring.mirrors.iter().enumerate() {
            let mirror_path = mpath.key("mirrors").index(i);
            let child = reference(&mirror.name, &mirror_path.key("name"), errors);
            match mirror.percent.unwrap_or(0) {
                p @ 0..=100 => mirrors.push((child, u8::try_from(p).unwrap_or(0))),
                _ => errors.push(&mirror_path.key("percent"), "must be between 0 and 100"),
            }
        }
        let max_body_size = match mirroring.max_body_size {
            None | Some(-1) => None,
            Some(n) => match u64::try_from(n) {
                Ok(n) => Some(n),
                Err(_) => {
                    errors.push(
                        &mpath.key("maxBodySize"),
                        "must be 0 or greater, or -1 for no limit",
                    );
                    None
                }
            },
        };
        TraefikServiceConfig::Mirroring(MirroringConfig {
            service,
            mirrors,
            mirror_body: mirroring.mirror_body.unwrap_or(true),
            max_body_size,
        })
    };
    if errors.len() != before {
        return Some(None);
    }
    if let Some(cycle) = cycle_from(name, all) {
        errors.push(
            path,
            format!("services refer to each other in a cycle: {cycle}"),
        );
        return Some(None);
    }
    Some(Some(config))
}

/// The names of a raw service's children, `@file` suffixes removed.
fn raw_children(raw: &RawService) -> Vec<&str> {
    fn local(name: &str) -> &str {
        name.strip_suffix("@file").unwrap_or(name)
    }
    match (&raw.weighted, &raw.mirroring) {
        (Some(w), _) => w.services.iter().map(|s| local(&s.name)).collect(),
        (None, Some(m)) => std::iter::once(local(&m.service))
            .chain(m.mirrors.iter().map(|s| local(&s.name)))
            .collect(),
        (None, None) => Vec::new(),
    }
}

/// A cycle through `start`, written `a -> b -> a`, if there is one.
fn cycle_from(start: &str, all: &IndexMap<String, RawService>) -> Option<String> {
    fn walk<'a>(
        current: &'a str,
        start: &str,
        all: &'a IndexMap<String, RawService>,
        trail: &mut Vec<&'a str>,
    ) -> bool {
        let Some(raw) = all.get(current) else {
            return false;
        };
        for child in raw_children(raw) {
            if child == start {
                trail.push(child);
                return true;
            }
            if trail.contains(&child) {
                continue;
            }
            trail.push(child);
            if walk(child, start, all, trail) {
                return true;
            }
            trail.pop();
        }
        false
    }
    let mut trail = vec![start];
    walk(start, start, all, &mut trail).then(|| trail.join(" -> "))
}

#[cfg(test)]
mod tests;
