//! Option types shared by the authentication middlewares: `clientConfig` (how the gateway talks
//! to the provider), Redis store options, URL options that may be a path, a host and a path, or
//! an absolute URL, cookie attributes, secret-bearing strings, and the claims-based options
//! (`claims`, `forwardHeaders`, `usernameClaim`).
//!
//! Every check here reports to [`Errors`] with the option's path and keeps going, so that one
//! validation pass lists every problem of a middleware block.

use std::time::Duration;

use http::HeaderName;
use indexmap::IndexMap;
use portcullis_claims::{ClaimPath, Expression};
use serde::Deserialize;

use crate::errors::{Errors, Path};
use crate::secret::SecretRef;

/// Default `clientConfig.timeoutSeconds`.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 5;
/// Default `clientConfig.maxRetries`.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Upper bound for `clientConfig.maxRetries`: beyond it a provider outage would hold requests
/// for minutes.
pub const MAX_RETRIES_LIMIT: u32 = 10;

// ---------------------------------------------------------------------------------------------
// clientConfig

/// `clientConfig` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawClientConfig {
    #[serde(default)]
    pub tls: Option<RawClientTls>,
    #[serde(default)]
    pub timeout_seconds: Option<crate::raw::RawDuration>,
    #[serde(default)]
    pub max_retries: Option<i64>,
}

/// `clientConfig.tls` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawClientTls {
    #[serde(default)]
    pub ca: Option<String>,
    #[serde(default)]
    pub cert: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// How the gateway connects to the provider: TLS trust and identity, timeout, retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    pub tls: ClientTls,
    /// Time allowed for one request to the provider (`timeoutSeconds`, default 5).
    pub timeout: Duration,
    /// Retries after a connection error or a 5xx answer (`maxRetries`, default 3).
    pub max_retries: u32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            tls: ClientTls::default(),
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECONDS),
            max_retries: DEFAULT_MAX_RETRIES,
        }
    }
}

/// `clientConfig.tls`: PEM texts (or references to them) and the verification switch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTls {
    /// CA bundle trusted for the provider instead of the system roots.
    pub ca: Option<SecretRef>,
    /// Client certificate for mutual TLS (set together with `key`).
    pub cert: Option<SecretRef>,
    /// Client key for mutual TLS (set together with `cert`).
    pub key: Option<SecretRef>,
    /// Skip certificate verification (testing only; logged as a warning when used).
    pub insecure_skip_verify: bool,
}

/// Validates `clientConfig` at `path`; an absent block gives the defaults.
pub fn validate_client_config(
    raw: Option<&RawClientConfig>,
    path: &Path,
    errors: &mut Errors,
) -> ClientConfig {
    let Some(raw) = raw else {
        return ClientConfig::default();
    };
    let mut config = ClientConfig::default();
    if let Some(timeout) = &raw.timeout_seconds {
        match crate::validate::parse_positive_duration(timeout) {
            Ok(timeout) => config.timeout = timeout,
            Err(e) => errors.push(&path.key("timeoutSeconds"), e),
        }
    }
    if let Some(retries) = raw.max_retries {
        match u32::try_from(retries) {
            Ok(retries) if retries <= MAX_RETRIES_LIMIT => config.max_retries = retries,
            _ => errors.push(
                &path.key("maxRetries"),
                format!("must be between 0 and {MAX_RETRIES_LIMIT}"),
            ),
        }
    }
    if let Some(tls) = &raw.tls {
        let tls_path = path.key("tls");
        config.tls = ClientTls {
            ca: optional_secret(tls.ca.as_deref(), &tls_path.key("ca"), errors),
            cert: optional_secret(tls.cert.as_deref(), &tls_path.key("cert"), errors),
            key: optional_secret(tls.key.as_deref(), &tls_path.key("key"), errors),
            insecure_skip_verify: tls.insecure_skip_verify,
        };
        check_pair(
            config.tls.cert.is_some(),
            config.tls.key.is_some(),
            (&tls_path.key("cert"), "cert"),
            (&tls_path.key("key"), "key"),
            errors,
        );
    }
    config
}

/// Reports the member of a pair that is missing when the other one is set.
pub fn check_pair(
    first_set: bool,
    second_set: bool,
    first: (&Path, &str),
    second: (&Path, &str),
    errors: &mut Errors,
) {
    if first_set && !second_set {
        errors.push(second.0, format!("must be set when {} is set", first.1));
    }
    if second_set && !first_set {
        errors.push(first.0, format!("must be set when {} is set", second.1));
    }
}

