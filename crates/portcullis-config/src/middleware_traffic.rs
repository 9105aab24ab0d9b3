//! Traefik's access and traffic middlewares: `basicAuth`, `ipAllowList`, `rateLimit`,
//! `inFlightReq` and `retry`. Raw types (as written, unknown keys refused), their validation
//! with the path of every error, and the typed result the gateway runs. Option names and
//! defaults are Traefik v3's.

use std::net::IpAddr;
use std::time::Duration;

use http::{HeaderName, StatusCode};
use ipnet::IpNet;
use serde::Deserialize;

use crate::errors::{Errors, Path};
use crate::model::MiddlewareConfig;
use crate::plugin::common::{self, RawRedis, RedisConfig};
use crate::raw::{RawDuration, RawMiddleware};
use crate::validate::parse_duration;

// ---------------------------------------------------------------------------------------------
// Raw types

/// `basicAuth`. `secret` is the Kubernetes Middleware's spelling: the name of a Secret in the
/// Middleware's namespace that holds the users.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawBasicAuth {
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub users_file: Option<String>,
    #[serde(default)]
    pub realm: Option<String>,
    #[serde(default)]
    pub header_field: Option<String>,
    #[serde(default)]
    pub remove_header: bool,
    #[serde(default)]
    pub secret: Option<String>,
}

/// `ipStrategy`: which address a request is taken to come from.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawIpStrategy {
    #[serde(default)]
    pub depth: Option<i64>,
    #[serde(default, rename = "excludedIPs")]
    pub excluded_ips: Vec<String>,
    #[serde(default, rename = "ipv6Subnet")]
    pub ipv6_subnet: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawIpAllowList {
    #[serde(default)]
    pub source_range: Vec<String>,
    #[serde(default)]
    pub ip_strategy: Option<RawIpStrategy>,
    #[serde(default)]
    pub reject_status_code: Option<i64>,
}

/// `ipWhiteList`: Traefik's deprecated name of `ipAllowList`, without `rejectStatusCode`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawIpWhiteList {
    #[serde(default)]
    pub source_range: Vec<String>,
    #[serde(default)]
    pub ip_strategy: Option<RawIpStrategy>,
}

/// `sourceCriterion`: what groups requests into one source. At most one of the three.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSourceCriterion {
    #[serde(default)]
    pub ip_strategy: Option<RawIpStrategy>,
    #[serde(default)]
    pub request_header_name: Option<String>,
    #[serde(default)]
    pub request_host: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRateLimit {
    #[serde(default)]
    pub average: Option<i64>,
    #[serde(default)]
    pub period: Option<RawDuration>,
    #[serde(default)]
    pub burst: Option<i64>,
    #[serde(default)]
    pub source_criterion: Option<RawSourceCriterion>,
    #[serde(default)]
    pub redis: Option<RawRateLimitRedis>,
}

