//! Pure validation: raw configuration in, typed configuration or every error out.
//!
//! Nothing here touches the network or the file system (file paths are checked when they are
//! used), so `portcullis check` and a hot reload give the same verdict as a start.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use http::{HeaderName, Uri};
use indexmap::IndexMap;
use portcullis_rules::Rule;

use crate::errors::{ConfigError, Errors, Path};
use crate::middleware_transform;
use crate::model::*;
use crate::plugin::validate_plugin;
use crate::raw::*;
use crate::secret::SecretRef;

const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// Traefik's default `respondingTimeouts.idleTimeout`.
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(180);
/// High enough for ten thousand idle keep-alive clients, low enough that a flood of
/// connections meets back-pressure before the process runs out of memory or descriptors.
const DEFAULT_MAX_CONNECTIONS: usize = 16384;

/// Validates the static part of `raw` and the dynamic part made of `raw.http` plus `http`.
pub fn validate(raw: &RawConfig, http: &RawHttp) -> Result<Config, Vec<ConfigError>> {
    let mut errors = Errors::new();
    let static_config = validate_static(raw, &mut errors);
    let dynamic = validate_dynamic(http, &static_config.entry_points, &mut errors);
    errors.finish(Config {
        static_config,
        dynamic,
    })
}

/// Validates only the static part, section by section (errors in the order of the sections).
pub fn validate_static(raw: &RawConfig, errors: &mut Errors) -> StaticConfig {
    let root = Path::root();
    let entry_points = static_entry_points(raw, &root, errors);
    let providers = raw.providers.as_ref();
    let file_provider = providers
        .and_then(|p| p.file.as_ref())
        .and_then(|file| file_provider(file, &root.key("providers").key("file"), errors));
    let kubernetes = providers
        .and_then(|p| p.kubernetes_crd.as_ref())
        .map(|k| validate_kubernetes(k, &root.key("providers").key("kubernetesCRD"), errors));
    let access_log = raw
        .access_log
        .as_ref()
        .and_then(|log| access_log(log, &root.key("accessLog"), errors));
    let metrics_address = raw
        .metrics
        .as_ref()
        .and_then(|m| m.prometheus.as_ref())
        .and_then(|p| {
            parse_address(
                &p.address,
                &root.key("metrics").key("prometheus").key("address"),
                errors,
            )
        });
    let ping_address = raw
        .ping
        .as_ref()
        .and_then(|p| parse_address(&p.address, &root.key("ping").key("address"), errors));
    let secrets_directory = raw.secrets.as_ref().map(|s| PathBuf::from(&s.directory));
    let log_level = raw
        .log
        .as_ref()
        .and_then(|log| log_level(log, &root.key("log"), errors));
    let servers_transport = match &raw.servers_transport {
        Some(st) => crate::transport::static_transport(st, &root.key("serversTransport"), errors),
        None => ServersTransport::default(),
    };
    let error_pages_directory = raw
        .error_pages
        .as_ref()
        .and_then(|pages| error_pages_directory(pages, &root.key("errorPages"), errors));
    StaticConfig {
        entry_points,
        file_provider,
        kubernetes,
        access_log,
        metrics_address,
        ping_address,
        secrets_directory,
        log_level,
        log_json: raw
            .log
            .as_ref()
            .is_some_and(|log| log.format.as_deref() == Some("json")),
        error_pages_directory,
        servers_transport,
    }
}

/// `entryPoints`: at least one, each validated on its own.
fn static_entry_points(raw: &RawConfig, root: &Path, errors: &mut Errors) -> Vec<EntryPoint> {
    let eps_path = root.key("entryPoints");
    if raw.entry_points.is_empty() {
        errors.push(&eps_path, "at least one entry point is required");
    }
    raw.entry_points
        .iter()
        .filter_map(|(name, ep)| validate_entry_point(name, ep, &eps_path.key(name), errors))
        .collect()
}

/// `providers.file`: a file or a directory, not both.
fn file_provider(file: &RawFileProvider, path: &Path, errors: &mut Errors) -> Option<FileProvider> {
    match (&file.filename, &file.directory) {
        (Some(f), None) if !f.is_empty() => Some(FileProvider::File {
            path: PathBuf::from(f),
            watch: file.watch,
        }),
        (None, Some(d)) if !d.is_empty() => Some(FileProvider::Directory {
            path: PathBuf::from(d),
            watch: file.watch,
        }),
        (Some(_), Some(_)) => {
            errors.push(path, "set either filename or directory, not both");
            None
        }
        _ => {
            errors.push(path, "filename or directory is required");
            None
        }
    }
}

