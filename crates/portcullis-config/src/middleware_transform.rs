//! Traefik's request- and response-shaping middlewares: `headers` (custom, security and CORS
//! headers), `addPrefix`, `replacePath`, `replacePathRegex`, `stripPrefixRegex`,
//! `redirectRegex`, `chain`, `compress` and `buffering`.
//!
//! Raw types keep Traefik's option names and reject unknown keys; [`validate`] turns them into the
//! typed values below, reporting every problem with its path. Regular expressions use Go's syntax,
//! as in Traefik, and are translated once here.

use http::{HeaderName, HeaderValue};
use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::errors::{Errors, Path};
use crate::model::{DynamicConfig, HeaderRule, MiddlewareConfig};
use crate::raw::RawMiddleware;

// ---------------------------------------------------------------------------------------------
// Raw configuration

/// `headers`: Traefik's option names, including the security and CORS ones.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawHeaders {
    #[serde(default)]
    pub custom_request_headers: IndexMap<String, String>,
    #[serde(default)]
    pub custom_response_headers: IndexMap<String, String>,
    #[serde(default)]
    pub access_control_allow_credentials: bool,
    #[serde(default)]
    pub access_control_allow_headers: Vec<String>,
    #[serde(default)]
    pub access_control_allow_methods: Vec<String>,
    #[serde(default)]
    pub access_control_allow_origin_list: Vec<String>,
    #[serde(default)]
    pub access_control_allow_origin_list_regex: Vec<String>,
    #[serde(default)]
    pub access_control_expose_headers: Vec<String>,
    #[serde(default)]
    pub access_control_max_age: Option<i64>,
    #[serde(default)]
    pub add_vary_header: bool,
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    #[serde(default)]
    pub hosts_proxy_headers: Vec<String>,
    #[serde(default)]
    pub ssl_proxy_headers: IndexMap<String, String>,
    #[serde(default)]
    pub sts_seconds: Option<i64>,
    #[serde(default)]
    pub sts_include_subdomains: bool,
    #[serde(default)]
    pub sts_preload: bool,
    #[serde(default, rename = "forceSTSHeader")]
    pub force_sts_header: bool,
    #[serde(default)]
    pub frame_deny: bool,
    #[serde(default)]
    pub custom_frame_options_value: String,
    #[serde(default)]
    pub content_type_nosniff: bool,
    #[serde(default)]
    pub browser_xss_filter: bool,
    #[serde(default, rename = "customBrowserXSSValue")]
    pub custom_browser_xss_value: String,
    #[serde(default)]
    pub content_security_policy: String,
    #[serde(default)]
    pub content_security_policy_report_only: String,
    #[serde(default)]
    pub public_key: String,
    #[serde(default)]
    pub referrer_policy: String,
    #[serde(default)]
    pub permissions_policy: String,
    #[serde(default)]
    pub is_development: bool,
    // Options Traefik v3 deprecated and no longer applies: refused so nobody relies on them.
    #[serde(default)]
    pub feature_policy: Option<IgnoredAny>,
    #[serde(default)]
    pub ssl_redirect: Option<IgnoredAny>,
    #[serde(default)]
    pub ssl_temporary_redirect: Option<IgnoredAny>,
    #[serde(default)]
    pub ssl_host: Option<IgnoredAny>,
    #[serde(default)]
    pub ssl_force_host: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawAddPrefix {
    #[serde(default)]
    pub prefix: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawReplacePath {
    #[serde(default)]
    pub path: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawReplacePathRegex {
    #[serde(default)]
    pub regex: String,
    #[serde(default)]
    pub replacement: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawStripPrefixRegex {
    #[serde(default)]
    pub regex: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRedirectRegex {
    #[serde(default)]
    pub regex: String,
    #[serde(default)]
    pub replacement: String,
    #[serde(default)]
    pub permanent: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawChain {
    #[serde(default)]
    pub middlewares: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCompress {
    #[serde(default)]
    pub excluded_content_types: Vec<String>,
    #[serde(default)]
    pub included_content_types: Vec<String>,
    #[serde(default)]
    pub min_response_body_bytes: Option<i64>,
    #[serde(default)]
    pub encodings: Option<Vec<String>>,
    #[serde(default)]
    pub default_encoding: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawBuffering {
    #[serde(default)]
    pub max_request_body_bytes: Option<i64>,
    #[serde(default)]
    pub mem_request_body_bytes: Option<i64>,
    #[serde(default)]
    pub max_response_body_bytes: Option<i64>,
    #[serde(default)]
    pub mem_response_body_bytes: Option<i64>,
    #[serde(default)]
    pub retry_expression: String,
}

// ---------------------------------------------------------------------------------------------
// Typed configuration

/// `headers`, checked.
#[derive(Debug, Clone, Default)]
pub struct HeadersConfig {
    /// `customRequestHeaders`: `None` removes the header.
    pub request: Vec<HeaderRule>,
    /// `customResponseHeaders`: `None` removes the header.
    pub response: Vec<HeaderRule>,
    /// The security options, when any is set.
    pub secure: Option<SecureHeaders>,
    /// The CORS options, when any is set.
    pub cors: Option<Cors>,
}

/// The security part of `headers` (Traefik's `unrolled/secure` options).
#[derive(Debug, Clone, Default)]
pub struct SecureHeaders {
    /// Lower-case host names (with port, when written with one) a request may name.
    pub allowed_hosts: Vec<String>,
    /// Headers that carry the host when the request came through another proxy.
    pub hosts_proxy_headers: Vec<HeaderName>,
    /// Header and value pairs that mark a request as HTTPS.
    pub ssl_proxy_headers: Vec<(HeaderName, HeaderValue)>,
    /// The `Strict-Transport-Security` value, when `stsSeconds` is above 0.
    pub sts: Option<HeaderValue>,
    pub force_sts_header: bool,
    /// `Public-Key-Pins`, sent on HTTPS only.
    pub public_key: Option<HeaderValue>,
    pub is_development: bool,
    /// Headers set on every response: frame options, nosniff, XSS, CSP, referrer and
    /// permissions policies.
    pub always: Vec<(HeaderName, HeaderValue)>,
}

/// The CORS part of `headers`.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    pub allow_credentials: bool,
    /// `accessControlAllowHeaders` joined with `,`; `None` when empty.
    pub allow_headers: Option<HeaderValue>,
    /// `*` is listed and credentials are allowed: the requested headers are echoed instead.
    pub allow_headers_echo: bool,
    pub allow_methods: Option<HeaderValue>,
    pub allow_methods_echo: bool,
    pub allow_origin_list: Vec<String>,
    pub allow_origin_regex: Vec<regex::Regex>,
    /// `accessControlExposeHeaders` joined with `,`; `None` when empty or when it lists `*`
    /// and credentials are allowed (browsers ignore that combination).
    pub expose_headers: Option<HeaderValue>,
    pub max_age: Option<HeaderValue>,
    pub add_vary_header: bool,
}

/// A Go regular expression and its replacement (`$1`, `${name}`).
#[derive(Debug, Clone)]
pub struct RegexReplace {
    pub regex: regex::Regex,
    pub replacement: String,
}

/// A content coding of the `compress` middleware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gzip,
    Brotli,
    Zstd,
}

impl Encoding {
    pub const fn token(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Brotli => "br",
            Encoding::Zstd => "zstd",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "gzip" => Some(Encoding::Gzip),
            "br" => Some(Encoding::Brotli),
            "zstd" => Some(Encoding::Zstd),
            _ => None,
        }
    }
}

/// A parsed media type: lower-case `type/subtype` and its parameters (names lower-case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    pub essence: String,
    pub params: Vec<(String, String)>,
}

impl MediaType {
    /// Parses a `Content-Type` value as Go's `mime.ParseMediaType` does (simplified: quoted
    /// parameter values may not contain `;`).
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split(';');
        let essence = parts.next()?.trim().to_ascii_lowercase();
        let (kind, sub) = essence.split_once('/')?;
        if !is_token(kind) || !is_token(sub) {
            return None;
        }
        let mut params = Vec::new();
        for part in parts {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (name, value) = part.split_once('=')?;
            let name = name.trim().to_ascii_lowercase();
            if !is_token(&name) {
                return None;
            }
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            params.push((name, value.to_owned()));
        }
        Some(Self { essence, params })
    }

    /// Whether a response's `other` media type is this one: same essence, and when this one
    /// names parameters, exactly the same parameters.
    pub fn matches(&self, other: &MediaType) -> bool {
        self.essence == other.essence
            && (self.params.is_empty()
                || (self.params.len() == other.params.len()
                    && self
                        .params
                        .iter()
                        .all(|(k, v)| other.params.iter().any(|(k2, v2)| k == k2 && v == v2))))
    }
}

fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `compress`, checked.
#[derive(Debug, Clone)]
pub struct CompressConfig {
    /// In priority order (first preferred at equal weight).
    pub encodings: Vec<Encoding>,
    pub default_encoding: Option<Encoding>,
    pub min_response_body_bytes: usize,
    /// Always holds `application/grpc` first.
    pub excluded_content_types: Vec<MediaType>,
    pub included_content_types: Vec<MediaType>,
}

/// Traefik's default `minResponseBodyBytes`.
pub const DEFAULT_MIN_RESPONSE_BODY_BYTES: usize = 1024;
/// Traefik's default `memRequestBodyBytes` and `memResponseBodyBytes`.
pub const DEFAULT_MEM_BODY_BYTES: u64 = 1024 * 1024;

/// `buffering`, checked. `None` limits mean unlimited (Traefik's `0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferingConfig {
    pub max_request_body_bytes: Option<u64>,
    pub mem_request_body_bytes: u64,
    pub max_response_body_bytes: Option<u64>,
    pub mem_response_body_bytes: u64,
}

// ---------------------------------------------------------------------------------------------
// Validation

/// How many of this module's middleware types `raw` sets.
pub fn set_count(raw: &RawMiddleware) -> usize {
    [
        raw.headers.is_some(),
        raw.add_prefix.is_some(),
        raw.replace_path.is_some(),
        raw.replace_path_regex.is_some(),
        raw.strip_prefix_regex.is_some(),
        raw.redirect_regex.is_some(),
        raw.chain.is_some(),
        raw.compress.is_some(),
        raw.buffering.is_some(),
    ]
    .iter()
    .filter(|s| **s)
    .count()
}

/// The names of this module's middleware types, for messages.
pub const TYPE_NAMES: &str = "headers, addPrefix, replacePath, replacePathRegex, stripPrefixRegex, redirectRegex, chain, compress, buffering";

/// Validates `raw` when it is one of this module's types: `Some(result)`, where `result` is
/// `None` when errors were reported. `None` when `raw` is another type.
pub fn validate(
    raw: &RawMiddleware,
    path: &Path,
    errors: &mut Errors,
) -> Option<Option<MiddlewareConfig>> {
    let before = errors.len();
    let config = if let Some(headers) = &raw.headers {
        MiddlewareConfig::Headers(Box::new(validate_headers(
            headers,
            &path.key("headers"),
            errors,
        )))
    } else if let Some(add) = &raw.add_prefix {
        let ppath = path.key("addPrefix").key("prefix");
        if add.prefix.is_empty() {
            errors.push(&ppath, "prefix cannot be empty");
        } else {
            check_path_text(&add.prefix, &ppath, errors);
        }
        MiddlewareConfig::AddPrefix {
            prefix: add.prefix.clone(),
        }
    } else if let Some(replace) = &raw.replace_path {
        let ppath = path.key("replacePath").key("path");
        if !replace.path.is_empty() {
            check_path_text(&replace.path, &ppath, errors);
        }
        MiddlewareConfig::ReplacePath {
            path: replace.path.clone(),
        }
    } else if let Some(replace) = &raw.replace_path_regex {
        let rpath = path.key("replacePathRegex");
        if replace.regex.trim().is_empty() {
            errors.push(&rpath.key("regex"), "is required");
        }
        let regex = go_regex(replace.regex.trim(), &rpath.key("regex"), errors);
        MiddlewareConfig::ReplacePathRegex(RegexReplace {
            regex: regex?,
            replacement: replace.replacement.trim().to_owned(),
        })
    } else if let Some(strip) = &raw.strip_prefix_regex {
        let rpath = path.key("stripPrefixRegex").key("regex");
        let mut regexes = Vec::new();
        for (i, text) in strip.regex.iter().enumerate() {
            if let Some(regex) = go_regex(text.trim(), &rpath.index(i), errors)
                && let Ok(bytes) = regex::bytes::Regex::new(regex.as_str())
            {
                regexes.push(bytes);
            }
        }
        MiddlewareConfig::StripPrefixRegex { regexes }
    } else if let Some(redirect) = &raw.redirect_regex {
        let rpath = path.key("redirectRegex");
        if redirect.regex.is_empty() {
            errors.push(&rpath.key("regex"), "is required");
        }
        let regex = go_regex(&redirect.regex, &rpath.key("regex"), errors);
        MiddlewareConfig::RedirectRegex {
            rewrite: RegexReplace {
                regex: regex?,
                replacement: redirect.replacement.clone(),
            },
            permanent: redirect.permanent,
        }
    } else if let Some(chain) = &raw.chain {
        let cpath = path.key("chain").key("middlewares");
        if chain.middlewares.is_empty() {
            errors.push(&cpath, "at least one middleware is required");
        }
        MiddlewareConfig::Chain {
            middlewares: chain
                .middlewares
                .iter()
                .map(|m| m.strip_suffix("@file").unwrap_or(m).to_owned())
                .collect(),
        }
    } else if let Some(compress) = &raw.compress {
        MiddlewareConfig::Compress(validate_compress(compress, &path.key("compress"), errors))
    } else if let Some(buffering) = &raw.buffering {
        MiddlewareConfig::Buffering(validate_buffering(
            buffering,
            &path.key("buffering"),
            errors,
        ))
    } else {
        return None;
    };
    Some((errors.len() == before).then_some(config))
}

/// Checks every `chain` of `middlewares`: each name it lists exists, and no chain contains
/// itself. Names with another provider's `@` suffix are checked when the table is built.
pub fn check_chains(
    raw: &IndexMap<String, RawMiddleware>,
    middlewares: &IndexMap<String, MiddlewareConfig>,
    root: &Path,
    errors: &mut Errors,
) {
    for (name, config) in middlewares {
        let MiddlewareConfig::Chain { middlewares: list } = config else {
            continue;
        };
        let cpath = root.key(name).key("chain").key("middlewares");
        for (i, member) in list.iter().enumerate() {
            if !member.contains('@') && !raw.contains_key(member) {
                errors.push(&cpath.index(i), format!("unknown middleware {member:?}"));
            }
        }
        if let Err(cycle) = expand(middlewares, std::slice::from_ref(name)) {
            errors.push(&cpath, cycle);
        }
    }
}

/// Most chains one router may go through, nested: deeper nesting is refused like a cycle.
const MAX_CHAIN_DEPTH: usize = 32;

/// `names` with every `chain` replaced by its members, recursively, in order.
fn expand(
    middlewares: &IndexMap<String, MiddlewareConfig>,
    names: &[String],
) -> Result<Vec<String>, String> {
    fn walk(
        middlewares: &IndexMap<String, MiddlewareConfig>,
        names: &[String],
        stack: &mut Vec<String>,
        out: &mut Vec<String>,
    ) -> Result<(), String> {
        for name in names {
            match middlewares.get(name) {
                Some(MiddlewareConfig::Chain { middlewares: inner }) => {
                    if stack.contains(name) {
                        stack.push(name.clone());
                        return Err(format!("chain cycle: {}", stack.join(" -> ")));
                    }
                    if stack.len() >= MAX_CHAIN_DEPTH {
                        return Err(format!("chains nest deeper than {MAX_CHAIN_DEPTH}"));
                    }
                    stack.push(name.clone());
                    walk(middlewares, inner, stack, out)?;
                    stack.pop();
                }
                _ => out.push(name.clone()),
            }
        }
        Ok(())
    }
    let mut out = Vec::with_capacity(names.len());
    walk(middlewares, names, &mut Vec::new(), &mut out)?;
    Ok(out)
}

impl DynamicConfig {
    /// A router's middleware list with every `chain` replaced by its members, in order.
    pub fn expand_chains(&self, names: &[String]) -> Result<Vec<String>, String> {
        expand(&self.middlewares, names)
    }
}

/// The path text must be usable as a request path: starts with `/` and holds only URI path
/// characters (percent-encoded where needed).
fn check_path_text(text: &str, path: &Path, errors: &mut Errors) {
    if !text.starts_with('/') {
        errors.push(path, "must start with '/'");
    } else if text.contains(['?', '#'])
        || text.parse::<http::uri::PathAndQuery>().is_err()
        || percent_decode_ok(text).is_none()
    {
        errors.push(
            path,
            "must be a URL path (characters outside the path syntax percent-encoded)",
        );
    }
}

/// Whether every `%` starts a valid escape, as Go's `url.PathUnescape` requires.
fn percent_decode_ok(text: &str) -> Option<()> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Some(())
}

