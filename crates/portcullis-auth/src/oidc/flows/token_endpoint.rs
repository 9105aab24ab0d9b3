//! Token endpoint calls: the authorization code exchange and the refresh grant.
//!
//! Client authentication is `client_secret_basic`, or `client_secret_post` when the provider
//! lists only that. Answers are classified so each ends in the right status: the provider's
//! own refusal of a grant (`invalid_grant`: a used or expired code, a revoked refresh token)
//! is the user's problem (401, session ended); a refusal of the gateway itself
//! (`invalid_client`, ...) or an unusable answer is a bad gateway (502); a timeout is 504.

use serde::Deserialize;
use url::Url;

use crate::shared::discovery::ProviderMetadata;
use crate::shared::provider_client::{ClientAuth, ProviderClient, ProviderError, loggable};
use crate::shared::redacted::{AccessToken, IdToken, RefreshToken};

/// A successful token answer.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: AccessToken,
    #[serde(default)]
    pub token_type: Option<String>,
    #[serde(default)]
    pub id_token: Option<IdToken>,
    #[serde(default)]
    pub refresh_token: Option<RefreshToken>,
    #[serde(default)]
    pub expires_in: Option<serde_json::Value>,
}

impl TokenResponse {
    /// `expires_in` as seconds, accepting a number or a numeric string (both are seen).
    pub fn expires_in_seconds(&self) -> Option<i64> {
        match self.expires_in.as_ref()? {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: String,
}

/// Why a token request failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Transport failure or timeout.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The provider refused the grant (`invalid_grant`): the user must log in again.
    #[error("the provider refused the grant ({0})")]
    GrantRefused(String),
    /// The provider refused the gateway (`invalid_client`, `unauthorized_client`, ...).
    #[error("the provider refused the request ({0})")]
    ClientRefused(String),
    /// An answer that cannot be used.
    #[error("{url}: unusable token answer: {reason}")]
    Invalid { url: String, reason: String },
}

/// The gateway's client credentials.
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a str,
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .finish()
    }
}

fn auth<'a>(metadata: &ProviderMetadata, credentials: Credentials<'a>) -> ClientAuth<'a> {
    if metadata.prefers_client_secret_post() {
        ClientAuth::Post {
            client_id: credentials.client_id,
            secret: credentials.client_secret,
        }
    } else {
        ClientAuth::Basic {
            client_id: credentials.client_id,
            secret: credentials.client_secret,
        }
    }
}

/// Exchanges an authorization code.
pub async fn exchange_code(
    client: &ProviderClient,
    metadata: &ProviderMetadata,
    credentials: Credentials<'_>,
    code: &str,
    redirect_uri: &str,
    code_verifier: Option<&str>,
) -> Result<TokenResponse, TokenError> {
    let mut form: Vec<(&str, &str)> = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    if let Some(verifier) = code_verifier {
        form.push(("code_verifier", verifier));
    }
    request(client, metadata, credentials, &form).await
}

/// Uses a refresh token.
pub async fn refresh(
    client: &ProviderClient,
    metadata: &ProviderMetadata,
    credentials: Credentials<'_>,
    refresh_token: &str,
) -> Result<TokenResponse, TokenError> {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    request(client, metadata, credentials, &form).await
}

async fn request(
    client: &ProviderClient,
    metadata: &ProviderMetadata,
    credentials: Credentials<'_>,
    form: &[(&str, &str)],
) -> Result<TokenResponse, TokenError> {
    let url: &Url = &metadata.token_endpoint;
    let response = client
        .post_form(url, form, auth(metadata, credentials))
        .await?;
    let invalid = |reason: String| TokenError::Invalid {
        url: loggable(url),
        reason,
    };
    if response.status.is_success() {
        let tokens: TokenResponse = serde_json::from_slice(&response.body)
            .map_err(|e| invalid(format!("not a token response: {e}")))?;
        if tokens.access_token.is_empty() {
            return Err(invalid("empty access_token".into()));
        }
        if let Some(kind) = &tokens.token_type {
            if !kind.eq_ignore_ascii_case("bearer") {
                return Err(invalid(format!("token_type {kind:?} is not Bearer")));
            }
        }
        return Ok(tokens);
    }
    if response.status.is_client_error() {
        if let Ok(body) = serde_json::from_slice::<ErrorBody>(&response.body) {
            // Only the registered error code is kept: error_description is free text from
            // the provider and may repeat what was sent.
            let code: String = body
                .error
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(64)
                .collect();
            return Err(if code == "invalid_grant" {
                TokenError::GrantRefused(code)
            } else {
                TokenError::ClientRefused(code)
            });
        }
    }
    Err(TokenError::Provider(ProviderError::Status {
        url: loggable(url),
        status: response.status,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_accepts_numbers_and_strings() {
        let parse = |json: &str| serde_json::from_str::<TokenResponse>(json).unwrap();
        assert_eq!(
            parse(r#"{"access_token":"a","expires_in":60}"#).expires_in_seconds(),
            Some(60)
        );
        assert_eq!(
            parse(r#"{"access_token":"a","expires_in":"60"}"#).expires_in_seconds(),
            Some(60)
        );
        assert_eq!(parse(r#"{"access_token":"a"}"#).expires_in_seconds(), None);
    }
}
