//! Token requests with the `client_credentials` grant (RFC 6749 section 4.4).
//!
//! What it protects against, and how:
//! - using an answer the upstream cannot: only a non-empty `access_token` of type `Bearer` (or
//!   without a type) that fits in an HTTP header is accepted; anything else is a bad answer;
//! - confusing "wrong credentials" with "provider broken": `invalid_client`, `invalid_grant`,
//!   `unauthorized_client` and 401 are rejections of the credentials; every other refusal is
//!   the gateway's problem and never reported to the caller as bad credentials;
//! - secrets in logs: errors carry the OAuth error code and the endpoint URL without its query,
//!   never a credential, a token or the provider's `error_description`.
//!
//! Client authentication is `client_secret_basic` first. When the provider refuses it (401, or
//! `invalid_client`), the request is repeated once with `client_secret_post`, since some
//! providers register each client for one method only. In the gateway's own mode, a success
//! with `client_secret_post` is remembered so that later renewals use it directly.

use crate::shared::redacted::AccessToken;
use std::sync::atomic::{AtomicBool, Ordering};

use http::{HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::ClientSecretPair;
use super::error::ObtainError;
use crate::shared::provider_client::{ClientAuth, ProviderClient, ProviderResponse, loggable};

/// OAuth error codes that mean "these client credentials are not good".
const CREDENTIAL_ERRORS: &[&str] = &["invalid_client", "invalid_grant", "unauthorized_client"];

/// A successful answer of the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAnswer {
    pub access_token: AccessToken,
    /// `expires_in`, in seconds, when the provider sent it.
    pub expires_in: Option<i64>,
}

#[derive(Deserialize)]
struct RawAnswer {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<Value>,
}

#[derive(Deserialize)]
struct RawError {
    error: Option<String>,
}

/// The configured token endpoint of one middleware.
#[derive(Debug)]
pub struct TokenEndpoint {
    client: ProviderClient,
    url: Url,
    audience: Option<String>,
    /// Set once the provider refused `client_secret_basic` and accepted `client_secret_post`
    /// for the gateway's own credentials.
    prefer_post: AtomicBool,
    /// Whether a working method is remembered (one client: the gateway's own credentials).
    remember_method: bool,
}

impl TokenEndpoint {
    pub fn new(
        client: ProviderClient,
        url: Url,
        audience: Option<String>,
        remember_method: bool,
    ) -> Self {
        Self {
            client,
            url,
            audience,
            prefer_post: AtomicBool::new(false),
            remember_method,
        }
    }

    /// The endpoint URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Requests a token for `credentials`.
    pub async fn request(
        &self,
        credentials: &ClientSecretPair,
    ) -> Result<TokenAnswer, ObtainError> {
        let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        if let Some(audience) = &self.audience {
            form.push(("audience", audience));
        }
        let client_id = credentials.client_id.as_str();
        let secret = credentials.secret.expose();
        let basic = ClientAuth::Basic { client_id, secret };
        let post = ClientAuth::Post { client_id, secret };

        if self.remember_method && self.prefer_post.load(Ordering::Relaxed) {
            let response = self.client.post_form(&self.url, &form, post).await?;
            return self.interpret(&response);
        }
        let response = self.client.post_form(&self.url, &form, basic).await?;
        if !refuses_client_authentication(&response) {
            return self.interpret(&response);
        }
        tracing::debug!(
            url = %loggable(&self.url),
            "client_secret_basic refused, retrying with client_secret_post"
        );
        let response = self.client.post_form(&self.url, &form, post).await?;
        let answer = self.interpret(&response)?;
        if self.remember_method {
            self.prefer_post.store(true, Ordering::Relaxed);
        }
        Ok(answer)
    }

