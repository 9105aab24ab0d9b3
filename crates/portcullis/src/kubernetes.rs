//! The Kubernetes provider as the gateway runs it (`providers.kubernetesCRD`): connect, watch,
//! and on each rebuild translate the watched resources into routers, services and middlewares.
//!
//! The provider is the cargo feature `kubernetes` (on by default). Without it, [`Kubernetes`]
//! has no value and a configuration that asks for the provider is refused at start, so a
//! slim build never runs a configuration it silently ignores part of.

#[cfg(feature = "kubernetes")]
pub use provider::Kubernetes;
#[cfg(not(feature = "kubernetes"))]
pub use unavailable::Kubernetes;

#[cfg(feature = "kubernetes")]
mod provider {
    use std::sync::Arc;
    use std::time::Duration;

    use portcullis_config::{
        DynamicConfig, KubernetesProvider, MiddlewareConfig, MiddlewareError, SecretResolver,
        StaticConfig,
    };
    use portcullis_kube::{KubeProvider, KubeSecrets, MiddlewareCheck, ProblemReporter, Settings};
    use tokio::sync::watch;

    use crate::plugins::Plugins;

    /// The running provider and what a rebuild needs to use it.
    pub struct Kubernetes {
        provider: KubeProvider,
        reporter: ProblemReporter,
        settings: Settings,
        throttle: Duration,
    }

    impl Kubernetes {
        /// Connects to the cluster and starts watching its resources.
        pub async fn start(
            settings: &KubernetesProvider,
            static_config: &StaticConfig,
            secrets: &dyn SecretResolver,
        ) -> anyhow::Result<Self> {
            let client = portcullis_kube::connect(settings, secrets).await?;
            tracing::info!(
                namespaces = ?settings.namespaces,
                label_selector = settings.label_selector.as_deref().unwrap_or(""),
                "watching Kubernetes resources"
            );
            Ok(Self {
                provider: KubeProvider::start(client.clone(), settings),
                reporter: ProblemReporter::new(Some(client)),
                settings: Settings {
                    entry_points: static_config
                        .entry_points
                        .iter()
                        .map(|e| e.name.clone())
                        .collect(),
                    allow_cross_namespace: settings.allow_cross_namespace,
                    ingress_class: settings.ingress_class.clone(),
                },
                throttle: settings.throttle,
            })
        }

        /// `local` with the watched Secrets in front of it (`urn:k8s:secret:` references).
        pub fn secrets(&self, local: Arc<dyn SecretResolver>) -> Arc<dyn SecretResolver> {
            Arc::new(KubeSecrets::new(self.provider.secrets(), local))
        }

        /// The resources as they are now, each middleware built through `plugins` to learn
        /// whether it works; broken resources are reported (log and Event) and left out.
        pub fn translate(&self, plugins: &Plugins) -> DynamicConfig {
            let translation = portcullis_kube::translate(
                &self.provider.snapshot(),
                &self.settings,
                &Check(plugins),
            );
            self.reporter.report(&translation.problems);
            translation.dynamic
        }

        /// Resolves once the first complete view of the watched resources is in.
        pub async fn wait_synced(&self) {
            self.provider.wait_synced().await;
        }

        /// Changes whenever a watched resource does.
        pub fn changes(&self) -> watch::Receiver<u64> {
            self.provider.changes()
        }

        /// How long a burst of changes is gathered before one rebuild.
        pub fn throttle(&self) -> Duration {
            self.throttle
        }
    }

    /// Builds Kubernetes middlewares through the same registry as the router table, so the
    /// instance checked here is the one the table reuses.
    struct Check<'a>(&'a Plugins);

    impl MiddlewareCheck for Check<'_> {
        fn check(
            &self,
            name: &str,
            config: &MiddlewareConfig,
            namespace: &str,
        ) -> Result<(), MiddlewareError> {
            let built = match config {
                MiddlewareConfig::Plugin(plugin) => {
                    use portcullis_proxy::runtime::PluginBuilder;
                    return self.0.build(name, plugin, Some(namespace)).map(|_| ());
                }
                MiddlewareConfig::BasicAuth(auth) => {
                    portcullis_proxy::middlewares::basic_auth::build_for(
                        auth,
                        Some(namespace),
                        self.0,
                    )
                }
                MiddlewareConfig::RateLimit(limit) => {
                    portcullis_proxy::middlewares::rate_limit::build_for(
                        name,
                        limit,
                        Some(namespace),
                        self.0,
                    )
                }
                builtin => portcullis_proxy::builtin::build(builtin),
            };
            built.map(|_| ()).map_err(MiddlewareError::from)
        }
    }
}

#[cfg(not(feature = "kubernetes"))]
mod unavailable {
    use std::sync::Arc;
    use std::time::Duration;

    use portcullis_config::{DynamicConfig, KubernetesProvider, SecretResolver, StaticConfig};
    use tokio::sync::watch;

    use crate::plugins::Plugins;

    /// No provider in this build: there is never a value of this type.
    pub enum Kubernetes {}

    impl Kubernetes {
        pub async fn start(
            _: &KubernetesProvider,
            _: &StaticConfig,
            _: &dyn SecretResolver,
        ) -> anyhow::Result<Self> {
            anyhow::bail!(
                "providers.kubernetesCRD: this portcullis is built without the Kubernetes provider (cargo feature \"kubernetes\")"
            )
        }

        pub fn secrets(&self, _: Arc<dyn SecretResolver>) -> Arc<dyn SecretResolver> {
            match *self {}
        }

        pub fn translate(&self, _: &Plugins) -> DynamicConfig {
            match *self {}
        }

        pub async fn wait_synced(&self) {
            match *self {}
        }

        pub fn changes(&self) -> watch::Receiver<u64> {
            match *self {}
        }

        pub fn throttle(&self) -> Duration {
            match *self {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use portcullis_config::LocalResolver;

    use super::Kubernetes;

    /// Without the provider compiled in, a configuration asking for it is refused; with it,
    /// the same configuration gets as far as looking for a cluster.
    #[tokio::test]
    async fn a_configuration_asking_for_kubernetes_is_refused_or_connects_as_built() {
        let config = portcullis_config::load_str(
            "entryPoints:\n  web: { address: \"127.0.0.1:0\" }\nproviders:\n  kubernetesCRD:\n    \
             endpoint: http://127.0.0.1:1\n    token: t\n",
        )
        .unwrap();
        let settings = config.static_config.kubernetes.as_ref().unwrap();
        let resolver = Arc::new(LocalResolver::new());
        let started = Kubernetes::start(settings, &config.static_config, resolver.as_ref()).await;
        let refused = started.err().is_some_and(|e| {
            e.to_string()
                .contains("built without the Kubernetes provider")
        });
        assert_eq!(refused, cfg!(not(feature = "kubernetes")));
    }
}
