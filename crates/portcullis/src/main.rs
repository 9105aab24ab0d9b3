//! The `portcullis` command: run the gateway, check a configuration.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use portcullis::app::{self, Source};
use portcullis::{config_lint, online_check, telemetry};

// jemalloc: a keep-alive connection that is serving holds hyper's 8 KB read and write buffers,
// mostly unwritten; jemalloc leaves their untouched pages unbacked where glibc's allocator hands
// out pages dirtied by earlier requests. Its background thread gives the memory of connections
// that go idle (and are parked) back to the system within about a second
// (`.cargo/config.toml`), even when nothing is allocated afterwards.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "An authenticating API gateway: OpenID Connect login and OAuth 2.0 client credentials in front of any service",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// Configuration file (YAML): the gateway's for `run` and `check`, the development
    /// provider's (clients, users) for `devidp`.
    #[arg(long, short = 'c', value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Log level: trace, debug, info, warn or error (default: the file's log.level, else info).
    #[arg(long, value_name = "LEVEL", global = true)]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default when no command is given).
    Run,
    /// Validate a configuration file and print every error with its path; exit 1 on any.
    ///
    /// Besides validation, every secret is resolved, every middleware built, and each OIDC
    /// middleware's redirectUrl, loginUrl, logoutUrl and backchannelLogoutUrl must be matched by
    /// a router that uses it. Warnings (an issuer ending with '/', rules that cannot be
    /// decided) are printed and do not fail the check.
    Check {
        /// Also ask each provider: discovery and its issuer, the JWKS, and the client
        /// credentials at the token endpoint; one line per authentication middleware.
        #[arg(long)]
        online: bool,
    },
    #[cfg(feature = "devidp")]
    /// Run the demo: a development OpenID Provider, a whoami upstream and the gateway with OIDC
    /// login on `/` and client credentials on `/api`, all on loopback.
    Demo {
        /// Address of the gateway.
        #[arg(long, default_value = "127.0.0.1:8080")]
        address: std::net::SocketAddr,
    },
    #[cfg(feature = "devidp")]
    /// Run the development OpenID Provider (for demos and tests; not for production).
    ///
    /// A small OpenID Provider: discovery, JWKS, authorization code with PKCE, refresh,
    /// client credentials, userinfo, RP-initiated and back-channel logout. Users sign in by
    /// picking a name. Without --config it serves the demo's clients and users (alice, bob) for a
    /// gateway on http://127.0.0.1:8080; with --config FILE it reads its issuer, clients, users
    /// and token lifetimes from that YAML file (see docs/devidp.md).
    Devidp {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9000")]
        address: std::net::SocketAddr,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run) {
        Command::Check { online } => check(cli.config.as_deref(), online),
        Command::Run => run(cli.config.as_deref(), cli.log_level.as_deref()),
        #[cfg(feature = "devidp")]
        Command::Demo { address } => demo(address, cli.log_level.as_deref()),
        #[cfg(feature = "devidp")]
        Command::Devidp { address } => {
            devidp(cli.config.as_deref(), address, cli.log_level.as_deref())
        }
    }
}