    fn interpret(&self, response: &ProviderResponse) -> Result<TokenAnswer, ObtainError> {
        let url = loggable(&self.url);
        let status = response.status;
        if status.is_success() {
            return parse_answer(&response.body).map_err(|reason| {
                ObtainError::InvalidAnswer(format!("{url}: invalid token answer: {reason}"))
            });
        }
        let code = error_code(&response.body);
        let shown = code.as_deref().unwrap_or("no OAuth error code");
        if status == StatusCode::UNAUTHORIZED
            || code
                .as_deref()
                .is_some_and(|c| CREDENTIAL_ERRORS.contains(&c))
        {
            return Err(ObtainError::Rejected(format!(
                "{url} answered {status} ({shown})"
            )));
        }
        if status.is_client_error() {
            return Err(ObtainError::Refused(format!(
                "{url} answered {status} ({shown})"
            )));
        }
        if status.is_server_error() {
            return Err(ObtainError::Unavailable(format!(
                "{url} answered {status} after the retries"
            )));
        }
        Err(ObtainError::InvalidAnswer(format!(
            "{url} answered {status}"
        )))
    }
}

/// True when the answer says the client authentication itself was refused, so another method
/// may succeed.
fn refuses_client_authentication(response: &ProviderResponse) -> bool {
    response.status == StatusCode::UNAUTHORIZED
        || (response.status.is_client_error()
            && error_code(&response.body).as_deref() == Some("invalid_client"))
}

fn error_code(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<RawError>(body)
        .ok()
        .and_then(|e| e.error)
        // The code is logged: keep it short and printable.
        .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_graphic()))
}

fn parse_answer(body: &[u8]) -> Result<TokenAnswer, String> {
    let raw: RawAnswer = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let access_token = raw
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or("no access_token")?;
    if let Some(kind) = &raw.token_type {
        if !kind.eq_ignore_ascii_case("bearer") {
            return Err(format!(
                "token_type {kind:?} is not Bearer, which is how the token is sent upstream"
            ));
        }
    }
    if HeaderValue::from_str(&format!("Bearer {access_token}")).is_err() {
        return Err("the access_token cannot be sent in an HTTP header".into());
    }
    let expires_in = match raw.expires_in {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(seconds_from_f64)),
        // Some providers send the number as a string.
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(_) => None,
    };
    Ok(TokenAnswer {
        access_token: access_token.into(),
        expires_in,
    })
}

/// Whole seconds from a JSON float, saturating; NaN gives 0.
fn seconds_from_f64(value: f64) -> i64 {
    if value.is_nan() {
        0
    } else {
        // `as` saturates at the integer bounds for floats.
        value.trunc() as i64
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn answers_are_checked() {
        let ok = parse_answer(br#"{"access_token":"abc","token_type":"bearer","expires_in":"60"}"#)
            .unwrap();
        assert_eq!(ok.access_token, "abc");
        assert_eq!(ok.expires_in, Some(60));
        let ok = parse_answer(br#"{"access_token":"abc","expires_in":1.5e3}"#).unwrap();
        assert_eq!(ok.expires_in, Some(1500));
        assert_eq!(
            parse_answer(br#"{"access_token":"abc"}"#)
                .unwrap()
                .expires_in,
            None
        );
        for bad in [
            &br#"{"access_token":""}"#[..],
            br#"{"token_type":"Bearer"}"#,
            br#"{"access_token":"a","token_type":"DPoP"}"#,
            br#"{"access_token":"a\nb"}"#,
            br#"{"access_token": "truncated"#,
            b"<html>",
        ] {
            assert!(
                parse_answer(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn client_authentication_refusals_are_recognised() {
        let response = |status: u16, body: &'static str| ProviderResponse {
            status: StatusCode::from_u16(status).unwrap(),
            body: Bytes::from_static(body.as_bytes()),
        };
        assert!(refuses_client_authentication(&response(401, "")));
        assert!(refuses_client_authentication(&response(
            400,
            r#"{"error":"invalid_client"}"#
        )));
        assert!(!refuses_client_authentication(&response(
            400,
            r#"{"error":"invalid_grant"}"#
        )));
        assert!(!refuses_client_authentication(&response(
            500,
            r#"{"error":"invalid_client"}"#
        )));
        assert_eq!(error_code(br#"{"error":"bad\ncode"}"#), None);
    }
}