// ---------------------------------------------------------------------------------------------
// Secrets

/// Parses a secret-bearing option; `None` and an empty string mean "not set".
pub fn optional_secret(text: Option<&str>, path: &Path, errors: &mut Errors) -> Option<SecretRef> {
    let text = text.filter(|t| !t.is_empty())?;
    match SecretRef::parse(text) {
        Ok(reference) => Some(reference),
        Err(message) => {
            errors.push(path, message);
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Redis

/// `redis` options of a store, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRedis {
    #[serde(default)]
    pub endpoints: Vec<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub database: Option<i64>,
    #[serde(default)]
    pub cluster: Option<RawFlag>,
    #[serde(default)]
    pub tls: Option<RawRedisTls>,
    #[serde(default)]
    pub sentinel: Option<RawSentinel>,
}

/// A switch written as a boolean, or as `{}` for "on" (the newer reference's spelling of
/// `cluster`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawFlag {
    Bool(bool),
    Empty(IndexMap<String, serde_json::Value>),
}

impl RawFlag {
    fn is_on(&self) -> Result<bool, &'static str> {
        match self {
            RawFlag::Bool(on) => Ok(*on),
            RawFlag::Empty(map) if map.is_empty() => Ok(true),
            RawFlag::Empty(_) => Err("expected true, false or {}"),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRedisTls {
    #[serde(default)]
    pub ca_bundle: Option<String>,
    #[serde(default)]
    pub cert: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSentinel {
    #[serde(default)]
    pub master_set: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

/// A validated Redis connection description (single instance, Cluster or Sentinel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `host:port` of each node (or of each sentinel in Sentinel mode).
    pub endpoints: Vec<String>,
    pub username: Option<SecretRef>,
    pub password: Option<SecretRef>,
    /// Database index; Cluster mode only has database 0 and ignores it with a warning.
    pub database: u32,
    pub cluster: bool,
    pub tls: Option<RedisTls>,
    pub sentinel: Option<Sentinel>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisTls {
    pub ca_bundle: Option<SecretRef>,
    pub cert: Option<SecretRef>,
    pub key: Option<SecretRef>,
    pub insecure_skip_verify: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentinel {
    pub master_set: String,
    pub username: Option<SecretRef>,
    pub password: Option<SecretRef>,
}

/// Validates a `redis` block at `path`.
pub fn validate_redis(raw: &RawRedis, path: &Path, errors: &mut Errors) -> Option<RedisConfig> {
    let before = errors.len();
    let endpoints_path = path.key("endpoints");
    if raw.endpoints.is_empty() {
        errors.push(&endpoints_path, "at least one endpoint is required");
    }
    for (index, endpoint) in raw.endpoints.iter().enumerate() {
        if let Err(message) = check_host_port(endpoint) {
            errors.push(&endpoints_path.index(index), message);
        }
    }
    let database = match raw.database {
        None => 0,
        Some(db) => u32::try_from(db).unwrap_or_else(|_| {
            errors.push(&path.key("database"), "must be 0 or greater");
            0
        }),
    };
    let cluster = match raw.cluster.as_ref().map(RawFlag::is_on) {
        None => false,
        Some(Ok(on)) => on,
        Some(Err(message)) => {
            errors.push(&path.key("cluster"), message);
            false
        }
    };
    let tls = raw.tls.as_ref().map(|tls| {
        let tls_path = path.key("tls");
        let config = RedisTls {
            ca_bundle: optional_secret(tls.ca_bundle.as_deref(), &tls_path.key("caBundle"), errors),
            cert: optional_secret(tls.cert.as_deref(), &tls_path.key("cert"), errors),
            key: optional_secret(tls.key.as_deref(), &tls_path.key("key"), errors),
            insecure_skip_verify: tls.insecure_skip_verify,
        };
        check_pair(
            config.cert.is_some(),
            config.key.is_some(),
            (&tls_path.key("cert"), "cert"),
            (&tls_path.key("key"), "key"),
            errors,
        );
        config
    });
    let sentinel = raw.sentinel.as_ref().map(|sentinel| {
        let sentinel_path = path.key("sentinel");
        if sentinel.master_set.is_empty() {
            errors.push(
                &sentinel_path.key("masterSet"),
                "is required when using Sentinel",
            );
        }
        Sentinel {
            master_set: sentinel.master_set.clone(),
            username: optional_secret(
                sentinel.username.as_deref(),
                &sentinel_path.key("username"),
                errors,
            ),
            password: optional_secret(
                sentinel.password.as_deref(),
                &sentinel_path.key("password"),
                errors,
            ),
        }
    });
    if cluster && sentinel.is_some() {
        errors.push(
            &path.key("cluster"),
            "cluster and sentinel cannot be used together",
        );
    }
    let username = optional_secret(raw.username.as_deref(), &path.key("username"), errors);
    let password = optional_secret(raw.password.as_deref(), &path.key("password"), errors);
    (errors.len() == before).then(|| RedisConfig {
        endpoints: raw.endpoints.clone(),
        username,
        password,
        database,
        cluster,
        tls,
        sentinel,
    })
}

fn check_host_port(endpoint: &str) -> Result<(), String> {
    let (host, port) = endpoint
        .rsplit_once(':')
        .ok_or_else(|| format!("invalid endpoint {endpoint:?}: expected host:port"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || host.contains(['/', ' ', '@']) {
        return Err(format!("invalid endpoint {endpoint:?}: expected host:port"));
    }
    match port.parse::<u16>() {
        Ok(port) if port > 0 => Ok(()),
        _ => Err(format!("invalid endpoint {endpoint:?}: invalid port")),
    }
}

// ---------------------------------------------------------------------------------------------
// URL options

/// A URL option that may be a path (`/callback`), a host and a path (`example.com/callback`) or
/// an absolute URL (`https://example.com/callback`); only `http` and `https` are accepted.
///
/// A path inherits the request's scheme and host; a host and a path inherit the scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfiguredUrl {
    /// `/path?query`.
    Path { path: String, query: Option<String> },
    /// `host[:port]/path?query`, lower-cased host.
    HostPath {
        authority: String,
        path: String,
        query: Option<String>,
    },
    /// `scheme://host[:port]/path?query`.
    Absolute {
        https: bool,
        authority: String,
        path: String,
        query: Option<String>,
    },
}

impl ConfiguredUrl {
    /// Parses one of the three forms.
    pub fn parse(text: &str) -> Result<ConfiguredUrl, String> {
        if text.is_empty() {
            return Err("must not be empty".into());
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("invalid URL {text:?}: contains whitespace"));
        }
        if text.contains('#') {
            return Err(format!("invalid URL {text:?}: fragments are not allowed"));
        }
        if text.starts_with("//") {
            return Err(format!(
                "invalid URL {text:?}: expected a path, a host and a path, or an http(s) URL"
            ));
        }
        if text.starts_with('/') {
            let (path, query) = split_query(text);
            return Ok(ConfiguredUrl::Path { path, query });
        }
        if let Some((scheme, _)) = text.split_once("://") {
            let https = match scheme.to_ascii_lowercase().as_str() {
                "http" => false,
                "https" => true,
                other => {
                    return Err(format!(
                        "unsupported scheme {other:?}: only http and https are supported"
                    ));
                }
            };
            let url = url::Url::parse(text).map_err(|e| format!("invalid URL {text:?}: {e}"))?;
            let authority =
                url_authority(&url).ok_or_else(|| format!("invalid URL {text:?}: no host"))?;
            if !url.username().is_empty() || url.password().is_some() {
                return Err(format!("invalid URL {text:?}: credentials are not allowed"));
            }
            return Ok(ConfiguredUrl::Absolute {
                https,
                authority,
                path: url.path().to_owned(),
                query: url.query().map(str::to_owned),
            });
        }
        if text.contains(':') && text.split('/').next().is_some_and(|h| h.contains("::")) {
            return Err(format!("invalid URL {text:?}"));
        }
        if let Some((scheme, _)) = text.split_once(':') {
            // `mailto:x` or `javascript:...`: a scheme without `//`, never a host and a path
            // (a host with a port has only digits after the colon).
            let after = text.get(scheme.len() + 1..).unwrap_or_default();
            let port: String = after.chars().take_while(|c| *c != '/').collect();
            if port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) {
                return Err(format!(
                    "unsupported scheme {scheme:?}: only http and https are supported"
                ));
            }
        }
        let url = url::Url::parse(&format!("http://{text}"))
            .map_err(|e| format!("invalid URL {text:?}: {e}"))?;
        let authority =
            url_authority(&url).ok_or_else(|| format!("invalid URL {text:?}: no host"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("invalid URL {text:?}: credentials are not allowed"));
        }
        Ok(ConfiguredUrl::HostPath {
            authority,
            path: url.path().to_owned(),
            query: url.query().map(str::to_owned),
        })
    }

    /// The path part (always starting with `/`).
    pub fn path(&self) -> &str {
        match self {
            ConfiguredUrl::Path { path, .. }
            | ConfiguredUrl::HostPath { path, .. }
            | ConfiguredUrl::Absolute { path, .. } => path,
        }
    }

    /// The query part, if any.
    pub fn query(&self) -> Option<&str> {
        match self {
            ConfiguredUrl::Path { query, .. }
            | ConfiguredUrl::HostPath { query, .. }
            | ConfiguredUrl::Absolute { query, .. } => query.as_deref(),
        }
    }
}

fn split_query(text: &str) -> (String, Option<String>) {
    match text.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (text.to_owned(), None),
    }
}

/// `host[:port]` of a URL, lower-cased, the port kept only when it is not the default.
fn url_authority(url: &url::Url) -> Option<String> {
    let host = url.host_str().filter(|h| !h.is_empty())?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

/// Parses an optional URL option; empty means unset.
pub fn optional_url(text: Option<&str>, path: &Path, errors: &mut Errors) -> Option<ConfiguredUrl> {
    let text = text.filter(|t| !t.is_empty())?;
    match ConfiguredUrl::parse(text) {
        Ok(url) => Some(url),
        Err(message) => {
            errors.push(path, message);
            None
        }
    }
}

/// Checks an absolute `http`/`https` URL (an issuer, a token endpoint).
pub fn absolute_http_url(text: &str, path: &Path, errors: &mut Errors) -> Option<url::Url> {
    if text.is_empty() {
        errors.push(path, "is required");
        return None;
    }
    match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
            if !url.username().is_empty() || url.password().is_some() {
                errors.push(path, "credentials are not allowed in the URL");
                return None;
            }
            Some(url)
        }
        Ok(url) => {
            errors.push(
                path,
                format!(
                    "unsupported scheme {:?}: only http and https are supported",
                    url.scheme()
                ),
            );
            None
        }
        Err(e) => {
            errors.push(path, format!("invalid URL {text:?}: {e}"));
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cookies

/// The `SameSite` attribute of a cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SameSite {
    #[default]
    Lax,
    Strict,
    None,
}

impl SameSite {
    pub const fn as_str(self) -> &'static str {
        match self {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
            SameSite::None => "None",
        }
    }
}

/// Parses `sameSite` (`lax`, `strict`, `none`, any case); unset means `lax`.
pub fn same_site(text: Option<&str>, path: &Path, errors: &mut Errors) -> SameSite {
    match text.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("lax") => SameSite::Lax,
        Some("strict") => SameSite::Strict,
        Some("none") => SameSite::None,
        Some(other) => {
            errors.push(
                path,
                format!("unknown value {other:?}; expected one of: lax, strict, none"),
            );
            SameSite::Lax
        }
    }
}

/// Characters RFC 6265 forbids in a cookie name (besides controls and spaces).
const COOKIE_NAME_SEPARATORS: &[u8] = b"()<>@,;:\\\"/[]?={}";

/// True for a valid cookie name (an RFC 6265 token).
pub fn is_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !COOKIE_NAME_SEPARATORS.contains(&b))
}

/// A cookie name derived from a middleware name: characters a cookie name cannot hold (such as
/// the `@` of `name@provider`) become `-`.
pub fn cookie_name_from(middleware_name: &str, suffix: &str) -> String {
    let base: String = middleware_name
        .chars()
        .map(|c| {
            let mut buf = [0u8; 4];
            if c.is_ascii() && is_cookie_name(c.encode_utf8(&mut buf)) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{base}{suffix}")
}

/// Checks a configured cookie name.
pub fn cookie_name(
    text: Option<&str>,
    default: impl FnOnce() -> String,
    path: &Path,
    errors: &mut Errors,
) -> String {
    match text.filter(|t| !t.is_empty()) {
        None => default(),
        Some(name) => {
            if !is_cookie_name(name) {
                errors.push(path, format!("invalid cookie name {name:?}"));
            }
            name.to_owned()
        }
    }
}

/// Checks a cookie `Path` attribute (unset means `/`).
pub fn cookie_path(text: Option<&str>, path: &Path, errors: &mut Errors) -> String {
    match text.filter(|t| !t.is_empty()) {
        None => "/".into(),
        Some(value) => {
            if !value.starts_with('/') || !is_attribute_value(value) {
                errors.push(path, format!("invalid cookie path {value:?}"));
            }
            value.to_owned()
        }
    }
}

/// Checks a cookie `Domain` attribute (unset means host-only).
pub fn cookie_domain(text: Option<&str>, path: &Path, errors: &mut Errors) -> Option<String> {
    let value = text.filter(|t| !t.is_empty())?;
    let bare = value.strip_prefix('.').unwrap_or(value);
    let valid = !bare.is_empty()
        && bare
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'));
    if !valid {
        errors.push(path, format!("invalid cookie domain {value:?}"));
    }
    Some(bare.to_ascii_lowercase())
}

fn is_attribute_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b';')
}

// ---------------------------------------------------------------------------------------------
// Claims-based options

/// Headers the gateway itself controls; a claim must not overwrite them.
const RESERVED_FORWARD_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-authorization",
];

