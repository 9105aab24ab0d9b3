//! From Kubernetes resources to the gateway's dynamic configuration.
//!
//! Pure: a snapshot of the watched resources goes in, routers, services and middlewares come out,
//! together with one [`Problem`] per broken resource. Every resource is checked on its own, so a
//! broken one is reported and skipped and the others keep working. A route whose middleware or
//! service is broken is not dropped but held closed (its service has no server, so it answers
//! 503): dropping it would let a broader route, possibly one without authentication, answer
//! the requests it was meant to protect.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use http::Uri;
use k8s_openapi::api::core::v1::{ObjectReference, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::core::DynamicObject;
use portcullis_config::errors::Errors;
use portcullis_config::raw::{RawHttp, RawMiddleware};
use portcullis_config::validate::validate_dynamic;
use portcullis_config::{
    DynamicConfig, MiddlewareConfig, MiddlewareError, RouterConfig, RouterTls, ServiceConfig,
};
use portcullis_rules::Rule;
use sha2::{Digest, Sha256};

use crate::resources::{self, IngressRouteSpec, MiddlewareRef, PortRef, RouteSpec, ServiceRef};

/// Suffix of every name this provider produces, as in Traefik.
pub const PROVIDER_SUFFIX: &str = "@kubernetescrd";

/// The label EndpointSlices carry to name their Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The watched resources at one moment.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub ingress_routes: Vec<Arc<DynamicObject>>,
    pub middlewares: Vec<Arc<DynamicObject>>,
    pub traefik_services: Vec<Arc<DynamicObject>>,
    pub services: Vec<Arc<Service>>,
    pub endpoint_slices: Vec<Arc<EndpointSlice>>,
    pub servers_transports: Vec<Arc<DynamicObject>>,
    pub tls_options: Vec<Arc<DynamicObject>>,
    /// For the certificates and authorities of TLS options, transports and IngressRoutes.
    pub secrets: Vec<Arc<k8s_openapi::api::core::v1::Secret>>,
}

/// What the translation needs from the static configuration.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Names of the entry points that exist.
    pub entry_points: Vec<String>,
    /// Whether routes may use middlewares and services of other namespaces.
    pub allow_cross_namespace: bool,
    /// `ingressClass`: only IngressRoutes whose `kubernetes.io/ingress.class` annotation says
    /// this are served (`None`: those without the annotation, or with `traefik`).
    pub ingress_class: Option<String>,
}

/// Builds a middleware to learn whether it works (secrets resolve, TLS material parses, ...).
pub trait MiddlewareCheck {
    fn check(
        &self,
        name: &str,
        config: &MiddlewareConfig,
        namespace: &str,
    ) -> Result<(), MiddlewareError>;
}

/// Why a resource was reported; also the Kubernetes Event's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The Middleware was skipped.
    InvalidMiddleware,
    /// A route of the IngressRoute was skipped or is held closed.
    InvalidIngressRoute,
    /// Part of a resource is accepted but has no effect.
    IgnoredField,
    /// The TraefikService was skipped; routes using it answer 503.
    InvalidTraefikService,
    /// A key of the Middleware is accepted in another spelling than the canonical one
    /// (keys match case-insensitively, as in Traefik Hub).
    NonCanonicalKey,
    /// The ServersTransport was skipped.
    InvalidServersTransport,
    /// The TLSOption was skipped.
    InvalidTlsOption,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidMiddleware => "InvalidMiddleware",
            Reason::InvalidIngressRoute => "InvalidIngressRoute",
            Reason::IgnoredField => "IgnoredField",
            Reason::InvalidTraefikService => "InvalidTraefikService",
            Reason::NonCanonicalKey => "NonCanonicalKey",
            Reason::InvalidServersTransport => "InvalidServersTransport",
            Reason::InvalidTlsOption => "InvalidTLSOption",
        }
    }
}

/// A broken (or partly ignored) resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub object: ObjectReference,
    pub reason: Reason,
    pub message: String,
}

impl Problem {
    /// `Kind namespace/name`, for logs.
    pub fn subject(&self) -> String {
        format!(
            "{} {}/{}",
            self.object.kind.as_deref().unwrap_or_default(),
            self.object.namespace.as_deref().unwrap_or_default(),
            self.object.name.as_deref().unwrap_or_default()
        )
    }
}