/// Compiles a Go regular expression, groups kept capturing.
fn go_regex(text: &str, path: &Path, errors: &mut Errors) -> Option<regex::Regex> {
    let translated = match portcullis_rules::go_regex_capturing(text) {
        Ok(t) => t,
        Err(message) => {
            errors.push(path, format!("invalid regular expression: {message}"));
            return None;
        }
    };
    match regex::Regex::new(&translated) {
        Ok(regex) => Some(regex),
        Err(e) => {
            errors.push(path, format!("invalid regular expression: {e}"));
            None
        }
    }
}

fn header_value(text: &str, path: &Path, errors: &mut Errors) -> Option<HeaderValue> {
    match HeaderValue::from_str(text) {
        Ok(v) => Some(v),
        Err(_) => {
            errors.push(path, "invalid header value");
            None
        }
    }
}

fn header_name(text: &str, path: &Path, errors: &mut Errors) -> Option<HeaderName> {
    match HeaderName::from_bytes(text.as_bytes()) {
        Ok(n) => Some(n),
        Err(_) => {
            errors.push(path, "invalid header name");
            None
        }
    }
}

/// `customRequestHeaders` / `customResponseHeaders`: an empty value removes the header.
pub fn header_rules(
    raw: &IndexMap<String, String>,
    path: &Path,
    errors: &mut Errors,
) -> Vec<HeaderRule> {
    let mut rules = Vec::new();
    for (name, value) in raw {
        let hpath = path.key(name);
        let Some(header) = header_name(name, &hpath, errors) else {
            continue;
        };
        if value.is_empty() {
            rules.push((header, None));
        } else if let Some(v) = header_value(value, &hpath, errors) {
            rules.push((header, Some(v)));
        }
    }
    rules
}

