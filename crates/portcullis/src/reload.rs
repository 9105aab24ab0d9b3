//! Hot reload: watch the configuration files, re-read and re-validate them, build a new router
//! table off to the side, and swap it in only when everything succeeded. A broken reload logs
//! every error and keeps the running configuration.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::new_debouncer;
use portcullis_config::StaticConfig;
use portcullis_proxy::gateway::Gateway;
use portcullis_proxy::upstream::UpstreamClient;
use tokio::sync::{Mutex, mpsc, watch};
use tokio::task::JoinHandle;

use crate::app::{Source, build, resolver_for};
use crate::plugins::Plugins;

pub struct Reloader {
    source: Source,
    static_config: StaticConfig,
    gateway: Arc<Gateway>,
    client: UpstreamClient,
    plugins: Arc<Plugins>,
    // One reload at a time: two overlapping reloads could swap in an older table last.
    lock: Mutex<()>,
}

impl Reloader {
    pub fn new(
        source: Source,
        static_config: StaticConfig,
        gateway: Arc<Gateway>,
        client: UpstreamClient,
        plugins: Arc<Plugins>,
    ) -> Self {
        Self {
            source,
            static_config,
            gateway,
            client,
            plugins,
            lock: Mutex::new(()),
        }
    }

    /// Re-reads the configuration and swaps it in when it is valid.
    pub async fn reload(&self) -> Result<(), Vec<String>> {
        let Source::File(path) = &self.source else {
            return Ok(());
        };
        let _guard = self.lock.lock().await;
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
        match resolver_for(&config) {
            Ok(resolver) => self.plugins.set_resolver(resolver),
            Err(error) => {
                let errors = vec![format!("{error:#}")];
                reject(&errors);
                return Err(errors);
            }
        }
        match build(&config, &self.client, &self.plugins) {
            Ok(runtime) => {
                self.gateway.swap_runtime(runtime);
                self.plugins.retain(&config.dynamic);
                tracing::info!(
                    routers = config.dynamic.routers.len(),
                    "configuration reloaded"
                );
                Ok(())
            }
            Err(errors) => {
                reject(&errors);
                Err(errors)
            }
        }
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
