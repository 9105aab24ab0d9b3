//! Portcullis, the authenticating API gateway: wiring of configuration, router table,
//! listeners, hot reload and telemetry. The `portcullis` binary is a thin CLI over this.

pub mod app;
pub mod config_events;
pub mod config_lint;
#[cfg(feature = "devidp")]
pub mod demo;
pub mod kubernetes;
pub mod online_check;
pub mod plugins;
pub mod reload;
pub mod reload_metrics;
pub mod route_coverage;
pub mod telemetry;
#[cfg(feature = "devidp")]
pub mod whoami;