fn joined(list: &[String], path: &Path, errors: &mut Errors) -> Option<HeaderValue> {
    if list.is_empty() {
        return None;
    }
    header_value(&list.join(","), path, errors)
}

fn validate_headers(raw: &RawHeaders, path: &Path, errors: &mut Errors) -> HeadersConfig {
    let deprecated = [
        (
            "featurePolicy",
            raw.feature_policy.is_some(),
            "use permissionsPolicy",
        ),
        (
            "sslRedirect",
            raw.ssl_redirect.is_some(),
            "use a redirectScheme middleware",
        ),
        (
            "sslTemporaryRedirect",
            raw.ssl_temporary_redirect.is_some(),
            "use a redirectScheme middleware",
        ),
        (
            "sslHost",
            raw.ssl_host.is_some(),
            "use a redirectRegex middleware",
        ),
        (
            "sslForceHost",
            raw.ssl_force_host.is_some(),
            "use a redirectRegex middleware",
        ),
    ];
    let mut deprecated_set = false;
    for (key, set, instead) in deprecated {
        deprecated_set |= set;
        if set {
            errors.push(
                &path.key(key),
                format!("deprecated in Traefik v3 and not supported; {instead} instead"),
            );
        }
    }
    let request = header_rules(
        &raw.custom_request_headers,
        &path.key("customRequestHeaders"),
        errors,
    );
    let response = header_rules(
        &raw.custom_response_headers,
        &path.key("customResponseHeaders"),
        errors,
    );
    let secure = secure_headers(raw, path, errors);
    let cors = cors(raw, path, errors);
    if request.is_empty()
        && response.is_empty()
        && secure.is_none()
        && cors.is_none()
        && raw.custom_request_headers.is_empty()
        && raw.custom_response_headers.is_empty()
        && !deprecated_set
    {
        errors.push(
            path,
            "headers configuration not valid: set at least one option",
        );
    }
    HeadersConfig {
        request,
        response,
        secure,
        cors,
    }
}