/// The result: configuration for what works, problems for what does not.
#[derive(Debug, Default)]
pub struct Translation {
    pub dynamic: DynamicConfig,
    pub problems: Vec<Problem>,
}

/// The middleware name for Middleware `name` in `namespace`.
pub fn middleware_name(namespace: &str, name: &str) -> String {
    format!("{namespace}-{name}{PROVIDER_SUFFIX}")
}

/// The router name of a route: stable while the route's rule is unchanged, whatever its position.
pub fn router_name(namespace: &str, ingress_route: &str, rule: &str) -> String {
    let digest = Sha256::digest(rule.as_bytes());
    let hash: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{namespace}-{ingress_route}-{hash}{PROVIDER_SUFFIX}")
}

/// Translates `snapshot`.
pub fn translate(
    snapshot: &Snapshot,
    settings: &Settings,
    check: &dyn MiddlewareCheck,
) -> Translation {
    let mut out = Translation::default();
    translate_middlewares(snapshot, check, &mut out);
    transport::translate_servers_transports(snapshot, &mut out);
    transport::translate_tls_options(snapshot, &mut out);
    let endpoints = Endpoints::index(snapshot);
    traefik_service::translate_traefik_services(snapshot, settings, &endpoints, &mut out);
    let mut routes: Vec<&Arc<DynamicObject>> = snapshot
        .ingress_routes
        .iter()
        .filter(|r| of_our_class(r, settings))
        .collect();
    routes.sort_by_key(|r| resources::key_of(&r.metadata));
    for object in routes {
        translate_ingress_route(object, snapshot, settings, &endpoints, &mut out);
    }
    out
}

/// The annotation naming the controller an IngressRoute is meant for.
const INGRESS_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

/// Traefik's rule: with `ingressClass`, only IngressRoutes annotated with it; without, those
/// not annotated (or annotated empty or `traefik`). Another controller's routes are left alone.
fn of_our_class(object: &DynamicObject, settings: &Settings) -> bool {
    let annotation = object
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(INGRESS_CLASS_ANNOTATION))
        .map_or("", String::as_str);
    match settings.ingress_class.as_deref().filter(|c| !c.is_empty()) {
        Some(class) => annotation == class,
        None => annotation.is_empty() || annotation == "traefik",
    }
}

fn reference(object: &DynamicObject, kind: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some(format!("{}/{}", resources::GROUP, resources::VERSION)),
        kind: Some(kind.to_owned()),
        name: object.metadata.name.clone(),
        namespace: object.metadata.namespace.clone(),
        uid: object.metadata.uid.clone(),
        resource_version: object.metadata.resource_version.clone(),
        field_path: None,
    }
}

fn translate_middlewares(snapshot: &Snapshot, check: &dyn MiddlewareCheck, out: &mut Translation) {
    let mut objects: Vec<&Arc<DynamicObject>> = snapshot.middlewares.iter().collect();
    objects.sort_by_key(|m| resources::key_of(&m.metadata));
    for object in objects {
        let (namespace, name) = resources::key_of(&object.metadata);
        let key = middleware_name(&namespace, &name);
        match middleware_config(object, &key).and_then(|config| {
            check
                .check(&key, &config, &namespace)
                .map(|()| config)
                .map_err(|e| format!("cannot be built: {e}"))
        }) {
            Ok(config) => {
                let notes = spelling_notes(&config, &key);
                if !notes.is_empty() {
                    out.problems.push(Problem {
                        object: reference(object, "Middleware"),
                        reason: Reason::NonCanonicalKey,
                        message: notes.join("; "),
                    });
                }
                out.dynamic.middlewares.insert(key.clone(), config);
                out.dynamic.namespaces.insert(key, namespace);
            }
            Err(message) => out.problems.push(Problem {
                object: reference(object, "Middleware"),
                reason: Reason::InvalidMiddleware,
                message,
            }),
        }
    }
}

/// The warnings for keys of the Middleware `key` written in another spelling, with paths
/// relative to the resource (`spec.plugin.oidc.redirectUrl: ...`).
fn spelling_notes(config: &MiddlewareConfig, key: &str) -> Vec<String> {
    use portcullis_config::plugin::PluginConfig;
    let notes = match config {
        MiddlewareConfig::Plugin(PluginConfig::Oidc(oidc)) => &oidc.spelling_notes,
        MiddlewareConfig::Plugin(PluginConfig::ClientCredentials(cc)) => &cc.spelling_notes,
        _ => return Vec::new(),
    };
    let prefix = format!("http.middlewares.{key}");
    notes
        .iter()
        .map(|note| match note.strip_prefix(&prefix) {
            Some(rest) => format!("spec{rest}"),
            None => note.clone(),
        })
        .collect()
}