#[cfg(feature = "devidp")]
fn demo(address: std::net::SocketAddr, log_level: Option<&str>) -> ExitCode {
    telemetry::init(log_level.or(Some("info")), false);
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    else {
        eprintln!("cannot start the async runtime");
        return ExitCode::from(1);
    };
    let result = runtime.block_on(async {
        let demo = portcullis::demo::start(address).await?;
        let url = &demo.gateway_url;
        println!();
        println!("  Portcullis demo is running.");
        println!();
        println!(
            "  Open {url}/ in a browser and sign in as \"alice\" (grp admin) or \"bob\" (grp user);"
        );
        println!(
            "  the page shows the headers the upstream received (X-Forwarded-User, X-Group, ...)."
        );
        println!("  Log out at {url}/logout.");
        println!();
        println!("  Client credentials: curl -u svc:svc-secret {url}/api/");
        println!();
        println!(
            "  Development OpenID Provider (not for production): {}",
            demo.issuer
        );
        println!("  Press Ctrl-C to stop.");
        println!();
        wait_for_signal().await;
        demo.shutdown().await;
        anyhow::Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

#[cfg(feature = "devidp")]
fn devidp(
    config: Option<&Path>,
    address: std::net::SocketAddr,
    log_level: Option<&str>,
) -> ExitCode {
    telemetry::init(log_level, false);
    let config = match config {
        Some(path) => match portcullis_devidp::DevIdpConfig::from_yaml_file(path) {
            Ok(config) => config,
            Err(error) => {
                eprintln!("{}: {error}", path.display());
                return ExitCode::from(1);
            }
        },
        None => portcullis_devidp::DevIdpConfig::demo(address, "http://127.0.0.1:8080"),
    };
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    else {
        eprintln!("cannot start the async runtime");
        return ExitCode::from(1);
    };
    eprintln!("development OpenID Provider on http://{address} (not for production)");
    match runtime.block_on(portcullis_devidp::serve(config, address, wait_for_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
    }
}

fn check(config: Option<&Path>, online: bool) -> ExitCode {
    let Some(path) = config else {
        eprintln!("error: --config FILE is required");
        return ExitCode::from(2);
    };
    let config = match portcullis_config::load(path) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!(
                "{}: {}:\n{}",
                path.display(),
                count(errors.len(), "error"),
                app::format_errors(&errors)
            );
            return ExitCode::from(1);
        }
    };
    let findings = config_lint::lint(&config);
    let mut errors = findings.errors;
    // Secret references and middleware construction are checked too (no network).
    let notes = app::check_buildable(&config).unwrap_or_else(|build_errors| {
        errors.extend(build_errors);
        Vec::new()
    });
    let mut failed = !errors.is_empty();
    if failed {
        eprintln!(
            "{}: {}:\n  {}",
            path.display(),
            count(errors.len(), "error"),
            errors.join("\n  ")
        );
        for warning in &findings.warnings {
            eprintln!("  warning: {warning}");
        }
    } else {
        println!(
            "{}: OK ({} entry points, {} routers, {} services, {} middlewares)",
            path.display(),
            config.static_config.entry_points.len(),
            config.dynamic.routers.len(),
            config.dynamic.services.len(),
            config.dynamic.middlewares.len()
        );
        for warning in &findings.warnings {
            println!("  warning: {warning}");
        }
        for note in notes {
            println!("  {note}");
        }
        if config.static_config.kubernetes.is_some() {
            println!(
                "  routes and middlewares from Kubernetes are checked when they arrive; broken ones are reported as Events"
            );
        }
    }
    if online {
        match check_online(&config) {
            Ok(reports) => {
                for report in reports {
                    failed |= report.level() == online_check::Level::Error;
                    println!("{report}");
                }
            }
            Err(error) => {
                eprintln!("error: {error:#}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs the online checks of every authentication middleware.
fn check_online(config: &portcullis_config::Config) -> anyhow::Result<Vec<online_check::Report>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let secrets = app::resolver_for(config)?;
    Ok(runtime.block_on(online_check::run(config, secrets.as_ref())))
}

/// "1 error", "2 errors".
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn run(config: Option<&Path>, log_level: Option<&str>) -> ExitCode {
    let Some(path) = config else {
        eprintln!("error: --config FILE is required (or try `portcullis --help`)");
        return ExitCode::from(2);
    };
    let loaded = portcullis_config::load(path);
    let file_level = loaded
        .as_ref()
        .ok()
        .and_then(|c| c.static_config.log_level.clone());
    let json = loaded.as_ref().is_ok_and(|c| c.static_config.log_json);
    telemetry::init(log_level.or(file_level.as_deref()), json);
    let config = match loaded {
        Ok(config) => config,
        Err(errors) => {
            eprintln!(
                "{}: invalid configuration:\n{}",
                path.display(),
                app::format_errors(&errors)
            );
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        let running = app::start(config, Source::File(path.to_path_buf())).await?;
        serve_until_stopped(&running).await;
        tracing::info!("shutting down: draining in-flight requests");
        running.shutdown().await;
        tracing::info!("stopped");
        anyhow::Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// Waits for SIGTERM or Ctrl-C; meanwhile each SIGHUP reloads the configuration files (as a
/// change on disk would, but also when the file provider does not watch).
async fn serve_until_stopped(running: &app::Running) {
    let stop = wait_for_signal();
    tokio::pin!(stop);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::hangup()) {
            Ok(mut hangup) => loop {
                tokio::select! {
                    () = &mut stop => return,
                    _ = hangup.recv() => {
                        tracing::info!("SIGHUP received: reloading the configuration");
                        // A rejected reload is logged and keeps the running configuration.
                        let _ = running.reload().await;
                    }
                }
            },
            Err(error) => {
                tracing::warn!(%error, "SIGHUP cannot be handled; reload by editing the files")
            }
        }
    }
    stop.await;
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
