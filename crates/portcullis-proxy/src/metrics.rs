//! Prometheus metrics: requests by router, service, method and status; request latency; open
//! connections per entry point. One explicit registry, no global state.
//!
//! Every label comes from a bounded set, so no client can make the gateway create series (each
//! one is kept for the life of the process and exported on every scrape): methods are one of the
//! nine standard ones or `OTHER` ([`method_label`]); status codes are three-digit numbers; router,
//! service and entry point names come from configuration.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use http::Method;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub router: String,
    pub service: String,
    /// One of [`METHOD_LABELS`].
    pub method: &'static str,
    pub code: u16,
}

/// The values the `method` label takes.
pub const METHOD_LABELS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "OTHER",
];

/// The `method` label of a request: its method when standard (RFC 9110 section 9 and PATCH),
/// otherwise `OTHER`. Extension methods are valid HTTP, but each distinct one would otherwise be
/// a new series.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub router: String,
    pub service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EntryPointLabels {
    pub entrypoint: String,
}

/// Labels of the authentication metrics: the middleware's name (from configuration) and one
/// value from a fixed set (a result, a reason, an endpoint or an operation).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthLabels {
    pub middleware: String,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MiddlewareLabels {
    pub middleware: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderCallLabels {
    pub middleware: String,
    /// `discovery`, `jwks` or `token`.
    pub endpoint: &'static str,
    /// `success`, `error` (an error status or an unusable answer) or `unreachable` (no answer,
    /// or a timeout).
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderEndpointLabels {
    pub middleware: String,
    pub endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub middleware: String,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub middleware: String,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub middleware: String,
    /// `load`, `save` or `delete`.
    pub operation: &'static str,
}

/// The authentication middlewares' metrics (logins, refreshes, provider calls, token cache,
/// session store, back-channel logouts). Cheap to clone: every clone records into the same
/// series. Label values other than the middleware name are `&'static str` from fixed sets.
#[derive(Clone, Debug)]
pub struct AuthMetrics {
    pub logins_started: Family<MiddlewareLabels, Counter>,
    pub logins_completed: Family<MiddlewareLabels, Counter>,
    pub logins_failed: Family<ReasonLabels, Counter>,
    pub refreshes: Family<ResultLabels, Counter>,
    pub provider_requests: Family<ProviderCallLabels, Counter>,
    pub provider_durations: Family<ProviderEndpointLabels, Histogram, fn() -> Histogram>,
    pub token_cache: Family<ResultLabels, Counter>,
    pub store_durations: Family<OperationLabels, Histogram, fn() -> Histogram>,
    pub store_errors: Family<OperationLabels, Counter>,
    pub backchannel_logouts: Family<ResultLabels, Counter>,
}

/// Unregistered metrics (a middleware built outside a running gateway, tests): recorded but
/// exported nowhere.
impl Default for AuthMetrics {
    fn default() -> Self {
        Self {
            logins_started: Family::default(),
            logins_completed: Family::default(),
            logins_failed: Family::default(),
            refreshes: Family::default(),
            provider_requests: Family::default(),
            provider_durations: Family::new_with_constructor(latency_histogram),
            token_cache: Family::default(),
            store_durations: Family::new_with_constructor(latency_histogram),
            store_errors: Family::default(),
            backchannel_logouts: Family::default(),
        }
    }
}

impl AuthMetrics {
    fn register(&self, registry: &mut Registry) {
        let auth = registry.sub_registry_with_prefix("auth");
        auth.register(
            "logins_started",
            "Logins started (redirects to the provider)",
            self.logins_started.clone(),
        );
        auth.register(
            "logins_completed",
            "Logins completed (a session was created at the callback)",
            self.logins_completed.clone(),
        );
        auth.register(
            "logins_failed",
            "Logins that failed at the callback, by reason",
            self.logins_failed.clone(),
        );
        auth.register(
            "refreshes",
            "Token refreshes, by result (success, refused, provider_error, timeout, store_error)",
            self.refreshes.clone(),
        );
        auth.register(
            "provider_requests",
            "Calls to the provider, by endpoint and result",
            self.provider_requests.clone(),
        );
        auth.register(
            "provider_request_duration_seconds",
            "Time of calls to the provider, retries included, by endpoint",
            self.provider_durations.clone(),
        );
        auth.register(
            "token_cache",
            "Client credentials token cache lookups, by result (hit, miss)",
            self.token_cache.clone(),
        );
        auth.register(
            "session_store_duration_seconds",
            "Time of session store operations, by operation",
            self.store_durations.clone(),
        );
        auth.register(
            "session_store_errors",
            "Failed session store operations, by operation",
            self.store_errors.clone(),
        );
        auth.register(
            "backchannel_logouts",
            "Back-channel logout requests, by result (accepted, refused)",
            self.backchannel_logouts.clone(),
        );
    }

    fn middleware(name: &str) -> MiddlewareLabels {
        MiddlewareLabels {
            middleware: name.to_owned(),
        }
    }

    pub fn login_started(&self, middleware: &str) {
        self.logins_started
            .get_or_create(&Self::middleware(middleware))
            .inc();
    }

    pub fn login_completed(&self, middleware: &str) {
        self.logins_completed
            .get_or_create(&Self::middleware(middleware))
            .inc();
    }

    pub fn login_failed(&self, middleware: &str, reason: &'static str) {
        self.logins_failed
            .get_or_create(&ReasonLabels {
                middleware: middleware.to_owned(),
                reason,
            })
            .inc();
    }

    pub fn refresh(&self, middleware: &str, result: &'static str) {
        self.refreshes
            .get_or_create(&ResultLabels {
                middleware: middleware.to_owned(),
                result,
            })
            .inc();
    }

    pub fn provider_call(
        &self,
        middleware: &str,
        endpoint: &'static str,
        result: &'static str,
        seconds: f64,
    ) {
        self.provider_requests
            .get_or_create(&ProviderCallLabels {
                middleware: middleware.to_owned(),
                endpoint,
                result,
            })
            .inc();
        self.provider_durations
            .get_or_create(&ProviderEndpointLabels {
                middleware: middleware.to_owned(),
                endpoint,
            })
            .observe(seconds);
    }

    pub fn token_cache(&self, middleware: &str, hit: bool) {
        self.token_cache
            .get_or_create(&ResultLabels {
                middleware: middleware.to_owned(),
                result: if hit { "hit" } else { "miss" },
            })
            .inc();
    }

    pub fn store_operation(
        &self,
        middleware: &str,
        operation: &'static str,
        ok: bool,
        seconds: f64,
    ) {
        let labels = OperationLabels {
            middleware: middleware.to_owned(),
            operation,
        };
        self.store_durations.get_or_create(&labels).observe(seconds);
        if !ok {
            self.store_errors.get_or_create(&labels).inc();
        }
    }

    pub fn backchannel_logout(&self, middleware: &str, accepted: bool) {
        self.backchannel_logouts
            .get_or_create(&ResultLabels {
                middleware: middleware.to_owned(),
                result: if accepted { "accepted" } else { "refused" },
            })
            .inc();
    }
}

/// Every metric the proxy records.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub durations: Family<RouteLabels, RouteHistogram, fn() -> RouteHistogram>,
    pub open_connections: Family<EntryPointLabels, Gauge<i64, AtomicI64>>,
    /// The authentication middlewares' metrics, handed to them when they are built.
    pub auth: AuthMetrics,
}

/// Upper bounds of the latency histograms' buckets, in seconds (the `+Inf` bucket follows).
const LATENCY_BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BOUNDS)
}