fn secure_headers(raw: &RawHeaders, path: &Path, errors: &mut Errors) -> Option<SecureHeaders> {
    let defined = !raw.allowed_hosts.is_empty()
        || !raw.hosts_proxy_headers.is_empty()
        || !raw.ssl_proxy_headers.is_empty()
        || raw.sts_seconds.is_some()
        || raw.sts_include_subdomains
        || raw.sts_preload
        || raw.force_sts_header
        || raw.frame_deny
        || !raw.custom_frame_options_value.is_empty()
        || raw.content_type_nosniff
        || raw.browser_xss_filter
        || !raw.custom_browser_xss_value.is_empty()
        || !raw.content_security_policy.is_empty()
        || !raw.content_security_policy_report_only.is_empty()
        || !raw.public_key.is_empty()
        || !raw.referrer_policy.is_empty()
        || !raw.permissions_policy.is_empty()
        || raw.is_development;
    if !defined {
        return None;
    }
    let mut secure = SecureHeaders {
        allowed_hosts: raw
            .allowed_hosts
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        force_sts_header: raw.force_sts_header,
        is_development: raw.is_development,
        ..SecureHeaders::default()
    };
    for (i, name) in raw.hosts_proxy_headers.iter().enumerate() {
        if let Some(n) = header_name(name, &path.key("hostsProxyHeaders").index(i), errors) {
            secure.hosts_proxy_headers.push(n);
        }
    }
    for (name, value) in &raw.ssl_proxy_headers {
        let hpath = path.key("sslProxyHeaders").key(name);
        if let (Some(n), Some(v)) = (
            header_name(name, &hpath, errors),
            header_value(value, &hpath, errors),
        ) {
            secure.ssl_proxy_headers.push((n, v));
        }
    }
    match raw.sts_seconds {
        Some(s) if s < 0 => errors.push(&path.key("stsSeconds"), "must be 0 or more"),
        Some(s) if s > 0 => {
            let mut value = format!("max-age={s}");
            if raw.sts_include_subdomains {
                value.push_str("; includeSubDomains");
            }
            if raw.sts_preload {
                value.push_str("; preload");
            }
            secure.sts = HeaderValue::from_str(&value).ok();
        }
        _ => {}
    }
    if !raw.public_key.is_empty() {
        secure.public_key = header_value(&raw.public_key, &path.key("publicKey"), errors);
    }
    let mut always = |name: &'static str, value: &str, key: &str| {
        if let Some(v) = header_value(value, &path.key(key), errors) {
            secure.always.push((HeaderName::from_static(name), v));
        }
    };
    if !raw.custom_frame_options_value.is_empty() {
        always(
            "x-frame-options",
            &raw.custom_frame_options_value,
            "customFrameOptionsValue",
        );
    } else if raw.frame_deny {
        always("x-frame-options", "DENY", "frameDeny");
    }
    if raw.content_type_nosniff {
        always("x-content-type-options", "nosniff", "contentTypeNosniff");
    }
    if !raw.custom_browser_xss_value.is_empty() {
        always(
            "x-xss-protection",
            &raw.custom_browser_xss_value,
            "customBrowserXSSValue",
        );
    } else if raw.browser_xss_filter {
        always("x-xss-protection", "1; mode=block", "browserXssFilter");
    }
    if !raw.content_security_policy.is_empty() {
        always(
            "content-security-policy",
            &raw.content_security_policy,
            "contentSecurityPolicy",
        );
    }
    if !raw.content_security_policy_report_only.is_empty() {
        always(
            "content-security-policy-report-only",
            &raw.content_security_policy_report_only,
            "contentSecurityPolicyReportOnly",
        );
    }
    if !raw.referrer_policy.is_empty() {
        always("referrer-policy", &raw.referrer_policy, "referrerPolicy");
    }
    if !raw.permissions_policy.is_empty() {
        always(
            "permissions-policy",
            &raw.permissions_policy,
            "permissionsPolicy",
        );
    }
    Some(secure)
}