/// `accessLog`: its format (common or JSON) and where it goes.
fn access_log(log: &RawAccessLog, path: &Path, errors: &mut Errors) -> Option<AccessLogConfig> {
    let format = match log.format.as_deref() {
        None | Some("common") => AccessLogFormat::Common,
        Some("json") => AccessLogFormat::Json,
        Some(other) => {
            errors.push(
                &path.key("format"),
                format!("unknown format {other:?}; expected common or json"),
            );
            return None;
        }
    };
    Some(AccessLogConfig {
        format,
        file_path: log
            .file_path
            .as_ref()
            .filter(|p| !p.is_empty())
            .map(PathBuf::from),
    })
}

/// `log`: checks the format and returns the level, lower case.
fn log_level(log: &RawLog, path: &Path, errors: &mut Errors) -> Option<String> {
    if let Some(format) = &log.format
        && format != "common"
        && format != "json"
    {
        errors.push(
            &path.key("format"),
            format!("unknown format {format:?}; expected common or json"),
        );
    }
    let level = log.level.as_ref()?;
    let lower = level.to_ascii_lowercase();
    if ["trace", "debug", "info", "warn", "error"].contains(&lower.as_str()) {
        Some(lower)
    } else {
        errors.push(
            &path.key("level"),
            format!("unknown level {level:?}; expected trace, debug, info, warn or error"),
        );
        None
    }
}

/// `errorPages.directory`: must name one.
fn error_pages_directory(
    pages: &RawErrorPages,
    path: &Path,
    errors: &mut Errors,
) -> Option<PathBuf> {
    if pages.directory.is_empty() {
        errors.push(&path.key("directory"), "must name a directory");
        return None;
    }
    Some(PathBuf::from(&pages.directory))
}

fn non_empty(value: &Option<String>) -> Option<&String> {
    value.as_ref().filter(|v| !v.trim().is_empty())
}

/// Kubernetes names: lowercase RFC 1123 labels.
fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn validate_kubernetes(
    raw: &RawKubernetesCrd,
    path: &Path,
    errors: &mut Errors,
) -> KubernetesProvider {
    for (i, namespace) in raw.namespaces.iter().enumerate() {
        if !is_dns_label(namespace) {
            errors.push(
                &path.key("namespaces").index(i),
                format!("{namespace:?} is not a valid namespace name"),
            );
        }
    }
    let endpoint = non_empty(&raw.endpoint).cloned();
    if let Some(endpoint) = &endpoint {
        match endpoint.parse::<Uri>() {
            Ok(uri)
                if matches!(uri.scheme_str(), Some("http" | "https"))
                    && uri.authority().is_some() => {}
            _ => errors.push(
                &path.key("endpoint"),
                format!("invalid URL {endpoint:?}; expected https://host:port"),
            ),
        }
    }
    let token = non_empty(&raw.token).and_then(|token| match SecretRef::parse(token) {
        Ok(reference) => Some(reference),
        Err(message) => {
            errors.push(&path.key("token"), message);
            None
        }
    });
    if token.is_some() && endpoint.is_none() {
        errors.push(
            &path.key("token"),
            "only used with endpoint; set endpoint too",
        );
    }
    let throttle = match &raw.throttle_duration {
        Some(d) => duration(d, &path.key("throttleDuration"), errors).unwrap_or_default(),
        None => Duration::from_millis(100),
    };
    KubernetesProvider {
        namespaces: raw.namespaces.clone(),
        label_selector: non_empty(&raw.label_selector).cloned(),
        endpoint,
        token,
        cert_auth_file_path: non_empty(&raw.cert_auth_file_path).map(PathBuf::from),
        kubeconfig: non_empty(&raw.kubeconfig).map(PathBuf::from),
        allow_cross_namespace: raw.allow_cross_namespace,
        throttle,
        ingress_class: non_empty(&raw.ingress_class).cloned(),
    }
}

