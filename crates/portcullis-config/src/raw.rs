//! Raw configuration as written in YAML. Every struct rejects unknown keys, so a typo is an
//! error rather than a silently ignored option. Nothing here is checked beyond its shape: that is
//! [`crate::validate`]'s job.

use indexmap::IndexMap;
use serde::Deserialize;

use crate::middleware_transform::*;
use crate::plugin::RawPlugin;

/// The whole file: static part (entry points, providers, telemetry) and optional dynamic part.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawConfig {
    #[serde(default)]
    pub entry_points: IndexMap<String, RawEntryPoint>,
    #[serde(default)]
    pub providers: Option<RawProviders>,
    #[serde(default)]
    pub access_log: Option<RawAccessLog>,
    #[serde(default)]
    pub metrics: Option<RawMetrics>,
    #[serde(default)]
    pub ping: Option<RawPing>,
    #[serde(default)]
    pub secrets: Option<RawSecrets>,
    #[serde(default)]
    pub log: Option<RawLog>,
    #[serde(default)]
    pub servers_transport: Option<RawServersTransport>,
    #[serde(default)]
    pub http: Option<RawHttp>,
    #[serde(default)]
    pub tls: Option<RawTls>,
    #[serde(default)]
    pub error_pages: Option<RawErrorPages>,
}

/// `errorPages`: where the HTML error page templates are read from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawErrorPages {
    pub directory: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawEntryPoint {
    pub address: String,
    #[serde(default)]
    pub tls: Option<RawEntryPointTls>,
    #[serde(default)]
    pub http: Option<RawEntryPointHttp>,
    #[serde(default)]
    pub forwarded_headers: Option<RawForwardedHeaders>,
    #[serde(default)]
    pub transport: Option<RawEntryPointTransport>,
    #[serde(default)]
    pub http2: Option<RawEntryPointHttp2>,
}

