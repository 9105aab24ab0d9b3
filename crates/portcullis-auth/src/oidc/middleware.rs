//! The OIDC middleware: building it, and sending each request to the right step.
//!
//! A request is, in this order: the callback (`redirectUrl`), a logout (`logoutUrl`), a
//! back-channel logout (`backchannelLogoutUrl`), a login start (`loginUrl`), or a request to
//! the protected application. None of the first four ever reaches the upstream.
//!
//! Without a usable session, only a browser navigation (see [`super::browser`]) is redirected
//! to the provider, and only when neither `disableLogin` nor `loginUrl` forbids it; every other
//! request gets a 401 that names the refusing check in the log.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use portcullis_config::Secret;
use portcullis_config::plugin::oidc::{OidcConfig, SessionConfig};
use portcullis_proxy::body::{self, Body};
use portcullis_proxy::error::GatewayError;
use portcullis_proxy::middleware::{Decision, Middleware, RequestContext};

use crate::clock::Clock;
use crate::error::{AuthError, LoginRefusal};
use crate::oidc::browser;
use crate::oidc::flows::login::{self, AuthorizationRequest, LoginState, ReturnTo, StateCookies};
use crate::oidc::flows::{callback, logout};
use crate::oidc::protected;
use crate::oidc::protected::csrf::{CSRF_COOKIE, Csrf, CsrfSettings};
use crate::oidc::protected::refresh::RefreshCoordinator;
use crate::oidc::provider::ProviderHandle;
use crate::oidc::redirect_url;
use crate::oidc::request::OidcRequest;
use crate::oidc::session::revocations::Revocations;
use crate::oidc::session::server_store::ServerSessionStore;
use crate::oidc::session::shared_sessions::SharedSessions;
use crate::oidc::session::store_keys::{DEFAULT_PREFIX, StoreKeys};
use crate::oidc::session::{CookieSessionStore, SessionStore};
use crate::oidc::settings::{OidcOptions, OidcSecrets};
use crate::registry::BuildError;
use crate::shared::cookies::CookieAttributes;
use crate::shared::provider_client::ProviderClient;
use crate::shared::seal::{KeyRoot, Purpose, SealError, Sealer};
use portcullis_store::{MemoryStore, Store};

/// A refusal with the cookies to clear in the error response.
#[derive(Debug)]
pub(crate) struct Failure {
    pub error: AuthError,
    pub cookies: Vec<HeaderValue>,
}

impl From<AuthError> for Failure {
    fn from(error: AuthError) -> Self {
        Self {
            error,
            cookies: Vec::new(),
        }
    }
}

impl AuthError {
    /// This error, clearing `cookies` in the response.
    pub(crate) fn clearing(self, cookies: Vec<HeaderValue>) -> Failure {
        Failure {
            error: self,
            cookies,
        }
    }
}

pub(crate) type Handled = Result<Decision, Failure>;

/// Everything one middleware instance holds. Shared by its requests, which read it through
/// the methods below: what an instance is made of is decided here, in `build`, alone.
#[derive(Debug)]
pub(crate) struct Inner {
    config: OidcConfig,
    secrets: OidcSecrets,
    client: ProviderClient,
    provider: ProviderHandle,
    store: Arc<dyn SessionStore>,
    revocations: Arc<Revocations>,
    /// The shared store, with `session.store`.
    shared: Option<SharedSessions>,
    state_cookies: StateCookies,
    csrf: Option<Csrf>,
    refresh: RefreshCoordinator,
    options: OidcOptions,
    decoded_claims: crate::oidc::session::opened_cache::DecodedClaims,
    /// Tokens of stored sessions already verified by this replica ([`super::stored_tokens`]).
    verified_tokens: crate::oidc::session::opened_cache::VerifiedTokens,
    /// What the session keys derive from.
    key_root: KeyRoot,
    /// The session keys (current and kept), for the instance that will replace this one.
    session_sealer: Sealer,
    /// `logoutUrl` as a link for error pages.
    logout_link: Option<Arc<str>>,
}