fn validate_entry_point(
    name: &str,
    raw: &RawEntryPoint,
    path: &Path,
    errors: &mut Errors,
) -> Option<EntryPoint> {
    let address = parse_address(&raw.address, &path.key("address"), errors);
    let tls = raw.tls.as_ref().and_then(|tls| {
        let mut ok = true;
        if tls.cert_file.is_empty() {
            errors.push(&path.key("tls").key("certFile"), "is required");
            ok = false;
        }
        if tls.key_file.is_empty() {
            errors.push(&path.key("tls").key("keyFile"), "is required");
            ok = false;
        }
        ok.then(|| TlsFiles {
            cert_file: PathBuf::from(&tls.cert_file),
            key_file: PathBuf::from(&tls.key_file),
        })
    });
    let http = validate_entry_point_http(raw.http.as_ref(), &path.key("http"), errors);
    let forwarded_headers = validate_forwarded_headers(
        raw.forwarded_headers.as_ref(),
        &path.key("forwardedHeaders"),
        errors,
    );
    let transport = raw.transport.as_ref();
    let timeouts = transport.and_then(|t| t.responding_timeouts.as_ref());
    let tpath = path.key("transport");
    let read_timeout = timeouts
        .and_then(|t| {
            positive_duration(
                &t.read_timeout,
                &tpath.key("respondingTimeouts").key("readTimeout"),
                errors,
            )
        })
        .unwrap_or(Duration::from_secs(60));
    let idle_timeout = timeouts
        .and_then(|t| {
            positive_duration(
                &t.idle_timeout,
                &tpath.key("respondingTimeouts").key("idleTimeout"),
                errors,
            )
        })
        .unwrap_or(DEFAULT_IDLE_TIMEOUT);
    let max_connections = match transport.and_then(|t| t.max_connections) {
        None => DEFAULT_MAX_CONNECTIONS,
        Some(n) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
        Some(_) => {
            errors.push(&tpath.key("maxConnections"), "must be at least 1");
            DEFAULT_MAX_CONNECTIONS
        }
    };
    let http2 = raw.http2.as_ref();
    let h2path = path.key("http2");
    let http2_keep_alive_interval = http2
        .and_then(|h| {
            positive_duration(
                &h.keep_alive_interval,
                &h2path.key("keepAliveInterval"),
                errors,
            )
        })
        .unwrap_or(Duration::from_secs(30));
    let http2_keep_alive_timeout = http2
        .and_then(|h| {
            positive_duration(
                &h.keep_alive_timeout,
                &h2path.key("keepAliveTimeout"),
                errors,
            )
        })
        .unwrap_or(Duration::from_secs(20));
    let grace_timeout = transport
        .and_then(|t| t.life_cycle.as_ref())
        .and_then(|l| {
            l.grace_time_out
                .as_ref()
                .and_then(|d| duration(d, &tpath.key("lifeCycle").key("graceTimeOut"), errors))
        })
        .unwrap_or(Duration::from_secs(10));
    let max_header_bytes = match transport.and_then(|t| t.max_header_bytes) {
        None => DEFAULT_MAX_HEADER_BYTES,
        Some(n) if (8192..=1024 * 1024).contains(&n) => n as usize,
        Some(_) => {
            errors.push(
                &tpath.key("maxHeaderBytes"),
                "must be between 8192 and 1048576",
            );
            DEFAULT_MAX_HEADER_BYTES
        }
    };
    Some(EntryPoint {
        name: name.to_owned(),
        address: address?,
        tls,
        http,
        forwarded_headers,
        read_timeout,
        grace_timeout,
        max_header_bytes,
        idle_timeout,
        max_connections,
        http2_keep_alive_interval,
        http2_keep_alive_timeout,
    })
}

fn validate_entry_point_http(
    raw: Option<&RawEntryPointHttp>,
    path: &Path,
    errors: &mut Errors,
) -> EntryPointHttp {
    let mut http = EntryPointHttp::default();
    let Some(raw) = raw else { return http };
    http.sanitize_path = raw.sanitize_path.unwrap_or(true);
    if let Some(upgrades) = &raw.allowed_upgrades {
        http.allowed_upgrades.clear();
        for (i, protocol) in upgrades.iter().enumerate() {
            // A token (RFC 9110 section 5.6.2), compared case-insensitively.
            if protocol.is_empty() || HeaderName::from_bytes(protocol.as_bytes()).is_err() {
                errors.push(
                    &path.key("allowedUpgrades").index(i),
                    "must be a protocol name such as websocket",
                );
            } else {
                http.allowed_upgrades.push(protocol.to_ascii_lowercase());
            }
        }
    }
    http
}

