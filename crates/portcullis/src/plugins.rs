//! Builds plugin middlewares (`plugin.oidc`, `plugin.oAuthClientCredentials`) for the router
//! table, resolving their secrets. Instances whose configuration and secrets did not change are
//! reused across reloads, so discovery caches, token caches and refresh locks survive them.

use std::sync::{Arc, RwLock};

use portcullis_auth::AuthRegistry;
use portcullis_config::plugin::PluginConfig;
use portcullis_config::{DynamicConfig, SecretResolver};
use portcullis_proxy::middleware::Middleware;
use portcullis_proxy::runtime::PluginBuilder;

pub struct Plugins {
    resolver: RwLock<Arc<dyn SecretResolver>>,
    registry: AuthRegistry,
}

impl Plugins {
    pub fn new(resolver: Arc<dyn SecretResolver>) -> Self {
        Self {
            resolver: RwLock::new(resolver),
            registry: AuthRegistry::new(),
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
    ) -> Result<Arc<dyn Middleware>, String> {
        let resolver = self
            .resolver()
            .ok_or_else(|| "secret resolver unavailable".to_owned())?;
        self.registry
            .build(middleware_name, config, namespace, resolver.as_ref())
            .map_err(|e| e.to_string())
    }

    fn secret_resolver(&self) -> Option<Arc<dyn SecretResolver>> {
        self.resolver()
    }
}