impl Inner {
    /// The middleware's configuration, as validated.
    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// The HTTP client towards the provider.
    pub fn client(&self) -> &ProviderClient {
        &self.client
    }

    /// The provider's metadata and keys, discovered in the background.
    pub fn provider(&self) -> &ProviderHandle {
        &self.provider
    }

    /// Where sessions live: the cookie itself or the shared store.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.store
    }

    /// Sessions ended by a logout or a back-channel logout.
    pub fn revocations(&self) -> &Arc<Revocations> {
        &self.revocations
    }

    /// The shared store, with `session.store`.
    pub fn shared(&self) -> Option<&SharedSessions> {
        self.shared.as_ref()
    }

    /// The login state cookies' names and attributes.
    pub fn state_cookies(&self) -> &StateCookies {
        &self.state_cookies
    }

    /// The CSRF check, with `csrf`.
    pub fn csrf(&self) -> Option<&Csrf> {
        self.csrf.as_ref()
    }

    /// One refresh at a time per session.
    pub fn refresh(&self) -> &RefreshCoordinator {
        &self.refresh
    }

    /// Clock and other injected behaviour.
    pub fn options(&self) -> &OidcOptions {
        &self.options
    }

    /// Claims of session cookies already decoded by this replica.
    pub fn decoded_claims(&self) -> &crate::oidc::session::opened_cache::DecodedClaims {
        &self.decoded_claims
    }

    /// Tokens of stored sessions already verified by this replica.
    pub fn verified_tokens(&self) -> &crate::oidc::session::opened_cache::VerifiedTokens {
        &self.verified_tokens
    }

    /// What the session keys derive from.
    pub fn key_root(&self) -> &KeyRoot {
        &self.key_root
    }

    pub fn now(&self) -> i64 {
        self.options.clock.now()
    }

    pub fn client_id(&self) -> &str {
        self.secrets.client_id.expose()
    }

    /// Seconds a session lasts.
    pub fn session_seconds(&self) -> i64 {
        seconds(self.config.session.expiry)
    }

    /// Until when a revocation recorded at `now` must be kept: the latest expiry any copy of
    /// a session alive at `now` can reach (a renewal moves it to at most now + expiry, and no
    /// renewal happens once the session is revoked).
    pub fn revoked_until(&self, now: i64) -> i64 {
        now.saturating_add(self.session_seconds())
    }

    /// True for the cookies the upstream must never see.
    pub fn is_own_cookie(&self, name: &str) -> bool {
        self.store.is_own_cookie(name)
            || login::is_state_cookie(&self.state_cookies.base, name)
            || (self.csrf.is_some() && name == CSRF_COOKIE)
    }
}

/// The OpenID Connect Authentication middleware (`plugin.oidc`).
#[derive(Debug, Clone)]
pub struct OidcMiddleware {
    inner: Arc<Inner>,
}

impl OidcMiddleware {
    /// Builds the middleware. No network I/O: discovery starts in the background when a Tokio
    /// runtime is running, otherwise with the first request.
    pub fn new(
        config: OidcConfig,
        secrets: OidcSecrets,
        options: OidcOptions,
    ) -> Result<Self, BuildError> {
        Self::build(config, secrets, options, None)
    }

    /// Builds a replacement for `previous` (a configuration reload): values sealed with the
    /// previous keys still open for one `session.expiry`, so a rotated secret logs nobody out.
    pub fn replacing(
        config: OidcConfig,
        secrets: OidcSecrets,
        options: OidcOptions,
        previous: &OidcMiddleware,
    ) -> Result<Self, BuildError> {
        Self::build(config, secrets, options, Some(previous))
    }