fn validate_forwarded_headers(
    raw: Option<&RawForwardedHeaders>,
    path: &Path,
    errors: &mut Errors,
) -> ForwardedHeaders {
    let Some(raw) = raw else {
        return ForwardedHeaders::default();
    };
    let mut trusted_ips = Vec::new();
    for (i, text) in raw.trusted_ips.iter().enumerate() {
        let parsed = text
            .parse::<ipnet::IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(ipnet::IpNet::from));
        match parsed {
            Ok(net) => trusted_ips.push(canonical_net(net.trunc())),
            Err(_) => errors.push(
                &path.key("trustedIPs").index(i),
                "must be an IP address or a CIDR range",
            ),
        }
    }
    ForwardedHeaders {
        insecure: raw.insecure,
        trusted_ips,
    }
}

/// `::ffff:10.0.0.0/104` is the IPv4 range `10.0.0.0/8`: clients are compared in canonical
/// form, so IPv4-mapped ranges are turned into IPv4 ones.
fn canonical_net(net: ipnet::IpNet) -> ipnet::IpNet {
    if let ipnet::IpNet::V6(v6) = net
        && let Some(v4) = v6.addr().to_ipv4_mapped()
        && v6.prefix_len() >= 96
        && let Ok(mapped) = ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
    {
        return ipnet::IpNet::V4(mapped);
    }
    net
}

/// Parses `host:port`, `:port` (every interface) or `[v6]:port`; `localhost` means 127.0.0.1.
pub fn parse_address(text: &str, path: &Path, errors: &mut Errors) -> Option<SocketAddr> {
    let parsed = if let Some(port) = text.strip_prefix(':') {
        port.parse::<u16>()
            .ok()
            .map(|port| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port))
    } else if let Some(port) = text.strip_prefix("localhost:") {
        port.parse::<u16>()
            .ok()
            .map(|port| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
    } else {
        SocketAddr::from_str(text).ok()
    };
    if parsed.is_none() {
        errors.push(
            path,
            format!("invalid address {text:?}; expected host:port, :port or [ipv6]:port with an IP address"),
        );
    }
    parsed
}

/// Parses a duration: seconds as a number, or text such as `30s`, `1m30s`, `250ms`.
pub fn parse_duration(raw: &RawDuration) -> Result<Duration, String> {
    match raw {
        RawDuration::Seconds(secs) => {
            if secs.is_finite() && *secs >= 0.0 && *secs < 1e12 {
                Ok(Duration::from_secs_f64(*secs))
            } else {
                Err(format!("invalid duration {secs}"))
            }
        }
        RawDuration::Text(text) => {
            if let Ok(secs) = text.trim().parse::<u64>() {
                return Ok(Duration::from_secs(secs));
            }
            humantime::parse_duration(text.trim())
                .map_err(|e| format!("invalid duration {text:?}: {e}"))
        }
    }
}

/// A duration that must be greater than zero: seconds (`3600`) or text (`1h`, `30s`).
pub fn parse_positive_duration(raw: &RawDuration) -> Result<Duration, String> {
    match raw {
        RawDuration::Seconds(secs) if *secs <= 0.0 => Err("must be greater than 0".to_owned()),
        _ => match parse_duration(raw)? {
            d if d.is_zero() => Err("must be greater than 0".to_owned()),
            d => Ok(d),
        },
    }
}

/// Whole seconds, negative allowed: a number (`-1`, `600`) or text (`10m`).
pub fn parse_signed_seconds(raw: &RawDuration) -> Result<i64, String> {
    match raw {
        RawDuration::Seconds(secs) if secs.is_finite() && secs.abs() < 1e12 => {
            Ok(secs.trunc() as i64)
        }
        RawDuration::Seconds(secs) => Err(format!("invalid duration {secs}")),
        RawDuration::Text(text) => match text.trim().parse::<i64>() {
            Ok(secs) => Ok(secs),
            Err(_) => parse_duration(raw).map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        },
    }
}