/// Parses and validates one Middleware with the file provider's rules; error paths are given
/// relative to the resource (`spec.plugin.oidc.issuer: ...`).
fn middleware_config(object: &DynamicObject, key: &str) -> Result<MiddlewareConfig, String> {
    let spec = resources::spec_of(object)?;
    let (namespace, _) = resources::key_of(&object.metadata);
    let spec = chain_references(spec, &namespace)?;
    let raw: RawMiddleware = serde_json::from_value(spec).map_err(|e| format!("spec: {e}"))?;
    let mut http = RawHttp::default();
    http.middlewares.insert(key.to_owned(), raw);
    let mut errors = Errors::new();
    let mut dynamic = validate_dynamic(&http, &[], &mut errors);
    if !errors.is_empty() {
        let prefix = format!("http.middlewares.{key}");
        return Err(errors
            .into_vec()
            .iter()
            .map(|e| {
                let path = e.path.strip_prefix(&prefix).unwrap_or(&e.path);
                format!("spec{path}: {}", e.message)
            })
            .collect::<Vec<_>>()
            .join("; "));
    }
    let config = dynamic
        .middlewares
        .shift_remove(key)
        .ok_or_else(|| "spec: no middleware".to_owned())?;
    if let MiddlewareConfig::BasicAuth(auth) = &config
        && auth.users_file.is_some()
    {
        // A path would let whoever may create a Middleware probe the gateway's own files.
        return Err("spec.basicAuth.usersFile: not allowed in Kubernetes; use secret".to_owned());
    }
    Ok(config)
}

/// A `chain` lists its members as `{name, namespace}` references in Kubernetes: they become the
/// middleware names the file provider's form expects. Members live in the chain's namespace.
fn chain_references(
    spec: &serde_json::Value,
    namespace: &str,
) -> Result<serde_json::Value, String> {
    let mut spec = spec.clone();
    let Some(members) = spec
        .get_mut("chain")
        .and_then(|chain| chain.get_mut("middlewares"))
        .and_then(serde_json::Value::as_array_mut)
    else {
        return Ok(spec);
    };
    for (i, member) in members.iter_mut().enumerate() {
        let Some(name) = member.get("name").and_then(serde_json::Value::as_str) else {
            return Err(format!("spec.chain.middlewares[{i}].name: is required"));
        };
        if let Some(other) = member.get("namespace").and_then(serde_json::Value::as_str)
            && !other.is_empty()
            && other != namespace
        {
            return Err(format!(
                "spec.chain.middlewares[{i}].namespace: chain members must be in the chain's namespace {namespace:?}"
            ));
        }
        *member = serde_json::Value::String(middleware_name(namespace, name));
    }
    Ok(spec)
}

fn translate_ingress_route(
    object: &DynamicObject,
    snapshot: &Snapshot,
    settings: &Settings,
    endpoints: &Endpoints<'_>,
    out: &mut Translation,
) {
    let (namespace, name) = resources::key_of(&object.metadata);
    let mut problems = Vec::new();
    let mut report = |reason: Reason, message: String| {
        problems.push(Problem {
            object: reference(object, "IngressRoute"),
            reason,
            message,
        });
    };
    if let Some((shared, routes)) =
        shared_by_routes(object, snapshot, settings, &namespace, out, &mut report)
    {
        let mut ingress_route = IngressRoute {
            namespace,
            name,
            shared,
            settings,
            endpoints,
            used_names: HashSet::new(),
        };
        for (i, value) in routes.iter().enumerate() {
            ingress_route.translate_route(i, value, out, &mut report);
        }
    }
    out.problems.append(&mut problems);
}

/// What every route of an IngressRoute shares.
struct Shared {
    entry_points: Vec<String>,
    /// A route meant for TLS stays TLS-only even when closed: never served in clear text.
    tls: Option<RouterTls>,
    /// Why every route must stay closed (already reported), when something outside the routes
    /// is wrong.
    closed: Option<String>,
}