    fn build(
        config: OidcConfig,
        secrets: OidcSecrets,
        options: OidcOptions,
        previous: Option<&OidcMiddleware>,
    ) -> Result<Self, BuildError> {
        let middleware = config.middleware_name.clone();
        let crypto = |_| BuildError::Crypto {
            middleware: middleware.clone(),
        };
        let shared_store = shared_store(&config, &options)?;
        let client = ProviderClient::new(&config.client_config, &secrets.tls)
            .map_err(|source| BuildError::Client {
                middleware: middleware.clone(),
                source,
            })?
            .with_backoff(options.provider_retry_backoff)
            .with_metrics(options.metrics.clone(), &middleware);
        let (key_root, root_secret) = secrets.key_root();
        let keys = Keys {
            root: key_root,
            secret: root_secret,
            issuer: &config.issuer,
            previous,
            // After a rotation, values sealed with the previous keys keep opening for one
            // session lifetime from now (every genuine session sealed before has ended by
            // then), and not longer: a leaked old secret must not open or forge sessions
            // forever.
            previous_until: options
                .clock
                .now()
                .saturating_add(seconds(config.session.expiry)),
            clock: &options.clock,
        };
        let session_attributes = session_attributes(&config.session);
        let session_sealer = keys.sealer(Purpose::Session).map_err(crypto)?;
        let server_sessions = shared_store.as_ref().map(|(store, keys)| {
            Arc::new(ServerSessionStore::new(
                Arc::clone(store),
                keys.clone(),
                config.session.name.clone(),
                session_attributes.clone(),
                session_sealer.clone(),
            ))
        });
        let store: Arc<dyn SessionStore> = match &server_sessions {
            Some(sessions) => Arc::clone(sessions) as Arc<dyn SessionStore>,
            None => Arc::new(CookieSessionStore::new(
                config.session.name.clone(),
                session_attributes.clone(),
                session_sealer.clone(),
            )),
        };
        let state_cookies = state_cookies(
            &config,
            options.max_state_cookies,
            keys.sealer(Purpose::LoginState).map_err(crypto)?,
        );
        let csrf = config
            .csrf
            .as_ref()
            .map(|csrf| {
                let settings = CsrfSettings {
                    middleware: middleware.clone(),
                    header: csrf.header_name.clone(),
                    attributes: CookieAttributes {
                        // Scripts must read it to echo it in the header.
                        http_only: false,
                        secure: csrf.secure,
                        ..session_attributes
                    },
                    session_seconds: seconds(config.session.expiry),
                };
                Csrf::new(key_root, root_secret, &config.issuer, settings)
            })
            .transpose()
            .map_err(crypto)?;
        let attempt_budget = attempt_budget(&config);
        let provider = ProviderHandle::new(
            client.clone(),
            config.issuer.clone(),
            config.discovery_params.clone(),
            options.jwks_refetch_interval,
            Arc::clone(&options.clock),
            options.discovery_retry,
            attempt_budget,
        );
        provider.start();
        let revocations = Arc::new(revocations(shared_store.as_ref()));
        let shared = match (shared_store, server_sessions) {
            (Some((store, keys)), Some(sessions)) => Some(SharedSessions {
                store,
                keys,
                sessions,
                revocations: Arc::clone(&revocations),
                refresh_budget: attempt_budget,
            }),
            _ => None,
        };
        warn_about(&config, key_root);
        let logout_link = config.logout_url.as_ref().map(logout_link);
        Ok(Self {
            inner: Arc::new(Inner {
                refresh: RefreshCoordinator::new(options.refresh_grace),
                config,
                secrets,
                client,
                provider,
                store,
                revocations,
                shared,
                state_cookies,
                csrf,
                options,
                decoded_claims: Default::default(),
                verified_tokens: Default::default(),
                key_root,
                session_sealer,
                logout_link,
            }),
        })
    }

    /// What this instance's session keys derive from (`portcullis check`, the start-up log).
    pub fn session_key_root(&self) -> KeyRoot {
        self.inner.key_root
    }

    /// True when both handles designate the same instance (shared caches and state).
    pub fn is_same_instance(&self, other: &OidcMiddleware) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The configuration this instance was built from.
    pub fn config(&self) -> &OidcConfig {
        &self.inner.config
    }

    /// True once the provider has been discovered.
    pub fn provider_ready(&self) -> bool {
        self.inner.provider.ready().is_some()
    }

    /// The secrets this instance was built with.
    pub fn secrets(&self) -> &OidcSecrets {
        &self.inner.secrets
    }