/// The request latency histogram of one route, recorded on every request.
///
/// prometheus-client's `Histogram` takes a mutex per observation, one shared by every worker
/// thread serving the route: under load the threads queue on it. Here an observation is two
/// atomic additions (its bucket and the sum, kept in nanoseconds); the count is the buckets'
/// total, read when the metrics are scraped. The exposition is the same as `Histogram`'s.
#[derive(Debug, Clone, Default)]
pub struct RouteHistogram {
    inner: Arc<RouteHistogramInner>,
}

#[derive(Debug, Default)]
struct RouteHistogramInner {
    /// One counter per bound of [`LATENCY_BOUNDS`], then the `+Inf` bucket (not cumulative).
    buckets: [AtomicU64; LATENCY_BOUNDS.len() + 1],
    sum_nanos: AtomicU64,
}

impl RouteHistogram {
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BOUNDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BOUNDS.len());
        if let Some(counter) = self.inner.buckets.get(bucket) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.inner.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl TypedMetric for RouteHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for RouteHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let mut buckets = [(0.0, 0u64); LATENCY_BOUNDS.len() + 1];
        let mut count = 0u64;
        for (i, (slot, counter)) in buckets.iter_mut().zip(&self.inner.buckets).enumerate() {
            let value = counter.load(Ordering::Relaxed);
            *slot = (
                LATENCY_BOUNDS.get(i).copied().unwrap_or(f64::INFINITY),
                value,
            );
            count += value;
        }
        let sum = self.inner.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("portcullis");
        let requests = Family::<RequestLabels, Counter>::default();
        let durations =
            Family::<RouteLabels, RouteHistogram, fn() -> RouteHistogram>::new_with_constructor(
                RouteHistogram::default,
            );
        let open_connections = Family::<EntryPointLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "requests",
            "Requests handled, by router, service, method and status code",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from request head to response head",
            durations.clone(),
        );
        registry.register(
            "open_connections",
            "Client connections currently open",
            open_connections.clone(),
        );
        let auth = AuthMetrics::default();
        auth.register(&mut registry);
        Self {
            registry,
            requests,
            durations,
            open_connections,
            auth,
        }
    }

    /// The registry, for other components to register their metrics in.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            tracing::error!("cannot encode metrics");
        }
        text
    }
}

