//! Validation of what concerns TLS: servers transports (how HTTPS upstreams are reached), the
//! dynamic `tls` section (certificates, default certificate, TLS options) and routers' `tls`.
//!
//! Nothing is read here: certificate files are read when the router table is built, so a
//! reload picks up renewed certificates and `portcullis check` reports unreadable files then.

use std::path::PathBuf;

use indexmap::IndexMap;

use crate::errors::{Errors, Path};
use crate::model::{
    CertificateSource, ClientAuth, ClientAuthType, PemSource, RouterTls, ServersTransport,
    TlsConfig, TlsOptions, TlsVersion,
};
use crate::raw::{
    RawCertificate, RawForwardingTimeouts, RawNamedServersTransport, RawRouterTls,
    RawServersTransport, RawTls,
};
use crate::validate::{duration, positive_duration};

/// The static `serversTransport`: the transport of every service that names none.
pub fn static_transport(
    raw: &RawServersTransport,
    path: &Path,
    errors: &mut Errors,
) -> ServersTransport {
    let mut transport = ServersTransport::default();
    // The flat spelling first, Traefik's `forwardingTimeouts` over it.
    apply_timeouts(
        &mut transport,
        &RawForwardingTimeouts {
            dial_timeout: raw.dial_timeout.clone(),
            response_header_timeout: raw.response_header_timeout.clone(),
            idle_conn_timeout: raw.idle_conn_timeout.clone(),
        },
        path,
        errors,
    );
    if let Some(timeouts) = &raw.forwarding_timeouts {
        apply_timeouts(
            &mut transport,
            timeouts,
            &path.key("forwardingTimeouts"),
            errors,
        );
    }
    if let Some(n) = raw.max_idle_conns_per_host {
        transport.max_idle_conns_per_host = n;
    }
    transport.insecure_skip_verify = raw.insecure_skip_verify;
    transport.root_cas = pem_files(&raw.root_cas, &path.key("rootCAs"), errors);
    transport
}

/// `http.serversTransports.<name>`; unset options take Traefik's defaults.
pub fn named_transport(
    raw: &RawNamedServersTransport,
    path: &Path,
    errors: &mut Errors,
) -> ServersTransport {
    let mut transport = ServersTransport::default();
    if let Some(timeouts) = &raw.forwarding_timeouts {
        apply_timeouts(
            &mut transport,
            timeouts,
            &path.key("forwardingTimeouts"),
            errors,
        );
    }
    if let Some(n) = raw.max_idle_conns_per_host {
        transport.max_idle_conns_per_host = n;
    }
    transport.server_name = raw
        .server_name
        .as_ref()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty());
    transport.insecure_skip_verify = raw.insecure_skip_verify;
    transport.root_cas = pem_files(&raw.root_cas, &path.key("rootCAs"), errors);
    transport.certificates = raw
        .certificates
        .iter()
        .enumerate()
        .filter_map(|(i, c)| certificate(c, &path.key("certificates").index(i), errors))
        .collect();
    transport.disable_http2 = raw.disable_http2;
    transport
}

fn apply_timeouts(
    transport: &mut ServersTransport,
    raw: &RawForwardingTimeouts,
    path: &Path,
    errors: &mut Errors,
) {
    if let Some(d) = positive_duration(&raw.dial_timeout, &path.key("dialTimeout"), errors) {
        transport.dial_timeout = d;
    }
    if let Some(d) = raw
        .response_header_timeout
        .as_ref()
        .and_then(|d| duration(d, &path.key("responseHeaderTimeout"), errors))
    {
        // Traefik's convention: zero means no timeout.
        transport.response_header_timeout = (!d.is_zero()).then_some(d);
    }
    if let Some(d) = positive_duration(&raw.idle_conn_timeout, &path.key("idleConnTimeout"), errors)
    {
        transport.idle_conn_timeout = d;
    }
}

fn pem_files(files: &[String], path: &Path, errors: &mut Errors) -> Vec<PemSource> {
    let mut out = Vec::new();
    for (i, file) in files.iter().enumerate() {
        if file.trim().is_empty() {
            errors.push(&path.index(i), "must be a file path");
        } else {
            out.push(PemSource::File(PathBuf::from(file)));
        }
    }
    out
}

fn certificate(
    raw: &RawCertificate,
    path: &Path,
    errors: &mut Errors,
) -> Option<CertificateSource> {
    let mut ok = true;
    if raw.cert_file.trim().is_empty() {
        errors.push(&path.key("certFile"), "is required");
        ok = false;
    }
    if raw.key_file.trim().is_empty() {
        errors.push(&path.key("keyFile"), "is required");
        ok = false;
    }
    for (i, store) in raw.stores.iter().enumerate() {
        if store != "default" {
            errors.push(
                &path.key("stores").index(i),
                format!("unknown store {store:?}; only the default store exists"),
            );
        }
    }
    ok.then(|| CertificateSource {
        cert: PemSource::File(PathBuf::from(&raw.cert_file)),
        key: PemSource::File(PathBuf::from(&raw.key_file)),
    })
}