fn cors(raw: &RawHeaders, path: &Path, errors: &mut Errors) -> Option<Cors> {
    let defined = raw.access_control_allow_credentials
        || !raw.access_control_allow_headers.is_empty()
        || !raw.access_control_allow_methods.is_empty()
        || !raw.access_control_allow_origin_list.is_empty()
        || !raw.access_control_allow_origin_list_regex.is_empty()
        || !raw.access_control_expose_headers.is_empty()
        || raw.access_control_max_age.is_some()
        || raw.add_vary_header;
    if !defined {
        return None;
    }
    let credentials = raw.access_control_allow_credentials;
    let star = |list: &[String]| list.iter().any(|v| v == "*");
    let mut allow_origin_regex = Vec::new();
    for (i, text) in raw
        .access_control_allow_origin_list_regex
        .iter()
        .enumerate()
    {
        if let Some(regex) = go_regex(
            text,
            &path.key("accessControlAllowOriginListRegex").index(i),
            errors,
        ) {
            allow_origin_regex.push(regex);
        }
    }
    for (i, origin) in raw.access_control_allow_origin_list.iter().enumerate() {
        if HeaderValue::from_str(origin).is_err() {
            errors.push(
                &path.key("accessControlAllowOriginList").index(i),
                "invalid header value",
            );
        }
    }
    let expose_headers = if star(&raw.access_control_expose_headers) && credentials {
        None
    } else {
        joined(
            &raw.access_control_expose_headers,
            &path.key("accessControlExposeHeaders"),
            errors,
        )
    };
    Some(Cors {
        allow_credentials: credentials,
        allow_headers: joined(
            &raw.access_control_allow_headers,
            &path.key("accessControlAllowHeaders"),
            errors,
        ),
        allow_headers_echo: star(&raw.access_control_allow_headers) && credentials,
        allow_methods: joined(
            &raw.access_control_allow_methods,
            &path.key("accessControlAllowMethods"),
            errors,
        ),
        allow_methods_echo: star(&raw.access_control_allow_methods) && credentials,
        allow_origin_list: raw.access_control_allow_origin_list.clone(),
        allow_origin_regex,
        expose_headers,
        max_age: raw.access_control_max_age.map(HeaderValue::from),
        add_vary_header: raw.add_vary_header,
    })
}

