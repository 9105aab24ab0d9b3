//! `portcullis check --online`: asks each provider what the configuration takes for granted.
//!
//! For every OIDC middleware: discovery (with the exact issuer comparison the middleware makes),
//! the JWKS and how many of its keys can verify a signature, and the client's credentials at the
//! token endpoint (a `client_credentials` grant, where the provider allows that grant for the
//! client). For every client credentials middleware with its own credentials: a token request.
//! All calls go through the middlewares' own provider client, so `clientConfig` (TLS, timeout,
//! retries) applies as it does at run time. Nothing is cached or kept; no secret is printed.

use std::fmt;

use http::StatusCode;
use portcullis_auth::client_credentials::ClientSecretPair;
use portcullis_auth::client_credentials::error::ObtainError;
use portcullis_auth::client_credentials::token_endpoint::TokenEndpoint;
use portcullis_auth::oidc::OidcSecrets;
use portcullis_auth::oidc::settings::resolve_client_tls;
use portcullis_auth::shared::discovery::{self, DiscoveryError, ProviderMetadata};
use portcullis_auth::shared::jwt::Jwk;
use portcullis_auth::shared::provider_client::{
    ClientAuth, ProviderClient, ProviderResponse, loggable,
};
use portcullis_config::plugin::PluginConfig;
use portcullis_config::plugin::client_credentials::ClientCredentialsConfig;
use portcullis_config::plugin::oidc::OidcConfig;
use portcullis_config::{Config, MiddlewareConfig, SecretResolver};
use serde_json::Value;

/// How a finding weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    /// Worth knowing, not a failure (something the provider does not let us verify).
    Note,
    Error,
}

/// What the checks found for one middleware.
#[derive(Debug, Clone)]
pub struct Report {
    pub middleware: String,
    pub findings: Vec<(Level, String)>,
}

impl Report {
    fn new(middleware: &str) -> Self {
        Self {
            middleware: middleware.to_owned(),
            findings: Vec::new(),
        }
    }

    fn push(&mut self, level: Level, text: impl Into<String>) {
        self.findings.push((level, text.into()));
    }

    /// The weightiest finding's level.
    pub fn level(&self) -> Level {
        self.findings
            .iter()
            .map(|(level, _)| *level)
            .max()
            .unwrap_or(Level::Ok)
    }
}

/// One line: `name: ok|error: finding; finding; note: finding`.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match self.level() {
            Level::Error => "error",
            Level::Ok | Level::Note => "ok",
        };
        let parts: Vec<String> = self
            .findings
            .iter()
            .map(|(level, text)| match level {
                Level::Note => format!("note: {text}"),
                Level::Ok | Level::Error => text.clone(),
            })
            .collect();
        write!(f, "{}: {verdict}: {}", self.middleware, parts.join("; "))
    }
}

/// Checks every authentication middleware of the files, in configuration order.
pub async fn run(config: &Config, secrets: &dyn SecretResolver) -> Vec<Report> {
    let mut reports = Vec::new();
    for (name, middleware) in &config.dynamic.middlewares {
        match middleware {
            MiddlewareConfig::Plugin(PluginConfig::Oidc(oidc)) => {
                reports.push(check_oidc(name, oidc, secrets).await);
            }
            MiddlewareConfig::Plugin(PluginConfig::ClientCredentials(cc)) => {
                reports.push(check_client_credentials(name, cc, secrets).await);
            }
            _ => {}
        }
    }
    reports
}

async fn check_oidc(name: &str, oidc: &OidcConfig, secrets: &dyn SecretResolver) -> Report {
    let mut report = Report::new(name);
    let resolved = match OidcSecrets::resolve(oidc, None, secrets) {
        Ok(resolved) => resolved,
        Err(error) => {
            report.push(Level::Error, error.to_string());
            return report;
        }
    };
    let client = match ProviderClient::new(&oidc.client_config, &resolved.tls) {
        Ok(client) => client,
        Err(error) => {
            report.push(Level::Error, error.to_string());
            return report;
        }
    };
    let metadata = match discovery::discover(&client, &oidc.issuer, &oidc.discovery_params).await {
        Ok(metadata) => metadata,
        Err(error) => {
            report.push(Level::Error, discovery_failure(&oidc.issuer, &error));
            return report;
        }
    };
    report.push(Level::Ok, format!("discovery: issuer {}", metadata.issuer));
    let (level, text) = count_keys(&client, &metadata).await;
    report.push(level, text);
    let (level, text) = prove_credentials(
        &client,
        &metadata,
        resolved.client_id.expose(),
        resolved.client_secret.expose(),
    )
    .await;
    report.push(level, text);
    report
}

/// Discovery's error, with the fix when the issuers differ only by a trailing slash.
fn discovery_failure(configured: &str, error: &DiscoveryError) -> String {
    let hint = match error {
        DiscoveryError::IssuerMismatch { found, .. }
            if found.trim_end_matches('/') == configured.trim_end_matches('/') =>
        {
            if configured.ends_with('/') {
                " (remove the trailing slash from issuer)"
            } else {
                " (add the trailing slash to issuer)"
            }
        }
        _ => "",
    };
    format!("discovery failed: {error}{hint}")
}

