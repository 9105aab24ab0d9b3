//! Builds plugin middlewares (`plugin.oidc`, `plugin.oAuthClientCredentials`) for the router
//! table, resolving their secrets. Instances whose configuration and secrets did not change are
//! reused across reloads, so discovery caches, token caches and refresh locks survive them.
//! In-memory rate limits and in-flight counts are reused the same way while unchanged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use portcullis_auth::AuthRegistry;
use portcullis_config::plugin::PluginConfig;
use portcullis_config::{DynamicConfig, MiddlewareConfig, MiddlewareError, SecretResolver};
use portcullis_proxy::metrics::AuthMetrics;
use portcullis_proxy::middleware::Middleware;
use portcullis_proxy::runtime::PluginBuilder;

/// Stateful built-in middlewares by (namespace, name), with the configuration they were built from.
type Kept = HashMap<(Option<String>, String), (MiddlewareConfig, Arc<dyn Middleware>)>;

pub struct Plugins {
    resolver: RwLock<Arc<dyn SecretResolver>>,
    registry: AuthRegistry,
    kept: Mutex<Kept>,
}

impl Plugins {
    pub fn new(resolver: Arc<dyn SecretResolver>) -> Self {
        Self {
            resolver: RwLock::new(resolver),
            registry: AuthRegistry::new(),
            kept: Mutex::default(),
        }
    }

    /// Plugins whose middlewares record their metrics in `metrics`.
    pub fn with_metrics(resolver: Arc<dyn SecretResolver>, metrics: AuthMetrics) -> Self {
        Self {
            resolver: RwLock::new(resolver),
            registry: AuthRegistry::with_metrics(metrics),
            kept: Mutex::default(),
        }
    }

    /// Replaces the secret resolver (after a reload re-read the Secret manifests).
    pub fn set_resolver(&self, resolver: Arc<dyn SecretResolver>) {
        if let Ok(mut current) = self.resolver.write() {
            *current = resolver;
        }
    }

    /// Forgets middlewares that are no longer configured.
    pub fn retain(&self, dynamic: &DynamicConfig) {
        let keep: Vec<(Option<String>, String)> = dynamic
            .middlewares
            .keys()
            .map(|name| (dynamic.namespace_of(name).map(str::to_owned), name.clone()))
            .collect();
        if let Ok(mut kept) = self.kept.lock() {
            kept.retain(|key, _| keep.contains(key));
        }
        self.registry.retain(&keep);
    }

    /// What each OIDC middleware's session keys derive from, one line each.
    pub fn session_key_notes(&self) -> Vec<String> {
        self.registry.session_key_notes()
    }

    fn resolver(&self) -> Option<Arc<dyn SecretResolver>> {
        self.resolver.read().ok().map(|r| r.clone())
    }
}

impl PluginBuilder for Plugins {
    fn build(
        &self,
        middleware_name: &str,
        config: &PluginConfig,
        namespace: Option<&str>,
    ) -> Result<Arc<dyn Middleware>, MiddlewareError> {
        let resolver = self
            .resolver()
            .ok_or_else(|| MiddlewareError::from("secret resolver unavailable".to_owned()))?;
        Ok(self
            .registry
            .build(middleware_name, config, namespace, resolver.as_ref())?)
    }

    fn secret_resolver(&self) -> Option<Arc<dyn SecretResolver>> {
        self.resolver()
    }

    fn reuse(
        &self,
        name: &str,
        namespace: Option<&str>,
        config: &MiddlewareConfig,
        build: &mut dyn FnMut() -> Result<Arc<dyn Middleware>, MiddlewareError>,
    ) -> Result<Arc<dyn Middleware>, MiddlewareError> {
        let key = (namespace.map(str::to_owned), name.to_owned());
        let Ok(mut kept) = self.kept.lock() else {
            return build();
        };
        if let Some((previous, middleware)) = kept.get(&key)
            && portcullis_proxy::middlewares::same_state_config(previous, config)
        {
            return Ok(middleware.clone());
        }
        let middleware = build()?;
        kept.insert(key, (config.clone(), middleware.clone()));
        Ok(middleware)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_config::LocalResolver;

    fn config(yaml: &str) -> DynamicConfig {
        let text = format!(
            "entryPoints:\n  web: {{ address: \"127.0.0.1:0\" }}\nhttp:\n  middlewares:\n{yaml}"
        );
        portcullis_config::load_str(&text).unwrap().dynamic
    }

    fn build(plugins: &Plugins, dynamic: &DynamicConfig, name: &str) -> Arc<dyn Middleware> {
        let config = &dynamic.middlewares[name];
        plugins
            .reuse(name, None, config, &mut || {
                portcullis_proxy::builtin::build(config).map_err(MiddlewareError::from)
            })
            .unwrap()
    }

    #[test]
    fn unchanged_rate_limits_and_in_flight_counts_survive_a_reload() {
        let plugins = Plugins::new(Arc::new(LocalResolver::new()));
        let first = config(
            "    limit: { rateLimit: { average: 5 } }\n    flight: { inFlightReq: { amount: 2 } }\n",
        );
        let (limit, flight) = (
            build(&plugins, &first, "limit"),
            build(&plugins, &first, "flight"),
        );
        let again = config(
            "    limit: { rateLimit: { average: 5 } }\n    flight: { inFlightReq: { amount: 3 } }\n",
        );
        assert!(Arc::ptr_eq(&limit, &build(&plugins, &again, "limit")));
        // A changed configuration is built anew.
        assert!(!Arc::ptr_eq(&flight, &build(&plugins, &again, "flight")));
        // A middleware that went away is forgotten.
        let without = config("    flight: { inFlightReq: { amount: 3 } }\n");
        plugins.retain(&without);
        assert!(!Arc::ptr_eq(&limit, &build(&plugins, &first, "limit")));
    }
}