/// Per-route cache of metric handles: the label sets are built once per route, so recording a
/// request allocates nothing after the first request of each method and status.
pub struct RouteStats {
    labels: RouteLabels,
    histogram: OnceLock<RouteHistogram>,
    /// The counter of the first method and status recorded (nearly every request of a route
    /// has the same), read without a lock.
    first: OnceLock<((&'static str, u16), Counter)>,
    counters: RwLock<HashMap<(&'static str, u16), Counter>>,
}

impl RouteStats {
    pub fn new(router: &str, service: &str) -> Self {
        Self {
            labels: RouteLabels {
                router: router.to_owned(),
                service: service.to_owned(),
            },
            histogram: OnceLock::new(),
            first: OnceLock::new(),
            counters: RwLock::new(HashMap::new()),
        }
    }

    /// Records one request of this route.
    pub fn record(&self, metrics: &Metrics, method: &Method, status: u16, elapsed: Duration) {
        self.histogram
            .get_or_init(|| metrics.durations.get_or_create(&self.labels).clone())
            .observe(elapsed);
        let key = (method_label(method), status);
        let counter = |key: (&'static str, u16)| {
            metrics
                .requests
                .get_or_create(&RequestLabels {
                    router: self.labels.router.clone(),
                    service: self.labels.service.clone(),
                    method: key.0,
                    code: key.1,
                })
                .clone()
        };
        let (first_key, first) = self.first.get_or_init(|| (key, counter(key)));
        if *first_key == key {
            first.inc();
            return;
        }
        if let Ok(counters) = self.counters.read()
            && let Some(counter) = counters.get(&key)
        {
            counter.inc();
            return;
        }
        let counter = counter(key);
        counter.inc();
        if let Ok(mut counters) = self.counters.write() {
            counters.insert(key, counter);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_labels_are_the_standard_methods_or_other() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let odd = Method::from_bytes(b"PROPFIND").unwrap();
        assert_eq!(method_label(&odd), "OTHER");
        let lower = Method::from_bytes(b"get").unwrap();
        assert_eq!(method_label(&lower), "OTHER");
        for m in [
            "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
        ] {
            let method = Method::from_bytes(m.as_bytes()).unwrap();
            assert!(METHOD_LABELS.contains(&method_label(&method)));
            assert_eq!(method_label(&method), m);
        }
    }

    #[test]
    fn route_histograms_read_as_prometheus_client_histograms() {
        let observations = [0.0001, 0.0005, 0.003, 0.003, 0.7, 12.0, 0.04];
        let mut ours = Registry::default();
        let mut theirs = Registry::default();
        let route = RouteHistogram::default();
        let reference = latency_histogram();
        for seconds in observations {
            route.observe(Duration::from_secs_f64(seconds));
            reference.observe(seconds);
        }
        ours.register("latency", "Latency", route);
        theirs.register("latency", "Latency", reference);
        let mut ours_text = String::new();
        let mut theirs_text = String::new();
        prometheus_client::encoding::text::encode(&mut ours_text, &ours).unwrap();
        prometheus_client::encoding::text::encode(&mut theirs_text, &theirs).unwrap();
        let without_sum = |text: &str| {
            text.lines()
                .filter(|line| !line.starts_with("latency_sum"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(without_sum(&ours_text), without_sum(&theirs_text));
        assert!(ours_text.contains("latency_count 7"), "{ours_text}");
        assert!(
            ours_text.contains("latency_bucket{le=\"0.0005\"} 2"),
            "{ours_text}"
        );
        assert!(
            ours_text.contains("latency_bucket{le=\"+Inf\"} 7"),
            "{ours_text}"
        );
        let sum: f64 = ours_text
            .lines()
            .find_map(|line| line.strip_prefix("latency_sum "))
            .and_then(|value| value.parse().ok())
            .unwrap();
        assert!(
            (sum - observations.iter().sum::<f64>()).abs() < 1e-6,
            "{sum}"
        );
    }

    #[test]
    fn a_route_counts_requests_by_method_and_status() {
        let metrics = Metrics::new();
        let stats = RouteStats::new("app", "whoami");
        for (method, status) in [
            (Method::GET, 200),
            (Method::GET, 200),
            (Method::POST, 200),
            (Method::GET, 404),
            (Method::POST, 200),
        ] {
            stats.record(&metrics, &method, status, Duration::from_millis(2));
        }
        let text = metrics.encode();
        for (method, code, count) in [("GET", 200, 2), ("POST", 200, 2), ("GET", 404, 1)] {
            let line = format!(
                "portcullis_requests_total{{router=\"app\",service=\"whoami\",method=\"{method}\",code=\"{code}\"}} {count}"
            );
            assert!(text.contains(&line), "{line} in {text}");
        }
        assert!(
            text.contains(
                "portcullis_request_duration_seconds_count{router=\"app\",service=\"whoami\"} 5"
            ),
            "{text}"
        );
    }

    #[test]
    fn recorded_values_are_exposed() {
        let metrics = Metrics::new();
        metrics
            .requests
            .get_or_create(&RequestLabels {
                router: "app".into(),
                service: "whoami".into(),
                method: "GET",
                code: 200,
            })
            .inc();
        metrics
            .durations
            .get_or_create(&RouteLabels {
                router: "app".into(),
                service: "whoami".into(),
            })
            .observe(Duration::from_millis(3));
        metrics
            .open_connections
            .get_or_create(&EntryPointLabels {
                entrypoint: "web".into(),
            })
            .inc();
        let text = metrics.encode();
        assert!(text.contains(
            "portcullis_requests_total{router=\"app\",service=\"whoami\",method=\"GET\",code=\"200\"} 1"
        ), "{text}");
        assert!(
            text.contains(
                "portcullis_request_duration_seconds_count{router=\"app\",service=\"whoami\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("portcullis_open_connections{entrypoint=\"web\"} 1"),
            "{text}"
        );
    }
}
