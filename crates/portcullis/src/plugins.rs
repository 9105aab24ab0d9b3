//! Builds plugin middlewares (`plugin.oidc`, `plugin.oAuthClientCredentials`) for the router
//! table, resolving their secrets.

use std::sync::{Arc, RwLock};

use portcullis_config::SecretResolver;
use portcullis_config::plugin::PluginConfig;
use portcullis_proxy::middleware::Middleware;
use portcullis_proxy::runtime::PluginBuilder;

pub struct Plugins {
    resolver: RwLock<Arc<dyn SecretResolver>>,
}

impl Plugins {
    pub fn new(resolver: Arc<dyn SecretResolver>) -> Self {
        Self {
            resolver: RwLock::new(resolver),
        }
    }

    /// Replaces the secret resolver (after a reload re-read the Secret manifests).
    pub fn set_resolver(&self, resolver: Arc<dyn SecretResolver>) {
        if let Ok(mut current) = self.resolver.write() {
            *current = resolver;
        }
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
    ) -> Result<Arc<dyn Middleware>, String> {
        let _resolver = self
            .resolver()
            .ok_or_else(|| "secret resolver unavailable".to_owned())?;
        let kind = match config {
            PluginConfig::Oidc(_) => "oidc",
            PluginConfig::ClientCredentials(_) => "oAuthClientCredentials",
        };
        Err(format!(
            "middleware {middleware_name}: plugin {kind} is not available in this build"
        ))
    }
}
