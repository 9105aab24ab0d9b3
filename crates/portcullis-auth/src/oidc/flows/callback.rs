//! The callback (`redirectUrl`): finishing a login.
//!
//! What it protects against, and how:
//! - login CSRF and forged callbacks: the `state` must open the state cookie of a flow this
//!   browser started (sealed, compared in constant time) and the flow must be younger than
//!   `stateCookie.maxAge`; the flow's cookie is deleted whatever the outcome (single use);
//! - mix-up: an `iss` parameter (RFC 9207), when the provider sends one, must be the issuer;
//! - forged or replayed tokens: the ID token is fully validated (see [`super::id_token`]) after
//!   its signature is checked with the provider's keys;
//! - open redirects: the login returns to the origin the flow started from (sealed), and only
//!   when it is the callback's own origin or covered by the session cookie's domain; anything
//!   else lands on `/` of the callback's origin.
//!
//! The callback never reaches the upstream. Provider error answers (`error=access_denied`, …)
//! end in a 401 and create no session.

use std::sync::Arc;

use http::HeaderValue;
use serde_json::Value;

use crate::error::AuthError;
use crate::oidc::flows::id_token::{self, Expectations};
use crate::oidc::flows::login::LoginState;
use crate::oidc::flows::token_endpoint::{self, Credentials, TokenError, TokenResponse};
use crate::oidc::middleware::{Handled, Inner, after_login_url, redirect, secret};
use crate::oidc::provider::Provider;
use crate::oidc::request::OidcRequest;
use crate::oidc::session::{Session, random_id};
use crate::shared::jwt;
use portcullis_proxy::middleware::Decision;

pub(crate) async fn handle(inner: &Inner, view: &OidcRequest) -> Handled {
    let params = view.query_pairs();
    let param = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let flow = param("state").and_then(|state| inner.state_cookies().find(&view.jar, state));
    let mut cookies: Vec<HeaderValue> = Vec::new();
    if let Some((name, _)) = &flow {
        cookies.extend(inner.state_cookies().delete(name));
    }
    if let Some(error) = param("error") {
        let code: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return Err(
            AuthError::LoginFailed(format!("the provider answered error={code}")).clearing(cookies),
        );
    }
    if param("state").is_none() {
        return Err(AuthError::BadCallback("no state parameter".into()).clearing(cookies));
    }
    let Some((_, login)) = flow else {
        return Err(AuthError::BadCallback(
            "no login flow matches the state (state cookie missing, expired or different)".into(),
        )
        .clearing(cookies));
    };
    let now = inner.now();
    if login
        .created_at
        .saturating_add(inner.state_cookies().max_age)
        <= now
    {
        return Err(AuthError::BadCallback("the login flow has expired".into()).clearing(cookies));
    }
    let Some(code) = param("code").filter(|c| !c.is_empty()) else {
        return Err(AuthError::BadCallback("no code parameter".into()).clearing(cookies));
    };
    if param("iss").is_some_and(|iss| iss != inner.config().issuer) {
        return Err(AuthError::LoginFailed(
            "the callback's iss parameter is not the issuer".into(),
        )
        .clearing(cookies));
    }
    let session = match finish(inner, &login, code, now).await {
        Ok(session) => session,
        Err(error) => return Err(error.clearing(cookies)),
    };
    let max_age = session.expires_at.saturating_sub(now);
    match inner.store().save(&session, max_age, &view.jar).await {
        Ok(set) => cookies.extend(set),
        Err(e) => return Err(AuthError::StoreUnavailable(e.to_string()).clearing(cookies)),
    }
    if let Some(csrf) = inner.csrf() {
        cookies.extend(csrf.issue_cookie(&view.jar, &session, max_age));
    }
    tracing::info!(middleware = %inner.config().middleware_name, "login completed");
    if login.from_login_url {
        return Ok(Decision::Respond(after_login_url(inner, view, cookies)));
    }
    let target = if returns_to_allowed_origin(inner, &login, view) {
        login.return_to.url()
    } else {
        format!("{}/", view.origin())
    };
    Ok(Decision::Respond(redirect(&target, cookies)))
}

async fn finish(
    inner: &Inner,
    login: &LoginState,
    code: &str,
    now: i64,
) -> Result<Session, AuthError> {
    let provider = inner.provider().get().await?;
    let tokens = token_endpoint::exchange_code(
        inner.client(),
        &provider.metadata,
        Credentials {
            client_id: inner.client_id(),
            client_secret: secret(inner).expose(),
        },
        code,
        &login.redirect_uri,
        login.code_verifier.as_deref(),
    )
    .await
    .map_err(token_error)?;
    session_from_tokens(inner, &provider, tokens, Some(&login.nonce), None, now).await
}