/// Reads the IngressRoute's entry points and TLS, and its routes. Without a readable spec the
/// rules are still taken, to hold them closed. `None` when none of its entry points exists: no
/// listener would see its routes, and publishing them on every entry point instead would expose
/// them where nobody asked.
fn shared_by_routes(
    object: &DynamicObject,
    snapshot: &Snapshot,
    settings: &Settings,
    namespace: &str,
    out: &mut Translation,
    report: &mut dyn FnMut(Reason, String),
) -> Option<(Shared, Vec<serde_json::Value>)> {
    let spec = resources::spec_of(object).and_then(|spec| {
        serde_json::from_value::<IngressRouteSpec>(spec.clone()).map_err(|e| format!("spec: {e}"))
    });
    let spec = match spec {
        Ok(spec) => spec,
        Err(message) => {
            report(
                Reason::InvalidIngressRoute,
                format!("{message}; its routes answer 503 until this is fixed"),
            );
            let routes = resources::spec_of(object)
                .ok()
                .and_then(|spec| spec.get("routes"))
                .and_then(|routes| routes.as_array().cloned())
                .unwrap_or_default();
            let shared = Shared {
                entry_points: Vec::new(),
                tls: None,
                closed: Some(message),
            };
            return Some((shared, routes));
        }
    };
    let mut tls = None;
    let mut tls_problem = None;
    if let Some(raw) = &spec.tls {
        tls = Some(RouterTls::default());
        match transport::ingress_route_tls(raw, snapshot, namespace, settings, out) {
            Ok(parsed) => tls = Some(parsed),
            Err(message) => tls_problem = Some(message),
        }
    }
    let mut entry_points = Vec::new();
    for (i, entry_point) in spec.entry_points.iter().enumerate() {
        if settings.entry_points.contains(entry_point) {
            entry_points.push(entry_point.clone());
        } else {
            report(
                Reason::InvalidIngressRoute,
                format!("spec.entryPoints[{i}]: unknown entry point {entry_point:?}"),
            );
        }
    }
    if !spec.entry_points.is_empty() && entry_points.is_empty() {
        return None;
    }
    let closed = unknown_keys("spec", &spec.unknown).or(tls_problem);
    if let Some(message) = &closed {
        report(
            Reason::InvalidIngressRoute,
            format!("{message}; its routes answer 503 until this is fixed"),
        );
    }
    let shared = Shared {
        entry_points,
        tls,
        closed,
    };
    Some((shared, spec.routes))
}

/// One IngressRoute whose routes are being turned into routers.
struct IngressRoute<'a> {
    namespace: String,
    name: String,
    shared: Shared,
    settings: &'a Settings,
    endpoints: &'a Endpoints<'a>,
    used_names: HashSet<String>,
}

impl IngressRoute<'_> {
    /// The router of route `i` (and its own service, when it lists Services). A route whose
    /// rule cannot be read is skipped; one that cannot be resolved is held closed.
    fn translate_route(
        &mut self,
        i: usize,
        value: &serde_json::Value,
        out: &mut Translation,
        report: &mut dyn FnMut(Reason, String),
    ) {
        let path = format!("spec.routes[{i}]");
        let Some(rule_text) = value.get("match").and_then(|m| m.as_str()) else {
            report(
                Reason::InvalidIngressRoute,
                format!("{path}.match: missing or not a string; route skipped"),
            );
            return;
        };
        let rule = match Rule::parse(rule_text) {
            Ok(rule) => rule,
            Err(e) => {
                report(
                    Reason::InvalidIngressRoute,
                    format!("{path}.match: {e}; route skipped"),
                );
                return;
            }
        };
        let router = self.router_name(i, rule_text);
        let (middlewares, target, priority) = match self.resolve(value, &path, out, report) {
            Ok(resolved) => resolved,
            Err(message) => {
                if let Some(message) = message {
                    report(
                        Reason::InvalidIngressRoute,
                        format!("{message}; the route answers 503 until this is fixed"),
                    );
                }
                let priority = value.get("priority").and_then(|p| p.as_i64());
                (
                    Vec::new(),
                    RouteService::Servers(closed_service()),
                    priority,
                )
            }
        };
        let service = match target {
            RouteService::Servers(service) => {
                out.dynamic.services.insert(router.clone(), service);
                router.clone()
            }
            RouteService::Named(name) => name,
        };
        out.dynamic.routers.push(RouterConfig {
            name: router,
            entry_points: self.shared.entry_points.clone(),
            rule,
            rule_text: rule_text.to_owned(),
            priority: match priority {
                None | Some(0) => Rule::default_priority(rule_text),
                Some(p) => p,
            },
            middlewares,
            service,
            tls: self.shared.tls.clone(),
            forward_auth: None,
        });
    }

    /// The router name of route `i`, made unique within the IngressRoute by its index when two
    /// routes share a rule.
    fn router_name(&mut self, i: usize, rule_text: &str) -> String {
        let mut router = router_name(&self.namespace, &self.name, rule_text);
        if !self.used_names.insert(router.clone()) {
            router = format!(
                "{}-{i}{PROVIDER_SUFFIX}",
                router.trim_end_matches(PROVIDER_SUFFIX)
            );
            self.used_names.insert(router.clone());
        }
        router
    }

    /// The route's middlewares, service and priority; `Err(None)` when the whole IngressRoute
    /// is closed (already reported), `Err(Some(why))` when this route is.
    fn resolve(
        &self,
        value: &serde_json::Value,
        path: &str,
        out: &Translation,
        report: &mut dyn FnMut(Reason, String),
    ) -> Result<(Vec<String>, RouteService, Option<i64>), Option<String>> {
        if self.shared.closed.is_some() {
            return Err(None);
        }
        let route = serde_json::from_value::<RouteSpec>(value.clone())
            .map_err(|e| Some(format!("{path}: {e}")))?;
        resolve_route(
            &route,
            &self.namespace,
            self.settings,
            self.endpoints,
            &out.dynamic,
            path,
            report,
        )
        .map_err(Some)
    }
}

