//! Starting and stopping the provider: [`serve`] for the command line, [`DevIdp`] (a handle that
//! stops the server when dropped) for tests, and the controls tests drive through the handle.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::digest;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::backchannel::{self, BackchannelDelivery, BackchannelLog, LogoutTarget};
use crate::clock::Clock;
use crate::config::{Alg, ClientSpec, DevIdpConfig, GrantType, KeySpec, UserSpec};
use crate::endpoints::{self, LOGIN_PATH};
use crate::error::DevIdpError;
use crate::faults::{Fault, FaultSet};
use crate::keys::KeyRing;
use crate::state::{Counters, Grants, Provider, lock};

fn build_provider(
    config: DevIdpConfig,
    issuer: String,
    share_keys: bool,
) -> Result<Arc<Provider>, DevIdpError> {
    config.validate()?;
    let keys = KeyRing::from_specs(&config.keys, share_keys)?;
    // Cookies ignore ports: several providers on 127.0.0.1 need distinct cookie names.
    let hash = digest::digest(&digest::SHA256, issuer.as_bytes());
    let suffix: String = hash
        .as_ref()
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    Ok(Arc::new(Provider {
        issuer,
        config,
        clock: Clock::default(),
        keys: Mutex::new(keys),
        faults: Mutex::new(FaultSet::default()),
        grants: Mutex::new(Grants::default()),
        counters: Counters::default(),
        backchannel: BackchannelLog::default(),
        http,
        cookie_name: format!("devidp_sid_{suffix}"),
    }))
}

async fn bind(
    config: DevIdpConfig,
    addr: SocketAddr,
    share_keys: bool,
) -> Result<(TcpListener, Arc<Provider>), DevIdpError> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let issuer = config
        .issuer
        .clone()
        .unwrap_or_else(|| format!("http://{bound}"));
    let provider = build_provider(config, issuer, share_keys)?;
    Ok((listener, provider))
}

/// Runs the provider at `addr` until `shutdown` completes. The issuer is the configured one,
/// or `http://<bound address>`.
pub async fn serve(
    config: DevIdpConfig,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DevIdpError> {
    let (listener, provider) = bind(config, addr, false).await?;
    tracing::info!(issuer = %provider.issuer, "development OpenID Provider listening (not for production)");
    axum::serve(listener, endpoints::router(provider))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// Builds a [`DevIdp`] for a test.
#[derive(Debug, Default)]
#[must_use]
pub struct DevIdpBuilder {
    config: DevIdpConfig,
    addr: Option<SocketAddr>,
    fresh_keys: bool,
}

impl DevIdpBuilder {
    /// Starts from a whole configuration.
    pub fn config(mut self, config: DevIdpConfig) -> Self {
        self.config = config;
        self
    }

    /// Adds a client (replacing one with the same id).
    pub fn client(mut self, client: ClientSpec) -> Self {
        self.config = self.config.with_client(client);
        self
    }

    /// Adds a user (replacing one with the same username).
    pub fn user(mut self, user: UserSpec) -> Self {
        self.config = self.config.with_user(user);
        self
    }

    /// Adds a signing key.
    pub fn key(mut self, key: KeySpec) -> Self {
        self.config = self.config.with_key(key);
        self
    }

    /// Lifetime of authorization codes.
    pub fn code_ttl(mut self, ttl: Duration) -> Self {
        self.config.lifetimes_mut().code = ttl;
        self
    }

    /// Lifetime of ID tokens.
    pub fn id_token_ttl(mut self, ttl: Duration) -> Self {
        self.config.lifetimes_mut().id_token = ttl;
        self
    }

    /// Lifetime of access tokens.
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.config.lifetimes_mut().access_token = ttl;
        self
    }

    /// Lifetime of refresh tokens.
    pub fn refresh_token_ttl(mut self, ttl: Duration) -> Self {
        self.config.lifetimes_mut().refresh_token = ttl;
        self
    }

    /// Whether usernames that are not configured may log in (default yes).
    pub fn accept_any_username(mut self, accept: bool) -> Self {
        self.config = self.config.with_accept_any_username(accept);
        self
    }

    /// Generates this provider's default keys instead of reusing the key material that
    /// providers started in this process share (each provider has its own `kid`s either way).
    pub fn fresh_keys(mut self) -> Self {
        self.fresh_keys = true;
        self
    }

    /// Listens on this address instead of `127.0.0.1:0`.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.addr = Some(addr);
        self
    }

    /// Binds, generates keys and starts serving in the background.
    pub async fn start(self) -> Result<DevIdp, DevIdpError> {
        let addr = self.addr.unwrap_or_else(|| ([127, 0, 0, 1], 0).into());
        let (listener, provider) = bind(self.config, addr, !self.fresh_keys).await?;
        let local_addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let router = endpoints::router(Arc::clone(&provider));
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(error = %e, "devidp server stopped");
            }
        });
        Ok(DevIdp {
            provider,
            addr: local_addr,
            stop: Some(stop),
            task,
        })
    }
}

