//! The typed configuration that the gateway runs: every value checked and converted.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Uri};
use indexmap::IndexMap;
use ipnet::IpNet;
use portcullis_rules::Rule;

pub use crate::middleware_transform::{
    BufferingConfig, CompressConfig, Cors, Encoding, HeadersConfig, MediaType, RegexReplace,
    SecureHeaders,
};
use crate::plugin::PluginConfig;
use crate::secret::SecretRef;

/// A validated configuration: what a listener set and a router table are built from.
#[derive(Debug, Clone)]
pub struct Config {
    pub static_config: StaticConfig,
    pub dynamic: DynamicConfig,
}

/// The part that needs a restart to change.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticConfig {
    pub entry_points: Vec<EntryPoint>,
    pub file_provider: Option<FileProvider>,
    pub kubernetes: Option<KubernetesProvider>,
    pub access_log: Option<AccessLogConfig>,
    pub metrics_address: Option<SocketAddr>,
    pub ping_address: Option<SocketAddr>,
    pub secrets_directory: Option<PathBuf>,
    pub log_level: Option<String>,
    /// `log.format`: application logs as JSON lines.
    pub log_json: bool,
    /// `errorPages.directory`: HTML error page templates (`401.html`, ..., `default.html`).
    pub error_pages_directory: Option<PathBuf>,
    pub servers_transport: ServersTransport,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EntryPoint {
    pub name: String,
    pub address: SocketAddr,
    pub tls: Option<TlsFiles>,
    /// How requests are cleaned before routing (`http`).
    pub http: EntryPointHttp,
    /// Which clients' `X-Forwarded-*` headers are believed (`forwardedHeaders`).
    pub forwarded_headers: ForwardedHeaders,
    /// Time allowed for a client to send a request head.
    pub read_timeout: Duration,
    /// Time in-flight requests get to finish on shutdown.
    pub grace_timeout: Duration,
    /// Largest accepted request head; larger heads get 431.
    pub max_header_bytes: usize,
    /// Time a keep-alive connection may stay without a request in flight.
    pub idle_timeout: Duration,
    /// Most connections served at once.
    pub max_connections: usize,
    /// How often an HTTP/2 connection is pinged.
    pub http2_keep_alive_interval: Duration,
    /// How long a ping's answer may take before the peer is taken for dead.
    pub http2_keep_alive_timeout: Duration,
}

/// `entryPoints.<name>.http`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPointHttp {
    /// Resolve `.`/`..` segments and merge `//` before routing; the cleaned path is forwarded.
    pub sanitize_path: bool,
    /// Lower-case protocol names (`websocket`) that an `Upgrade` request may switch to; other
    /// upgrade requests are forwarded as plain requests.
    pub allowed_upgrades: Vec<String>,
}

impl Default for EntryPointHttp {
    fn default() -> Self {
        Self {
            sanitize_path: true,
            allowed_upgrades: vec!["websocket".to_owned()],
        }
    }
}

/// `entryPoints.<name>.forwardedHeaders`: clients whose `X-Forwarded-*`, `Forwarded` and
/// `X-Real-Ip` headers are kept. Everyone else's are removed and set by the gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardedHeaders {
    /// Trust every client.
    pub insecure: bool,
    pub trusted_ips: Vec<IpNet>,
}