/// An error naming the unknown keys of `map`, if any.
fn unknown_keys(path: &str, map: &BTreeMap<String, serde_json::Value>) -> Option<String> {
    let keys: Vec<&str> = map.keys().map(String::as_str).collect();
    unsupported(path, &keys)
}

fn unsupported(path: &str, keys: &[&str]) -> Option<String> {
    (!keys.is_empty()).then(|| format!("{path}: unsupported keys {}", keys.join(", ")))
}

/// Reports keys Traefik knows and Portcullis ignores; returns an error for any other key.
fn ignored_keys(
    path: &str,
    map: &BTreeMap<String, serde_json::Value>,
    ignorable: &[&str],
    report: &mut dyn FnMut(Reason, String),
) -> Result<(), String> {
    let (ignored, unknown): (Vec<&str>, Vec<&str>) = map
        .keys()
        .map(String::as_str)
        .partition(|key| ignorable.contains(key));
    if !ignored.is_empty() {
        report(
            Reason::IgnoredField,
            format!("{path}: {} not supported, ignored", ignored.join(", ")),
        );
    }
    match unsupported(path, &unknown) {
        Some(message) => Err(message),
        None => Ok(()),
    }
}

fn closed_service() -> ServiceConfig {
    ServiceConfig {
        servers: Vec::new(),
        pass_host_header: true,
        servers_transport: None,
    }
}

/// Where a route sends its requests.
enum RouteService {
    /// Its own load balancer over the Services it lists.
    Servers(ServiceConfig),
    /// A TraefikService, by service name.
    Named(String),
}