fn validate_compress(raw: &RawCompress, path: &Path, errors: &mut Errors) -> CompressConfig {
    if !raw.excluded_content_types.is_empty() && !raw.included_content_types.is_empty() {
        errors.push(
            path,
            "excludedContentTypes and includedContentTypes options are mutually exclusive",
        );
    }
    let mut media_types = |list: &[String], key: &str| {
        let mut out = Vec::new();
        for (i, text) in list.iter().enumerate() {
            match MediaType::parse(text) {
                Some(m) => out.push(m),
                None => errors.push(
                    &path.key(key).index(i),
                    format!("invalid media type {text:?}"),
                ),
            }
        }
        out
    };
    let mut excluded_content_types = vec![MediaType {
        essence: "application/grpc".into(),
        params: Vec::new(),
    }];
    excluded_content_types.extend(media_types(
        &raw.excluded_content_types,
        "excludedContentTypes",
    ));
    let included_content_types = media_types(&raw.included_content_types, "includedContentTypes");
    let min_response_body_bytes = match raw.min_response_body_bytes {
        Some(n) if n < 0 => {
            errors.push(&path.key("minResponseBodyBytes"), "must be 0 or more");
            DEFAULT_MIN_RESPONSE_BODY_BYTES
        }
        Some(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
        _ => DEFAULT_MIN_RESPONSE_BODY_BYTES,
    };
    let mut encodings = Vec::new();
    match &raw.encodings {
        None => encodings = vec![Encoding::Gzip, Encoding::Brotli, Encoding::Zstd],
        Some(list) if list.is_empty() => errors.push(
            &path.key("encodings"),
            "at least one encoding must be specified",
        ),
        Some(list) => {
            for (i, text) in list.iter().enumerate() {
                match Encoding::parse(text) {
                    Some(e) if !encodings.contains(&e) => encodings.push(e),
                    Some(_) => {}
                    None => errors.push(
                        &path.key("encodings").index(i),
                        format!("unsupported encoding {text:?}; expected gzip, br or zstd"),
                    ),
                }
            }
        }
    }
    let default_encoding = if raw.default_encoding.is_empty() {
        None
    } else {
        match Encoding::parse(&raw.default_encoding) {
            Some(e) if encodings.contains(&e) => Some(e),
            _ => {
                errors.push(
                    &path.key("defaultEncoding"),
                    format!(
                        "unsupported default encoding {:?}; it must be one of encodings",
                        raw.default_encoding
                    ),
                );
                None
            }
        }
    };
    CompressConfig {
        encodings,
        default_encoding,
        min_response_body_bytes,
        excluded_content_types,
        included_content_types,
    }
}

fn validate_buffering(raw: &RawBuffering, path: &Path, errors: &mut Errors) -> BufferingConfig {
    if !raw.retry_expression.is_empty() {
        errors.push(
            &path.key("retryExpression"),
            "not supported: the buffering middleware does not replay requests; use a retry middleware",
        );
    }
    let mut bytes = |value: Option<i64>, key: &str| -> Option<u64> {
        match value {
            Some(n) if n < 0 => {
                errors.push(&path.key(key), "must be 0 or more");
                None
            }
            Some(n) if n > 0 => u64::try_from(n).ok(),
            _ => None,
        }
    };
    BufferingConfig {
        max_request_body_bytes: bytes(raw.max_request_body_bytes, "maxRequestBodyBytes"),
        mem_request_body_bytes: bytes(raw.mem_request_body_bytes, "memRequestBodyBytes")
            .unwrap_or(DEFAULT_MEM_BODY_BYTES),
        max_response_body_bytes: bytes(raw.max_response_body_bytes, "maxResponseBodyBytes"),
        mem_response_body_bytes: bytes(raw.mem_response_body_bytes, "memResponseBodyBytes")
            .unwrap_or(DEFAULT_MEM_BODY_BYTES),
    }
}
