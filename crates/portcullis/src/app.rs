//! Starting and stopping a gateway: listeners, router table, telemetry listeners, hot reload.
//! The binary and the end-to-end tests both go through [`start`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use portcullis_config::{
    Config, ConfigError, DynamicConfig, LocalResolver, SecretResolver, StaticConfig,
};
use portcullis_proxy::access_log::AccessLog;
use portcullis_proxy::admin::{AdminRoutes, Readiness, serve_admin};
use portcullis_proxy::error_page::ErrorPages;
use portcullis_proxy::gateway::Gateway;
use portcullis_proxy::metrics::Metrics;
use portcullis_proxy::runtime::{Runtime, build_runtime};
use portcullis_proxy::server::EntryPointServer;
use portcullis_proxy::upstream::UpstreamClient;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::kubernetes::Kubernetes;
use crate::plugins::Plugins;
use crate::reload;
use crate::reload_metrics::ReloadMetrics;

/// A running gateway.
pub struct Running {
    entry_points: HashMap<String, SocketAddr>,
    ping: Option<SocketAddr>,
    metrics: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    readiness: Arc<Readiness>,
    reloader: Arc<reload::Reloader>,
}

impl Running {
    /// The bound address of an entry point (useful with port 0).
    pub fn entry_point(&self, name: &str) -> Option<SocketAddr> {
        self.entry_points.get(name).copied()
    }