    async fn dispatch(&self, request: Request<Body>, ctx: &mut RequestContext) -> Handled {
        let inner = &*self.inner;
        let view = OidcRequest::new(&request, ctx)
            .ok_or_else(|| AuthError::BadRequest("no valid Host".into()))?;
        let config = &inner.config;
        let metrics = &inner.options.metrics;
        let name = &config.middleware_name;
        if redirect_url::matches(&config.redirect_url, &view) {
            let outcome = callback::handle(inner, &view).await;
            match &outcome {
                Ok(_) => metrics.login_completed(name),
                Err(failure) => metrics.login_failed(name, failure.error.check()),
            }
            return outcome;
        }
        if config
            .logout_url
            .as_ref()
            .is_some_and(|url| redirect_url::matches(url, &view))
        {
            return logout::handle(inner, &view, request.headers()).await;
        }
        if config
            .backchannel_logout_url
            .as_ref()
            .is_some_and(|url| redirect_url::matches(url, &view))
        {
            let outcome = logout::handle_backchannel(inner, request, &view).await;
            let accepted = matches!(&outcome, Ok(Decision::Respond(r)) if r.status().is_success());
            metrics.backchannel_logout(name, accepted);
            return outcome;
        }
        if config
            .login_url
            .as_ref()
            .is_some_and(|url| redirect_url::matches(url, &view))
        {
            return login_endpoint(inner, &view).await;
        }
        protected::handle(inner, request, ctx, view).await
    }
}

impl Middleware for OidcMiddleware {
    fn handle<'a>(
        &'a self,
        request: Request<Body>,
        ctx: &'a mut RequestContext,
    ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
        Box::pin(async move {
            let outcome = self.dispatch(request, ctx).await;
            outcome.map_err(|failure| {
                ctx.logout_url.clone_from(&self.inner.logout_link);
                let refusal = failure
                    .error
                    .into_gateway(&self.inner.config.middleware_name);
                failure
                    .cookies
                    .into_iter()
                    .fold(refusal, |refusal, cookie| {
                        refusal.with_header(SET_COOKIE, cookie)
                    })
            })
        })
    }
}

/// The store shared by replicas, with the keys of this middleware's records in it.
type SharedStore = (Arc<dyn Store>, StoreKeys);

/// The shared store and its keys, with `session.store`.
fn shared_store(
    config: &OidcConfig,
    options: &OidcOptions,
) -> Result<Option<SharedStore>, BuildError> {
    match (&config.session.store, &options.shared_store) {
        (Some(store_config), Some(store)) => Ok(Some((
            Arc::clone(store),
            StoreKeys::new(&store_config.key_prefix),
        ))),
        (Some(_), None) => Err(BuildError::SharedStoreMissing {
            middleware: config.middleware_name.clone(),
        }),
        (None, _) => Ok(None),
    }
}

/// What the sealers of one instance derive from, and the instance it replaces.
struct Keys<'a> {
    root: KeyRoot,
    secret: &'a str,
    issuer: &'a str,
    previous: Option<&'a OidcMiddleware>,
    /// Until when the replaced instance's keys still open values.
    previous_until: i64,
    clock: &'a Arc<dyn Clock>,
}

impl Keys<'_> {
    /// The sealer for `purpose`, still opening what the replaced instance sealed.
    fn sealer(&self, purpose: Purpose) -> Result<Sealer, SealError> {
        let sealer = Sealer::derive_rooted(self.root, self.secret, self.issuer, purpose)?;
        let Some(previous) = self.previous else {
            return Ok(sealer);
        };
        let older = match purpose {
            Purpose::Session => previous.inner.session_sealer.clone(),
            Purpose::LoginState => previous.inner.state_cookies.sealer.clone(),
        };
        Ok(sealer.keeping(older, self.previous_until, Arc::clone(self.clock)))
    }
}

/// The attributes of the session cookie (and, readable by scripts, of the CSRF cookie).
fn session_attributes(session: &SessionConfig) -> CookieAttributes {
    CookieAttributes {
        path: session.path.clone(),
        domain: session.domain.clone(),
        same_site: session.same_site,
        http_only: session.http_only,
        secure: session.secure,
    }
}

