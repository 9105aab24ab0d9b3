//! Metrics of configuration reloads, named as Traefik names them so existing dashboards and
//! alerts keep working: `portcullis_config_reloads_total{result}` and
//! `portcullis_config_last_reload_success_timestamp_seconds`.

use std::sync::atomic::AtomicU64;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// Counts applied and rejected reloads and remembers when the last one succeeded.
#[derive(Clone, Default)]
pub struct ReloadMetrics {
    reloads: Family<ResultLabels, Counter>,
    last_success: Gauge<f64, AtomicU64>,
}

impl ReloadMetrics {
    /// Creates the metrics and registers them in `registry` (prefixed `portcullis_`).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "config_reloads",
            "Configuration reloads, by result (success or failure)",
            metrics.reloads.clone(),
        );
        registry.register(
            "config_last_reload_success_timestamp_seconds",
            "Unix time of the last configuration reload that was applied",
            metrics.last_success.clone(),
        );
        // Both results show from the start, so rate() and alerts work before the first reload.
        let _ = metrics.reloads.get_or_create(&SUCCESS);
        let _ = metrics.reloads.get_or_create(&FAILURE);
        metrics
    }

    /// Records a configuration that was applied (the first one at start-up included).
    pub fn success(&self) {
        self.reloads.get_or_create(&SUCCESS).inc();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        self.last_success.set(now);
    }

    /// Records a reload that was rejected (the running configuration stayed).
    pub fn failure(&self) {
        self.reloads.get_or_create(&FAILURE).inc();
    }
}

const SUCCESS: ResultLabels = ResultLabels { result: "success" };
const FAILURE: ResultLabels = ResultLabels { result: "failure" };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_and_timestamp_are_exposed() {
        let mut registry = Registry::with_prefix("portcullis");
        let metrics = ReloadMetrics::register(&mut registry);
        metrics.success();
        metrics.failure();
        metrics.failure();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("portcullis_config_reloads_total{result=\"success\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("portcullis_config_reloads_total{result=\"failure\"} 2"),
            "{text}"
        );
        let stamp = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("portcullis_config_last_reload_success_timestamp_seconds ")
            })
            .unwrap();
        assert!(stamp.parse::<f64>().unwrap() > 1.0e9, "{text}");
    }
}
