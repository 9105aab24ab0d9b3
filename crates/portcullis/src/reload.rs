//! Hot reload: watch the configuration files, re-read and re-validate them, build a new router
//! table off to the side, and swap it in only when everything succeeded. A broken reload logs
//! every error and keeps the running configuration.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::new_debouncer;
use portcullis_config::{Config, SecretResolver, StaticConfig};
use portcullis_proxy::admin::Readiness;
use portcullis_proxy::gateway::Gateway;
use portcullis_proxy::upstream::UpstreamClient;
use tokio::sync::{Mutex, mpsc, watch};
use tokio::task::JoinHandle;

use crate::app::{Source, build_dynamic, lint_or_refuse, resolver_for};
use crate::config_events::ConfigFiles;
use crate::kubernetes::Kubernetes;
use crate::plugins::Plugins;
use crate::reload_metrics::ReloadMetrics;

pub struct Reloader {
    source: Source,
    static_config: StaticConfig,
    gateway: Arc<Gateway>,
    client: UpstreamClient,
    plugins: Arc<Plugins>,
    kubernetes: Option<Kubernetes>,
    metrics: ReloadMetrics,
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
    /// The text of the files it was read from, to tell a real change from a save of the same
    /// text (inline secrets print as `***`, so the parsed configuration cannot tell).
    fingerprint: Option<u64>,
}

impl Files {
    fn new(config: Config, secrets: Arc<dyn SecretResolver>, fingerprint: Option<u64>) -> Self {
        Self {
            config,
            secrets,
            fingerprint,
        }
    }
}

/// A hash of the text of the main file and of the file provider's files.
fn fingerprint(main: &Path, config: &Config) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    let mut files = vec![main.to_path_buf()];
    if let Some(provider) = &config.static_config.file_provider {
        files.extend(portcullis_config::load::provider_files(provider).unwrap_or_default());
    }
    for file in files {
        file.hash(&mut hasher);
        std::fs::read(&file).unwrap_or_default().hash(&mut hasher);
    }
    hasher.finish()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rebuild {
    Always,
    WhenChanged,
}