/// The route's middleware names and its service, or why the route must stay closed.
fn resolve_route(
    route: &RouteSpec,
    namespace: &str,
    settings: &Settings,
    endpoints: &Endpoints<'_>,
    dynamic: &DynamicConfig,
    path: &str,
    report: &mut dyn FnMut(Reason, String),
) -> Result<(Vec<String>, RouteService, Option<i64>), String> {
    ignored_keys(path, &route.unknown, resources::IGNORED_ROUTE_KEYS, report)?;
    if let Some(kind) = route.kind.as_deref().filter(|k| *k != "Rule") {
        return Err(format!(
            "{path}.kind: unsupported kind {kind:?}; expected Rule"
        ));
    }
    if let Some(syntax) = route.syntax.as_deref().filter(|s| *s != "v3") {
        return Err(format!(
            "{path}.syntax: unsupported rule syntax {syntax:?}; expected v3"
        ));
    }
    let mut middlewares = Vec::new();
    for (i, reference) in route.middlewares.iter().enumerate() {
        let mpath = format!("{path}.middlewares[{i}]");
        if let Some(message) = unknown_keys(&mpath, &reference.unknown) {
            return Err(message);
        }
        let (ns, name) = middleware_target(reference, namespace, settings, &mpath)?;
        let key = middleware_name(&ns, &name);
        if !dynamic.middlewares.contains_key(&key) {
            return Err(format!(
                "{mpath}: middleware {ns}/{name} does not exist or is invalid"
            ));
        }
        middlewares.push(key);
    }
    if route.services.is_empty() {
        return Err(format!("{path}.services: at least one service is required"));
    }
    if let Some(i) = route
        .services
        .iter()
        .position(|s| s.kind.as_deref() == Some("TraefikService"))
    {
        let spath = format!("{path}.services[{i}]");
        let [service] = route.services.as_slice() else {
            return Err(format!(
                "{spath}: a TraefikService must be the route's only service"
            ));
        };
        ignored_keys(&spath, &service.unknown, &[], report)?;
        let ns = service
            .namespace
            .as_deref()
            .filter(|ns| !ns.is_empty())
            .unwrap_or(namespace);
        cross_namespace_allowed(ns, namespace, settings, &spath)?;
        let key = traefik_service::traefik_service_name(ns, &service.name);
        if !dynamic.traefik_services.contains_key(&key) {
            return Err(format!(
                "{spath}: TraefikService {ns}/{} does not exist or is invalid",
                service.name
            ));
        }
        return Ok((middlewares, RouteService::Named(key), route.priority));
    }
    let mut servers = Vec::new();
    let mut pass_host_header = None;
    let mut servers_transport: Option<Option<String>> = None;
    for (i, service) in route.services.iter().enumerate() {
        let spath = format!("{path}.services[{i}]");
        ignored_keys(
            &spath,
            &service.unknown,
            resources::IGNORED_SERVICE_KEYS,
            report,
        )?;
        servers.extend(endpoints.servers(service, namespace, settings, &spath)?);
        pass_host_header.get_or_insert(service.pass_host_header.unwrap_or(true));
        let transport = match service
            .servers_transport
            .as_deref()
            .filter(|t| !t.is_empty())
        {
            Some(text) => Some(transport::transport_reference(
                text,
                namespace,
                settings,
                &dynamic.servers_transports,
                &format!("{spath}.serversTransport"),
            )?),
            None => None,
        };
        match &servers_transport {
            Some(first) if *first != transport => {
                return Err(format!(
                    "{spath}.serversTransport: the services of one route must share their ServersTransport"
                ));
            }
            _ => servers_transport = Some(transport),
        }
    }
    Ok((
        middlewares,
        RouteService::Servers(ServiceConfig {
            servers,
            pass_host_header: pass_host_header.unwrap_or(true),
            servers_transport: servers_transport.flatten(),
        }),
        route.priority,
    ))
}

/// `(namespace, name)` of a referenced Middleware: the `namespace` field, a `namespace/name`
/// name, or the route's own namespace.
fn middleware_target(
    reference: &MiddlewareRef,
    namespace: &str,
    settings: &Settings,
    path: &str,
) -> Result<(String, String), String> {
    if reference.name.contains('@') {
        return Err(format!(
            "{path}.name: {:?}: references to other providers are not supported",
            reference.name
        ));
    }
    let (ns, name) = match (&reference.namespace, reference.name.split_once('/')) {
        (Some(ns), None) if !ns.is_empty() => (ns.clone(), reference.name.clone()),
        (None, Some((ns, name))) => (ns.to_owned(), name.to_owned()),
        (Some(_), Some(_)) => {
            return Err(format!(
                "{path}: give the namespace either in namespace or in name, not both"
            ));
        }
        _ => (namespace.to_owned(), reference.name.clone()),
    };
    cross_namespace_allowed(&ns, namespace, settings, path)?;
    Ok((ns, name))
}

fn cross_namespace_allowed(
    target: &str,
    namespace: &str,
    settings: &Settings,
    path: &str,
) -> Result<(), String> {
    if target != namespace && !settings.allow_cross_namespace {
        return Err(format!(
            "{path}: namespace {target:?} is not the route's namespace and allowCrossNamespace is off"
        ));
    }
    Ok(())
}

/// Services and their EndpointSlices, indexed by namespace and name.
struct Endpoints<'a> {
    services: HashMap<(&'a str, &'a str), &'a Service>,
    slices: BTreeMap<(&'a str, &'a str), Vec<&'a EndpointSlice>>,
}

