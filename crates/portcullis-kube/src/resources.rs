//! The Traefik resources Portcullis reads, and the part of their specs it understands.
//!
//! IngressRoutes and Middlewares are watched as untyped objects and their `spec` is parsed here,
//! one resource at a time: a resource that does not parse is reported and skipped instead of
//! failing the whole list (which is what a typed watcher would do).

use std::collections::BTreeMap;

use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde::Deserialize;

pub const GROUP: &str = "traefik.io";
pub const VERSION: &str = "v1alpha1";

/// `ingressroutes.traefik.io/v1alpha1`.
pub fn ingress_route() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GROUP, VERSION, "IngressRoute"),
        "ingressroutes",
    )
}

/// `middlewares.traefik.io/v1alpha1`.
pub fn middleware() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GROUP, VERSION, "Middleware"),
        "middlewares",
    )
}

/// `traefikservices.traefik.io/v1alpha1`: services made of services (`weighted`, `mirroring`).
pub fn traefik_service() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GROUP, VERSION, "TraefikService"),
        "traefikservices",
    )
}

/// `serverstransports.traefik.io/v1alpha1`.
pub fn servers_transport() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GROUP, VERSION, "ServersTransport"),
        "serverstransports",
    )
}

/// `tlsoptions.traefik.io/v1alpha1`.
pub fn tls_option() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GROUP, VERSION, "TLSOption"),
        "tlsoptions",
    )
}

/// An IngressRoute's `spec`. Unknown keys are collected rather than refused, so that the
/// routes of an IngressRoute written for Traefik can still be held closed instead of vanishing
/// (a vanished route lets a broader one answer its requests).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressRouteSpec {
    #[serde(default)]
    pub entry_points: Vec<String>,
    /// Parsed one by one: a broken route does not hide the others.
    #[serde(default)]
    pub routes: Vec<serde_json::Value>,
    /// Makes every route TLS-only, with the certificate of a Secret and a TLSOption.
    #[serde(default)]
    pub tls: Option<serde_json::Value>,
    #[serde(flatten)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteSpec {
    #[serde(rename = "match")]
    pub rule: String,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub priority: Option<i64>,
    /// Traefik's rule syntax version; only v3 exists here.
    #[serde(default)]
    pub syntax: Option<String>,
    #[serde(default)]
    pub middlewares: Vec<MiddlewareRef>,
    #[serde(default)]
    pub services: Vec<ServiceRef>,
    #[serde(flatten)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MiddlewareRef {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(flatten)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRef {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub port: Option<PortRef>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub scheme: Option<String>,
    #[serde(default)]
    pub pass_host_header: Option<bool>,
    #[serde(default)]
    pub servers_transport: Option<String>,
    #[serde(flatten)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

/// Keys Traefik accepts that change nothing essential here: routes using them keep working and
/// the key is reported as ignored.
pub const IGNORED_ROUTE_KEYS: &[&str] = &["observability"];
pub const IGNORED_SERVICE_KEYS: &[&str] = &[
    "weight",
    "sticky",
    "strategy",
    "healthCheck",
    "responseForwarding",
    "nativeLB",
    "nodePortLB",
];

/// A Service port, by number or by name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum PortRef {
    Number(i32),
    Name(String),
}

impl std::fmt::Display for PortRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortRef::Number(n) => write!(f, "{n}"),
            PortRef::Name(name) => f.write_str(name),
        }
    }
}

/// The `spec` of an untyped object, or an explanation of why there is none.
pub fn spec_of(object: &DynamicObject) -> Result<&serde_json::Value, String> {
    object
        .data
        .get("spec")
        .filter(|spec| spec.is_object())
        .ok_or_else(|| "spec is missing or not an object".to_owned())
}

/// `namespace` and `name` of an object (cluster-scoped objects have no namespace here).
pub fn key_of(meta: &kube::core::ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}
