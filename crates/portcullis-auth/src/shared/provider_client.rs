//! The HTTP client every call to an OpenID Provider or authorization server goes through
//! (discovery, JWKS, token endpoint), configured by `clientConfig`.
//!
//! What it protects against, and how:
//! - a slow provider holding requests forever: every attempt has the `timeoutSeconds` limit, and
//!   a timeout is not retried (it ends in a 504 at once rather than after several timeouts);
//! - retry storms and retrying what cannot succeed: only connection errors and 5xx answers are
//!   retried, at most `maxRetries` times, with exponential backoff;
//! - memory exhaustion by a hostile or broken provider: bodies are capped at [`MAX_BODY_BYTES`];
//! - being steered to another server: redirects are never followed;
//! - trusting the wrong server: `tls.ca` replaces the system roots, `tls.cert`/`tls.key` present
//!   a client certificate, and `insecureSkipVerify` is honoured only when configured and is
//!   logged as a warning.
//!
//! Error messages carry the URL without its query string (which may hold parameters an operator
//! would not want in logs), never a request body or credential.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use portcullis_config::plugin::common::{ClientConfig, ClientTls};
use portcullis_config::{Secret, SecretRef};
use portcullis_proxy::metrics::AuthMetrics;
use serde::de::DeserializeOwned;
use url::Url;

/// Largest body accepted from the provider.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// First retry delay; doubled on each further retry.
const DEFAULT_BACKOFF: Duration = Duration::from_millis(200);
/// Longest delay between two retries.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// TLS material of `clientConfig.tls`, with secret references already resolved.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClientTlsMaterial {
    /// PEM bundle of trusted CA certificates.
    pub ca: Option<Secret>,
    /// PEM client certificate chain (mutual TLS).
    pub cert: Option<Secret>,
    /// PEM client private key (mutual TLS).
    pub key: Option<Secret>,
    pub insecure_skip_verify: bool,
}

impl ClientTlsMaterial {
    /// `clientConfig.tls` with its references resolved by `resolve` (given each reference and
    /// the option naming it): the one resolver of both middlewares.
    pub fn resolve<E>(
        tls: &ClientTls,
        resolve: impl Fn(&SecretRef, &'static str) -> Result<Secret, E>,
    ) -> Result<Self, E> {
        let optional = |reference: &Option<SecretRef>, option| {
            reference.as_ref().map(|r| resolve(r, option)).transpose()
        };
        Ok(Self {
            ca: optional(&tls.ca, "clientConfig.tls.ca")?,
            cert: optional(&tls.cert, "clientConfig.tls.cert")?,
            key: optional(&tls.key, "clientConfig.tls.key")?,
            insecure_skip_verify: tls.insecure_skip_verify,
        })
    }
}

impl std::fmt::Debug for ClientTlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTlsMaterial")
            .field("ca", &self.ca.is_some())
            .field("cert", &self.cert.is_some())
            .field("key", &self.key.is_some())
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .finish()
    }
}

/// Why the client could not be built (bad PEM, unusable TLS settings).
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error("clientConfig.tls.ca: not a usable PEM certificate bundle: {0}")]
    Ca(String),
    #[error("clientConfig.tls.cert/key: not a usable PEM certificate and key: {0}")]
    Identity(String),
    #[error("cannot build the provider HTTP client: {0}")]
    Client(String),
}

/// A failed call to the provider.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// No answer within the timeout (maps to 504).
    #[error("{url}: no answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    /// Connection refused, DNS or TLS failure, after the retries (maps to 502).
    #[error("{url}: unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    /// An unexpected HTTP status (maps to 502).
    #[error("{url}: answered {status}")]
    Status { url: String, status: StatusCode },
    /// An answer that cannot be used: not JSON, missing fields, too large (maps to 502).
    #[error("{url}: invalid answer: {reason}")]
    InvalidResponse { url: String, reason: String },
}

/// A raw answer of the provider, for callers that interpret error statuses themselves (the
/// token endpoint answers 400 with an OAuth error body).
#[derive(Debug, Clone)]
pub struct ProviderResponse {
    pub status: StatusCode,
    pub body: Bytes,
}

/// Client authentication at the token endpoint (RFC 6749 section 2.3.1). `Debug` never shows
/// the secret.
#[derive(Clone, Copy)]
pub enum ClientAuth<'a> {
    /// `client_secret_basic`.
    Basic { client_id: &'a str, secret: &'a str },
    /// `client_secret_post`.
    Post { client_id: &'a str, secret: &'a str },
    /// No client authentication (public clients).
    None,
}