/// The login state cookies of `stateCookie`, at most `max_kept` at once.
fn state_cookies(config: &OidcConfig, max_kept: usize, sealer: Sealer) -> StateCookies {
    let state = &config.state_cookie;
    StateCookies {
        base: state.name.clone(),
        attributes: CookieAttributes {
            path: state.path.clone(),
            domain: state.domain.clone(),
            same_site: state.same_site,
            http_only: state.http_only,
            secure: state.secure,
        },
        max_age: state.max_age,
        max_kept: max_kept.max(1),
        sealer,
    }
}

/// How long one provider call may take with all its retries, plus a margin.
fn attempt_budget(config: &OidcConfig) -> Duration {
    let client = &config.client_config;
    client
        .timeout
        .saturating_mul(client.max_retries.saturating_add(1))
        .saturating_add(Duration::from_secs(5))
}

/// Revocations on the shared store; without one, in this process's memory.
fn revocations(shared_store: Option<&SharedStore>) -> Revocations {
    match shared_store {
        Some((store, keys)) => Revocations::new(Arc::clone(store), keys.clone()),
        None => Revocations::new(
            Arc::new(MemoryStore::new()) as Arc<dyn Store>,
            StoreKeys::new(DEFAULT_PREFIX),
        ),
    }
}

/// Logs the settings that work against the operator, and what the session keys derive from.
fn warn_about(config: &OidcConfig, key_root: KeyRoot) {
    let middleware = &config.middleware_name;
    let session = &config.session;
    if session.same_site == portcullis_config::plugin::common::SameSite::None && !session.secure {
        tracing::warn!(middleware = %middleware, "session.sameSite is none without session.secure: browsers will refuse the session cookie");
    }
    if config.state_cookie.max_age <= 0 {
        tracing::warn!(middleware = %middleware, "stateCookie.maxAge is not positive: logins cannot complete");
    }
    match key_root {
        KeyRoot::SessionSecret => {
            tracing::info!(middleware = %middleware, "{}", key_root.describe());
        }
        KeyRoot::ClientSecret => {
            tracing::warn!(middleware = %middleware, "{}", key_root.describe());
        }
    }
}

/// `duration` in whole seconds, saturating.
fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// `logoutUrl` as a link: a path stays relative to the page, a host without scheme becomes
/// scheme-relative.
fn logout_link(url: &portcullis_config::plugin::common::ConfiguredUrl) -> Arc<str> {
    use portcullis_config::plugin::common::ConfiguredUrl;
    let (base, query) = match url {
        ConfiguredUrl::Path { path, query } => (path.clone(), query),
        ConfiguredUrl::HostPath {
            authority,
            path,
            query,
        } => (format!("//{authority}{path}"), query),
        ConfiguredUrl::Absolute {
            https,
            authority,
            path,
            query,
        } => {
            let scheme = if *https { "https" } else { "http" };
            (format!("{scheme}://{authority}{path}"), query)
        }
    };
    match query {
        Some(query) => format!("{base}?{query}").into(),
        None => base.into(),
    }
}

/// `loginUrl`: starts a login (any method), or finishes at once when already logged in.
async fn login_endpoint(inner: &Inner, view: &OidcRequest) -> Handled {
    if inner.config.disable_login {
        return Err(AuthError::LoginRequired(LoginRefusal::LoginDisabled).into());
    }
    let logged_in = match inner.store.load(&view.jar).await {
        Ok(Some(session)) => session.expires_at > inner.now(),
        Ok(None) => false,
        Err(e) => return Err(AuthError::StoreUnavailable(e.to_string()).into()),
    };
    if logged_in {
        return Ok(Decision::Respond(after_login_url(inner, view, Vec::new())));
    }
    start_login(inner, view, true, Vec::new()).await
}

/// The answer ending a login started at `loginUrl`: a redirect to `postLoginRedirectUrl`, or
/// 204 when it is not set.
pub(crate) fn after_login_url(
    inner: &Inner,
    view: &OidcRequest,
    cookies: Vec<HeaderValue>,
) -> Response<Body> {
    match &inner.config.post_login_redirect_url {
        Some(url) => redirect(&redirect_url::resolve(url, view), cookies),
        None => no_content(cookies),
    }
}

