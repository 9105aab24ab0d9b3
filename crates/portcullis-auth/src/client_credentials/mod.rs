//! The OAuth 2.0 Client Credentials middleware (`plugin.oAuthClientCredentials`): it obtains an
//! access token with the `client_credentials` grant and sends it upstream as
//! `Authorization: Bearer`.
//!
//! Two credential modes:
//! - **gateway**: with `clientID`/`clientSecret` configured, the gateway obtains one token for
//!   itself; callers need no credentials;
//! - **caller**: without them, each request carries its client's credentials as HTTP Basic,
//!   exchanged for that client's own token; a missing or rejected credential gets 401 with
//!   `WWW-Authenticate: Basic realm="<middleware>"`.
//!
//! What it protects against, and how:
//! - credentials reaching the upstream: the incoming `Authorization` header is always replaced
//!   by the bearer token;
//! - one caller using another's token: tokens are cached under a keyed hash of client id and
//!   secret ([`cache_key`]), so a wrong secret never matches the right one's entry;
//! - forged identity headers: `forwardHeaders` removes client-sent copies before setting the
//!   claims' values ([`crate::shared::headers`]);
//! - untrusted claims: `claims` and `forwardHeaders` need a JWT whose signature was verified
//!   with its issuer's keys, or that the token endpoint answered directly ([`trust`]); an
//!   opaque token with either option configured is refused with 403;
//! - callers making the gateway work for them (caller mode): a refusal of the provider is
//!   remembered for a short time per credentials (their keyed hash), and the token requests of
//!   one client id are bounded, the excess answered 503 with `Retry-After`
//!   ([`caller_limits`]);
//! - a slow or failing provider: every call is bounded by `clientConfig.timeoutSeconds` and
//!   `maxRetries` (502 or 504, never a hang), and a cached token that is still valid keeps
//!   being served while the provider is down ([`source`]);
//! - tokens exposed through a cache shared by replicas (`store.redis`): entries are keyed by the
//!   keyed hash and sealed with a key derived from the client's secret and `store.secret`
//!   ([`token_store`]); a Redis outage answers 503, never a miss or a stale token.

