//! What a middleware is built from besides its validated configuration: the resolved secrets,
//! and tunables (clock, retry timings, an injected shared store) whose
//! defaults suit production and which tests shorten.

use std::sync::Arc;
use std::time::Duration;

use portcullis_config::plugin::common::ClientTls;
use portcullis_config::plugin::oidc::{
    MIN_SESSION_SECRET_LEN, OidcConfig, session_secret_too_short,
};
use portcullis_config::{Secret, SecretRef, SecretResolver};

use crate::clock::{Clock, SystemClock};
use crate::oidc::provider::DiscoveryRetry;
use crate::registry::BuildError;
use crate::shared::provider_client::ClientTlsMaterial;
use crate::shared::seal::KeyRoot;

/// The secret values of a middleware, resolved from their references.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcSecrets {
    pub client_id: Secret,
    pub client_secret: Secret,
    /// `session.secret`, when set.
    pub session_secret: Option<Secret>,
    pub tls: ClientTlsMaterial,
}

impl std::fmt::Debug for OidcSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSecrets")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("session_secret", &self.session_secret)
            .field("tls", &self.tls)
            .finish()
    }
}

impl OidcSecrets {
    /// Resolves every secret reference of `config` (`namespace`: the middleware's Kubernetes
    /// namespace, `None` outside Kubernetes).
    pub fn resolve(
        config: &OidcConfig,
        namespace: Option<&str>,
        resolver: &dyn SecretResolver,
    ) -> Result<Self, BuildError> {
        let middleware = &config.middleware_name;
        let resolve = |reference: &SecretRef, option: &'static str| {
            resolver
                .resolve(reference, namespace)
                .map_err(|source| BuildError::Secret {
                    middleware: middleware.clone(),
                    option,
                    source,
                })
        };
        let session_secret = match &config.session.secret {
            Some(reference) => {
                let secret = resolve(reference, "session.secret")?;
                let len = secret.expose().len();
                if len < MIN_SESSION_SECRET_LEN {
                    return Err(BuildError::SessionSecret {
                        middleware: middleware.clone(),
                        message: session_secret_too_short(len),
                    });
                }
                Some(secret)
            }
            None => None,
        };
        Ok(Self {
            client_id: resolve(&config.client_id, "clientID")?,
            client_secret: resolve(&config.client_secret, "clientSecret")?,
            session_secret,
            tls: ClientTlsMaterial::resolve(&config.client_config.tls, resolve)?,
        })
    }

    /// The secret the session keys derive from, and its kind: `session.secret` when set, else
    /// the client secret.
    pub fn key_root(&self) -> (KeyRoot, &str) {
        match &self.session_secret {
            Some(secret) => (KeyRoot::SessionSecret, secret.expose()),
            None => (KeyRoot::ClientSecret, self.client_secret.expose()),
        }
    }
}

/// Resolves `clientConfig.tls`, naming `middleware` in the error (`portcullis check`).
pub fn resolve_client_tls(
    tls: &ClientTls,
    middleware: &str,
    namespace: Option<&str>,
    resolver: &dyn SecretResolver,
) -> Result<ClientTlsMaterial, BuildError> {
    ClientTlsMaterial::resolve(tls, |reference, option| {
        resolver
            .resolve(reference, namespace)
            .map_err(|source| BuildError::Secret {
                middleware: middleware.to_owned(),
                option,
                source,
            })
    })
}

/// Tunables of an OIDC middleware. [`OidcOptions::default`] is what the gateway uses.
#[derive(Clone)]
pub struct OidcOptions {
    /// The clock for every expiry decision.
    pub clock: Arc<dyn Clock>,
    /// Shortest time between two JWKS refetches caused by unknown key ids.
    pub jwks_refetch_interval: Duration,
    /// Backoff of background discovery retries.
    pub discovery_retry: DiscoveryRetry,
    /// First delay between retries of a failed provider call.
    pub provider_retry_backoff: Duration,
    /// How long a finished refresh is reused by requests carrying the pre-refresh cookie.
    pub refresh_grace: Duration,
    /// Allowed clock skew for `exp` and `iat`, in seconds.
    pub leeway_seconds: i64,
    /// Most login flows (state cookies) kept at once per browser.
    pub max_state_cookies: usize,
    /// The shared store of `session.store` when the caller built it (tests: a memory store);
    /// `None` lets the registry build the Redis store the configuration describes. Ignored
    /// without `session.store`.
    pub shared_store: Option<Arc<dyn portcullis_store::Store>>,
    /// Where logins, refreshes, provider calls, session store operations and back-channel
    /// logouts are counted (the gateway's registry; unregistered by default).
    pub metrics: portcullis_proxy::metrics::AuthMetrics,
}

impl Default for OidcOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            jwks_refetch_interval: crate::shared::jwks::DEFAULT_REFETCH_INTERVAL,
            discovery_retry: DiscoveryRetry {
                min: Duration::from_secs(1),
                max: Duration::from_secs(60),
            },
            provider_retry_backoff: Duration::from_millis(200),
            refresh_grace: Duration::from_secs(10),
            leeway_seconds: 60,
            max_state_cookies: 4,
            shared_store: None,
            metrics: Default::default(),
        }
    }
}

impl std::fmt::Debug for OidcOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcOptions")
            .field("clock", &self.clock)
            .field("jwks_refetch_interval", &self.jwks_refetch_interval)
            .field("discovery_retry", &self.discovery_retry)
            .field("provider_retry_backoff", &self.provider_retry_backoff)
            .field("refresh_grace", &self.refresh_grace)
            .field("leeway_seconds", &self.leeway_seconds)
            .field("max_state_cookies", &self.max_state_cookies)
            .field("shared_store", &self.shared_store)
            .finish()
    }
}