/// No usable session: a redirect to the provider when this request may start a login, a 401
/// otherwise. `cookies` (deletions of a dead session) go with either answer.
pub(crate) async fn unauthenticated(
    inner: &Inner,
    view: &OidcRequest,
    headers: &HeaderMap,
    cookies: Vec<HeaderValue>,
) -> Handled {
    let refusal = if inner.config.disable_login {
        Some(LoginRefusal::LoginDisabled)
    } else if inner.config.login_url.is_some() {
        Some(LoginRefusal::LoginUrlOnly)
    } else if !browser::is_navigation(&view.method, headers) {
        Some(LoginRefusal::NotNavigation)
    } else {
        None
    };
    match refusal {
        Some(refusal) => Err(AuthError::LoginRequired(refusal).clearing(cookies)),
        None => start_login(inner, view, false, cookies).await,
    }
}

/// Redirects to the provider's authorization endpoint with a new login flow.
pub(crate) async fn start_login(
    inner: &Inner,
    view: &OidcRequest,
    from_login_url: bool,
    mut cookies: Vec<HeaderValue>,
) -> Handled {
    let provider = match inner.provider.get().await {
        Ok(provider) => provider,
        Err(error) => return Err(error.clearing(cookies)),
    };
    let internal = |e: crate::shared::seal::SealError| AuthError::Internal(e.to_string());
    let state = login::random_token().map_err(internal)?;
    let nonce = login::random_token().map_err(internal)?;
    let code_verifier = if inner.config.pkce {
        Some(login::random_token().map_err(internal)?)
    } else {
        None
    };
    let redirect_uri = redirect_url::resolve(&inner.config.redirect_url, view);
    let flow = LoginState {
        state: state.into(),
        nonce: nonce.into(),
        code_verifier: code_verifier.map(Into::into),
        redirect_uri,
        return_to: ReturnTo {
            https: view.https,
            authority: view.authority.clone(),
            path_and_query: view.path_and_query(),
        },
        from_login_url,
        created_at: inner.now(),
    };
    let challenge = flow.code_verifier.as_deref().map(login::pkce_challenge);
    let url = login::authorization_url(
        &provider.metadata.authorization_endpoint,
        &AuthorizationRequest {
            client_id: inner.client_id(),
            redirect_uri: &flow.redirect_uri,
            scopes: &inner.config.scopes,
            state: &flow.state,
            nonce: &flow.nonce,
            code_challenge: challenge.as_deref(),
            extra: &inner.config.auth_params,
        },
    );
    cookies.extend(
        inner
            .state_cookies
            .write(&flow, &view.jar)
            .map_err(internal)?,
    );
    tracing::debug!(middleware = %inner.config.middleware_name, from_login_url, "login started");
    inner
        .options
        .metrics
        .login_started(&inner.config.middleware_name);
    Ok(Decision::Respond(redirect(url.as_str(), cookies)))
}

/// A 302 to `location` setting `cookies`.
pub(crate) fn redirect(location: &str, cookies: Vec<HeaderValue>) -> Response<Body> {
    let mut response = answer(StatusCode::FOUND, cookies);
    match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(LOCATION, value);
        }
        Err(_) => *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR,
    }
    response
}

/// A 204 setting `cookies`.
pub(crate) fn no_content(cookies: Vec<HeaderValue>) -> Response<Body> {
    answer(StatusCode::NO_CONTENT, cookies)
}

/// An empty answer with `status`, never cached, setting `cookies`.
pub(crate) fn answer(status: StatusCode, cookies: Vec<HeaderValue>) -> Response<Body> {
    let mut response = Response::new(body::empty());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for cookie in cookies {
        headers.append(SET_COOKIE, cookie);
    }
    response
}

/// The client secret, for the token endpoint.
pub(crate) fn secret(inner: &Inner) -> &Secret {
    &inner.secrets.client_secret
}
