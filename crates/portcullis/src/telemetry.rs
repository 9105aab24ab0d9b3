//! Logging setup: `tracing` to standard error, level from `--log-level`, `log.level` or
//! `RUST_LOG`.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `level` wins over `RUST_LOG`; default `info`.
pub fn init(level: Option<&str>, json: bool) {
    let filter = match level {
        Some(level) => EnvFilter::new(level),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let result = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // A second initialisation (tests) keeps the first subscriber.
    let _ = result;
}