/// A header set from a claim (`forwardHeaders`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardHeader {
    pub header: HeaderName,
    pub claim: ClaimPath,
}

/// Validates `forwardHeaders`: header names, and claim keys with the claims language's syntax.
pub fn forward_headers(
    raw: &IndexMap<String, String>,
    path: &Path,
    errors: &mut Errors,
) -> Vec<ForwardHeader> {
    let mut headers: Vec<ForwardHeader> = Vec::new();
    for (name, claim) in raw {
        let entry_path = path.key(name);
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            errors.push(&entry_path, "invalid header name");
            continue;
        };
        if RESERVED_FORWARD_HEADERS.contains(&header.as_str()) {
            errors.push(
                &entry_path,
                format!("the {header} header is set by the gateway and cannot come from a claim"),
            );
            continue;
        }
        if headers.iter().any(|h| h.header == header) {
            errors.push(
                &entry_path,
                "header listed twice (names are case-insensitive)",
            );
            continue;
        }
        match ClaimPath::parse(claim) {
            Ok(claim) => headers.push(ForwardHeader { header, claim }),
            Err(e) => errors.push(&entry_path, format!("invalid claim key: {e}")),
        }
    }
    headers
}

/// Compiles `claims`; empty means no rule.
pub fn claims_expression(
    text: Option<&str>,
    path: &Path,
    errors: &mut Errors,
) -> Option<Expression> {
    let text = text.filter(|t| !t.trim().is_empty())?;
    match Expression::parse(text) {
        Ok(expression) => Some(expression),
        Err(e) => {
            errors.push(path, format!("invalid expression: {e}"));
            None
        }
    }
}