/// HTTP/2 keep-alive pings, which find peers that vanished without closing their connection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawEntryPointHttp2 {
    #[serde(default)]
    pub keep_alive_interval: Option<RawDuration>,
    #[serde(default)]
    pub keep_alive_timeout: Option<RawDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawEntryPointTls {
    pub cert_file: String,
    pub key_file: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawEntryPointTransport {
    #[serde(default)]
    pub responding_timeouts: Option<RawRespondingTimeouts>,
    #[serde(default)]
    pub life_cycle: Option<RawLifeCycle>,
    /// Largest accepted request head (request line and headers) in bytes.
    #[serde(default)]
    pub max_header_bytes: Option<u64>,
    /// Most connections served at once; more wait in the listen backlog.
    #[serde(default)]
    pub max_connections: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRespondingTimeouts {
    #[serde(default)]
    pub read_timeout: Option<RawDuration>,
    #[serde(default)]
    pub idle_timeout: Option<RawDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawLifeCycle {
    #[serde(default)]
    pub grace_time_out: Option<RawDuration>,
}

/// A duration: a number of seconds, or a string such as `"30s"`, `"1m30s"`, `"250ms"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawDuration {
    Seconds(f64),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawProviders {
    #[serde(default)]
    pub file: Option<RawFileProvider>,
    #[serde(default, rename = "kubernetesCRD")]
    pub kubernetes_crd: Option<RawKubernetesCrd>,
}

/// `providers.kubernetesCRD`: Traefik's IngressRoute and Middleware resources from the API.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawKubernetesCrd {
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default)]
    pub label_selector: Option<String>,
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub cert_auth_file_path: Option<String>,
    #[serde(default)]
    pub kubeconfig: Option<String>,
    #[serde(default)]
    pub allow_cross_namespace: bool,
    #[serde(default)]
    pub throttle_duration: Option<RawDuration>,
    #[serde(default)]
    pub ingress_class: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawFileProvider {
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub directory: Option<String>,
    #[serde(default)]
    pub watch: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawAccessLog {
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub file_path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawMetrics {
    #[serde(default)]
    pub prometheus: Option<RawPrometheus>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawPrometheus {
    pub address: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawPing {
    pub address: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSecrets {
    pub directory: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawLog {
    #[serde(default)]
    pub level: Option<String>,
    #[serde(default)]
    pub format: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawServersTransport {
    #[serde(default)]
    pub dial_timeout: Option<RawDuration>,
    #[serde(default)]
    pub response_header_timeout: Option<RawDuration>,
    #[serde(default)]
    pub idle_conn_timeout: Option<RawDuration>,
    #[serde(default)]
    pub max_idle_conns_per_host: Option<usize>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    #[serde(default, rename = "rootCAs", alias = "rootcas")]
    pub root_cas: Vec<String>,
    /// Traefik's spelling of the three timeouts above.
    #[serde(default)]
    pub forwarding_timeouts: Option<RawForwardingTimeouts>,
}

/// `http.serversTransports.<name>`, as in Traefik.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawNamedServersTransport {
    #[serde(default)]
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    #[serde(default, rename = "rootCAs", alias = "rootcas")]
    pub root_cas: Vec<String>,
    #[serde(default)]
    pub certificates: Vec<RawCertificate>,
    #[serde(default)]
    pub max_idle_conns_per_host: Option<usize>,
    #[serde(default)]
    pub forwarding_timeouts: Option<RawForwardingTimeouts>,
    #[serde(default, rename = "disableHTTP2")]
    pub disable_http2: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawForwardingTimeouts {
    #[serde(default)]
    pub dial_timeout: Option<RawDuration>,
    #[serde(default)]
    pub response_header_timeout: Option<RawDuration>,
    #[serde(default)]
    pub idle_conn_timeout: Option<RawDuration>,
}

/// A certificate file and its key file (`tls.certificates`, `serversTransports.*.certificates`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCertificate {
    pub cert_file: String,
    pub key_file: String,
    /// Traefik's certificate stores; only `default` exists.
    #[serde(default)]
    pub stores: Vec<String>,
}

/// The top-level `tls` section of the dynamic configuration, as in Traefik.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawTls {
    #[serde(default)]
    pub certificates: Vec<RawCertificate>,
    #[serde(default)]
    pub stores: IndexMap<String, RawTlsStore>,
    #[serde(default)]
    pub options: IndexMap<String, RawTlsOptions>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawTlsStore {
    #[serde(default)]
    pub default_certificate: Option<RawCertificate>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawTlsOptions {
    #[serde(default)]
    pub min_version: Option<String>,
    #[serde(default)]
    pub max_version: Option<String>,
    #[serde(default)]
    pub cipher_suites: Vec<String>,
    #[serde(default)]
    pub client_auth: Option<RawClientAuth>,
    #[serde(default)]
    pub sni_strict: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawClientAuth {
    #[serde(default)]
    pub ca_files: Vec<String>,
    #[serde(default)]
    pub client_auth_type: Option<String>,
}

/// A router's `tls`: `{}` or `{options: name}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRouterTls {
    #[serde(default)]
    pub options: Option<String>,
    #[serde(default)]
    pub cert_resolver: Option<String>,
    #[serde(default)]
    pub domains: Vec<RawDomain>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawDomain {
    #[serde(default)]
    pub main: Option<String>,
    #[serde(default)]
    pub sans: Vec<String>,
}

/// The dynamic part, in the shape of Traefik's file provider.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawHttp {
    #[serde(default)]
    pub routers: IndexMap<String, RawRouter>,
    #[serde(default)]
    pub services: IndexMap<String, RawService>,
    #[serde(default)]
    pub middlewares: IndexMap<String, RawMiddleware>,
    #[serde(default)]
    pub servers_transports: IndexMap<String, RawNamedServersTransport>,
    /// The top-level `tls` sections of the same files (beside `http`, not in it), merged with it.
    #[serde(skip)]
    pub tls: RawTls,
}

/// A file of the file provider: only the dynamic part.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawDynamicFile {
    #[serde(default)]
    pub http: Option<RawHttp>,
    #[serde(default)]
    pub tls: Option<RawTls>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRouter {
    #[serde(default)]
    pub entry_points: Vec<String>,
    pub rule: String,
    #[serde(default)]
    pub priority: Option<i64>,
    #[serde(default)]
    pub middlewares: Vec<String>,
    pub service: String,
    #[serde(default)]
    pub tls: Option<RawRouterTls>,
    /// Marks the router as an authorization endpoint for a proxy in front ([`crate::forward_auth`]).
    #[serde(default)]
    pub forward_auth: Option<crate::forward_auth::RawForwardAuth>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawService {
    #[serde(default)]
    pub load_balancer: Option<RawLoadBalancer>,
    #[serde(default)]
    pub weighted: Option<crate::service_traefik::RawWeighted>,
    #[serde(default)]
    pub mirroring: Option<crate::service_traefik::RawMirroring>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawLoadBalancer {
    #[serde(default)]
    pub servers: Vec<RawServer>,
    #[serde(default)]
    pub pass_host_header: Option<bool>,
    #[serde(default)]
    pub servers_transport: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawServer {
    pub url: String,
}

/// Exactly one of the fields must be set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawMiddleware {
    #[serde(default)]
    pub strip_prefix: Option<RawStripPrefix>,
    #[serde(default)]
    pub headers: Option<RawHeaders>,
    #[serde(default)]
    pub redirect_scheme: Option<RawRedirectScheme>,
    #[serde(default)]
    pub plugin: Option<RawPlugin>,
    #[serde(default)]
    pub basic_auth: Option<crate::middleware_traffic::RawBasicAuth>,
    #[serde(default, rename = "ipAllowList")]
    pub ip_allow_list: Option<crate::middleware_traffic::RawIpAllowList>,
    #[serde(default, rename = "ipWhiteList")]
    pub ip_white_list: Option<crate::middleware_traffic::RawIpWhiteList>,
    #[serde(default)]
    pub rate_limit: Option<crate::middleware_traffic::RawRateLimit>,
    #[serde(default)]
    pub in_flight_req: Option<crate::middleware_traffic::RawInFlightReq>,
    #[serde(default)]
    pub retry: Option<crate::middleware_traffic::RawRetry>,
    #[serde(default)]
    pub add_prefix: Option<RawAddPrefix>,
    #[serde(default)]
    pub replace_path: Option<RawReplacePath>,
    #[serde(default)]
    pub replace_path_regex: Option<RawReplacePathRegex>,
    #[serde(default)]
    pub strip_prefix_regex: Option<RawStripPrefixRegex>,
    #[serde(default)]
    pub redirect_regex: Option<RawRedirectRegex>,
    #[serde(default)]
    pub chain: Option<RawChain>,
    #[serde(default)]
    pub compress: Option<RawCompress>,
    #[serde(default)]
    pub buffering: Option<RawBuffering>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawStripPrefix {
    pub prefixes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRedirectScheme {
    #[serde(default)]
    pub scheme: Option<String>,
    #[serde(default)]
    pub port: Option<String>,
    #[serde(default)]
    pub permanent: bool,
}

/// `entryPoints.<name>.http`: how requests are made unambiguous before routing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawEntryPointHttp {
    /// Traefik's option: resolve dot-segments and merge `//` before routing (default true).
    #[serde(default)]
    pub sanitize_path: Option<bool>,
    /// Protocols an `Upgrade` request may switch to (default `[websocket]`).
    #[serde(default)]
    pub allowed_upgrades: Option<Vec<String>>,
}

/// `entryPoints.<name>.forwardedHeaders`, as in Traefik.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawForwardedHeaders {
    #[serde(default)]
    pub insecure: bool,
    #[serde(default, rename = "trustedIPs")]
    pub trusted_ips: Vec<String>,
}