impl std::fmt::Debug for ClientAuth<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientAuth::Basic { client_id, .. } => write!(f, "Basic({client_id}, ***)"),
            ClientAuth::Post { client_id, .. } => write!(f, "Post({client_id}, ***)"),
            ClientAuth::None => f.write_str("None"),
        }
    }
}

/// One per middleware: an HTTP client bound to the middleware's `clientConfig`.
#[derive(Debug, Clone)]
pub struct ProviderClient {
    http: reqwest::Client,
    timeout: Duration,
    max_retries: u32,
    backoff: Duration,
    /// Where calls are counted and timed, with the middleware's name.
    metrics: Option<(AuthMetrics, Arc<str>)>,
}

impl ProviderClient {
    /// Builds the client. Does no network I/O.
    pub fn new(config: &ClientConfig, tls: &ClientTlsMaterial) -> Result<Self, ClientBuildError> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &tls.ca {
            let certs = reqwest::Certificate::from_pem_bundle(ca.expose().as_bytes())
                .map_err(|e| ClientBuildError::Ca(e.to_string()))?;
            if certs.is_empty() {
                return Err(ClientBuildError::Ca("no certificate found".into()));
            }
            builder = builder.tls_certs_only(certs);
        }
        match (&tls.cert, &tls.key) {
            (Some(cert), Some(key)) => {
                let pem = format!("{}\n{}\n", key.expose(), cert.expose());
                let identity = reqwest::Identity::from_pem(pem.as_bytes())
                    .map_err(|e| ClientBuildError::Identity(e.to_string()))?;
                builder = builder.identity(identity);
            }
            (None, None) => {}
            _ => {
                return Err(ClientBuildError::Identity(
                    "cert and key must be set together".into(),
                ));
            }
        }
        if tls.insecure_skip_verify {
            tracing::warn!(
                "clientConfig.tls.insecureSkipVerify is set: the provider's TLS certificate is not verified"
            );
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let http = builder
            .build()
            .map_err(|e| ClientBuildError::Client(e.to_string()))?;
        Ok(Self {
            http,
            timeout: config.timeout,
            max_retries: config.max_retries,
            backoff: DEFAULT_BACKOFF,
            metrics: None,
        })
    }

