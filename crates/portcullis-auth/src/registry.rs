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

use portcullis_config::MiddlewareError;
use portcullis_config::SecretError;
use portcullis_config::SecretResolver;
use portcullis_config::plugin::PluginConfig;
use portcullis_proxy::middleware::Middleware;

use crate::oidc::{OidcMiddleware, OidcOptions, OidcSecrets};
use crate::shared::provider_client::ClientBuildError;
use portcullis_store::recorded_secrets::{Recorded, Recorder};

/// Why a middleware could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{option}: {source}")]
    Secret {
        middleware: String,
        option: &'static str,
        source: SecretError,
    },
    #[error("{source}")]
    Client {
        middleware: String,
        source: ClientBuildError,
    },
    #[error("session.store is set but no shared store was built")]
    SharedStoreMissing { middleware: String },
    #[error("session.store.redis: {source}")]
    SessionStore {
        middleware: String,
        source: portcullis_store::StoreError,
    },
    #[error("session.secret: {message}")]
    SessionSecret { middleware: String, message: String },
    #[error("key derivation failed")]
    Crypto { middleware: String },
    #[error("{source}")]
    ClientCredentials {
        middleware: String,
        source: crate::client_credentials::ClientCredentialsBuildError,
    },
}

/// The gateway's form of the error, with the option at fault; the text leaves the middleware's
/// name to whoever reports where the middleware sits.
impl From<BuildError> for MiddlewareError {
    fn from(error: BuildError) -> Self {
        use crate::client_credentials::ClientCredentialsBuildError as Credentials;
        match error {
            BuildError::Secret { option, source, .. }
            | BuildError::ClientCredentials {
                source: Credentials::Secret { option, source },
                ..
            } => Self::at(option, source),
            other => Self::from(other.to_string()),
        }
    }
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

/// An instance of the running configuration, with what it was built from.
struct Held {
    config: PluginConfig,
    /// Every secret its build resolved, with the answer.
    secrets: Recorded,
    middleware: Arc<dyn Middleware>,
    /// The same instance, when it is an OIDC middleware (its replacement keeps its keys).
    oidc: Option<OidcMiddleware>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("oidc", &self.oidc)
            .finish_non_exhaustive()
    }
}

impl Held {
    /// Whether a build of `config` with `secrets` would make the same instance: the same
    /// configuration, and every secret resolving as it did.
    fn still_matches(&self, config: &PluginConfig, secrets: &dyn SecretResolver) -> bool {
        let same = match (&self.config, config) {
            (PluginConfig::Oidc(held), PluginConfig::Oidc(new)) => held == new,
            (PluginConfig::ClientCredentials(held), PluginConfig::ClientCredentials(new)) => {
                held == new
            }
            _ => false,
        };
        same && self.secrets.still_current(secrets)
    }
}

type Key = (Option<String>, String);

/// The authentication middlewares of the running configuration, reused across reloads.
#[derive(Debug, Default)]
pub struct AuthRegistry {
    // Kept so that a reload — with Kubernetes, any change in the cluster — does not throw away
    // discovery, refresh state or the token cache and call the provider again.
    held: Mutex<HashMap<Key, Held>>,
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
            held: Mutex::new(HashMap::new()),
            options,
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
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
        let key = (namespace.map(str::to_owned), name.to_owned());
        let mut held = self.held();
        if let Some(entry) = held.get(&key) {
            if entry.still_matches(config, secrets) {
                return Ok(entry.middleware.clone());
            }
        }
        let recorded = Recorded::default();
        let recorder = Recorder {
            inner: secrets,
            recorded: &recorded,
        };
        let (middleware, oidc): (Arc<dyn Middleware>, _) = match config {
            PluginConfig::Oidc(oidc) => {
                let resolved = OidcSecrets::resolve(oidc, namespace, &recorder)?;
                warn_spelling(name, &oidc.spelling_notes);
                let config = oidc.as_ref().clone();
                let mut options = self.options.clone();
                if let Some(store) = &config.session.store {
                    if options.shared_store.is_none() {
                        options.shared_store =
                            Some(Self::session_store(name, &store.redis, namespace, secrets)?);
                    }
                }
                let previous = held.get(&key).and_then(|entry| entry.oidc.as_ref());
                let built = match previous {
                    Some(previous) => {
                        OidcMiddleware::replacing(config, resolved, options, previous)?
                    }
                    None => OidcMiddleware::new(config, resolved, options)?,
                };
                (Arc::new(built.clone()), Some(built))
            }
            PluginConfig::ClientCredentials(cc) => {
                warn_spelling(name, &cc.spelling_notes);
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
                (middleware, None)
            }
        };
        held.insert(
            key,
            Held {
                config: config.clone(),
                secrets: recorded,
                middleware: middleware.clone(),
                oidc,
            },
        );
        Ok(middleware)
    }

    /// The Redis store of `session.store.redis` (no connection is opened yet).
    fn session_store(
        name: &str,
        redis: &portcullis_config::plugin::common::RedisConfig,
        namespace: Option<&str>,
        secrets: &dyn SecretResolver,
    ) -> Result<Arc<dyn portcullis_store::Store>, BuildError> {
        let store =
            portcullis_store::LazyRedis::new(redis, secrets, namespace).map_err(|source| {
                BuildError::SessionStore {
                    middleware: name.to_owned(),
                    source,
                }
            })?;
        Ok(Arc::new(store))
    }

    /// Drops the instances whose `(namespace, name)` is not in `keep` (after a reload built
    /// every middleware of the new configuration).
    pub fn retain(&self, keep: &[(Option<String>, String)]) {
        self.held().retain(|key, _| keep.contains(key));
    }

    /// The OIDC instance held for `(namespace, name)` (inspection, tests).
    pub fn oidc(&self, namespace: Option<&str>, name: &str) -> Option<OidcMiddleware> {
        self.held()
            .get(&(namespace.map(str::to_owned), name.to_owned()))
            .and_then(|entry| entry.oidc.clone())
    }

    /// One line per OIDC middleware held, saying what its session keys derive from, then one
    /// warning per plugin key written in another spelling than the canonical one (`portcullis
    /// check`), sorted.
    pub fn session_key_notes(&self) -> Vec<String> {
        let held = self.held();
        let mut notes: Vec<String> = held
            .iter()
            .filter_map(|((namespace, name), entry)| {
                let oidc = entry.oidc.as_ref()?;
                let name = match namespace {
                    Some(namespace) => format!("{namespace}/{name}"),
                    None => name.clone(),
                };
                Some(format!(
                    "middleware {name:?}: {}",
                    oidc.session_key_root().describe()
                ))
            })
            .collect();
        notes.sort();
        let mut warnings: Vec<String> = held
            .values()
            .flat_map(|entry| match &entry.config {
                PluginConfig::Oidc(oidc) => oidc.spelling_notes.clone(),
                PluginConfig::ClientCredentials(cc) => cc.spelling_notes.clone(),
            })
            .map(|note| format!("warning: {note}"))
            .collect();
        warnings.sort();
        notes.extend(warnings);
        notes
    }

    /// Number of instances held.
    pub fn len(&self) -> usize {
        self.held().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