pub(crate) fn duration(raw: &RawDuration, path: &Path, errors: &mut Errors) -> Option<Duration> {
    match parse_duration(raw) {
        Ok(d) => Some(d),
        Err(message) => {
            errors.push(path, message);
            None
        }
    }
}

pub(crate) fn positive_duration(
    raw: &Option<RawDuration>,
    path: &Path,
    errors: &mut Errors,
) -> Option<Duration> {
    let d = duration(raw.as_ref()?, path, errors)?;
    if d.is_zero() {
        errors.push(path, "must be greater than 0");
        return None;
    }
    Some(d)
}

/// Validates the dynamic part against the entry points that exist.
pub fn validate_dynamic(
    http: &RawHttp,
    entry_points: &[EntryPoint],
    errors: &mut Errors,
) -> DynamicConfig {
    let root = Path::root().key("http");
    let mut servers_transports = IndexMap::new();
    for (name, raw) in &http.servers_transports {
        let path = root.key("serversTransports").key(name);
        servers_transports.insert(
            name.clone(),
            crate::transport::named_transport(raw, &path, errors),
        );
    }
    let tls = crate::transport::tls_section(&http.tls, errors);
    let mut services = IndexMap::new();
    let mut traefik_services = IndexMap::new();
    for (name, raw) in &http.services {
        let path = root.key("services").key(name);
        if raw.load_balancer.is_none() || raw.weighted.is_some() || raw.mirroring.is_some() {
            let validated = crate::service_traefik::validate_traefik_service(
                name,
                raw,
                &http.services,
                &path,
                errors,
            );
            if let Some(Some(service)) = validated {
                traefik_services.insert(name.clone(), service);
            }
            continue;
        }
        if let Some(service) = validate_service(raw, &path, errors) {
            if let Some(transport) = &service.servers_transport
                && !servers_transports.contains_key(transport)
            {
                errors.push(
                    &path.key("loadBalancer").key("serversTransport"),
                    format!("unknown serversTransport {transport:?}"),
                );
            }
            services.insert(name.clone(), service);
        }
    }
    let mut middlewares = IndexMap::new();
    for (name, raw) in &http.middlewares {
        let path = root.key("middlewares").key(name);
        if let Some(middleware) = validate_middleware(name, raw, &path, errors) {
            middlewares.insert(name.clone(), middleware);
        }
    }
    middleware_transform::check_chains(
        &http.middlewares,
        &middlewares,
        &root.key("middlewares"),
        errors,
    );
    let mut routers = Vec::new();
    for (name, raw) in &http.routers {
        let path = root.key("routers").key(name);
        if name.contains('@') {
            errors.push(&path, "router names may not contain '@'");
        }
        for (i, ep) in raw.entry_points.iter().enumerate() {
            if !entry_points.iter().any(|e| &e.name == ep) {
                errors.push(
                    &path.key("entryPoints").index(i),
                    format!("unknown entry point {ep:?}"),
                );
            }
        }
        for (i, mw) in raw.middlewares.iter().enumerate() {
            let local = mw.strip_suffix("@file").unwrap_or(mw);
            if !http.middlewares.contains_key(local) {
                errors.push(
                    &path.key("middlewares").index(i),
                    format!("unknown middleware {mw:?}"),
                );
            }
        }
        let service = raw.service.strip_suffix("@file").unwrap_or(&raw.service);
        if !http.services.contains_key(service) {
            errors.push(
                &path.key("service"),
                format!("unknown service {:?}", raw.service),
            );
        }
        let rule = match Rule::parse(&raw.rule) {
            Ok(rule) => Some(rule),
            Err(e) => {
                errors.push(&path.key("rule"), e.to_string());
                None
            }
        };
        let priority = match raw.priority {
            None | Some(0) => Rule::default_priority(&raw.rule),
            Some(p) => p,
        };
        let router_tls =
            crate::transport::router_tls(raw.tls.as_ref(), &tls.options, &path.key("tls"), errors);
        let forward_auth = crate::forward_auth::validate_router(raw, entry_points, &path, errors);
        if let Some(rule) = rule {
            routers.push(RouterConfig {
                name: name.clone(),
                entry_points: raw.entry_points.clone(),
                rule,
                rule_text: raw.rule.clone(),
                priority,
                middlewares: raw
                    .middlewares
                    .iter()
                    .map(|m| m.strip_suffix("@file").unwrap_or(m).to_owned())
                    .collect(),
                service: service.to_owned(),
                tls: router_tls,
                forward_auth,
            });
        }
    }
    DynamicConfig {
        routers,
        services,
        traefik_services,
        middlewares,
        namespaces: Default::default(),
        servers_transports,
        tls,
    }
}