    pub fn ping_address(&self) -> Option<SocketAddr> {
        self.ping
    }

    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics
    }

    /// Reloads the dynamic configuration from the files now; an invalid configuration keeps
    /// the running one. Returns the errors that prevented the reload, if any.
    pub async fn reload(&self) -> Result<(), Vec<String>> {
        self.reloader.reload().await
    }

    /// Stops accepting, lets in-flight requests finish (up to each entry point's grace
    /// period), and returns when everything has stopped.
    pub async fn shutdown(self) {
        self.readiness.set(false);
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Where the configuration came from, for reloads.
#[derive(Debug, Clone)]
pub enum Source {
    /// A main file (and its file provider), re-read on reload.
    File(PathBuf),
    /// A fixed configuration (tests, the demo); reload re-validates nothing.
    Fixed,
}

/// The secret resolver for a configuration: Secret manifests from `secrets.directory` plus
/// inline, `env:` and `file:` references.
pub fn resolver_for(config: &Config) -> anyhow::Result<Arc<dyn SecretResolver>> {
    let resolver = match &config.static_config.secrets_directory {
        Some(dir) => LocalResolver::from_directory(dir)
            .with_context(|| format!("secrets.directory {}", dir.display()))?,
        None => LocalResolver::new(),
    };
    Ok(Arc::new(resolver))
}

/// Builds the router table or returns every error.
pub fn build(
    config: &Config,
    client: &UpstreamClient,
    plugins: &Plugins,
) -> Result<Runtime, Vec<String>> {
    build_dynamic(&config.dynamic, &config.static_config, client, plugins)
}

/// Builds the router table for `dynamic` on the entry points of `static_config`.
pub fn build_dynamic(
    dynamic: &DynamicConfig,
    static_config: &StaticConfig,
    client: &UpstreamClient,
    plugins: &Plugins,
) -> Result<Runtime, Vec<String>> {
    build_runtime(dynamic, &static_config.entry_points, client, plugins)
        .map_err(|errors| errors.iter().map(ToString::to_string).collect())
}

/// Resolves every secret and builds every middleware and service of `config` without starting
/// anything (what `portcullis check` runs after validation).
pub fn check_buildable(config: &Config) -> Result<Vec<String>, Vec<String>> {
    // Needs no runtime: Redis clients are built through `LazyRedis`, which defers them to first
    // use outside one.
    let resolver = resolver_for(config).map_err(|e| vec![format!("{e:#}")])?;
    let plugins = Plugins::new(resolver);
    let client = UpstreamClient::new(&config.static_config.servers_transport)
        .map_err(|e| vec![format!("serversTransport: {e}")])?;
    build(config, &client, &plugins).map(|_| plugins.session_key_notes())
}

/// Runs the configuration lint: logs its warnings and returns its errors, which refuse a
/// start or a reload like validation errors do.
pub fn lint_or_refuse(config: &Config) -> Result<(), Vec<String>> {
    let findings = crate::config_lint::lint(config);
    for warning in &findings.warnings {
        tracing::warn!("{warning}");
    }
    if findings.errors.is_empty() {
        Ok(())
    } else {
        Err(findings.errors)
    }
}

/// Starts a gateway for `config`.
pub async fn start(config: Config, source: Source) -> anyhow::Result<Running> {
    let static_config = config.static_config.clone();
    let client = UpstreamClient::new(&static_config.servers_transport)
        .map_err(|e| anyhow::anyhow!("serversTransport: {e}"))?;
    lint_or_refuse(&config)
        .map_err(|errors| anyhow::anyhow!("invalid configuration:\n  {}", errors.join("\n  ")))?;
    let resolver = resolver_for(&config)?;
    let mut metrics = Metrics::new();
    let plugins = Arc::new(Plugins::with_metrics(
        resolver.clone(),
        metrics.auth.clone(),
    ));
    let runtime = build(&config, &client, &plugins)
        .map_err(|errors| anyhow::anyhow!("invalid configuration:\n  {}", errors.join("\n  ")))?;
    let error_pages = match &static_config.error_pages_directory {
        Some(directory) => ErrorPages::from_directory(directory)
            .with_context(|| format!("errorPages.directory {}", directory.display()))?,
        None => ErrorPages::builtin(),
    };
    let access_log = match &static_config.access_log {
        Some(log) => Some(AccessLog::start(log).context("cannot open the access log")?),
        None => None,
    };
    let reload_metrics = ReloadMetrics::register(metrics.registry_mut());
    // The configuration the gateway starts with counts as the first successful load.
    reload_metrics.success();
    let metrics = Arc::new(metrics);
    let gateway =
        Arc::new(Gateway::new(runtime, access_log, metrics.clone()).with_error_pages(error_pages));
    let (shutdown, shutdown_rx) = watch::channel(false);
    let readiness = Arc::new(Readiness::default());
    let mut tasks = Vec::new();
    let mut entry_points = HashMap::new();
    let mut servers = Vec::new();
    for ep in &static_config.entry_points {
        let server = EntryPointServer::bind(ep).await?;
        let address = server.local_addr()?;
        tracing::info!(entry_point = %ep.name, %address, tls = ep.tls.is_some(), "listening");
        entry_points.insert(ep.name.clone(), address);
        servers.push(server);
    }
    let mut ping = None;
    if let Some(address) = static_config.ping_address {
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("ping: cannot listen on {address}"))?;
        ping = Some(listener.local_addr()?);
        tasks.push(tokio::spawn(serve_admin(
            listener,
            AdminRoutes::Ping(readiness.clone()),
            shutdown_rx.clone(),
        )));
    }
    let mut metrics_address = None;
    if let Some(address) = static_config.metrics_address {
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("metrics: cannot listen on {address}"))?;
        let bound = listener.local_addr()?;
        tracing::info!(address = %bound, "metrics listening");
        metrics_address = Some(bound);
        tasks.push(tokio::spawn(serve_admin(
            listener,
            AdminRoutes::Metrics(metrics),
            shutdown_rx.clone(),
        )));
    }
    for server in servers {
        tasks.push(tokio::spawn(
            server.run(gateway.clone(), shutdown_rx.clone()),
        ));
    }
    let kubernetes = match &static_config.kubernetes {
        Some(settings) => {
            Some(Kubernetes::start(settings, &static_config, resolver.as_ref()).await?)
        }
        None => None,
    };
    let reloader = Arc::new(
        reload::Reloader::new(
            source, config, resolver, gateway, client, plugins, kubernetes,
        )
        .with_metrics(reload_metrics),
    );
    if let Some(task) = reloader.clone().watch(shutdown_rx.clone()) {
        tasks.push(task);
    }
    match reloader
        .clone()
        .watch_kubernetes(readiness.clone(), shutdown_rx.clone())
    {
        // Ready once the first complete view of the cluster is applied.
        Some(task) => tasks.push(task),
        None => readiness.set(true),
    }
    Ok(Running {
        entry_points,
        ping,
        metrics: metrics_address,
        shutdown,
        tasks,
        readiness,
        reloader,
    })
}

/// Formats validation errors one per line.
pub fn format_errors(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(|e| format!("  {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}
