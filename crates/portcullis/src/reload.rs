//! Hot reload: watch the configuration files, re-read and re-validate them, build a new router
//! table off to the side, and swap it in only when everything succeeded. A broken reload logs
//! every error and keeps the running configuration.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::new_debouncer;
use portcullis_config::{Config, MiddlewareConfig, SecretResolver, StaticConfig};
use portcullis_kube::{KubeProvider, KubeSecrets, MiddlewareCheck, ProblemReporter, Settings};
use portcullis_proxy::admin::Readiness;
use portcullis_proxy::gateway::Gateway;
use portcullis_proxy::upstream::UpstreamClient;
use tokio::sync::{Mutex, mpsc, watch};
use tokio::task::JoinHandle;

use crate::app::{Source, build_dynamic, resolver_for};
use crate::plugins::Plugins;

/// The Kubernetes provider and what the reloader needs to use it.
pub struct Kubernetes {
    pub provider: KubeProvider,
    pub reporter: ProblemReporter,
    pub settings: Settings,
    pub throttle: Duration,
}

pub struct Reloader {
    source: Source,
    static_config: StaticConfig,
    gateway: Arc<Gateway>,
    client: UpstreamClient,
    plugins: Arc<Plugins>,
    kubernetes: Option<Kubernetes>,
    // The last valid configuration from the files (the fixed one for `Source::Fixed`); the
    // Kubernetes resources are added to it on every rebuild. The lock also keeps rebuilds one at
    // a time: two overlapping ones could swap in an older table last.
    files: Mutex<Files>,
}

/// A configuration read from the files, and the resolver of its secrets (read with it, so a
/// rebuild for a change in the cluster does not read the Secret manifests again).
struct Files {
    config: Config,
    secrets: Arc<dyn SecretResolver>,
}

impl Reloader {
    pub fn new(
        source: Source,
        config: Config,
        secrets: Arc<dyn SecretResolver>,
        gateway: Arc<Gateway>,
        client: UpstreamClient,
        plugins: Arc<Plugins>,
        kubernetes: Option<Kubernetes>,
    ) -> Self {
        Self {
            source,
            static_config: config.static_config.clone(),
            gateway,
            client,
            plugins,
            kubernetes,
            files: Mutex::new(Files { config, secrets }),
        }
    }

    /// Re-reads the configuration files and swaps the result in when it is valid.
    pub async fn reload(&self) -> Result<(), Vec<String>> {
        let Source::File(path) = &self.source else {
            return Ok(());
        };
        let mut files = self.files.lock().await;
        let path = path.clone();
        let loaded = tokio::task::spawn_blocking(move || portcullis_config::load(&path))
            .await
            .map_err(|e| vec![format!("reload task failed: {e}")])?;
        let config = match loaded {
            Ok(config) => config,
            Err(errors) => {
                let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
                reject(&errors);
                return Err(errors);
            }
        };
        if config.static_config != self.static_config {
            tracing::warn!(
                "the static configuration (entry points, providers, telemetry) changed; restart to apply it"
            );
        }
        let secrets = resolver_for(&config).map_err(|error| {
            let errors = vec![format!("{error:#}")];
            reject(&errors);
            errors
        })?;
        let loaded = Files { config, secrets };
        self.apply(&loaded).inspect_err(|errors| reject(errors))?;
        *files = loaded;
        Ok(())
    }

    /// Rebuilds from the last valid files and the Kubernetes resources as they are now.
    async fn rebuild(&self) -> Result<(), Vec<String>> {
        let files = self.files.lock().await;
        self.apply(&files).inspect_err(|errors| reject(errors))
    }

    /// Builds the router table for `files` plus the Kubernetes resources, off to the side, and
    /// swaps it in when everything built.
    fn apply(&self, files: &Files) -> Result<(), Vec<String>> {
        let config = &files.config;
        let local = files.secrets.clone();
        let resolver: Arc<dyn SecretResolver> = match &self.kubernetes {
            Some(kube) => Arc::new(KubeSecrets::new(kube.provider.secrets(), local)),
            None => local,
        };
        self.plugins.set_resolver(resolver);
        let mut dynamic = config.dynamic.clone();
        if let Some(kube) = &self.kubernetes {
            let translation = portcullis_kube::translate(
                &kube.provider.snapshot(),
                &kube.settings,
                &Check(&self.plugins),
            );
            kube.reporter.report(&translation.problems);
            for clash in dynamic.merge(translation.dynamic) {
                tracing::warn!(
                    "http.{clash} is defined both in the files and by Kubernetes; the files win"
                );
            }
        }
        let runtime = build_dynamic(&dynamic, &config.static_config, &self.client, &self.plugins)?;
        self.gateway.swap_runtime(runtime);
        self.plugins.retain(&dynamic);
        tracing::info!(routers = dynamic.routers.len(), "configuration applied");
        Ok(())
    }

