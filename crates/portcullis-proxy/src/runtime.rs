//! The router table the gateway serves from: routes per entry point, sorted by priority, each
//! with its built middleware chain and service. A new table is built off to the side on every
//! configuration change and swapped in atomically, so requests in flight finish on the old one.

use std::collections::HashMap;
use std::sync::Arc;

use portcullis_config::plugin::PluginConfig;
use portcullis_config::{DynamicConfig, MiddlewareConfig};
use portcullis_rules::{RequestView, Rule};

use crate::builtin;
use crate::metrics::RouteStats;
use crate::middleware::Middleware;
use crate::upstream::{Service, UpstreamClient};

/// One router, ready to serve.
pub struct Route {
    pub name: Arc<str>,
    pub rule: Rule,
    pub priority: i64,
    pub chain: Vec<Arc<dyn Middleware>>,
    pub service: Arc<dyn crate::services::Upstream>,
    /// Metric handles of this route, looked up once instead of on every request.
    pub stats: RouteStats,
}

/// Every route, grouped by entry point.
#[derive(Default)]
pub struct Runtime {
    routes: HashMap<String, Vec<Arc<Route>>>,
}

impl Runtime {
    /// The highest-priority route of `entry_point` whose rule matches.
    pub fn find(&self, entry_point: &str, request: &RequestView<'_>) -> Option<&Arc<Route>> {
        self.routes
            .get(entry_point)?
            .iter()
            .find(|route| route.rule.matches(request))
    }

    /// Number of routes on `entry_point`.
    pub fn route_count(&self, entry_point: &str) -> usize {
        self.routes.get(entry_point).map_or(0, Vec::len)
    }
}

/// Builds plugin middlewares (the authentication middlewares live in another crate).
pub trait PluginBuilder {
    /// Builds the plugin middleware `middleware_name`; `namespace` is the Kubernetes namespace
    /// whose Secrets its `urn:k8s:secret:` references name (`None` for file configuration).
    fn build(
        &self,
        middleware_name: &str,
        config: &PluginConfig,
        namespace: Option<&str>,
    ) -> Result<Arc<dyn Middleware>, String>;

    /// The resolver that reads whole Kubernetes Secrets (`basicAuth.secret`), if any.
    fn secret_resolver(&self) -> Option<Arc<dyn portcullis_config::SecretResolver>> {
        None
    }

    /// The middleware `name` of `namespace` as last built when its configuration is unchanged,
    /// else `build()`'s: stateful built-ins (in-memory rate limits, in-flight counts) then keep
    /// their state across configuration changes. By default, always builds anew.
    fn reuse(
        &self,
        name: &str,
        namespace: Option<&str>,
        config: &MiddlewareConfig,
        build: &mut dyn FnMut() -> Result<Arc<dyn Middleware>, String>,
    ) -> Result<Arc<dyn Middleware>, String> {
        let _ = (name, namespace, config);
        build()
    }
}

/// Builds a runtime from a validated dynamic configuration. Every failure is reported, with the
/// middleware or service it concerns.
pub fn build_runtime(
    dynamic: &DynamicConfig,
    entry_points: &[String],
    client: &UpstreamClient,
    plugins: &dyn PluginBuilder,
) -> Result<Runtime, Vec<String>> {
    let mut errors = Vec::new();
    let mut middlewares: HashMap<&str, Arc<dyn Middleware>> = HashMap::new();
    // Routers using a middleware that failed are not reported again: one error per cause.
    let mut failed: Vec<&str> = Vec::new();
    for (name, config) in &dynamic.middlewares {
        let built = match config {
            MiddlewareConfig::Plugin(plugin) => {
                plugins.build(name, plugin, dynamic.namespace_of(name))
            }
            MiddlewareConfig::BasicAuth(auth) => {
                crate::middlewares::basic_auth::build_for(auth, dynamic.namespace_of(name), plugins)
            }
            stateful if crate::middlewares::keeps_state(stateful) => {
                plugins.reuse(name, dynamic.namespace_of(name), stateful, &mut || {
                    builtin::build(stateful)
                })
            }
            MiddlewareConfig::RateLimit(limit) => crate::middlewares::rate_limit::build_for(
                name,
                limit,
                dynamic.namespace_of(name),
                plugins,
            ),
            other => builtin::build(other),
        };
        match built {
            Ok(middleware) => {
                middlewares.insert(name.as_str(), middleware);
            }
            Err(error) => {
                failed.push(name.as_str());
                errors.push(format!("http.middlewares.{name}: {error}"));
            }
        }
    }
    let mut services: HashMap<String, Arc<dyn crate::services::Upstream>> = HashMap::new();
    for (name, config) in &dynamic.services {
        match Service::new(
            name,
            &config.servers,
            config.pass_host_header,
            client.clone(),
        ) {
            Ok(service) => {
                services.insert(name.clone(), Arc::new(service));
            }
            Err(error) => errors.push(format!("http.services.{name}: {error}")),
        }
    }
    errors.extend(crate::services::build_composed(dynamic, &mut services));
    let mut routes: HashMap<String, Vec<Arc<Route>>> = HashMap::new();
    for router in &dynamic.routers {
        let mut chain = Vec::new();
        for name in &router.middlewares {
            match middlewares.get(name.as_str()) {
                Some(m) => chain.push(m.clone()),
                None if failed.contains(&name.as_str()) => {}
                None => errors.push(format!(
                    "http.routers.{}: middleware {name:?} is not available",
                    router.name
                )),
            }
        }
        let Some(service) = services.get(router.service.as_str()) else {
            errors.push(format!(
                "http.routers.{}: service {:?} is not available",
                router.name, router.service
            ));
            continue;
        };
        let route = Arc::new(Route {
            stats: RouteStats::new(&router.name, &router.service),
            name: router.name.as_str().into(),
            rule: router.rule.clone(),
            priority: router.priority,
            chain,
            service: service.clone(),
        });
        let targets: Vec<&String> = if router.entry_points.is_empty() {
            entry_points.iter().collect()
        } else {
            router.entry_points.iter().collect()
        };
        for ep in targets {
            routes.entry(ep.clone()).or_default().push(route.clone());
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    for list in routes.values_mut() {
        // Highest priority first; names break ties so the order never depends on hashing.
        list.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then_with(|| a.name.cmp(&b.name))
        });
    }
    Ok(Runtime { routes })
}