impl ForwardedHeaders {
    /// Whether a client at `ip` is a proxy whose forwarded headers are believed.
    pub fn trusts(&self, ip: std::net::IpAddr) -> bool {
        self.insecure || {
            let ip = ip.to_canonical();
            self.trusted_ips.iter().any(|net| net.contains(&ip))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileProvider {
    File { path: PathBuf, watch: bool },
    Directory { path: PathBuf, watch: bool },
}

impl FileProvider {
    pub fn path(&self) -> &std::path::Path {
        match self {
            FileProvider::File { path, .. } | FileProvider::Directory { path, .. } => path,
        }
    }

    pub fn watch(&self) -> bool {
        match self {
            FileProvider::File { watch, .. } | FileProvider::Directory { watch, .. } => *watch,
        }
    }
}

/// `providers.kubernetesCRD`.
#[derive(Debug, Clone, PartialEq)]
pub struct KubernetesProvider {
    /// Empty: every namespace.
    pub namespaces: Vec<String>,
    /// Applies to IngressRoute and Middleware resources.
    pub label_selector: Option<String>,
    /// API server URL; `None`: in-cluster service account, else kubeconfig.
    pub endpoint: Option<String>,
    /// Bearer token for `endpoint`.
    pub token: Option<SecretRef>,
    pub cert_auth_file_path: Option<PathBuf>,
    pub kubeconfig: Option<PathBuf>,
    pub allow_cross_namespace: bool,
    /// Changes arriving within this time are applied together.
    pub throttle: Duration,
    /// `ingressClass`: the `kubernetes.io/ingress.class` annotation of the IngressRoutes served.
    pub ingress_class: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLogFormat {
    Common,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogConfig {
    pub format: AccessLogFormat,
    /// `None`: standard output.
    pub file_path: Option<PathBuf>,
}

/// How the gateway talks to upstream servers: the static `serversTransport` (the default of
/// every service) or a named `http.serversTransports.<name>`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServersTransport {
    pub dial_timeout: Duration,
    /// `None`: wait for the upstream's response head as long as the client does.
    pub response_header_timeout: Option<Duration>,
    pub idle_conn_timeout: Duration,
    pub max_idle_conns_per_host: usize,
    /// Name sent as SNI and checked against HTTPS upstreams' certificates (default: the host of
    /// the server URL).
    pub server_name: Option<String>,
    /// Accept any certificate from HTTPS upstreams.
    pub insecure_skip_verify: bool,
    /// Authorities trusted for HTTPS upstreams instead of the system's.
    pub root_cas: Vec<PemSource>,
    /// Client certificates presented to HTTPS upstreams that ask for one.
    pub certificates: Vec<CertificateSource>,
    /// Offer only HTTP/1.1 to HTTPS upstreams.
    pub disable_http2: bool,
}

impl Default for ServersTransport {
    fn default() -> Self {
        Self {
            dial_timeout: Duration::from_secs(30),
            response_header_timeout: None,
            idle_conn_timeout: Duration::from_secs(90),
            max_idle_conns_per_host: 200,
            server_name: None,
            insecure_skip_verify: false,
            root_cas: Vec::new(),
            certificates: Vec::new(),
            disable_http2: false,
        }
    }
}

/// PEM text: a file read whenever the router table is built (so a reload picks up a renewed
/// certificate), or text given inline (from a Kubernetes Secret).
#[derive(Clone, PartialEq, Eq)]
pub enum PemSource {
    File(PathBuf),
    Inline(String),
}

impl PemSource {
    /// The PEM bytes.
    pub fn read(&self) -> Result<Vec<u8>, String> {
        match self {
            PemSource::File(path) => {
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
            }
            PemSource::Inline(text) => Ok(text.as_bytes().to_vec()),
        }
    }
}

impl std::fmt::Debug for PemSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PemSource::File(path) => write!(f, "File({})", path.display()),
            // Private keys come this way: never printed.
            PemSource::Inline(text) => write!(f, "Inline({} bytes)", text.len()),
        }
    }
}

/// A certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSource {
    pub cert: PemSource,
    pub key: PemSource,
}

/// The dynamic `tls` section: certificates served by SNI, the default one, and TLS options.
#[derive(Debug, Clone, Default)]
pub struct TlsConfig {
    pub certificates: Vec<CertificateSource>,
    /// `tls.stores.default.defaultCertificate`: served when no certificate matches the SNI.
    pub default_certificate: Option<CertificateSource>,
    /// `tls.options.<name>`; routers without `options` use `default` (built-in when absent).
    pub options: IndexMap<String, TlsOptions>,
}

/// `tls.options.<name>`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsOptions {
    /// `None`: TLS 1.2.
    pub min_version: Option<TlsVersion>,
    /// `None`: TLS 1.3.
    pub max_version: Option<TlsVersion>,
    /// IANA names of the TLS 1.2 suites allowed (empty: every suite); TLS 1.3 suites are
    /// always on, as in Traefik.
    pub cipher_suites: Vec<String>,
    pub client_auth: ClientAuth,
    /// Refuse handshakes whose SNI matches no certificate instead of serving the default.
    pub sni_strict: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

/// `clientAuth` of a TLS option.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientAuth {
    pub ca: Vec<PemSource>,
    pub auth_type: ClientAuthType,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientAuthType {
    #[default]
    NoClientCert,
    /// A certificate, if sent, must be signed by one of the CAs.
    VerifyClientCertIfGiven,
    /// A certificate signed by one of the CAs is required.
    RequireAndVerifyClientCert,
}

/// A router's `tls`: it serves TLS connections only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouterTls {
    /// A `tls.options` name (`None`: `default`).
    pub options: Option<String>,
}

/// The part that can be reloaded while running.
#[derive(Debug, Clone, Default)]
pub struct DynamicConfig {
    pub routers: Vec<RouterConfig>,
    pub services: IndexMap<String, ServiceConfig>,
    /// `weighted` and `mirroring` services, made of other services.
    pub traefik_services: IndexMap<String, crate::service_traefik::TraefikServiceConfig>,
    pub middlewares: IndexMap<String, MiddlewareConfig>,
    /// The Kubernetes namespace of each middleware that came from the Kubernetes provider: where
    /// its `urn:k8s:secret:` references are looked up.
    pub namespaces: HashMap<String, String>,
    /// `http.serversTransports`, by name.
    pub servers_transports: IndexMap<String, ServersTransport>,
    /// The top-level `tls` section.
    pub tls: TlsConfig,
}