/// The top-level `tls` section.
pub fn tls_section(raw: &RawTls, errors: &mut Errors) -> TlsConfig {
    let path = Path::root().key("tls");
    let certificates = raw
        .certificates
        .iter()
        .enumerate()
        .filter_map(|(i, c)| certificate(c, &path.key("certificates").index(i), errors))
        .collect();
    let mut default_certificate = None;
    for (name, store) in &raw.stores {
        let spath = path.key("stores").key(name);
        if name != "default" {
            errors.push(&spath, "only the default store exists");
            continue;
        }
        default_certificate = store
            .default_certificate
            .as_ref()
            .and_then(|c| certificate(c, &spath.key("defaultCertificate"), errors));
    }
    let mut options = IndexMap::new();
    for (name, raw) in &raw.options {
        let opath = path.key("options").key(name);
        let client_auth = raw
            .client_auth
            .as_ref()
            .map(|auth| {
                let apath = opath.key("clientAuth");
                let auth_type = client_auth_type(
                    auth.client_auth_type.as_deref(),
                    &apath.key("clientAuthType"),
                    errors,
                );
                let ca = pem_files(&auth.ca_files, &apath.key("caFiles"), errors);
                client_auth_with(ca, auth_type, &apath, errors)
            })
            .unwrap_or_default();
        let parsed = TlsOptions {
            min_version: tls_version(raw.min_version.as_deref(), &opath.key("minVersion"), errors),
            max_version: tls_version(raw.max_version.as_deref(), &opath.key("maxVersion"), errors),
            cipher_suites: cipher_suites(&raw.cipher_suites, &opath.key("cipherSuites"), errors),
            client_auth,
            sni_strict: raw.sni_strict,
        };
        options.insert(name.clone(), parsed);
    }
    TlsConfig {
        certificates,
        default_certificate,
        options,
    }
}

/// Checks that a client authentication that verifies has authorities to verify with.
pub fn client_auth_with(
    ca: Vec<PemSource>,
    auth_type: ClientAuthType,
    path: &Path,
    errors: &mut Errors,
) -> ClientAuth {
    if auth_type != ClientAuthType::NoClientCert && ca.is_empty() {
        errors.push(
            path,
            "clientAuthType verifies client certificates: give the authorities (caFiles)",
        );
    }
    ClientAuth { ca, auth_type }
}

/// Traefik's `VersionTLS1x` names. TLS 1.0 and 1.1 are not offered at all, so asking for them
/// as a minimum means TLS 1.2.
pub fn tls_version(text: Option<&str>, path: &Path, errors: &mut Errors) -> Option<TlsVersion> {
    match text? {
        "" => None,
        "VersionTLS10" | "VersionTLS11" | "VersionTLS12" => Some(TlsVersion::Tls12),
        "VersionTLS13" => Some(TlsVersion::Tls13),
        other => {
            errors.push(
                path,
                format!("unknown TLS version {other:?}; expected VersionTLS12 or VersionTLS13"),
            );
            None
        }
    }
}

/// Traefik's `clientAuthType` names.
pub fn client_auth_type(text: Option<&str>, path: &Path, errors: &mut Errors) -> ClientAuthType {
    match text.unwrap_or("") {
        "" | "NoClientCert" => ClientAuthType::NoClientCert,
        "VerifyClientCertIfGiven" => ClientAuthType::VerifyClientCertIfGiven,
        "RequireAndVerifyClientCert" => ClientAuthType::RequireAndVerifyClientCert,
        unverified @ ("RequestClientCert" | "RequireAnyClientCert") => {
            errors.push(
                path,
                format!("{unverified} accepts certificates nobody vouches for and is not supported; use VerifyClientCertIfGiven or RequireAndVerifyClientCert"),
            );
            ClientAuthType::NoClientCert
        }
        other => {
            errors.push(
                path,
                format!("unknown client authentication type {other:?}"),
            );
            ClientAuthType::NoClientCert
        }
    }
}

/// The TLS 1.2 suites the gateway can offer, by their IANA names (as Traefik writes them).
pub const TLS12_SUITES: &[&str] = &[
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];

/// TLS 1.3 suites are always on (as in Traefik, where Go ignores them in this list).
pub const TLS13_SUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

pub fn cipher_suites(names: &[String], path: &Path, errors: &mut Errors) -> Vec<String> {
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        // Go's aliases without the _SHA256 suffix for ChaCha20.
        let canonical = match name.as_str() {
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => {
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
            }
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            other => other,
        };
        if TLS12_SUITES.contains(&canonical) {
            out.push(canonical.to_owned());
        } else if !TLS13_SUITES.contains(&canonical) {
            errors.push(
                &path.index(i),
                format!(
                    "unsupported cipher suite {name:?}; supported: {}",
                    TLS12_SUITES.join(", ")
                ),
            );
        }
    }
    out
}

/// A router's `tls`; `options` must name a TLS option of `known` (or `default`).
pub fn router_tls(
    raw: Option<&RawRouterTls>,
    known: &IndexMap<String, TlsOptions>,
    path: &Path,
    errors: &mut Errors,
) -> Option<RouterTls> {
    let raw = raw?;
    if raw.cert_resolver.as_deref().is_some_and(|r| !r.is_empty()) {
        errors.push(
            &path.key("certResolver"),
            "certificate resolvers (ACME) are not supported; give certificates in tls.certificates",
        );
    }
    let options = raw
        .options
        .as_deref()
        .map(|o| o.strip_suffix("@file").unwrap_or(o))
        .filter(|o| !o.is_empty())
        .map(str::to_owned);
    if let Some(name) = &options
        && name != "default"
        && !known.contains_key(name)
    {
        errors.push(
            &path.key("options"),
            format!("unknown TLS options {name:?}"),
        );
    }
    Some(RouterTls { options })
}