    /// Follows the Kubernetes resources: waits for the first complete sync, applies it, marks
    /// the gateway ready, then rebuilds after each burst of changes.
    pub fn watch_kubernetes(
        self: Arc<Self>,
        readiness: Arc<Readiness>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Option<JoinHandle<()>> {
        let kube = self.kubernetes.as_ref()?;
        let mut changes = kube.provider.changes();
        let throttle = kube.throttle;
        Some(tokio::spawn(async move {
            let Some(kube) = self.kubernetes.as_ref() else {
                return;
            };
            tokio::select! {
                () = kube.provider.wait_synced() => {}
                _ = portcullis_proxy::stopped(&mut shutdown) => return,
            }
            tracing::info!("Kubernetes resources synced");
            loop {
                changes.borrow_and_update();
                if self.rebuild().await.is_ok() {
                    readiness.set(true);
                }
                tokio::select! {
                    changed = changes.changed() => if changed.is_err() { break },
                    _ = portcullis_proxy::stopped(&mut shutdown) => break,
                }
                // Changes come in bursts (a rollout, a re-list); apply them together.
                tokio::select! {
                    () = tokio::time::sleep(throttle) => {}
                    _ = portcullis_proxy::stopped(&mut shutdown) => break,
                }
            }
        }))
    }

    /// Starts watching the files when the file provider asks for it.
    pub fn watch(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
        let Source::File(main) = &self.source else {
            return None;
        };
        let provider = self.static_config.file_provider.as_ref()?;
        if !provider.watch() {
            return None;
        }
        // Editors and Kubernetes replace files by renaming, so watch the directories.
        let mut dirs: Vec<PathBuf> = vec![directory_of(main)];
        let provider_path = provider.path().to_path_buf();
        dirs.push(if provider_path.is_dir() {
            provider_path
        } else {
            directory_of(&provider_path)
        });
        dirs.dedup();
        let (tx, mut rx) = mpsc::channel::<()>(1);
        // The debouncer is not `Send`: it lives on its own thread until the gateway stops.
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let watched = dirs.clone();
        std::thread::spawn(move || {
            let debouncer = new_debouncer(Duration::from_millis(150), None, move |result| {
                if let Ok(events) = result {
                    let events: Vec<notify_debouncer_full::DebouncedEvent> = events;
                    if !events.is_empty() {
                        let _ = tx.try_send(());
                    }
                }
            });
            let mut debouncer = match debouncer {
                Ok(d) => d,
                Err(error) => {
                    tracing::error!(%error, "cannot watch the configuration files; hot reload is off");
                    return;
                }
            };
            for dir in &watched {
                if let Err(error) = debouncer.watch(dir, RecursiveMode::NonRecursive) {
                    tracing::error!(%error, dir = %dir.display(), "cannot watch directory; hot reload is off for it");
                }
            }
            let _ = stop_rx.recv();
        });
        tracing::info!(dirs = ?dirs, "watching configuration for changes");
        Some(tokio::spawn(async move {
            loop {
                tokio::select! {
                    changed = rx.recv() => {
                        if changed.is_none() { break; }
                        let _ = self.reload().await;
                    }
                    _ = portcullis_proxy::stopped(&mut shutdown) => break,
                }
            }
            let _ = stop_tx.send(());
        }))
    }
}

/// Builds Kubernetes middlewares through the same registry as the router table, so the
/// instance checked here is the one the table reuses.
struct Check<'a>(&'a Plugins);

impl MiddlewareCheck for Check<'_> {
    fn check(&self, name: &str, config: &MiddlewareConfig, namespace: &str) -> Result<(), String> {
        match config {
            MiddlewareConfig::Plugin(plugin) => {
                use portcullis_proxy::runtime::PluginBuilder;
                self.0.build(name, plugin, Some(namespace)).map(|_| ())
            }
            builtin => portcullis_proxy::builtin::build(builtin).map(|_| ()),
        }
    }
}

fn directory_of(path: &std::path::Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn reject(errors: &[String]) {
    for error in errors {
        tracing::error!("{error}");
    }
    tracing::error!(
        count = errors.len(),
        "configuration reload rejected; the running configuration stays in place"
    );
}
