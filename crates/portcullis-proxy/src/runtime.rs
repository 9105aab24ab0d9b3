//! The router table the gateway serves from: routes per entry point, sorted by priority, each
//! with its built middleware chain and service. A new table is built off to the side on every
//! configuration change and swapped in atomically, so requests in flight finish on the old one.

use std::collections::HashMap;
use std::sync::Arc;

use portcullis_config::errors::{ConfigError, MiddlewareError, Path};
use portcullis_config::plugin::PluginConfig;
use portcullis_config::{DynamicConfig, EntryPoint, MiddlewareConfig};
use portcullis_rules::{RequestView, Rule};

use crate::builtin;
use crate::metrics::RouteStats;
use crate::middleware::Middleware;
use crate::tls_server::TlsTable;
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

/// Every route, grouped by entry point and by whether it serves TLS connections.
#[derive(Default)]
pub struct Runtime {
    routes: HashMap<String, Vec<Arc<Route>>>,
    tls_routes: HashMap<String, Vec<Arc<Route>>>,
    tls: Option<Arc<TlsTable>>,
}

impl Runtime {
    /// The highest-priority route of `entry_point` whose rule matches, among the routers with
    /// `tls` for a TLS connection and those without for a plain one (as in Traefik).
    pub fn find(
        &self,
        entry_point: &str,
        tls: bool,
        request: &RequestView<'_>,
    ) -> Option<&Arc<Route>> {
        let table = if tls { &self.tls_routes } else { &self.routes };
        table
            .get(entry_point)?
            .iter()
            .find(|route| route.rule.matches(request))
    }

    /// Certificates and TLS options for TLS connections on entry points without their own
    /// certificate (`None`: no certificate is configured).
    pub fn tls(&self) -> Option<&Arc<TlsTable>> {
        self.tls.as_ref()
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
    ) -> Result<Arc<dyn Middleware>, MiddlewareError>;

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
        build: &mut dyn FnMut() -> Result<Arc<dyn Middleware>, MiddlewareError>,
    ) -> Result<Arc<dyn Middleware>, MiddlewareError> {
        let _ = (name, namespace, config);
        build()
    }
}