/// A running development provider; dropping it stops the server.
#[derive(Debug)]
pub struct DevIdp {
    provider: Arc<Provider>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Drop for DevIdp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Open keep-alive connections would hold a graceful shutdown open; a test wants the
        // port closed now.
        self.task.abort();
    }
}

impl DevIdp {
    /// A builder with no clients, no users, default lifetimes and generated keys.
    pub fn builder() -> DevIdpBuilder {
        DevIdpBuilder::default()
    }

    /// The issuer URL, e.g. `http://127.0.0.1:PORT`.
    pub fn issuer(&self) -> String {
        self.provider.issuer.clone()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The discovery URL.
    pub fn discovery_url(&self) -> String {
        self.provider.endpoint(endpoints::DISCOVERY_PATH)
    }

    /// The token endpoint URL.
    pub fn token_url(&self) -> String {
        self.provider.endpoint(endpoints::TOKEN_PATH)
    }

    /// The authorization endpoint URL.
    pub fn authorization_url(&self) -> String {
        self.provider.endpoint(endpoints::AUTHORIZE_PATH)
    }

    /// The JWKS URL.
    pub fn jwks_url(&self) -> String {
        self.provider.endpoint(endpoints::JWKS_PATH)
    }

    /// The userinfo URL.
    pub fn userinfo_url(&self) -> String {
        self.provider.endpoint(endpoints::USERINFO_PATH)
    }

    /// The end-session URL.
    pub fn end_session_url(&self) -> String {
        self.provider.endpoint(endpoints::END_SESSION_PATH)
    }

    /// Activates a fault for every request.
    pub fn set_fault(&self, fault: Fault) {
        lock(&self.provider.faults).set_global(fault);
    }

    /// Activates a fault for one client's requests.
    pub fn set_client_fault(&self, client_id: &str, fault: Fault) {
        lock(&self.provider.faults).set_for_client(client_id, fault);
    }

    /// Deactivates one fault, globally and for every client.
    pub fn clear_fault(&self, fault: &Fault) {
        lock(&self.provider.faults).clear_one(fault);
    }

    /// Deactivates every fault.
    pub fn clear_faults(&self) {
        lock(&self.provider.faults).clear();
    }

    /// Makes a new key the signing key for `alg` (the pending key, if the unpublished-key fault
    /// made one) and publishes it; older keys stay in the JWKS. Returns the new `kid`.
    pub fn rotate_signing_key(&self, alg: Alg) -> Result<String, DevIdpError> {
        lock(&self.provider.keys).rotate(alg)
    }

    /// Publishes the keys made by [`Fault::IdTokenUnpublishedKid`] without making them the
    /// signing keys. Returns their `kid`s.
    pub fn publish_pending_keys(&self) -> Vec<String> {
        lock(&self.provider.keys).publish_pending()
    }

    /// Removes a published key from the JWKS (not the current signing key of an algorithm).
    pub fn remove_key(&self, kid: &str) -> Result<(), DevIdpError> {
        lock(&self.provider.keys).remove(kid)
    }

    /// The `kid` of the key that signs for `alg`.
    pub fn signing_kid(&self, alg: Alg) -> Option<String> {
        lock(&self.provider.keys)
            .signing_key(alg)
            .map(|k| k.kid().to_owned())
    }

    /// The `kid`s in the JWKS.
    pub fn published_kids(&self) -> Vec<String> {
        lock(&self.provider.keys).published_kids()
    }

    /// The JWKS document as served (ignoring faults).
    pub fn jwks(&self) -> Value {
        lock(&self.provider.keys).jwks()
    }

    /// Token-endpoint calls with this grant type, from any client (counted before faults and
    /// before client authentication, by the client id presented).
    pub fn token_calls(&self, grant: GrantType) -> usize {
        self.provider.counters.token_calls(None, grant)
    }

    /// Token-endpoint calls with this grant type presenting this client id.
    pub fn token_calls_for(&self, client_id: &str, grant: GrantType) -> usize {
        self.provider.counters.token_calls(Some(client_id), grant)
    }

    /// JWKS fetches so far.
    pub fn jwks_fetches(&self) -> usize {
        self.provider
            .counters
            .jwks
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Discovery fetches so far.
    pub fn discovery_fetches(&self) -> usize {
        self.provider
            .counters
            .discovery
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Userinfo calls so far.
    pub fn userinfo_calls(&self) -> usize {
        self.provider
            .counters
            .userinfo
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Moves the provider's clock forward (codes, tokens and sessions age; new tokens carry
    /// the shifted time).
    pub fn advance_clock(&self, by: Duration) {
        self.provider.clock.advance(by);
    }

    /// The open provider sessions as `(sid, username)`.
    pub fn sessions(&self) -> Vec<(String, String)> {
        lock(&self.provider.grants)
            .sessions
            .iter()
            .map(|(sid, s)| (sid.clone(), s.username.clone()))
            .collect()
    }

    /// Ends the target's provider sessions (revoking their refresh tokens) and POSTs logout
    /// tokens to the affected clients' back-channel URLs; returns the deliveries.
    pub async fn backchannel_logout(&self, target: LogoutTarget) -> Vec<BackchannelDelivery> {
        backchannel::logout(&self.provider, &target).await
    }

    /// Every back-channel delivery made so far, oldest first.
    pub fn backchannel_deliveries(&self) -> Vec<BackchannelDelivery> {
        self.provider.backchannel.all()
    }

    /// Waits until `count` deliveries have been made in total (or `timeout` passes) and returns
    /// them all.
    pub async fn wait_for_backchannel_deliveries(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Vec<BackchannelDelivery> {
        self.provider.backchannel.wait_for(count, timeout).await
    }

    /// Completes a login without a browser: GETs `authorization_url` (any URL of this
    /// provider's authorization endpoint, as a relying party built it), submits the login form
    /// as `username`, and returns the `Location` the provider redirects to (the client's
    /// redirect URI with `code` and `state`, or with an error).
    pub async fn complete_login(
        &self,
        authorization_url: &str,
        username: &str,
    ) -> Result<String, DevIdpError> {
        self.complete_login_with_password(authorization_url, username, "")
            .await
    }

    /// [`DevIdp::complete_login`] for a user with a password.
    pub async fn complete_login_with_password(
        &self,
        authorization_url: &str,
        username: &str,
        password: &str,
    ) -> Result<String, DevIdpError> {
        let http = &self.provider.http;
        let page = http.get(authorization_url).send().await?;
        if page.status().is_redirection() {
            return location(&page);
        }
        let status = page.status();
        let html = page.text().await?;
        let txn = extract_txn(&html)
            .ok_or_else(|| DevIdpError::Unexpected(format!("no login form (status {status})")))?;
        let answer = http
            .post(self.provider.endpoint(LOGIN_PATH))
            .form(&[("txn", txn), ("username", username), ("password", password)])
            .send()
            .await?;
        location(&answer)
    }
}

fn location(response: &reqwest::Response) -> Result<String, DevIdpError> {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| {
            DevIdpError::Unexpected(format!("no redirect (status {})", response.status()))
        })
}

/// The login transaction id from the login page's hidden field.
fn extract_txn(html: &str) -> Option<&str> {
    const MARK: &str = "name=\"txn\" value=\"";
    let start = html.find(MARK)?.checked_add(MARK.len())?;
    let rest = html.get(start..)?;
    rest.get(..rest.find('"')?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txn_is_found_in_the_form() {
        let html = "<input type=\"hidden\" name=\"txn\" value=\"abc_-1\">";
        assert_eq!(extract_txn(html), Some("abc_-1"));
        assert_eq!(extract_txn("<p>nothing</p>"), None);
    }
}
