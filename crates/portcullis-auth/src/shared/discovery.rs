//! OpenID Provider discovery (OpenID Connect Discovery 1.0): fetch
//! `<issuer>/.well-known/openid-configuration` and keep what the middlewares use.
//!
//! What it protects against, and how: a discovery document served for another issuer (a
//! mix-up, or a compromised host answering for a tenant it does not own) is refused unless its
//! `issuer` equals the configured one exactly (section 4.3); endpoints must be absolute
//! `http`/`https` URLs, so a document cannot point the gateway at another scheme.

use serde::Deserialize;
use url::Url;

use super::provider_client::{ProviderClient, ProviderError, loggable};

/// Why discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("issuer {0:?} is not a valid URL")]
    InvalidIssuer(String),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("discovery at {url} names issuer {found:?}, expected {expected:?}")]
    IssuerMismatch {
        url: String,
        expected: String,
        found: String,
    },
    #[error("discovery at {url}: {field} is not an absolute http(s) URL")]
    InvalidEndpoint { url: String, field: &'static str },
}

#[derive(Deserialize)]
struct RawMetadata {
    issuer: String,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    jwks_uri: Option<String>,
    #[serde(default)]
    end_session_endpoint: Option<String>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
}

/// What the middlewares use of a provider's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub jwks_uri: Url,
    pub end_session_endpoint: Option<Url>,
    /// `None` when the provider does not say (the default is `client_secret_basic`).
    pub token_endpoint_auth_methods: Option<Vec<String>>,
    pub code_challenge_methods: Option<Vec<String>>,
}

impl ProviderMetadata {
    /// True when the token endpoint accepts only `client_secret_post` among the secret-based
    /// methods, so the secret must go in the form rather than in `Authorization: Basic`.
    pub fn prefers_client_secret_post(&self) -> bool {
        self.token_endpoint_auth_methods
            .as_ref()
            .is_some_and(|methods| {
                methods.iter().any(|m| m == "client_secret_post")
                    && !methods.iter().any(|m| m == "client_secret_basic")
            })
    }
}

/// The discovery URL of `issuer` with `params` as query parameters.
pub fn discovery_url(issuer: &str, params: &[(String, String)]) -> Result<Url, DiscoveryError> {
    let base = issuer.trim_end_matches('/');
    let mut url = Url::parse(&format!("{base}/.well-known/openid-configuration"))
        .map_err(|_| DiscoveryError::InvalidIssuer(issuer.to_owned()))?;
    if !params.is_empty() {
        url.query_pairs_mut()
            .extend_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }
    Ok(url)
}

/// Fetches and checks the metadata of `issuer`.
pub async fn discover(
    client: &ProviderClient,
    issuer: &str,
    params: &[(String, String)],
) -> Result<ProviderMetadata, DiscoveryError> {
    let url = discovery_url(issuer, params)?;
    let raw: RawMetadata = client.get_json(&url).await?;
    let shown = loggable(&url);
    if raw.issuer != issuer {
        return Err(DiscoveryError::IssuerMismatch {
            url: shown,
            expected: issuer.to_owned(),
            found: raw.issuer,
        });
    }
    let endpoint = |value: Option<String>, field: &'static str| -> Result<Url, DiscoveryError> {
        value
            .and_then(|v| Url::parse(&v).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| DiscoveryError::InvalidEndpoint {
                url: shown.clone(),
                field,
            })
    };
    let end_session_endpoint = match raw.end_session_endpoint {
        None => None,
        Some(value) => Some(endpoint(Some(value), "end_session_endpoint")?),
    };
    Ok(ProviderMetadata {
        issuer: raw.issuer,
        authorization_endpoint: endpoint(raw.authorization_endpoint, "authorization_endpoint")?,
        token_endpoint: endpoint(raw.token_endpoint, "token_endpoint")?,
        jwks_uri: endpoint(raw.jwks_uri, "jwks_uri")?,
        end_session_endpoint,
        token_endpoint_auth_methods: raw.token_endpoint_auth_methods_supported,
        code_challenge_methods: raw.code_challenge_methods_supported,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_url_appends_params() {
        let url = discovery_url(
            "https://idp.example.com/realms/r/",
            &[("tenant".into(), "a b".into())],
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "https://idp.example.com/realms/r/.well-known/openid-configuration?tenant=a+b"
        );
    }

    #[test]
    fn client_secret_post_only_when_basic_is_absent() {
        let mut metadata = ProviderMetadata {
            issuer: "i".into(),
            authorization_endpoint: Url::parse("https://i/a").unwrap(),
            token_endpoint: Url::parse("https://i/t").unwrap(),
            jwks_uri: Url::parse("https://i/j").unwrap(),
            end_session_endpoint: None,
            token_endpoint_auth_methods: None,
            code_challenge_methods: None,
        };
        assert!(!metadata.prefers_client_secret_post());
        metadata.token_endpoint_auth_methods = Some(vec![
            "client_secret_basic".into(),
            "client_secret_post".into(),
        ]);
        assert!(!metadata.prefers_client_secret_post());
        metadata.token_endpoint_auth_methods = Some(vec!["client_secret_post".into()]);
        assert!(metadata.prefers_client_secret_post());
    }
}