/// Fetches the JWKS and counts the keys a token signature can be verified with.
async fn count_keys(client: &ProviderClient, metadata: &ProviderMetadata) -> (Level, String) {
    let document: Value = match client.get_json(&metadata.jwks_uri).await {
        Ok(document) => document,
        Err(error) => return (Level::Error, format!("JWKS: {error}")),
    };
    let usable = document
        .get("keys")
        .and_then(Value::as_array)
        .map_or(0, |keys| {
            keys.iter()
                .filter_map(|key| serde_json::from_value::<Jwk>(key.clone()).ok())
                .filter(|key| matches!(key.kty.as_str(), "RSA" | "EC" | "OKP"))
                .filter(|key| key.key_use.as_deref().is_none_or(|u| u == "sig"))
                .count()
        });
    let url = loggable(&metadata.jwks_uri);
    match usable {
        0 => (
            Level::Error,
            format!("JWKS {url}: no usable signing key (no token can be verified)"),
        ),
        1 => (Level::Ok, "JWKS: 1 usable signing key".to_owned()),
        n => (Level::Ok, format!("JWKS: {n} usable signing keys")),
    }
}

/// Proves the client's credentials with a `client_credentials` grant, authenticating as the
/// middleware does (`client_secret_basic`, else `client_secret_post` when the provider only
/// offers that, or refuses basic).
async fn prove_credentials(
    client: &ProviderClient,
    metadata: &ProviderMetadata,
    client_id: &str,
    secret: &str,
) -> (Level, String) {
    let url = &metadata.token_endpoint;
    let form = [("grant_type", "client_credentials")];
    let basic = ClientAuth::Basic { client_id, secret };
    let post = ClientAuth::Post { client_id, secret };
    let first = if metadata.prefers_client_secret_post() {
        post
    } else {
        basic
    };
    let mut response = client.post_form(url, &form, first).await;
    if matches!(first, ClientAuth::Basic { .. })
        && response.as_ref().is_ok_and(refuses_client_authentication)
    {
        response = client.post_form(url, &form, post).await;
    }
    let response = match response {
        Ok(response) => response,
        Err(error) => return (Level::Error, format!("token endpoint: {error}")),
    };
    let status = response.status;
    if status.is_success() {
        return (Level::Ok, "credentials accepted".to_owned());
    }
    let code = error_code(&response);
    let answered = format!(
        "{} answered {status} ({})",
        loggable(url),
        code.as_deref().unwrap_or("no OAuth error code")
    );
    match code.as_deref() {
        _ if refuses_client_authentication(&response) => (
            Level::Error,
            format!("client credentials refused: {answered}"),
        ),
        Some("unauthorized_client" | "unsupported_grant_type") => (
            Level::Note,
            "credentials not verifiable (the provider does not allow the client credentials grant for this client)"
                .to_owned(),
        ),
        _ if status.is_client_error() => (
            Level::Note,
            format!("credentials not verifiable: {answered}"),
        ),
        _ => (Level::Error, format!("token endpoint: {answered}")),
    }
}

fn refuses_client_authentication(response: &ProviderResponse) -> bool {
    response.status == StatusCode::UNAUTHORIZED
        || (response.status.is_client_error()
            && error_code(response).as_deref() == Some("invalid_client"))
}

/// The OAuth `error` of a refusal, when short and printable (it is printed).
fn error_code(response: &ProviderResponse) -> Option<String> {
    serde_json::from_slice::<Value>(&response.body)
        .ok()?
        .get("error")?
        .as_str()
        .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
}

async fn check_client_credentials(
    name: &str,
    cc: &ClientCredentialsConfig,
    secrets: &dyn SecretResolver,
) -> Report {
    let mut report = Report::new(name);
    let Some(credentials) = &cc.credentials else {
        report.push(
            Level::Note,
            "no clientID/clientSecret: each caller's own credentials are used, nothing to check",
        );
        return report;
    };
    let resolve = |reference, option: &str| {
        secrets
            .resolve(reference, None)
            .map_err(|error| format!("{option}: {error}"))
    };
    let resolved = resolve(&credentials.client_id, "clientID").and_then(|id| {
        resolve(&credentials.client_secret, "clientSecret").map(|secret| (id, secret))
    });
    let (client_id, secret) = match resolved {
        Ok(pair) => pair,
        Err(error) => {
            report.push(Level::Error, error);
            return report;
        }
    };
    let client = resolve_client_tls(&cc.client_config.tls, name, None, secrets)
        .map_err(|error| error.to_string())
        .and_then(|tls| {
            ProviderClient::new(&cc.client_config, &tls).map_err(|error| error.to_string())
        });
    let client = match client {
        Ok(client) => client,
        Err(error) => {
            report.push(Level::Error, error);
            return report;
        }
    };
    let endpoint = TokenEndpoint::new(client, cc.url.clone(), cc.audience.clone(), false);
    let pair = ClientSecretPair {
        client_id: client_id.expose().to_owned(),
        secret,
    };
    match endpoint.request(&pair).await {
        Ok(answer) => report.push(
            Level::Ok,
            match answer.expires_in {
                Some(seconds) => format!("token obtained (expires in {seconds} s)"),
                None => "token obtained".to_owned(),
            },
        ),
        Err(ObtainError::Rejected(detail)) => {
            report.push(
                Level::Error,
                format!("client credentials refused: {detail}"),
            );
        }
        Err(error) => report.push(Level::Error, error.to_string()),
    }
    report
}