/// Builds a runtime from a validated dynamic configuration. Every failure is reported, at the
/// path of the middleware, service, router or TLS setting it concerns.
///
/// On an entry point with its own certificate (`tls.certFile`), every connection is TLS and
/// every router serves it, with or without `tls`: that is how such entry points have always
/// worked, and what Traefik does for an entry point whose `http.tls` is set.
pub fn build_runtime(
    dynamic: &DynamicConfig,
    entry_points: &[EntryPoint],
    client: &UpstreamClient,
    plugins: &dyn PluginBuilder,
) -> Result<Runtime, Vec<ConfigError>> {
    let http = Path::root().key("http");
    let at = |section: &str, name: &str, message: String| ConfigError {
        path: http.key(section).key(name).to_string(),
        message,
    };
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
                    .map_err(MiddlewareError::from)
            }
            stateful if crate::middlewares::keeps_state(stateful) => {
                plugins.reuse(name, dynamic.namespace_of(name), stateful, &mut || {
                    builtin::build(stateful).map_err(MiddlewareError::from)
                })
            }
            MiddlewareConfig::RateLimit(limit) => crate::middlewares::rate_limit::build_for(
                name,
                limit,
                dynamic.namespace_of(name),
                plugins,
            )
            .map_err(MiddlewareError::from),
            other => builtin::build(other).map_err(MiddlewareError::from),
        };
        match built {
            Ok(middleware) => {
                middlewares.insert(name.as_str(), middleware);
            }
            Err(error) => {
                failed.push(name.as_str());
                errors.push(at("middlewares", name, error.to_string()));
            }
        }
    }
    let mut services: HashMap<String, Arc<dyn crate::services::Upstream>> = HashMap::new();
    for (name, config) in &dynamic.services {
        let transport = match &config.servers_transport {
            None => Ok(client.clone()),
            Some(transport) => match dynamic.servers_transports.get(transport) {
                Some(settings) => client.for_transport(settings),
                None => Err(format!("serversTransport {transport:?} is not available")),
            },
        };
        let transport = match transport {
            Ok(transport) => transport,
            Err(error) => {
                errors.push(at("services", name, error));
                continue;
            }
        };
        match Service::new(name, &config.servers, config.pass_host_header, transport) {
            Ok(service) => {
                services.insert(name.clone(), Arc::new(service));
            }
            Err(error) => errors.push(at("services", name, error.to_string())),
        }
    }
    errors.extend(crate::services::build_composed(dynamic, &mut services));
    let mut routes: HashMap<String, Vec<Arc<Route>>> = HashMap::new();
    let mut tls_routes: HashMap<String, Vec<Arc<Route>>> = HashMap::new();
    for router in &dynamic.routers {
        let mut chain = Vec::new();
        let names = match dynamic.expand_chains(&router.middlewares) {
            Ok(names) => names,
            Err(error) => {
                errors.push(at("routers", &router.name, error.to_string()));
                continue;
            }
        };
        for name in &names {
            match middlewares.get(name.as_str()) {
                Some(m) => chain.push(m.clone()),
                None if failed.contains(&name.as_str()) => {}
                None => errors.push(at(
                    "routers",
                    &router.name,
                    format!("middleware {name:?} is not available"),
                )),
            }
        }
        let Some(service) = services.get(router.service.as_str()) else {
            errors.push(at(
                "routers",
                &router.name,
                format!("service {:?} is not available", router.service),
            ));
            continue;
        };
        let service = match &router.forward_auth {
            None => service.clone(),
            Some(forward_auth) => {
                chain.insert(
                    0,
                    Arc::new(crate::forward_auth::Describe::new(
                        forward_auth,
                        entry_points,
                    )),
                );
                Arc::new(crate::forward_auth::Answer::new(&router.service))
            }
        };
        let route = Arc::new(Route {
            stats: RouteStats::new(&router.name, &router.service),
            name: router.name.as_str().into(),
            rule: router.rule.clone(),
            priority: router.priority,
            chain,
            service,
        });
        let targets: Vec<&String> = if router.entry_points.is_empty() {
            entry_points.iter().map(|ep| &ep.name).collect()
        } else {
            router.entry_points.iter().collect()
        };
        for ep in targets {
            let own_certificate = entry_points
                .iter()
                .any(|e| &e.name == ep && e.tls.is_some());
            let table = if own_certificate || router.tls.is_some() {
                &mut tls_routes
            } else {
                &mut routes
            };
            table.entry(ep.clone()).or_default().push(route.clone());
        }
    }
    let tls = match TlsTable::build(&dynamic.tls, &dynamic.routers) {
        Ok(table) => table.map(Arc::new),
        Err(mut tls_errors) => {
            errors.append(&mut tls_errors);
            None
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    for list in routes.values_mut().chain(tls_routes.values_mut()) {
        // Highest priority first; names break ties so the order never depends on hashing.
        list.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then_with(|| a.name.cmp(&b.name))
        });
    }
    Ok(Runtime {
        routes,
        tls_routes,
        tls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Refuses every plugin, as a builder whose secret is missing does.
    struct MissingSecret;

    impl PluginBuilder for MissingSecret {
        fn build(
            &self,
            _: &str,
            _: &PluginConfig,
            _: Option<&str>,
        ) -> Result<Arc<dyn Middleware>, MiddlewareError> {
            Err(MiddlewareError::at(
                "clientSecret",
                "secret \"oidc\" not found",
            ))
        }
    }

    #[tokio::test]
    async fn a_middleware_that_cannot_be_built_is_reported_once_at_its_path() {
        let config = portcullis_config::load_str(
            "entryPoints:\n  web: { address: \"127.0.0.1:0\" }\nhttp:\n  routers:\n    app:\n      \
             rule: PathPrefix(`/`)\n      middlewares: [login]\n      service: app\n  \
             services:\n    app:\n      loadBalancer:\n        servers: [{ url: \"http://127.0.0.1:1\" }]\n  \
             middlewares:\n    login:\n      plugin:\n        oidc:\n          issuer: https://idp.test\n          \
             clientID: c\n          clientSecret: s\n          redirectUrl: /callback\n",
        )
        .unwrap();
        let client = UpstreamClient::new(&config.static_config.servers_transport).unwrap();
        let Err(errors) = build_runtime(
            &config.dynamic,
            &config.static_config.entry_points,
            &client,
            &MissingSecret,
        ) else {
            panic!("a runtime was built without its middleware");
        };
        // The router using the middleware is not reported again.
        assert_eq!(
            errors,
            [ConfigError {
                path: "http.middlewares.login".into(),
                message: "clientSecret: secret \"oidc\" not found".into(),
            }]
        );
    }
}