/// A token endpoint failure as a refusal: a refused grant is the user's (401), the rest the
/// gateway's or the provider's (502/504).
pub(crate) fn token_error(error: TokenError) -> AuthError {
    match error {
        TokenError::Provider(provider) => AuthError::Provider(provider),
        TokenError::GrantRefused(code) => {
            AuthError::LoginFailed(format!("the token endpoint refused the grant ({code})"))
        }
        TokenError::ClientRefused(code) => {
            AuthError::ProviderRefused(format!("the token endpoint refused the gateway ({code})"))
        }
        invalid @ TokenError::Invalid { .. } => AuthError::ProviderRefused(invalid.to_string()),
    }
}

/// Builds a session from a token answer, validating the ID token. `previous` is the session
/// being refreshed (its ID token is kept when the answer has none).
pub(crate) async fn session_from_tokens(
    inner: &Inner,
    provider: &Arc<Provider>,
    tokens: TokenResponse,
    nonce: Option<&str>,
    previous: Option<&Session>,
    now: i64,
) -> Result<Session, AuthError> {
    let id_token = match (&tokens.id_token, previous) {
        (Some(id_token), _) => {
            let verified = provider.jwks.verify_from_token_endpoint(id_token).await?;
            id_token::validate(
                &verified.claims,
                verified.header.alg,
                &Expectations {
                    issuer: &provider.metadata.issuer,
                    client_id: inner.client_id(),
                    nonce,
                    access_token: Some(&tokens.access_token),
                    subject: previous.map(|p| p.sub.as_str()),
                    now,
                    leeway: inner.options().leeway_seconds,
                },
            )
            .map_err(|e| AuthError::LoginFailed(e.to_string()))?;
            // Verified: a replica opening this session later need not verify it again.
            inner
                .verified_tokens()
                .insert_id_token(id_token, &verified.claims);
            (id_token.clone(), verified.claims)
        }
        (None, Some(previous)) => {
            let claims = jwt::trusted_claims(&previous.id_token).unwrap_or_default();
            (previous.id_token.clone(), claims)
        }
        (None, None) => {
            return Err(AuthError::ProviderRefused(
                "the token answer has no id_token (is the openid scope granted?)".into(),
            ));
        }
    };
    let (id_token, id_claims) = id_token;
    let text = |name: &str| {
        id_claims
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let sub = text("sub").ok_or_else(|| AuthError::LoginFailed("ID token has no sub".into()))?;

    // The access token's claims are used only when its signature checks out with the
    // provider's keys; an opaque or unverifiable access token simply has no claims.
    let mut access_token_is_jwt = false;
    let mut access_exp = None;
    if jwt::looks_like_jwt(&tokens.access_token) {
        match provider.jwks.verify(&tokens.access_token).await {
            Ok(verified)
                if !jwt::not_before_reached(
                    &verified.claims,
                    now,
                    inner.options().leeway_seconds,
                ) =>
            {
                tracing::debug!(middleware = %inner.config().middleware_name, "access token claims not used: not valid yet (nbf)");
            }
            Ok(verified) => {
                inner
                    .verified_tokens()
                    .insert_access_token(&tokens.access_token);
                access_token_is_jwt = true;
                access_exp = id_token::numeric_date(&verified.claims, "exp");
            }
            Err(error) => {
                tracing::debug!(middleware = %inner.config().middleware_name, %error, "access token claims not used");
            }
        }
    }
    let access_expires_at = tokens
        .expires_in_seconds()
        .map(|seconds| now.saturating_add(seconds))
        .or(access_exp);
    Ok(Session {
        id: match previous {
            Some(previous) => previous.id.clone(),
            None => random_id().map_err(|e| AuthError::Internal(e.to_string()))?,
        },
        sub,
        sid: text("sid").or_else(|| previous.and_then(|p| p.sid.clone())),
        id_token,
        access_token: tokens.access_token,
        access_token_is_jwt,
        refresh_token: tokens
            .refresh_token
            .or_else(|| previous.and_then(|p| p.refresh_token.clone())),
        access_expires_at,
        created_at: previous.map_or(now, |p| p.created_at),
        expires_at: previous.map_or_else(
            || now.saturating_add(inner.session_seconds()),
            |p| p.expires_at,
        ),
        // A refresh rotates the CSRF token; a login starts the first generation.
        csrf: previous.map_or_else(Default::default, |p| p.csrf.next(now)),
        sealed_with: *inner.key_root(),
    })
}

/// True when the login may return to where it started: the callback's own origin, or a host
/// the session cookie is also sent to (its `Domain` covers it).
fn returns_to_allowed_origin(inner: &Inner, login: &LoginState, view: &OidcRequest) -> bool {
    let to = &login.return_to;
    if to.authority == view.authority {
        return true;
    }
    let host = to
        .authority
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(to.authority.as_str(), |(host, _)| host);
    inner
        .config()
        .session
        .domain
        .as_deref()
        .is_some_and(|domain| {
            host == domain
                || host
                    .strip_suffix(domain)
                    .is_some_and(|prefix| prefix.ends_with('.'))
        })
}
