//! `ServersTransport` and `TLSOption` resources, and the `tls` of IngressRoutes.
//!
//! Certificates and authorities come from Secrets of the resource's own namespace only, so a
//! route author cannot serve (or trust) another namespace's keys. An IngressRoute whose `tls`
//! cannot be honoured has its routes held closed rather than served without TLS.

use std::collections::BTreeMap;

use kube::core::DynamicObject;
use portcullis_config::errors::{Errors, Path};
use portcullis_config::raw::RawForwardingTimeouts;
use portcullis_config::transport::{
    cipher_suites, client_auth_type, client_auth_with, tls_version,
};
use portcullis_config::{CertificateSource, PemSource, RouterTls, ServersTransport, TlsOptions};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use super::{PROVIDER_SUFFIX, Problem, Reason, Settings, Snapshot, Translation, reference};
use crate::resources;

/// The name of resource `name` of `namespace` in the dynamic configuration.
pub fn resource_name(namespace: &str, name: &str) -> String {
    format!("{namespace}-{name}{PROVIDER_SUFFIX}")
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServersTransportSpec {
    #[serde(default)]
    server_name: Option<String>,
    #[serde(default)]
    insecure_skip_verify: bool,
    /// `[{secret: name}]` or `[{configMap: name}]` (ConfigMaps are not watched).
    #[serde(default, rename = "rootCAs")]
    root_cas: Vec<BTreeMap<String, String>>,
    #[serde(default, rename = "rootCAsSecrets")]
    root_cas_secrets: Vec<String>,
    #[serde(default)]
    certificates_secrets: Vec<String>,
    #[serde(default)]
    max_idle_conns_per_host: Option<usize>,
    #[serde(default)]
    forwarding_timeouts: Option<RawForwardingTimeouts>,
    #[serde(default, rename = "disableHTTP2")]
    disable_http2: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TlsOptionSpec {
    #[serde(default)]
    min_version: Option<String>,
    #[serde(default)]
    max_version: Option<String>,
    #[serde(default)]
    cipher_suites: Vec<String>,
    #[serde(default)]
    client_auth: Option<ClientAuthSpec>,
    #[serde(default)]
    sni_strict: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ClientAuthSpec {
    #[serde(default)]
    secret_names: Vec<String>,
    #[serde(default)]
    client_auth_type: Option<String>,
}

/// An IngressRoute's `tls`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngressRouteTls {
    #[serde(default)]
    secret_name: Option<String>,
    #[serde(default)]
    options: Option<ResourceRef>,
    #[serde(default)]
    cert_resolver: Option<String>,
    /// Used by Traefik for ACME; certificates here come from the Secret.
    #[serde(default)]
    #[allow(dead_code)]
    domains: Vec<serde_json::Value>,
    #[serde(default)]
    store: Option<ResourceRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ResourceRef {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

/// The keys in which Secrets hold a CA, as Traefik reads them.
const CA_KEYS: &[&str] = &["tls.ca", "ca.crt"];

fn secret_text(
    snapshot: &Snapshot,
    namespace: &str,
    name: &str,
    keys: &[&str],
) -> Result<String, String> {
    let secret = snapshot
        .secrets
        .iter()
        .find(|s| {
            s.metadata.namespace.as_deref() == Some(namespace)
                && s.metadata.name.as_deref() == Some(name)
        })
        .ok_or_else(|| format!("secret {namespace}/{name} not found"))?;
    let data = secret.data.as_ref();
    let bytes = keys
        .iter()
        .find_map(|key| data.and_then(|d| d.get(*key)))
        .ok_or_else(|| format!("secret {namespace}/{name} has no key {}", keys.join(" or ")))?;
    String::from_utf8(bytes.0.clone())
        .map_err(|_| format!("secret {namespace}/{name}: not PEM text"))
}

fn certificate_pem(text: &str, what: &str) -> Result<(), String> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(text.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{what}: invalid certificate: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what}: no certificate"));
    }
    Ok(())
}

/// A `kubernetes.io/tls` Secret's certificate and key, checked to parse.
fn tls_secret(
    snapshot: &Snapshot,
    namespace: &str,
    name: &str,
) -> Result<CertificateSource, String> {
    let cert = secret_text(snapshot, namespace, name, &["tls.crt"])?;
    let key = secret_text(snapshot, namespace, name, &["tls.key"])?;
    certificate_pem(&cert, &format!("secret {namespace}/{name} tls.crt"))?;
    PrivateKeyDer::from_pem_slice(key.as_bytes())
        .map_err(|e| format!("secret {namespace}/{name} tls.key: {e}"))?;
    Ok(CertificateSource {
        cert: PemSource::Inline(cert),
        key: PemSource::Inline(key),
    })
}

fn ca_secret(snapshot: &Snapshot, namespace: &str, name: &str) -> Result<PemSource, String> {
    let text = secret_text(snapshot, namespace, name, CA_KEYS)?;
    certificate_pem(&text, &format!("secret {namespace}/{name}"))?;
    Ok(PemSource::Inline(text))
}

/// Errors of a validation done by the configuration crate, as one message.
fn joined(errors: Errors) -> Result<(), String> {
    if errors.is_empty() {
        return Ok(());
    }
    Err(errors
        .into_vec()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; "))
}

fn servers_transport(
    snapshot: &Snapshot,
    object: &DynamicObject,
) -> Result<ServersTransport, String> {
    let (namespace, _) = resources::key_of(&object.metadata);
    let spec: ServersTransportSpec = serde_json::from_value(resources::spec_of(object)?.clone())
        .map_err(|e| format!("spec: {e}"))?;
    let mut errors = Errors::new();
    let path = Path::root().key("spec");
    let mut transport = ServersTransport::default();
    if let Some(timeouts) = &spec.forwarding_timeouts {
        let raw = portcullis_config::raw::RawNamedServersTransport {
            forwarding_timeouts: Some(RawForwardingTimeouts {
                dial_timeout: timeouts.dial_timeout.clone(),
                response_header_timeout: timeouts.response_header_timeout.clone(),
                idle_conn_timeout: timeouts.idle_conn_timeout.clone(),
            }),
            ..Default::default()
        };
        let parsed = portcullis_config::transport::named_transport(&raw, &path, &mut errors);
        transport.dial_timeout = parsed.dial_timeout;
        transport.response_header_timeout = parsed.response_header_timeout;
        transport.idle_conn_timeout = parsed.idle_conn_timeout;
    }
    joined(errors)?;
    if let Some(n) = spec.max_idle_conns_per_host {
        transport.max_idle_conns_per_host = n;
    }
    transport.server_name = spec.server_name.filter(|n| !n.trim().is_empty());
    transport.insecure_skip_verify = spec.insecure_skip_verify;
    transport.disable_http2 = spec.disable_http2;
    for (i, source) in spec.root_cas.iter().enumerate() {
        match (source.get("secret"), source.get("configMap")) {
            (Some(name), None) if source.len() == 1 => {
                transport
                    .root_cas
                    .push(ca_secret(snapshot, &namespace, name)?);
            }
            (None, Some(_)) => {
                return Err(format!(
                    "spec.rootCAs[{i}].configMap: ConfigMaps are not supported; use a Secret"
                ));
            }
            _ => return Err(format!("spec.rootCAs[{i}]: expected secret or configMap")),
        }
    }
    for name in &spec.root_cas_secrets {
        transport
            .root_cas
            .push(ca_secret(snapshot, &namespace, name)?);
    }
    for name in &spec.certificates_secrets {
        transport
            .certificates
            .push(tls_secret(snapshot, &namespace, name)?);
    }
    Ok(transport)
}

/// Adds every valid ServersTransport; reports the others.
pub fn translate_servers_transports(snapshot: &Snapshot, out: &mut Translation) {
    for object in &snapshot.servers_transports {
        let (namespace, name) = resources::key_of(&object.metadata);
        match servers_transport(snapshot, object) {
            Ok(transport) => {
                out.dynamic
                    .servers_transports
                    .insert(resource_name(&namespace, &name), transport);
            }
            Err(message) => out.problems.push(Problem {
                object: reference(object, "ServersTransport"),
                reason: Reason::InvalidServersTransport,
                message,
            }),
        }
    }
}

fn tls_option(snapshot: &Snapshot, object: &DynamicObject) -> Result<TlsOptions, String> {
    let (namespace, _) = resources::key_of(&object.metadata);
    let spec: TlsOptionSpec = serde_json::from_value(resources::spec_of(object)?.clone())
        .map_err(|e| format!("spec: {e}"))?;
    let mut errors = Errors::new();
    let path = Path::root().key("spec");
    let mut options = TlsOptions {
        min_version: tls_version(
            spec.min_version.as_deref(),
            &path.key("minVersion"),
            &mut errors,
        ),
        max_version: tls_version(
            spec.max_version.as_deref(),
            &path.key("maxVersion"),
            &mut errors,
        ),
        cipher_suites: cipher_suites(&spec.cipher_suites, &path.key("cipherSuites"), &mut errors),
        client_auth: Default::default(),
        sni_strict: spec.sni_strict,
    };
    if let Some(auth) = &spec.client_auth {
        let apath = path.key("clientAuth");
        let auth_type = client_auth_type(
            auth.client_auth_type.as_deref(),
            &apath.key("clientAuthType"),
            &mut errors,
        );
        let mut ca = Vec::new();
        for name in &auth.secret_names {
            ca.push(ca_secret(snapshot, &namespace, name)?);
        }
        options.client_auth = client_auth_with(ca, auth_type, &apath, &mut errors);
    }
    joined(errors)?;
    Ok(options)
}

/// Adds every valid TLSOption; reports the others.
pub fn translate_tls_options(snapshot: &Snapshot, out: &mut Translation) {
    for object in &snapshot.tls_options {
        let (namespace, name) = resources::key_of(&object.metadata);
        match tls_option(snapshot, object) {
            Ok(options) => {
                out.dynamic
                    .tls
                    .options
                    .insert(resource_name(&namespace, &name), options);
            }
            Err(message) => out.problems.push(Problem {
                object: reference(object, "TLSOption"),
                reason: Reason::InvalidTlsOption,
                message,
            }),
        }
    }
}

/// The routers' TLS of an IngressRoute's `tls`, its Secret's certificate added to the store;
/// or why its routes must stay closed.
pub fn ingress_route_tls(
    value: &serde_json::Value,
    snapshot: &Snapshot,
    namespace: &str,
    settings: &Settings,
    out: &mut Translation,
) -> Result<RouterTls, String> {
    let tls: IngressRouteTls =
        serde_json::from_value(value.clone()).map_err(|e| format!("spec.tls: {e}"))?;
    if tls.cert_resolver.as_deref().is_some_and(|r| !r.is_empty()) {
        return Err(
            "spec.tls.certResolver: certificate resolvers (ACME) are not supported; give the certificate in a Secret with secretName"
                .into(),
        );
    }
    if let Some(store) = &tls.store
        && store.name != "default"
    {
        return Err("spec.tls.store: only the default store exists".into());
    }
    let options = match &tls.options {
        None => None,
        Some(reference) => {
            let ns = reference
                .namespace
                .as_deref()
                .filter(|ns| !ns.is_empty())
                .unwrap_or(namespace);
            super::cross_namespace_allowed(ns, namespace, settings, "spec.tls.options")?;
            let key = resource_name(ns, &reference.name);
            if !out.dynamic.tls.options.contains_key(&key) {
                return Err(format!(
                    "spec.tls.options: TLSOption {ns}/{} does not exist or is invalid",
                    reference.name
                ));
            }
            Some(key)
        }
    };
    if let Some(secret) = tls.secret_name.as_deref().filter(|s| !s.is_empty()) {
        let certificate = tls_secret(snapshot, namespace, secret)
            .map_err(|e| format!("spec.tls.secretName: {e}"))?;
        if !out.dynamic.tls.certificates.contains(&certificate) {
            out.dynamic.tls.certificates.push(certificate);
        }
    }
    Ok(RouterTls { options })
}

/// The dynamic name of the ServersTransport a service names: `name` in the route's namespace,
/// or Traefik's `namespace-name@kubernetescrd`.
pub fn transport_reference(
    text: &str,
    namespace: &str,
    settings: &Settings,
    known: &indexmap::IndexMap<String, ServersTransport>,
    path: &str,
) -> Result<String, String> {
    let key = if text.ends_with(PROVIDER_SUFFIX) {
        let own = format!("{namespace}-");
        if !text.starts_with(&own) && !settings.allow_cross_namespace {
            return Err(format!(
                "{path}: {text:?} is in another namespace and allowCrossNamespace is off"
            ));
        }
        text.to_owned()
    } else if text.contains('@') {
        return Err(format!(
            "{path}: {text:?}: references to other providers are not supported"
        ));
    } else {
        resource_name(namespace, text)
    };
    if !known.contains_key(&key) {
        return Err(format!(
            "{path}: ServersTransport {text:?} does not exist or is invalid"
        ));
    }
    Ok(key)
}
