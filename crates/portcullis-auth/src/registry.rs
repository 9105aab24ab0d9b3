//! What the gateway calls to turn a validated `plugin:` block into a middleware.
//!
//! [`build_plugin`] builds a fresh instance. [`AuthRegistry`] keeps the instances of the
//! running configuration and, on a reload, reuses an instance whose configuration and resolved
//! secrets are unchanged — so its discovery cache, JWKS, refresh single-flight table,
//! revocation record and (client credentials) token cache survive the reload. When only the secrets changed, the new instance keeps
//! the previous instance's keys for opening cookies, for one `session.expiry`, so a rotated
//! secret logs nobody out and a leaked old secret stops working. Each OIDC build logs what its
//! session keys derive from ([`AuthRegistry::session_key_notes`] lists it for `check`).
//! Building never touches the network.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use portcullis_config::SecretError;
use portcullis_config::SecretResolver;
use portcullis_config::plugin::PluginConfig;
use portcullis_config::plugin::client_credentials::ClientCredentialsConfig;
use portcullis_proxy::middleware::Middleware;

use crate::oidc::{OidcMiddleware, OidcOptions, OidcSecrets};
use crate::shared::provider_client::ClientBuildError;
use crate::shared::recorded_secrets::{Recorded, Recorder};

/// Why a middleware could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("middleware {middleware:?}: {option}: {source}")]
    Secret {
        middleware: String,
        option: &'static str,
        source: SecretError,
    },
    #[error("middleware {middleware:?}: {source}")]
    Client {
        middleware: String,
        source: ClientBuildError,
    },
    #[error("middleware {middleware:?}: session.store is set but no shared store was built")]
    SharedStoreMissing { middleware: String },
    #[error("middleware {middleware:?}: session.store.redis: {source}")]
    SessionStore {
        middleware: String,
        source: portcullis_store::StoreError,
    },
    #[error("middleware {middleware:?}: session.secret: {message}")]
    SessionSecret { middleware: String, message: String },
    #[error("middleware {middleware:?}: key derivation failed")]
    Crypto { middleware: String },
    #[error("middleware {middleware:?}: {source}")]
    ClientCredentials {
        middleware: String,
        source: crate::client_credentials::ClientCredentialsBuildError,
    },
}

/// Logs the keys of a middleware's block written in another spelling than the canonical one.
fn warn_spelling(middleware: &str, notes: &[String]) {
    for note in notes {
        tracing::warn!(middleware = %middleware, "{note}");
    }
}

/// Builds the middleware of one `plugin:` block (`name`: the middleware's name; `namespace`:
/// its Kubernetes namespace, for `urn:k8s:secret:` references).
pub fn build_plugin(
    name: &str,
    config: &PluginConfig,
    namespace: Option<&str>,
    secrets: &dyn SecretResolver,
) -> Result<Arc<dyn Middleware>, BuildError> {
    AuthRegistry::new().build(name, config, namespace, secrets)
}

#[derive(Debug)]
struct Entry {
    oidc: OidcMiddleware,
}

/// A client credentials instance, with what it was built from.
struct CredentialsEntry {
    config: ClientCredentialsConfig,
    secrets: Recorded,
    middleware: Arc<dyn Middleware>,
}

impl std::fmt::Debug for CredentialsEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsEntry").finish_non_exhaustive()
    }
}

type Key = (Option<String>, String);

/// The authentication middlewares of the running configuration, reused across reloads.
#[derive(Debug, Default)]
pub struct AuthRegistry {
    entries: Mutex<HashMap<Key, Entry>>,
    // Kept so that a reload — with Kubernetes, any change in the cluster — does not throw away
    // the token cache and call the provider again.
    credentials: Mutex<HashMap<Key, CredentialsEntry>>,
    options: OidcOptions,
}

impl AuthRegistry {
    /// A registry building with the default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry whose middlewares record into `metrics` (the gateway's registry).
    pub fn with_metrics(metrics: portcullis_proxy::metrics::AuthMetrics) -> Self {
        Self::with_options(OidcOptions {
            metrics,
            ..OidcOptions::default()
        })
    }