/// What a reload after a change on disk did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Applied,
    Unchanged,
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
        let fingerprint = match &source {
            Source::File(main) => Some(fingerprint(main, &config)),
            Source::Fixed => None,
        };
        Self {
            source,
            static_config: config.static_config.clone(),
            gateway,
            client,
            plugins,
            kubernetes,
            metrics: ReloadMetrics::default(),
            files: Mutex::new(Files::new(config, secrets, fingerprint)),
        }
    }

    /// Counts reloads in `metrics` (registered with the gateway's other metrics).
    #[must_use]
    pub fn with_metrics(mut self, metrics: ReloadMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Re-reads the configuration files and swaps the result in when it is valid, even when
    /// nothing changed (SIGHUP, an explicit request: Secret manifests are read again too).
    pub async fn reload(&self) -> Result<(), Vec<String>> {
        self.reload_files(Rebuild::Always).await.map(|_| ())
    }

    /// Re-reads the configuration files after a change on disk; a configuration that parses
    /// to the one running (a comment, the same text saved again) is not rebuilt.
    async fn reload_changed(&self) -> Result<Outcome, Vec<String>> {
        self.reload_files(Rebuild::WhenChanged).await
    }

    async fn reload_files(&self, rebuild: Rebuild) -> Result<Outcome, Vec<String>> {
        let Source::File(path) = &self.source else {
            return Ok(Outcome::Unchanged);
        };
        let mut files = self.files.lock().await;
        let main = path.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            portcullis_config::load(&main).map(|config| {
                let fingerprint = fingerprint(&main, &config);
                (config, fingerprint)
            })
        })
        .await
        .map_err(|e| vec![format!("reload task failed: {e}")]);
        let result = match loaded {
            Ok(Ok((config, fingerprint))) => {
                if rebuild == Rebuild::WhenChanged && Some(fingerprint) == files.fingerprint {
                    tracing::debug!("configuration files unchanged; nothing to apply");
                    return Ok(Outcome::Unchanged);
                }
                self.replace(&mut files, config, fingerprint)
            }
            Ok(Err(errors)) => Err(errors.iter().map(ToString::to_string).collect()),
            Err(errors) => Err(errors),
        };
        match &result {
            Ok(()) => self.metrics.success(),
            Err(errors) => {
                self.metrics.failure();
                reject(path, errors);
            }
        }
        result.map(|()| Outcome::Applied)
    }

    /// Builds and swaps in `config` read from the files; on success it becomes the last valid one.
    fn replace(
        &self,
        files: &mut Files,
        config: Config,
        fingerprint: u64,
    ) -> Result<(), Vec<String>> {
        if config.static_config != self.static_config {
            tracing::warn!(
                "the static configuration (entry points, providers, telemetry) changed; restart to apply it"
            );
        }
        lint_or_refuse(&config)?;
        let secrets = resolver_for(&config).map_err(|error| vec![format!("{error:#}")])?;
        let loaded = Files::new(config, secrets, Some(fingerprint));
        self.apply(&loaded)?;
        *files = loaded;
        Ok(())
    }

    /// Rebuilds from the last valid files and the Kubernetes resources as they are now.
    async fn rebuild(&self) -> Result<(), Vec<String>> {
        let files = self.files.lock().await;
        self.apply(&files).inspect_err(|errors| {
            tracing::error!(
                count = errors.len(),
                "{}; the running configuration stays in place",
                count_errors(errors.len(), "in the Kubernetes resources")
            );
            for error in errors {
                tracing::error!("{error}");
            }
        })
    }

    /// Builds the router table for `files` plus the Kubernetes resources, off to the side, and
    /// swaps it in when everything built.
    fn apply(&self, files: &Files) -> Result<(), Vec<String>> {
        let config = &files.config;
        let local = files.secrets.clone();
        let resolver = match &self.kubernetes {
            Some(kube) => kube.secrets(local),
            None => local,
        };
        self.plugins.set_resolver(resolver);
        let mut dynamic = config.dynamic.clone();
        if let Some(kube) = &self.kubernetes {
            for clash in dynamic.merge(kube.translate(&self.plugins)) {
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
        let mut changes = kube.changes();
        let throttle = kube.throttle();
        Some(tokio::spawn(async move {
            let Some(kube) = self.kubernetes.as_ref() else {
                return;
            };
            tokio::select! {
                () = kube.wait_synced() => {}
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
        let provider_path = provider.path().to_path_buf();
        let files = if provider_path.is_dir() {
            ConfigFiles::new(vec![main.clone()], Some(provider_path))
        } else {
            ConfigFiles::new(vec![main.clone(), provider_path], None)
        };
        // Editors and Kubernetes replace files by renaming, so watch the directories.
        let watched = files.directories();
        let (tx, mut rx) = mpsc::channel::<()>(1);
        // The debouncer is not `Send`: it lives on its own thread until the gateway stops.
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let debouncer = new_debouncer(Duration::from_millis(150), None, move |result| {
                let events: Vec<notify_debouncer_full::DebouncedEvent> = match result {
                    Ok(events) => events,
                    Err(_) => return,
                };
                if events.iter().any(|e| files.concerns(&e.kind, &e.paths)) {
                    let _ = tx.try_send(());
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
            // Said only once the watches are in place: an edit after this line is seen.
            tracing::info!(dirs = ?watched, "watching configuration for changes");
            let _ = stop_rx.recv();
        });
        Some(tokio::spawn(async move {
            loop {
                tokio::select! {
                    changed = rx.recv() => {
                        if changed.is_none() { break; }
                        let _ = self.reload_changed().await;
                    }
                    _ = portcullis_proxy::stopped(&mut shutdown) => break,
                }
            }
            let _ = stop_tx.send(());
        }))
    }
}

/// Logs a rejected reload: how many errors, then each one, naming the main file for the
/// errors that do not name their own.
fn reject(main: &Path, errors: &[String]) {
    tracing::error!(
        count = errors.len(),
        file = %main.display(),
        "configuration reload rejected ({}); the running configuration stays in place",
        count_errors(errors.len(), "")
    );
    for error in errors {
        tracing::error!(file = %main.display(), "{error}");
    }
}

/// "1 error", "2 errors", followed by `context` when given.
fn count_errors(count: usize, context: &str) -> String {
    let noun = if count == 1 { "error" } else { "errors" };
    if context.is_empty() {
        format!("{count} {noun}")
    } else {
        format!("{count} {noun} {context}")
    }
}