impl<'a> Endpoints<'a> {
    fn index(snapshot: &'a Snapshot) -> Self {
        let mut services = HashMap::new();
        for service in &snapshot.services {
            if let (Some(ns), Some(name)) = (&service.metadata.namespace, &service.metadata.name) {
                services.insert((ns.as_str(), name.as_str()), service.as_ref());
            }
        }
        let mut slices: BTreeMap<(&str, &str), Vec<&EndpointSlice>> = BTreeMap::new();
        for slice in &snapshot.endpoint_slices {
            let owner = slice
                .metadata
                .labels
                .as_ref()
                .and_then(|labels| labels.get(SERVICE_NAME_LABEL));
            if let (Some(ns), Some(owner)) = (&slice.metadata.namespace, owner) {
                slices
                    .entry((ns.as_str(), owner.as_str()))
                    .or_default()
                    .push(slice.as_ref());
            }
        }
        for list in slices.values_mut() {
            list.sort_by_key(|s| s.metadata.name.clone());
        }
        Self { services, slices }
    }

    /// The upstream URLs of the ready endpoints behind one service reference.
    fn servers(
        &self,
        reference: &ServiceRef,
        namespace: &str,
        settings: &Settings,
        path: &str,
    ) -> Result<Vec<Uri>, String> {
        if let Some(kind) = reference.kind.as_deref().filter(|k| *k != "Service") {
            return Err(format!(
                "{path}.kind: unsupported kind {kind:?}; expected Service"
            ));
        }
        let ns = reference
            .namespace
            .as_deref()
            .filter(|ns| !ns.is_empty())
            .unwrap_or(namespace);
        cross_namespace_allowed(ns, namespace, settings, path)?;
        let service = self
            .services
            .get(&(ns, reference.name.as_str()))
            .ok_or_else(|| format!("{path}: service {ns}/{} not found", reference.name))?;
        let spec = service.spec.as_ref();
        if spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName") {
            return Err(format!(
                "{path}: service {ns}/{} is an ExternalName service, which is not supported",
                reference.name
            ));
        }
        let ports = spec.and_then(|s| s.ports.as_deref()).unwrap_or_default();
        let port = match &reference.port {
            Some(PortRef::Number(n)) => ports.iter().find(|p| p.port == *n),
            Some(PortRef::Name(name)) => ports
                .iter()
                .find(|p| p.name.as_deref() == Some(name.as_str())),
            None if ports.len() == 1 => ports.first(),
            None => {
                return Err(format!(
                    "{path}.port: required, service {ns}/{} has {} ports",
                    reference.name,
                    ports.len()
                ));
            }
        }
        .ok_or_else(|| {
            format!(
                "{path}.port: service {ns}/{} has no port {}",
                reference.name,
                reference
                    .port
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            )
        })?;
        // Traefik's rule: a port 443 or named https is spoken to in HTTPS unless told otherwise.
        let https_port = port.port == 443 || port.name.as_deref() == Some("https");
        let scheme = match reference.scheme.as_deref() {
            None if https_port => "https",
            None | Some("http") => "http",
            Some("https") => "https",
            Some(other) => {
                return Err(format!(
                    "{path}.scheme: {other} upstreams are not supported; use http or https"
                ));
            }
        };
        let port_name = port.name.as_deref().unwrap_or_default();
        let mut servers = Vec::new();
        for slice in self
            .slices
            .get(&(ns, reference.name.as_str()))
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let Some(target) = slice
                .ports
                .as_deref()
                .unwrap_or_default()
                .iter()
                .find(|p| p.name.as_deref().unwrap_or_default() == port_name)
            else {
                continue;
            };
            let Some(target_port) = target.port else {
                continue;
            };
            for endpoint in &slice.endpoints {
                // Kubernetes: an absent `ready` means ready.
                let ready = endpoint
                    .conditions
                    .as_ref()
                    .and_then(|c| c.ready)
                    .unwrap_or(true);
                if !ready {
                    continue;
                }
                for address in &endpoint.addresses {
                    let host = if slice.address_type == "IPv6" {
                        format!("[{address}]")
                    } else {
                        address.clone()
                    };
                    match format!("{scheme}://{host}:{target_port}").parse::<Uri>() {
                        Ok(uri) => servers.push(uri),
                        Err(_) => tracing::warn!(
                            slice = slice.metadata.name.as_deref().unwrap_or_default(),
                            %address,
                            "EndpointSlice address is not a valid host; skipped"
                        ),
                    }
                }
            }
        }
        Ok(servers)
    }
}

mod traefik_service;
mod transport;

#[cfg(test)]
mod tests;