    /// A registry building with `options` (tests: a manual clock, short retry delays).
    pub fn with_options(options: OidcOptions) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            credentials: Mutex::new(HashMap::new()),
            options,
        }
    }

    /// The middleware for `config`: the existing instance when its configuration and resolved
    /// secrets are unchanged, else a new one.
    pub fn build(
        &self,
        name: &str,
        config: &PluginConfig,
        namespace: Option<&str>,
        secrets: &dyn SecretResolver,
    ) -> Result<Arc<dyn Middleware>, BuildError> {
        match config {
            PluginConfig::Oidc(oidc) => {
                let resolved = OidcSecrets::resolve(oidc, namespace, secrets)?;
                let key = (namespace.map(str::to_owned), name.to_owned());
                let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(entry) = entries.get(&key) {
                    if entry.oidc.config() == oidc.as_ref() && entry.oidc.secrets() == &resolved {
                        return Ok(Arc::new(entry.oidc.clone()));
                    }
                }
                warn_spelling(name, &oidc.spelling_notes);
                let config = oidc.as_ref().clone();
                let mut options = self.options.clone();
                if let Some(store) = &config.session.store {
                    if options.shared_store.is_none() {
                        options.shared_store =
                            Some(Self::session_store(name, &store.redis, namespace, secrets)?);
                    }
                }
                let built = match entries.get(&key) {
                    Some(previous) => {
                        OidcMiddleware::replacing(config, resolved, options, &previous.oidc)?
                    }
                    None => OidcMiddleware::new(config, resolved, options)?,
                };
                entries.insert(
                    key,
                    Entry {
                        oidc: built.clone(),
                    },
                );
                Ok(Arc::new(built))
            }
            PluginConfig::ClientCredentials(cc) => {
                let key = (namespace.map(str::to_owned), name.to_owned());
                let mut entries = self
                    .credentials
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if let Some(entry) = entries.get(&key) {
                    if entry.config == **cc && entry.secrets.still_current(secrets) {
                        return Ok(entry.middleware.clone());
                    }
                }
                warn_spelling(name, &cc.spelling_notes);
                let recorded = Recorded::default();
                let recorder = Recorder {
                    inner: secrets,
                    recorded: &recorded,
                };
                let options = crate::client_credentials::BuildOptions {
                    metrics: self.options.metrics.clone(),
                    ..Default::default()
                };
                let middleware =
                    crate::client_credentials::build_with(name, cc, namespace, &recorder, options)
                        .map_err(|source| BuildError::ClientCredentials {
                            middleware: name.to_owned(),
                            source,
                        })?;
                entries.insert(
                    key,
                    CredentialsEntry {
                        config: cc.as_ref().clone(),
                        secrets: recorded,
                        middleware: middleware.clone(),
                    },
                );
                Ok(middleware)
            }
        }
    }

    /// The Redis store of `session.store.redis` (no connection is opened yet).
    fn session_store(
        name: &str,
        redis: &portcullis_config::plugin::common::RedisConfig,
        namespace: Option<&str>,
        secrets: &dyn SecretResolver,
    ) -> Result<Arc<dyn portcullis_store::Store>, BuildError> {
        crate::shared::redis::connect(redis, secrets, namespace).map_err(|source| {
            BuildError::SessionStore {
                middleware: name.to_owned(),
                source,
            }
        })
    }

    /// Drops the instances whose `(namespace, name)` is not in `keep` (after a reload built
    /// every middleware of the new configuration).
    pub fn retain(&self, keep: &[(Option<String>, String)]) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|key, _| keep.contains(key));
        self.credentials
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|key, _| keep.contains(key));
    }

    /// The OIDC instance held for `(namespace, name)` (inspection, tests).
    pub fn oidc(&self, namespace: Option<&str>, name: &str) -> Option<OidcMiddleware> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(namespace.map(str::to_owned), name.to_owned()))
            .map(|entry| entry.oidc.clone())
    }

    /// One line per OIDC middleware held, saying what its session keys derive from, then one
    /// warning per plugin key written in another spelling than the canonical one (`portcullis
    /// check`), sorted.
    pub fn session_key_notes(&self) -> Vec<String> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let mut notes: Vec<String> = entries
            .iter()
            .map(|((namespace, name), entry)| {
                let name = match namespace {
                    Some(namespace) => format!("{namespace}/{name}"),
                    None => name.clone(),
                };
                format!(
                    "middleware {name:?}: {}",
                    entry.oidc.session_key_root().describe()
                )
            })
            .collect();
        notes.sort();
        let mut warnings: Vec<String> = entries
            .values()
            .flat_map(|entry| entry.oidc.config().spelling_notes.clone())
            .collect();
        warnings.extend(
            self.credentials
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .values()
                .flat_map(|entry| entry.config.spelling_notes.clone()),
        );
        let mut warnings: Vec<String> = warnings
            .into_iter()
            .map(|note| format!("warning: {note}"))
            .collect();
        warnings.sort();
        notes.extend(warnings);
        notes
    }

    /// Number of instances held.
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
            + self
                .credentials
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
