//! Logging setup: `tracing` to standard error, level from `--log-level`, `log.level` or
//! `RUST_LOG`; `log.format: json` writes one JSON object a line. Colours only when standard
//! error is a terminal and `NO_COLOR` is not set, so files and log collectors get plain text.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `level` wins over `RUST_LOG`; default `info`.
pub fn init(level: Option<&str>, json: bool) {
    let filter = match level {
        Some(level) => EnvFilter::new(level),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(use_colours(std::io::stderr().is_terminal(), no_color));
    let result = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder.try_init()
    };
    // A second initialisation (tests) keeps the first subscriber.
    let _ = result;
}

/// Colours only for a person at a terminal who did not ask for none (<https://no-color.org>).
fn use_colours(terminal: bool, no_color: bool) -> bool {
    terminal && !no_color
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(use_colours(true, false));
        assert!(!use_colours(false, false));
        assert!(!use_colours(true, true));
    }
}
