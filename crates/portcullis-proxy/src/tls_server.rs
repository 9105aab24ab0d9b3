//! TLS for routers with `tls`: the certificate is chosen by the SNI of the client's hello among
//! the configured certificates (the default certificate when none matches), under the TLS
//! options of the routers serving that host.
//!
//! A router with `tls` is only reachable over TLS, so a route written for HTTPS is never served
//! in clear text (a downgrade); `clientAuth` options refuse clients without a certificate from
//! the given authorities before any request is read; `sniStrict` refuses names no certificate
//! covers instead of answering with a certificate for another name.

use std::collections::HashMap;
use std::sync::Arc;

use portcullis_config::{
    ClientAuthType, ConfigError, RouterConfig, TlsConfig, TlsOptions, TlsVersion,
};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite};
use rustls_pki_types::ServerName;

use crate::tls_client::{certificates, certified_key, provider};

/// The TLS side of a router table.
pub struct TlsTable {
    /// A server configuration per TLS options name (`default` always present).
    configs: HashMap<String, Arc<ServerConfig>>,
    /// TLS options name by host (lower case), from the `Host` rules of routers with `tls`.
    hosts: HashMap<String, String>,
}

impl TlsTable {
    /// `None` when there is no certificate at all: TLS connections are then refused.
    pub fn build(
        tls: &TlsConfig,
        routers: &[RouterConfig],
    ) -> Result<Option<Self>, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut error = |path: String, message: String| errors.push(ConfigError { path, message });
        let provider = provider();
        let mut keys = Vec::new();
        for (i, source) in tls.certificates.iter().enumerate() {
            match certified_key(source, &provider) {
                Ok(key) => keys.push(Arc::new(key)),
                Err(e) => error(format!("tls.certificates[{i}]"), e.to_string()),
            }
        }
        let default = match &tls.default_certificate {
            Some(source) => match certified_key(source, &provider) {
                Ok(key) => Some(Arc::new(key)),
                Err(e) => {
                    error(
                        "tls.stores.default.defaultCertificate".into(),
                        e.to_string(),
                    );
                    None
                }
            },
            None => None,
        };
        let mut hosts: HashMap<String, String> = HashMap::new();
        let mut conflicts = Vec::new();
        for router in routers {
            let Some(router_tls) = &router.tls else {
                continue;
            };
            let options = router_tls
                .options
                .clone()
                .unwrap_or_else(|| "default".into());
            for host in rule_hosts(&router.rule_text) {
                match hosts.get(&host) {
                    Some(existing) if *existing != options => conflicts.push(host),
                    _ => {
                        hosts.insert(host, options.clone());
                    }
                }
            }
        }
        for host in conflicts {
            // Traefik's rule: routers of one host disagreeing on options get the default ones.
            tracing::warn!(%host, "routers of this host ask for different TLS options; the default options apply");
            hosts.insert(host, "default".into());
        }
        let store = Arc::new(CertStore { keys, default });
        let mut configs = HashMap::new();
        let default_options = TlsOptions::default();
        let mut named: Vec<(&str, &TlsOptions)> =
            tls.options.iter().map(|(n, o)| (n.as_str(), o)).collect();
        if !tls.options.contains_key("default") {
            named.push(("default", &default_options));
        }
        for (name, options) in named {
            match server_config(options, &store, &provider) {
                Ok(config) => {
                    configs.insert(name.to_owned(), Arc::new(config));
                }
                Err(e) => error(format!("tls.options.{name}"), e.to_string()),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        if store.keys.is_empty() && store.default.is_none() {
            return Ok(None);
        }
        Ok(Some(Self { configs, hosts }))
    }

    /// The server configuration for a client hello naming `sni`.
    pub fn config_for(&self, sni: Option<&str>) -> Option<Arc<ServerConfig>> {
        let options = sni
            .and_then(|name| self.hosts.get(&name.to_ascii_lowercase()))
            .map_or("default", String::as_str);
        self.configs
            .get(options)
            .or_else(|| self.configs.get("default"))
            .cloned()
    }
}

/// The literal hosts of `Host(`...`)` matchers in a rule's text.
fn rule_hosts(rule: &str) -> Vec<String> {
    let mut hosts = Vec::new();
    let mut rest = rule;
    while let Some(at) = rest.find("Host(") {
        rest = rest.get(at + "Host(".len()..).unwrap_or_default();
        let Some(open) = rest.strip_prefix('`').or_else(|| rest.strip_prefix('"')) else {
            continue;
        };
        if let Some(end) = open.find(['`', '"']) {
            hosts.push(open.get(..end).unwrap_or_default().to_ascii_lowercase());
        }
    }
    hosts
}

fn server_config(
    options: &TlsOptions,
    store: &Arc<CertStore>,
    base: &CryptoProvider,
) -> Result<ServerConfig, String> {
    let mut provider = base.clone();
    if !options.cipher_suites.is_empty() {
        provider.cipher_suites.retain(|suite| match suite {
            SupportedCipherSuite::Tls13(_) => true,
            SupportedCipherSuite::Tls12(_) => options
                .cipher_suites
                .iter()
                .any(|name| *name == format!("{:?}", suite.suite())),
        });
    }
    let min = options.min_version.unwrap_or(TlsVersion::Tls12);
    let max = options.max_version.unwrap_or(TlsVersion::Tls13);
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| *v >= min && *v <= max)
    .map(|(_, version)| version)
    .collect();
    if versions.is_empty() {
        return Err("minVersion is above maxVersion".into());
    }
    let provider = Arc::new(provider);
    let verifier = match options.client_auth.auth_type {
        ClientAuthType::NoClientCert => WebPkiClientVerifier::no_client_auth(),
        auth_type => {
            let mut roots = RootCertStore::empty();
            for source in &options.client_auth.ca {
                for cert in certificates(source)? {
                    roots
                        .add(cert)
                        .map_err(|e| format!("clientAuth.caFiles {source:?}: {e}"))?;
                }
            }
            let builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let builder = if auth_type == ClientAuthType::VerifyClientCertIfGiven {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            builder.build().map_err(|e| format!("clientAuth: {e}"))?
        }
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(Resolver {
            store: store.clone(),
            sni_strict: options.sni_strict,
        }));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The certificates of the store.
#[derive(Debug)]
struct CertStore {
    keys: Vec<Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
}

impl CertStore {
    /// The first certificate valid for `name`.
    fn matching(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let name = ServerName::try_from(name).ok()?;
        self.keys
            .iter()
            .find(|key| {
                key.end_entity_cert().is_ok_and(|der| {
                    webpki::EndEntityCert::try_from(der)
                        .is_ok_and(|cert| cert.verify_is_valid_for_subject_name(&name).is_ok())
                })
            })
            .cloned()
    }
}

#[derive(Debug)]
struct Resolver {
    store: Arc<CertStore>,
    sni_strict: bool,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(found) = hello.server_name().and_then(|n| self.store.matching(n)) {
            return Some(found);
        }
        if self.sni_strict {
            return None;
        }
        self.store.default.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::rule_hosts;

    #[test]
    fn hosts_are_read_from_host_matchers() {
        assert_eq!(
            rule_hosts("Host(`A.example.com`) && PathPrefix(`/x`) || Host(\"b.example.com\")"),
            vec!["a.example.com", "b.example.com"]
        );
        assert!(rule_hosts("HostRegexp(`.*`)").is_empty());
    }
}