fn validate_service(raw: &RawService, path: &Path, errors: &mut Errors) -> Option<ServiceConfig> {
    let lb_path = path.key("loadBalancer");
    let load_balancer = raw.load_balancer.as_ref()?;
    if load_balancer.servers.is_empty() {
        errors.push(&lb_path.key("servers"), "at least one server is required");
        return None;
    }
    let mut servers = Vec::new();
    for (i, server) in load_balancer.servers.iter().enumerate() {
        let spath = lb_path.key("servers").index(i).key("url");
        match server.url.parse::<Uri>() {
            Ok(uri)
                if matches!(uri.scheme_str(), Some("http" | "https"))
                    && uri.authority().is_some() =>
            {
                servers.push(uri);
            }
            _ => errors.push(
                &spath,
                format!(
                    "invalid URL {:?}; expected http://host:port or https://host:port",
                    server.url
                ),
            ),
        }
    }
    Some(ServiceConfig {
        servers,
        pass_host_header: load_balancer.pass_host_header.unwrap_or(true),
        servers_transport: load_balancer
            .servers_transport
            .as_deref()
            .map(|t| t.strip_suffix("@file").unwrap_or(t))
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
    })
}

fn validate_middleware(
    name: &str,
    raw: &RawMiddleware,
    path: &Path,
    errors: &mut Errors,
) -> Option<MiddlewareConfig> {
    let set = [
        raw.strip_prefix.is_some(),
        raw.redirect_scheme.is_some(),
        raw.plugin.is_some(),
    ]
    .iter()
    .filter(|s| **s)
    .count()
        + crate::middleware_traffic::traffic_kinds_set(raw)
        + middleware_transform::set_count(raw);
    if set != 1 {
        errors.push(
            path,
            format!(
                "exactly one middleware type must be set, found {set}; expected one of: stripPrefix, redirectScheme, plugin, {}, {}",
                middleware_transform::TYPE_NAMES,
                crate::middleware_traffic::TRAFFIC_KINDS
            ),
        );
        return None;
    }
    if let Some(config) = middleware_transform::validate(raw, path, errors) {
        return config;
    }
    if let Some(strip) = &raw.strip_prefix {
        let ppath = path.key("stripPrefix").key("prefixes");
        if strip.prefixes.is_empty() {
            errors.push(&ppath, "at least one prefix is required");
        }
        for (i, prefix) in strip.prefixes.iter().enumerate() {
            if !prefix.starts_with('/') {
                errors.push(&ppath.index(i), "must start with '/'");
            }
        }
        return Some(MiddlewareConfig::StripPrefix {
            prefixes: strip.prefixes.clone(),
        });
    }
    if let Some(redirect) = &raw.redirect_scheme {
        let rpath = path.key("redirectScheme");
        let scheme = redirect.scheme.clone().unwrap_or_else(|| "https".into());
        if scheme != "http" && scheme != "https" {
            errors.push(
                &rpath.key("scheme"),
                format!("unknown scheme {scheme:?}; expected http or https"),
            );
        }
        let port = match redirect.port.as_deref() {
            None | Some("") => None,
            Some(p) => match p.parse::<u16>() {
                Ok(port) if port > 0 => Some(port),
                _ => {
                    errors.push(&rpath.key("port"), format!("invalid port {p:?}"));
                    None
                }
            },
        };
        return Some(MiddlewareConfig::RedirectScheme {
            scheme,
            port,
            permanent: redirect.permanent,
        });
    }
    if let Some(traffic) = crate::middleware_traffic::validate_traffic(raw, path, errors) {
        return traffic;
    }
    let plugin = raw.plugin.as_ref()?;
    validate_plugin(plugin, name, &path.key("plugin"), errors).map(MiddlewareConfig::Plugin)
}