/// `rateLimit.redis`, with Traefik's option names. Pool sizing options are accepted for
/// compatibility; the gateway multiplexes its commands over one connection per node.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRateLimitRedis {
    #[serde(default)]
    pub endpoints: Vec<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// Kubernetes: a Secret with `username` and `password` keys.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub db: Option<i64>,
    #[serde(default)]
    pub pool_size: Option<i64>,
    #[serde(default)]
    pub min_idle_conns: Option<i64>,
    #[serde(default)]
    pub max_active_conns: Option<i64>,
    #[serde(default)]
    pub read_timeout: Option<RawDuration>,
    #[serde(default)]
    pub write_timeout: Option<RawDuration>,
    #[serde(default)]
    pub dial_timeout: Option<RawDuration>,
    #[serde(default)]
    pub tls: Option<RawRateLimitRedisTls>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRateLimitRedisTls {
    #[serde(default)]
    pub ca: Option<String>,
    #[serde(default)]
    pub cert: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    /// Kubernetes: a Secret whose `tls.ca` key holds the CA bundle.
    #[serde(default)]
    pub ca_secret: Option<String>,
    /// Kubernetes: a Secret whose `tls.crt` and `tls.key` keys hold the client certificate.
    #[serde(default)]
    pub cert_secret: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawInFlightReq {
    #[serde(default)]
    pub amount: Option<i64>,
    #[serde(default)]
    pub source_criterion: Option<RawSourceCriterion>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRetry {
    #[serde(default)]
    pub attempts: Option<i64>,
    #[serde(default)]
    pub initial_interval: Option<RawDuration>,
    #[serde(default)]
    pub timeout: Option<RawDuration>,
    #[serde(default)]
    pub max_request_body_bytes: Option<i64>,
    #[serde(default)]
    pub status: Vec<String>,
    #[serde(default)]
    pub disable_retry_on_network_error: bool,
    #[serde(default)]
    pub retry_non_idempotent_method: bool,
}

// ---------------------------------------------------------------------------------------------
// Typed configuration

/// `basicAuth`, validated. The users are read when the middleware is built (`usersFile` from
/// disk, `secret` from Kubernetes), so `portcullis check` reports a missing file too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicAuthConfig {
    /// `name:hash` lines; they take precedence over the file's.
    pub users: Vec<String>,
    pub users_file: Option<std::path::PathBuf>,
    /// Kubernetes Secret name (Kubernetes Middlewares only).
    pub secret: Option<String>,
    pub realm: String,
    /// Request header that carries the user name upstream.
    pub header_field: Option<HeaderName>,
    /// Remove `Authorization` before forwarding.
    pub remove_header: bool,
}

/// How the client address is chosen, as Traefik's `ipStrategy`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IpStrategy {
    /// Take the `depth`-th address from the right of `X-Forwarded-For` (0: not used).
    pub depth: usize,
    /// Else the right-most `X-Forwarded-For` address outside these ranges (empty: not used).
    pub excluded: Vec<IpNet>,
    /// Reduce an IPv6 address to the first address of its subnet of this prefix length.
    pub ipv6_subnet: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpAllowListConfig {
    pub source_range: Vec<IpNet>,
    pub strategy: IpStrategy,
    pub reject_status: StatusCode,
}

/// What groups requests into one source for `rateLimit` and `inFlightReq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceCriterion {
    Ip(IpStrategy),
    RequestHeader(HeaderName),
    RequestHost,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitConfig {
    /// Requests per `period`; 0 means no limit.
    pub average: u64,
    pub period: Duration,
    /// Bucket size, at least 1.
    pub burst: u64,
    pub source: SourceCriterion,
    /// Shared limit across replicas.
    pub redis: Option<Box<RedisConfig>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlightReqConfig {
    /// Simultaneous requests per source; 0 (Traefik's default) lets none through.
    pub amount: u64,
    pub source: SourceCriterion,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    /// Total tries, the first included, as in Traefik.
    pub attempts: u32,
    /// First wait of the exponential backoff; zero retries at once.
    pub initial_interval: Duration,
    /// Time allowed for all tries together (`None`: no limit).
    pub timeout: Option<Duration>,
    /// Largest request body kept for a retry (`None`: no limit); larger bodies are sent once.
    pub max_request_body_bytes: Option<u64>,
    /// Response statuses that are retried too (inclusive ranges).
    pub status: Vec<(u16, u16)>,
    pub retry_on_network_error: bool,
    pub retry_non_idempotent_method: bool,
}

/// Traefik's default `retry.maxRequestBodyBytes`: 2 MiB.
pub const DEFAULT_RETRY_MAX_BODY: u64 = 2 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Validation

/// Names of the middleware types of this module, for the "exactly one type" message.
pub const TRAFFIC_KINDS: &str =
    "basicAuth, ipAllowList (or the deprecated ipWhiteList), rateLimit, inFlightReq, retry";

/// How many of this module's middleware types `raw` sets.
pub fn traffic_kinds_set(raw: &RawMiddleware) -> usize {
    [
        raw.basic_auth.is_some(),
        raw.ip_allow_list.is_some(),
        raw.ip_white_list.is_some(),
        raw.rate_limit.is_some(),
        raw.in_flight_req.is_some(),
        raw.retry.is_some(),
    ]
    .iter()
    .filter(|s| **s)
    .count()
}

/// Validates the middleware of this module that `raw` sets, if any (`None`: not one of ours).
pub fn validate_traffic(
    raw: &RawMiddleware,
    path: &Path,
    errors: &mut Errors,
) -> Option<Option<MiddlewareConfig>> {
    if let Some(basic) = &raw.basic_auth {
        return Some(validate_basic_auth(basic, &path.key("basicAuth"), errors));
    }
    if let Some(allow) = &raw.ip_allow_list {
        return Some(validate_ip_allow_list(
            allow,
            &path.key("ipAllowList"),
            errors,
        ));
    }
    if let Some(white) = &raw.ip_white_list {
        let allow = RawIpAllowList {
            source_range: white.source_range.clone(),
            ip_strategy: white.ip_strategy.as_ref().map(|s| RawIpStrategy {
                depth: s.depth,
                excluded_ips: s.excluded_ips.clone(),
                ipv6_subnet: s.ipv6_subnet,
            }),
            reject_status_code: None,
        };
        return Some(validate_ip_allow_list(
            &allow,
            &path.key("ipWhiteList"),
            errors,
        ));
    }
    if let Some(limit) = &raw.rate_limit {
        return Some(validate_rate_limit(limit, &path.key("rateLimit"), errors));
    }
    if let Some(in_flight) = &raw.in_flight_req {
        return Some(validate_in_flight(
            in_flight,
            &path.key("inFlightReq"),
            errors,
        ));
    }
    if let Some(retry) = &raw.retry {
        return Some(validate_retry(retry, &path.key("retry"), errors));
    }
    None
}

fn validate_basic_auth(
    raw: &RawBasicAuth,
    path: &Path,
    errors: &mut Errors,
) -> Option<MiddlewareConfig> {
    let before = errors.len();
    for (i, line) in raw.users.iter().enumerate() {
        if let Err(message) = check_user_line(line) {
            errors.push(&path.key("users").index(i), message);
        }
    }
    let users_file = raw
        .users_file
        .as_ref()
        .filter(|f| !f.trim().is_empty())
        .map(std::path::PathBuf::from);
    let secret = raw.secret.clone().filter(|s| !s.trim().is_empty());
    if raw.users.is_empty() && users_file.is_none() && secret.is_none() {
        errors.push(path, "set users, usersFile or (in Kubernetes) secret");
    }
    let header_field = match raw.header_field.as_deref() {
        None | Some("") => None,
        Some(name) => match HeaderName::from_bytes(name.as_bytes()) {
            Ok(header) => Some(header),
            Err(_) => {
                errors.push(&path.key("headerField"), "invalid header name");
                None
            }
        },
    };
    let realm = raw
        .realm
        .clone()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "traefik".to_owned());
    if realm.contains('"') || realm.chars().any(char::is_control) {
        errors.push(
            &path.key("realm"),
            "may not contain quotes or control characters",
        );
    }
    (errors.len() == before).then(|| {
        MiddlewareConfig::BasicAuth(BasicAuthConfig {
            users: raw.users.clone(),
            users_file,
            secret,
            realm,
            header_field,
            remove_header: raw.remove_header,
        })
    })
}

/// Checks one `name:hash` htpasswd line: exactly one colon, a name, and a hash in a supported
/// format (bcrypt `$2y$`/`$2a$`/`$2b$`, `{SHA}`, `$apr1$`).
pub fn check_user_line(line: &str) -> Result<(), String> {
    let mut parts = line.split(':');
    let (Some(name), Some(hash), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("expected name:hashed-password".to_owned());
    };
    if name.is_empty() {
        return Err("the user name is empty".to_owned());
    }
    if !["$2y$", "$2a$", "$2b$", "{SHA}", "$apr1$"]
        .iter()
        .any(|prefix| hash.starts_with(prefix))
    {
        return Err(format!(
            "unsupported password hash for user {name:?}; expected bcrypt ($2y$), SHA1 ({{SHA}}) or Apache MD5 ($apr1$), as htpasswd writes them"
        ));
    }
    Ok(())
}

/// Parses an IP address or CIDR range.
fn parse_range(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .map(|net| net.trunc())
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .ok()
}

fn validate_ip_strategy(raw: &RawIpStrategy, path: &Path, errors: &mut Errors) -> IpStrategy {
    let depth = match raw.depth {
        // Traefik ignores a depth of zero or less.
        None => 0,
        Some(d) if d <= 0 => 0,
        Some(d) => usize::try_from(d).unwrap_or(usize::MAX),
    };
    let mut excluded = Vec::new();
    for (i, text) in raw.excluded_ips.iter().enumerate() {
        match parse_range(text) {
            Some(net) => excluded.push(net),
            None => errors.push(
                &path.key("excludedIPs").index(i),
                "must be an IP address or a CIDR range",
            ),
        }
    }
    let ipv6_subnet = match raw.ipv6_subnet {
        None => None,
        Some(bits) if (1..=128).contains(&bits) => u8::try_from(bits).ok(),
        Some(_) => {
            errors.push(&path.key("ipv6Subnet"), "must be between 1 and 128");
            None
        }
    };
    IpStrategy {
        depth,
        excluded,
        ipv6_subnet,
    }
}

fn validate_ip_allow_list(
    raw: &RawIpAllowList,
    path: &Path,
    errors: &mut Errors,
) -> Option<MiddlewareConfig> {
    let before = errors.len();
    if raw.source_range.is_empty() {
        errors.push(&path.key("sourceRange"), "at least one range is required");
    }
    let mut source_range = Vec::new();
    for (i, text) in raw.source_range.iter().enumerate() {
        match parse_range(text) {
            Some(net) => source_range.push(net),
            None => errors.push(
                &path.key("sourceRange").index(i),
                "must be an IP address or a CIDR range",
            ),
        }
    }
    let strategy = raw
        .ip_strategy
        .as_ref()
        .map(|s| validate_ip_strategy(s, &path.key("ipStrategy"), errors))
        .unwrap_or_default();
    let reject_status = match raw.reject_status_code {
        None | Some(0) => StatusCode::FORBIDDEN,
        Some(code) => match u16::try_from(code)
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
        {
            // As Traefik: a code without a standard reason phrase is refused.
            Some(status) if status.canonical_reason().is_some() => status,
            _ => {
                errors.push(
                    &path.key("rejectStatusCode"),
                    "must be a standard HTTP status code such as 403 or 404",
                );
                StatusCode::FORBIDDEN
            }
        },
    };
    (errors.len() == before).then(|| {
        MiddlewareConfig::IpAllowList(IpAllowListConfig {
            source_range,
            strategy,
            reject_status,
        })
    })
}

fn validate_source_criterion(
    raw: Option<&RawSourceCriterion>,
    default: SourceCriterion,
    path: &Path,
    errors: &mut Errors,
) -> SourceCriterion {
    let Some(raw) = raw else { return default };
    let header = raw.request_header_name.as_deref().filter(|h| !h.is_empty());
    let set = usize::from(raw.ip_strategy.is_some())
        + usize::from(header.is_some())
        + usize::from(raw.request_host);
    if set > 1 {
        errors.push(
            path,
            "ipStrategy, requestHeaderName and requestHost are mutually exclusive",
        );
        return default;
    }
    if let Some(strategy) = &raw.ip_strategy {
        return SourceCriterion::Ip(validate_ip_strategy(
            strategy,
            &path.key("ipStrategy"),
            errors,
        ));
    }
    if let Some(name) = header {
        return match HeaderName::from_bytes(name.as_bytes()) {
            Ok(header) => SourceCriterion::RequestHeader(header),
            Err(_) => {
                errors.push(&path.key("requestHeaderName"), "invalid header name");
                default
            }
        };
    }
    if raw.request_host {
        return SourceCriterion::RequestHost;
    }
    default
}

fn non_negative(value: Option<i64>, path: &Path, errors: &mut Errors) -> u64 {
    match value {
        None => 0,
        Some(v) => u64::try_from(v).unwrap_or_else(|_| {
            errors.push(path, "must be 0 or greater");
            0
        }),
    }
}

fn validate_rate_limit(
    raw: &RawRateLimit,
    path: &Path,
    errors: &mut Errors,
) -> Option<MiddlewareConfig> {
    let before = errors.len();
    let average = non_negative(raw.average, &path.key("average"), errors);
    let period = match &raw.period {
        None => Duration::from_secs(1),
        Some(text) => match parse_duration(text) {
            Ok(d) if d.is_zero() => Duration::from_secs(1),
            Ok(d) => d,
            Err(message) => {
                errors.push(&path.key("period"), message);
                Duration::from_secs(1)
            }
        },
    };
    if matches!(raw.period, Some(RawDuration::Seconds(s)) if s < 0.0) {
        errors.push(&path.key("period"), "must be 0 or greater");
    }
    // Traefik takes a burst below 1 as 1.
    let burst = non_negative(raw.burst, &path.key("burst"), errors).max(1);
    let source = validate_source_criterion(
        raw.source_criterion.as_ref(),
        SourceCriterion::Ip(IpStrategy::default()),
        &path.key("sourceCriterion"),
        errors,
    );
    let redis = raw
        .redis
        .as_ref()
        .and_then(|r| validate_rate_limit_redis(r, &path.key("redis"), errors))
        .map(Box::new);
    (errors.len() == before).then(|| {
        MiddlewareConfig::RateLimit(RateLimitConfig {
            average,
            period,
            burst,
            source,
            redis,
        })
    })
}

/// Maps Traefik's `rateLimit.redis` options onto the store's Redis description.
fn validate_rate_limit_redis(
    raw: &RawRateLimitRedis,
    path: &Path,
    errors: &mut Errors,
) -> Option<RedisConfig> {
    for (key, value) in [
        ("poolSize", raw.pool_size),
        ("minIdleConns", raw.min_idle_conns),
        ("maxActiveConns", raw.max_active_conns),
    ] {
        non_negative(value, &path.key(key), errors);
    }
    for (key, value) in [
        ("readTimeout", &raw.read_timeout),
        ("writeTimeout", &raw.write_timeout),
        ("dialTimeout", &raw.dial_timeout),
    ] {
        if let Some(Err(message)) = value.as_ref().map(parse_duration) {
            errors.push(&path.key(key), message);
        }
    }
    let secret_key = |key: &str| {
        raw.secret
            .as_ref()
            .filter(|s| !s.is_empty())
            .map(|s| format!("urn:k8s:secret:{s}:{key}"))
    };
    let tls = raw.tls.as_ref().map(|tls| common::RawRedisTls {
        ca_bundle: tls.ca.as_deref().map(file_reference).or_else(|| {
            tls.ca_secret
                .as_ref()
                .map(|s| format!("urn:k8s:secret:{s}:tls.ca"))
        }),
        cert: tls.cert.as_deref().map(file_reference).or_else(|| {
            tls.cert_secret
                .as_ref()
                .map(|s| format!("urn:k8s:secret:{s}:tls.crt"))
        }),
        key: tls.key.as_deref().map(file_reference).or_else(|| {
            tls.cert_secret
                .as_ref()
                .map(|s| format!("urn:k8s:secret:{s}:tls.key"))
        }),
        insecure_skip_verify: tls.insecure_skip_verify,
    });
    let endpoints = if raw.endpoints.is_empty() {
        vec!["localhost:6379".to_owned()]
    } else {
        raw.endpoints.clone()
    };
    let store = RawRedis {
        endpoints: endpoints.clone(),
        username: raw.username.clone().or_else(|| secret_key("username")),
        password: raw.password.clone().or_else(|| secret_key("password")),
        database: raw.db,
        // As Traefik's Redis client: several endpoints are a Cluster, one a single server.
        cluster: Some(common::RawFlag::Bool(endpoints.len() > 1)),
        tls,
        sentinel: None,
    };
    common::validate_redis(&store, path, errors)
}

/// Traefik's Redis TLS options are file paths; secret references are kept as written.
fn file_reference(text: &str) -> String {
    if ["file:", "env:", "urn:k8s:"]
        .iter()
        .any(|p| text.starts_with(p))
    {
        text.to_owned()
    } else {
        format!("file:{text}")
    }
}

fn validate_in_flight(
    raw: &RawInFlightReq,
    path: &Path,
    errors: &mut Errors,
) -> Option<MiddlewareConfig> {
    let before = errors.len();
    let amount = non_negative(raw.amount, &path.key("amount"), errors);
    // Traefik's default source for inFlightReq is the request host.
    let source = validate_source_criterion(
        raw.source_criterion.as_ref(),
        SourceCriterion::RequestHost,
        &path.key("sourceCriterion"),
        errors,
    );
    (errors.len() == before).then_some(MiddlewareConfig::InFlightReq(InFlightReqConfig {
        amount,
        source,
    }))
}

fn validate_retry(raw: &RawRetry, path: &Path, errors: &mut Errors) -> Option<MiddlewareConfig> {
    let before = errors.len();
    let attempts = match raw.attempts {
        Some(n) if n >= 1 => u32::try_from(n).unwrap_or(u32::MAX),
        Some(_) => {
            errors.push(&path.key("attempts"), "must be at least 1");
            1
        }
        None => {
            errors.push(&path.key("attempts"), "is required");
            1
        }
    };
    let mut duration_of = |raw: &Option<RawDuration>, key: &str| match raw.as_ref() {
        None => None,
        Some(RawDuration::Seconds(s)) if *s < 0.0 => {
            errors.push(&path.key(key), "must be 0 or greater");
            None
        }
        Some(d) => match parse_duration(d) {
            Ok(d) => Some(d),
            Err(message) => {
                errors.push(&path.key(key), message);
                None
            }
        },
    };
    let initial_interval =
        duration_of(&raw.initial_interval, "initialInterval").unwrap_or_default();
    let timeout = duration_of(&raw.timeout, "timeout").filter(|d| !d.is_zero());
    let max_request_body_bytes = match raw.max_request_body_bytes {
        None => Some(DEFAULT_RETRY_MAX_BODY),
        Some(-1) => None,
        Some(n) => match u64::try_from(n) {
            Ok(n) => Some(n),
            Err(_) => {
                errors.push(
                    &path.key("maxRequestBodyBytes"),
                    "must be 0 or greater, or -1 for no limit",
                );
                None
            }
        },
    };
    let mut status = Vec::new();
    for (i, text) in raw.status.iter().enumerate() {
        match parse_status_range(text) {
            Some(range) => status.push(range),
            None => errors.push(
                &path.key("status").index(i),
                "expected a status code (500) or a range (500-599) between 100 and 599",
            ),
        }
    }
    if raw.disable_retry_on_network_error && status.is_empty() {
        errors.push(
            &path.key("status"),
            "is required when disableRetryOnNetworkError is true",
        );
    }
    (errors.len() == before).then(|| {
        MiddlewareConfig::Retry(RetryConfig {
            attempts,
            initial_interval,
            timeout,
            max_request_body_bytes,
            status,
            retry_on_network_error: !raw.disable_retry_on_network_error,
            retry_non_idempotent_method: raw.retry_non_idempotent_method,
        })
    })
}

fn parse_status_range(text: &str) -> Option<(u16, u16)> {
    let code = |t: &str| {
        t.trim()
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=599).contains(c))
    };
    match text.split_once('-') {
        None => code(text).map(|c| (c, c)),
        Some((low, high)) => {
            let (low, high) = (code(low)?, code(high)?);
            (low <= high).then_some((low, high))
        }
    }
}

#[cfg(test)]
mod tests;