impl DynamicConfig {
    /// The namespace whose Secrets the middleware `name` reads (`None`: file configuration).
    pub fn namespace_of(&self, name: &str) -> Option<&str> {
        self.namespaces.get(name).map(String::as_str)
    }

    /// Adds `other`'s routers, services and middlewares; on a name present in both, `self`'s
    /// entry stays and the name is returned.
    pub fn merge(&mut self, other: DynamicConfig) -> Vec<String> {
        let mut clashes = Vec::new();
        for (name, service) in other.services {
            if self.services.contains_key(&name) {
                clashes.push(format!("services.{name}"));
            } else {
                self.services.insert(name, service);
            }
        }
        for (name, service) in other.traefik_services {
            if self.services.contains_key(&name) || self.traefik_services.contains_key(&name) {
                clashes.push(format!("services.{name}"));
            } else {
                self.traefik_services.insert(name, service);
            }
        }
        for (name, middleware) in other.middlewares {
            if self.middlewares.contains_key(&name) {
                clashes.push(format!("middlewares.{name}"));
            } else {
                if let Some(namespace) = other.namespaces.get(&name) {
                    self.namespaces.insert(name.clone(), namespace.clone());
                }
                self.middlewares.insert(name, middleware);
            }
        }
        for (name, transport) in other.servers_transports {
            if self.servers_transports.contains_key(&name) {
                clashes.push(format!("serversTransports.{name}"));
            } else {
                self.servers_transports.insert(name, transport);
            }
        }
        self.tls.certificates.extend(other.tls.certificates);
        if self.tls.default_certificate.is_none() {
            self.tls.default_certificate = other.tls.default_certificate;
        }
        for (name, options) in other.tls.options {
            if self.tls.options.contains_key(&name) {
                clashes.push(format!("tls.options.{name}"));
            } else {
                self.tls.options.insert(name, options);
            }
        }
        for router in other.routers {
            if self.routers.iter().any(|r| r.name == router.name) {
                clashes.push(format!("routers.{}", router.name));
            } else {
                self.routers.push(router);
            }
        }
        clashes
    }
}

#[derive(Debug, Clone)]
pub struct RouterConfig {
    pub name: String,
    /// Empty: every entry point.
    pub entry_points: Vec<String>,
    pub rule: Rule,
    pub rule_text: String,
    pub priority: i64,
    pub middlewares: Vec<String>,
    pub service: String,
    /// `Some`: the router serves TLS connections only; `None`: plain HTTP ones only (every
    /// router of an entry point with its own `tls` files serves that entry point's TLS).
    pub tls: Option<RouterTls>,
    /// `Some`: each request describes another one, which the middlewares judge for the proxy
    /// in front (`forwardAuth`).
    pub forward_auth: Option<crate::forward_auth::ForwardAuthConfig>,
}

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub servers: Vec<Uri>,
    pub pass_host_header: bool,
    /// A `serversTransports` name (`None`: the static `serversTransport`).
    pub servers_transport: Option<String>,
}

/// A header set by the `headers` middleware; `None` removes the header (Traefik's empty value).
pub type HeaderRule = (HeaderName, Option<HeaderValue>);

#[derive(Debug, Clone)]
pub enum MiddlewareConfig {
    StripPrefix {
        prefixes: Vec<String>,
    },
    Headers(Box<HeadersConfig>),
    RedirectScheme {
        scheme: String,
        port: Option<u16>,
        permanent: bool,
    },
    Plugin(PluginConfig),
    BasicAuth(crate::middleware_traffic::BasicAuthConfig),
    IpAllowList(crate::middleware_traffic::IpAllowListConfig),
    RateLimit(crate::middleware_traffic::RateLimitConfig),
    InFlightReq(crate::middleware_traffic::InFlightReqConfig),
    Retry(crate::middleware_traffic::RetryConfig),
    AddPrefix {
        prefix: String,
    },
    ReplacePath {
        path: String,
    },
    ReplacePathRegex(RegexReplace),
    StripPrefixRegex {
        regexes: Vec<regex::bytes::Regex>,
    },
    RedirectRegex {
        rewrite: RegexReplace,
        permanent: bool,
    },
    /// Stands for its members, in order: routers are built with the expanded list.
    Chain {
        middlewares: Vec<String>,
    },
    Compress(CompressConfig),
    Buffering(BufferingConfig),
}