/// Parses `usernameClaim`; empty means unset.
pub fn username_claim(text: Option<&str>, path: &Path, errors: &mut Errors) -> Option<ClaimPath> {
    let text = text.filter(|t| !t.is_empty())?;
    match ClaimPath::parse(text) {
        Ok(claim) => Some(claim),
        Err(e) => {
            errors.push(path, format!("invalid claim key: {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Path {
        Path::root().key("x")
    }

    #[test]
    fn configured_urls_take_three_forms() {
        assert_eq!(
            ConfiguredUrl::parse("/cback").unwrap(),
            ConfiguredUrl::Path {
                path: "/cback".into(),
                query: None
            }
        );
        assert_eq!(
            ConfiguredUrl::parse("Expl.co/cback?a=1").unwrap(),
            ConfiguredUrl::HostPath {
                authority: "expl.co".into(),
                path: "/cback".into(),
                query: Some("a=1".into())
            }
        );
        assert_eq!(
            ConfiguredUrl::parse("expl.co:8443/cback").unwrap(),
            ConfiguredUrl::HostPath {
                authority: "expl.co:8443".into(),
                path: "/cback".into(),
                query: None
            }
        );
        assert_eq!(
            ConfiguredUrl::parse("http://expl.co/cback").unwrap(),
            ConfiguredUrl::Absolute {
                https: false,
                authority: "expl.co".into(),
                path: "/cback".into(),
                query: None
            }
        );
        assert_eq!(
            ConfiguredUrl::parse("https://expl.co:443/").unwrap(),
            ConfiguredUrl::Absolute {
                https: true,
                authority: "expl.co".into(),
                path: "/".into(),
                query: None
            }
        );
        for bad in [
            "ftp://expl.co/x",
            "javascript:alert(1)",
            "mailto:a@b",
            "//expl.co/x",
            "/a b",
            "/x#frag",
            "https://user:pw@expl.co/",
            "",
        ] {
            assert!(ConfiguredUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn client_config_defaults_and_checks() {
        let mut errors = Errors::new();
        assert_eq!(
            validate_client_config(None, &p(), &mut errors),
            ClientConfig::default()
        );
        let raw = RawClientConfig {
            tls: Some(RawClientTls {
                cert: Some("urn:k8s:secret:tls:cert".into()),
                ..Default::default()
            }),
            timeout_seconds: Some(crate::raw::RawDuration::Seconds(0.0)),
            max_retries: Some(-1),
        };
        let _ = validate_client_config(Some(&raw), &p(), &mut errors);
        let messages: Vec<String> = errors.into_vec().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            messages,
            [
                "x.timeoutSeconds: must be greater than 0",
                "x.maxRetries: must be between 0 and 10",
                "x.tls.key: must be set when cert is set",
            ]
        );
    }

    #[test]
    fn redis_checks() {
        let mut errors = Errors::new();
        let raw = RawRedis {
            endpoints: vec!["redis:6379".into(), "nope".into()],
            database: Some(-2),
            cluster: Some(RawFlag::Bool(true)),
            sentinel: Some(RawSentinel::default()),
            password: Some("urn:k8s:secret:bad".into()),
            ..Default::default()
        };
        assert!(validate_redis(&raw, &p(), &mut errors).is_none());
        let messages: Vec<String> = errors.into_vec().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            messages,
            [
                "x.endpoints[1]: invalid endpoint \"nope\": expected host:port",
                "x.database: must be 0 or greater",
                "x.sentinel.masterSet: is required when using Sentinel",
                "x.cluster: cluster and sentinel cannot be used together",
                "x.password: invalid secret reference \"urn:k8s:secret:bad\": expected urn:k8s:secret:NAME:KEY",
            ]
        );
        let mut errors = Errors::new();
        let ok = RawRedis {
            endpoints: vec!["[::1]:6379".into()],
            cluster: Some(RawFlag::Empty(IndexMap::new())),
            ..Default::default()
        };
        let config = validate_redis(&ok, &p(), &mut errors).unwrap();
        assert!(config.cluster);
        assert!(errors.is_empty());
    }

    #[test]
    fn cookie_attributes() {
        let mut errors = Errors::new();
        assert_eq!(
            cookie_name_from("ns-app@kubernetescrd", "-session"),
            "ns-app-kubernetescrd-session"
        );
        assert_eq!(same_site(Some("None"), &p(), &mut errors), SameSite::None);
        assert_eq!(same_site(None, &p(), &mut errors), SameSite::Lax);
        assert!(errors.is_empty());
        same_site(Some("sometimes"), &p(), &mut errors);
        cookie_name(Some("a b"), String::new, &p(), &mut errors);
        cookie_path(Some("docs"), &p(), &mut errors);
        cookie_domain(Some("exa mple.com"), &p(), &mut errors);
        assert_eq!(errors.len(), 4);
        assert_eq!(
            cookie_domain(Some(".Example.com"), &p(), &mut Errors::new()),
            Some("example.com".into())
        );
    }

    #[test]
    fn forward_headers_checks() {
        let mut raw = IndexMap::new();
        raw.insert("X-Group".to_owned(), "grp".to_owned());
        raw.insert("x-group".to_owned(), "other".to_owned());
        raw.insert("Authorization".to_owned(), "sub".to_owned());
        raw.insert("Bad Header".to_owned(), "sub".to_owned());
        raw.insert("X-Key".to_owned(), "a\\b".to_owned());
        let mut errors = Errors::new();
        let headers = forward_headers(&raw, &p(), &mut errors);
        assert_eq!(headers.len(), 1);
        assert_eq!(errors.len(), 4);
    }
}