pub mod basic;
pub mod cache_key;
pub mod cached_token;
pub mod caller_limits;
pub mod error;
pub mod source;
pub mod token_endpoint;
pub mod token_store;
pub mod trust;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::Request;
use http::header::{HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use portcullis_claims::{ClaimPath, Claims, Expression};
use portcullis_config::plugin::client_credentials::{
    ClientCredentialsConfig, STORE_SECRET_LENGTHS,
};
use portcullis_config::plugin::common::ForwardHeader;
use portcullis_config::{Secret, SecretError, SecretRef, SecretResolver};
use portcullis_proxy::body::Body;
use portcullis_proxy::error::{ErrorKind, GatewayError};
use portcullis_proxy::middleware::{Decision, Middleware, RequestContext};
use portcullis_store::MemoryStore;

use self::cache_key::{CacheKey, CacheKeyer, RandomUnavailable};
use self::cached_token::{CachedToken, TokenClaims};
use self::error::ObtainError;
use self::source::TokenSource;
use self::token_endpoint::TokenEndpoint;
use self::token_store::TokenStore;
use self::trust::ClaimsReader;
use crate::clock::{Clock, SystemClock};
use crate::error::AuthError;
use crate::shared::headers;
use crate::shared::provider_client::{ClientBuildError, ClientTlsMaterial, ProviderClient};

/// A client id with its secret. `Debug` never shows the secret.
#[derive(Debug, Clone)]
pub struct ClientSecretPair {
    pub client_id: String,
    pub secret: Secret,
}

/// Why the middleware could not be built from a valid configuration.
#[derive(Debug, thiserror::Error)]
pub enum ClientCredentialsBuildError {
    #[error("{option}: {source}")]
    Secret {
        option: &'static str,
        source: SecretError,
    },
    #[error("{0}: the secret resolves to an empty value")]
    EmptySecret(&'static str),
    #[error("store.secret: must be 16, 24 or 32 bytes long, the secret has {0}")]
    StoreSecretLength(usize),
    #[error("store.redis: {source}")]
    Redis {
        source: portcullis_store::StoreError,
    },
    #[error(transparent)]
    Client(#[from] ClientBuildError),
    #[error(transparent)]
    Random(#[from] RandomUnavailable),
}

/// Most tokens the memory store holds by default.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// Knobs besides the configuration, for tests and embedding.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The time source of the token cache.
    pub clock: Arc<dyn Clock>,
    /// First delay between retries of a provider call (the provider client's default if unset).
    pub retry_backoff: Option<Duration>,
    /// Most tokens cached in memory.
    pub cache_capacity: usize,
    /// Where provider calls and token cache lookups are counted.
    pub metrics: portcullis_proxy::metrics::AuthMetrics,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            retry_backoff: None,
            cache_capacity: DEFAULT_CAPACITY,
            metrics: Default::default(),
        }
    }
}

/// Builds the middleware named `name` from its validated configuration, resolving its secrets
/// with `secrets` in `namespace` (the middleware's Kubernetes namespace, `None` outside
/// Kubernetes). Does no network I/O: with `store.redis`, Redis may be down at this point.
pub fn build(
    name: &str,
    config: &ClientCredentialsConfig,
    namespace: Option<&str>,
    secrets: &dyn SecretResolver,
) -> Result<Arc<dyn Middleware>, ClientCredentialsBuildError> {
    build_with(name, config, namespace, secrets, BuildOptions::default())
}

/// [`build`] with explicit [`BuildOptions`] (the gateway's metrics).
pub fn build_with(
    name: &str,
    config: &ClientCredentialsConfig,
    namespace: Option<&str>,
    secrets: &dyn SecretResolver,
    options: BuildOptions,
) -> Result<Arc<dyn Middleware>, ClientCredentialsBuildError> {
    let middleware = ClientCredentialsMiddleware::new(name, config, namespace, secrets, options)?;
    Ok(Arc::new(middleware))
}

/// Whose credentials are exchanged for a token.
#[derive(Debug)]
enum Mode {
    /// The configured `clientID`/`clientSecret`, with their fixed cache key.
    Gateway {
        credentials: Arc<ClientSecretPair>,
        key: CacheKey,
    },
    /// Each request's HTTP Basic credentials.
    Caller,
}

/// The `plugin.oAuthClientCredentials` middleware.
#[derive(Debug)]
pub struct ClientCredentialsMiddleware {
    name: String,
    mode: Mode,
    keyer: CacheKeyer,
    challenge: HeaderValue,
    source: Arc<TokenSource>,
    claims: Option<Expression>,
    forward_headers: Vec<ForwardHeader>,
    username_claim: Option<ClaimPath>,
}

impl ClientCredentialsMiddleware {
    /// [`build`], with explicit [`BuildOptions`] and the concrete type.
    pub fn new(
        name: &str,
        config: &ClientCredentialsConfig,
        namespace: Option<&str>,
        secrets: &dyn SecretResolver,
        options: BuildOptions,
    ) -> Result<Self, ClientCredentialsBuildError> {
        let resolve = |reference: &SecretRef, option: &'static str| {
            secrets
                .resolve(reference, namespace)
                .map_err(|source| ClientCredentialsBuildError::Secret { option, source })
        };
        let tls = ClientTlsMaterial::resolve(&config.client_config.tls, resolve)?;
        let mut client = ProviderClient::new(&config.client_config, &tls)?
            .with_metrics(options.metrics.clone(), name);
        if let Some(backoff) = options.retry_backoff {
            client = client.with_backoff(backoff);
        }
        warn_if_unencrypted(name, &config.url);

        let (keyer, store) = token_cache(name, config, namespace, secrets, &resolve, &options)?;
        let mode = match &config.credentials {
            Some(configured) => {
                let client_id = resolve(&configured.client_id, "clientID")?;
                let secret = resolve(&configured.client_secret, "clientSecret")?;
                if client_id.expose().is_empty() {
                    return Err(ClientCredentialsBuildError::EmptySecret("clientID"));
                }
                if secret.expose().is_empty() {
                    return Err(ClientCredentialsBuildError::EmptySecret("clientSecret"));
                }
                let key = keyer.key(client_id.expose(), secret.expose());
                Mode::Gateway {
                    credentials: Arc::new(ClientSecretPair {
                        client_id: client_id.expose().to_owned(),
                        secret,
                    }),
                    key,
                }
            }
            None => Mode::Caller,
        };

        let endpoint = TokenEndpoint::new(
            client.clone(),
            config.url.clone(),
            config.audience.clone(),
            matches!(mode, Mode::Gateway { .. }),
        );
        let claims_reader = config
            .reads_claims()
            .then(|| ClaimsReader::new(client, config.url.clone(), Arc::clone(&options.clock)));
        let mut source = TokenSource::new(name, endpoint, claims_reader, store, options.clock)
            .with_metrics(options.metrics);
        if matches!(mode, Mode::Caller) {
            source = source.with_caller_limits();
        }
        Ok(Self {
            name: name.to_owned(),
            mode,
            keyer,
            challenge: basic::challenge(name),
            source: Arc::new(source),
            claims: config.claims.clone(),
            forward_headers: config.forward_headers.clone(),
            username_claim: config.username_claim.clone(),
        })
    }

    async fn decide(
        &self,
        mut request: Request<Body>,
        ctx: &mut RequestContext,
    ) -> Result<Decision, AuthError> {
        let (key, credentials) = match &self.mode {
            Mode::Gateway { credentials, key } => (key.clone(), Arc::clone(credentials)),
            Mode::Caller => match basic::caller_credentials(request.headers()) {
                Ok(pair) => (
                    self.keyer.key(&pair.client_id, pair.secret.expose()),
                    Arc::new(pair),
                ),
                Err(reason) => return Err(AuthError::CredentialsMissing(reason.to_string())),
            },
        };
        let token = self
            .source
            .token(&key, &credentials)
            .await
            .map_err(|error| self.obtain_failure(&credentials.client_id, error))?;
        headers::remove_underscore_spellings(request.headers_mut(), &self.forward_headers);
        self.apply_claims(&token, request.headers_mut(), ctx)?;
        headers::set_bearer(request.headers_mut(), &token.access_token);
        Ok(Decision::Forward(request))
    }

    /// Checks `claims`, sets `forwardHeaders` and the access-log user.
    fn apply_claims(
        &self,
        token: &CachedToken,
        headers: &mut HeaderMap,
        ctx: &mut RequestContext,
    ) -> Result<(), AuthError> {
        let needs_jwt = self.claims.is_some() || !self.forward_headers.is_empty();
        if !needs_jwt && self.username_claim.is_none() {
            return Ok(());
        }
        let TokenClaims::Jwt(values) = &token.claims else {
            if needs_jwt {
                return Err(AuthError::OpaqueToken);
            }
            tracing::debug!(middleware = %self.name, "usernameClaim ignored: the access token is opaque");
            return Ok(());
        };
        // Every key reads the access token, with or without a token prefix: there is no ID
        // token in this flow.
        let claims = Claims {
            id_token: Some(values),
            access_token: Some(values),
        };
        if let Some(rule) = &self.claims {
            if !rule.evaluate(&claims) {
                let failed = rule.explain_failure(&claims).unwrap_or_default();
                let absent = rule.absent_claims_in_failure(&claims);
                let absent = if absent.is_empty() {
                    String::new()
                } else {
                    format!(" (absent: {})", absent.join(", "))
                };
                if let Some(claim) = &self.username_claim {
                    ctx.username = headers::username(claim, &claims);
                }
                return Err(AuthError::ClaimsRejected(format!(
                    "{failed} is false{absent}"
                )));
            }
        }
        headers::apply_forward_headers(headers, &self.forward_headers, &claims);
        if let Some(claim) = &self.username_claim {
            ctx.username = headers::username(claim, &claims);
        }
        Ok(())
    }

    /// The refusal for a token that could not be obtained for `client_id`: a rejection of the
    /// caller's own credentials is theirs to fix (401); anything else is the gateway's.
    fn obtain_failure(&self, client_id: &str, error: ObtainError) -> AuthError {
        match (&self.mode, error) {
            (Mode::Caller, ObtainError::Rejected(cause)) => AuthError::CredentialsRejected(
                format!("the provider rejected the client credentials of {client_id:?}: {cause}"),
            ),
            (_, ObtainError::Busy(_)) => AuthError::Busy(format!(
                "too many token requests for client id {client_id:?} at once"
            )),
            (_, error) => AuthError::Token(error),
        }
    }

    /// The gateway's error for `error`; a 401 carries the Basic challenge.
    fn refusal(&self, error: AuthError) -> GatewayError {
        let challenge = error.kind() == ErrorKind::Unauthorized;
        let refusal = error.into_gateway(&self.name);
        if challenge {
            refusal.with_header(WWW_AUTHENTICATE, self.challenge.clone())
        } else {
            refusal
        }
    }
}