    /// Changes the first retry delay (tests use a short one).
    #[must_use]
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// Counts and times this client's calls under `middleware`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: AuthMetrics, middleware: &str) -> Self {
        self.metrics = Some((metrics, middleware.into()));
        self
    }

    /// GETs `url` and parses a 2xx JSON answer.
    pub async fn get_json<T: DeserializeOwned>(&self, url: &Url) -> Result<T, ProviderError> {
        let response = self
            .send_with_retries(url, false, || {
                self.http
                    .get(url.clone())
                    .header(http::header::ACCEPT, "application/json")
            })
            .await?;
        if !response.status.is_success() {
            return Err(ProviderError::Status {
                url: loggable(url),
                status: response.status,
            });
        }
        serde_json::from_slice(&response.body).map_err(|e| ProviderError::InvalidResponse {
            url: loggable(url),
            reason: e.to_string(),
        })
    }

    /// POSTs a form (a token request) and returns the answer whatever its status, after the
    /// retries on connection errors and 5xx.
    pub async fn post_form(
        &self,
        url: &Url,
        form: &[(&str, &str)],
        auth: ClientAuth<'_>,
    ) -> Result<ProviderResponse, ProviderError> {
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        let mut basic: Option<String> = None;
        match auth {
            ClientAuth::Basic { client_id, secret } => {
                basic = Some(basic_credentials(client_id, secret));
            }
            ClientAuth::Post { client_id, secret } => {
                fields.push(("client_id", client_id));
                fields.push(("client_secret", secret));
            }
            ClientAuth::None => {}
        }
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields.iter())
            .finish();
        self.send_with_retries(url, true, || {
            let mut request = self
                .http
                .post(url.clone())
                .header(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .header(http::header::ACCEPT, "application/json")
                .body(body.clone());
            if let Some(credentials) = &basic {
                request = request.header(http::header::AUTHORIZATION, credentials.as_str());
            }
            request
        })
        .await
    }

    async fn send_with_retries(
        &self,
        url: &Url,
        post: bool,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<ProviderResponse, ProviderError> {
        let started = std::time::Instant::now();
        let outcome = self.send_retrying(url, build).await;
        if let Some((metrics, middleware)) = &self.metrics {
            let result = match &outcome {
                Ok(response) if response.status.is_success() => "success",
                Err(ProviderError::Unreachable { .. } | ProviderError::Timeout { .. }) => {
                    "unreachable"
                }
                _ => "error",
            };
            metrics.provider_call(
                middleware,
                endpoint_label(url, post),
                result,
                started.elapsed().as_secs_f64(),
            );
        }
        outcome
    }

    async fn send_retrying(
        &self,
        url: &Url,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<ProviderResponse, ProviderError> {
        let mut attempt: u32 = 0;
        loop {
            let outcome = self.send_once(url, build()).await;
            let retryable = match &outcome {
                Ok(response) => response.status.is_server_error(),
                Err(ProviderError::Unreachable { .. }) => true,
                Err(_) => false,
            };
            if !retryable || attempt >= self.max_retries {
                return outcome;
            }
            let delay = self
                .backoff
                .saturating_mul(2u32.saturating_pow(attempt))
                .min(MAX_BACKOFF);
            tracing::debug!(url = %loggable(url), attempt, ?delay, "retrying provider call");
            tokio::time::sleep(delay).await;
            attempt = attempt.saturating_add(1);
        }
    }

    async fn send_once(
        &self,
        url: &Url,
        request: reqwest::RequestBuilder,
    ) -> Result<ProviderResponse, ProviderError> {
        let mut response = request.send().await.map_err(|e| self.classify(url, &e))?;
        let status = response.status();
        let mut body: Vec<u8> = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(url, &e))? {
            if body.len().saturating_add(chunk.len()) > MAX_BODY_BYTES {
                return Err(ProviderError::InvalidResponse {
                    url: loggable(url),
                    reason: format!("body larger than {MAX_BODY_BYTES} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(ProviderResponse {
            status,
            body: Bytes::from(body),
        })
    }

    fn classify(&self, url: &Url, error: &reqwest::Error) -> ProviderError {
        if error.is_timeout() {
            ProviderError::Timeout {
                url: loggable(url),
                timeout: self.timeout,
            }
        } else if error.is_connect() || error.is_request() {
            ProviderError::Unreachable {
                url: loggable(url),
                reason: error_chain(error),
            }
        } else {
            ProviderError::InvalidResponse {
                url: loggable(url),
                reason: error_chain(error),
            }
        }
    }
}

/// `Authorization: Basic` with both parts form-urlencoded first, as RFC 6749 section 2.3.1
/// requires (a secret containing `:` or non-ASCII must survive).
fn basic_credentials(client_id: &str, secret: &str) -> String {
    use base64::Engine;
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let raw = format!("{}:{}", encode(client_id), encode(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// The URL without query string or fragment, for logs and errors.
/// The `endpoint` label of a call: token requests are the only POSTs; a GET of a
/// `.well-known` document is discovery, any other GET a key set.
fn endpoint_label(url: &Url, post: bool) -> &'static str {
    if post {
        "token"
    } else if url.path().contains("/.well-known/") {
        "discovery"
    } else {
        "jwks"
    }
}

pub fn loggable(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        // "a b:c" / "p:w" -> "a+b%3Ac:p%3Aw"
        assert_eq!(
            basic_credentials("a b:c", "p:w"),
            format!(
                "Basic {}",
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "a+b%3Ac:p%3Aw")
            )
        );
    }

    #[test]
    fn loggable_urls_drop_the_query() {
        let url = Url::parse("https://idp.example.com/token?secret=x#f").unwrap();
        assert_eq!(loggable(&url), "https://idp.example.com/token");
    }

    #[test]
    fn bad_pem_is_refused_at_build_time() {
        let tls = ClientTlsMaterial {
            ca: Some(Secret::new("not a pem")),
            ..Default::default()
        };
        assert!(matches!(
            ProviderClient::new(&ClientConfig::default(), &tls),
            Err(ClientBuildError::Ca(_))
        ));
        let tls = ClientTlsMaterial {
            cert: Some(Secret::new("x")),
            ..Default::default()
        };
        assert!(ProviderClient::new(&ClientConfig::default(), &tls).is_err());
        assert!(
            ProviderClient::new(&ClientConfig::default(), &ClientTlsMaterial::default()).is_ok()
        );
    }
}