impl Middleware for ClientCredentialsMiddleware {
    fn handle<'a>(
        &'a self,
        request: Request<Body>,
        ctx: &'a mut RequestContext,
    ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
        Box::pin(async move {
            self.decide(request, ctx)
                .await
                .map_err(|error| self.refusal(error))
        })
    }
}

/// The token cache of `store`, with the keyer its entries need: in memory with a random key,
/// or in Redis (`store.redis`) with keys every replica derives alike.
fn token_cache(
    name: &str,
    config: &ClientCredentialsConfig,
    namespace: Option<&str>,
    secrets: &dyn SecretResolver,
    resolve: &impl Fn(&SecretRef, &'static str) -> Result<Secret, ClientCredentialsBuildError>,
    options: &BuildOptions,
) -> Result<(CacheKeyer, TokenStore), ClientCredentialsBuildError> {
    let url = config.url.as_str();
    let audience = config.audience.as_deref();
    let Some(redis) = &config.store.redis else {
        let memory = Arc::new(MemoryStore::with_capacity(options.cache_capacity));
        let store = TokenStore::new(memory, "", Arc::clone(&options.clock));
        return Ok((CacheKeyer::random(url, audience)?, store));
    };
    let material = match &config.store.secret {
        Some(reference) if !reference.is_empty_inline() => {
            let secret = resolve(reference, "store.secret")?;
            let length = secret.expose().len();
            if !STORE_SECRET_LENGTHS.contains(&length) {
                return Err(ClientCredentialsBuildError::StoreSecretLength(length));
            }
            Some(secret)
        }
        _ => None,
    };
    if material.is_none() {
        tracing::warn!(
            middleware = name,
            "store.secret is not set: tokens in Redis are sealed with keys derived from each client's secret alone, and whoever reads Redis can test guesses of weak client secrets offline; set store.secret (16, 24 or 32 bytes)"
        );
    }
    let keyer = CacheKeyer::shared(
        material
            .as_ref()
            .map_or(&b""[..], |s| s.expose().as_bytes()),
        url,
        audience,
        config.reads_claims(),
    );
    let backend: Arc<dyn portcullis_store::Store> = Arc::new(
        portcullis_store::LazyRedis::new(redis, secrets, namespace)
            .map_err(|source| ClientCredentialsBuildError::Redis { source })?,
    );
    let store = TokenStore::new(
        backend,
        &config.store.key_prefix,
        Arc::clone(&options.clock),
    );
    Ok((keyer, store))
}

/// Client secrets and tokens cross a plain-HTTP token endpoint in the clear; loopback is the
/// development case and is not worth a warning.
fn warn_if_unencrypted(name: &str, url: &url::Url) {
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    if url.scheme() == "http" && !loopback {
        tracing::warn!(
            middleware = name,
            "the token endpoint uses plain http: client secrets and tokens travel unencrypted"
        );
    }
}
