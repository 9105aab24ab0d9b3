//! Token endpoint (RFC 6749 sections 2.3.1, 4.1.3, 4.4, 5 and 6; RFC 7636 section 4.6; OpenID
//! Connect Core 1.0 section 3.1.3).
//!
//! Client secrets are compared in constant time. Codes are bound to their client and redirect
//! URI, expire, and are single-use: a second redemption is refused and revokes what the first
//! one issued. Refresh tokens rotate: each use replaces the token, and the old one is refused.
//! Injected faults answer before the request is checked, so they work whatever the client sends.

use std::sync::Arc;

use aws_lc_rs::digest;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;

use super::authorize::is_pkce_value;
use super::{Params, no_store, oauth_error};
use crate::clock::millis;
use crate::config::{ClientSpec, GrantType};
use crate::faults::Fault;
use crate::keys::random_token;
use crate::state::{AccessGrant, ChallengeMethod, CodeGrant, Provider, RefreshGrant, lock};
use crate::tokens::{self, AccessTokenInput, IdTokenInput};

/// A refused token request: RFC 6749 section 5.2.
struct Refusal {
    status: StatusCode,
    error: &'static str,
    description: String,
    basic_challenge: bool,
}

impl Refusal {
    fn bad(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            basic_challenge: false,
        }
    }

    fn grant(description: impl Into<String>) -> Self {
        Self::bad("invalid_grant", description)
    }

    fn client(basic: bool) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: "client authentication failed".into(),
            basic_challenge: basic,
        }
    }

    fn server(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: description.into(),
            basic_challenge: false,
        }
    }

    fn into_response(self) -> Response {
        let mut response = oauth_error(self.status, self.error, &self.description);
        if self.basic_challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"devidp\""),
            );
        }
        response
    }
}

/// Client credentials as presented.
struct Presented {
    client_id: String,
    secret: Option<String>,
    basic: bool,
}

pub(crate) async fn token(
    State(provider): State<Arc<Provider>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = Params::parse(&body);
    let presented = match presented_credentials(&headers, &params) {
        Ok(p) => p,
        Err(refusal) => return refusal.into_response(),
    };
    let grant = params.get("grant_type").and_then(GrantType::parse);
    if let (Some(p), Some(grant)) = (&presented, grant) {
        provider.counters.count_token(&p.client_id, grant);
    }
    let faults = provider.faults(presented.as_ref().map(|p| p.client_id.as_str()));
    if let Some(delay) = faults.token_delay() {
        tokio::time::sleep(delay).await;
    }
    if faults.has(&Fault::TokenServerError) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            "internal server error (injected fault)\n",
        )
            .into_response();
    }
    if faults.has(&Fault::TokenInvalidJson) {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"access_token\": \"truncated",
        )
            .into_response();
    }
    if faults.has(&Fault::TokenInvalidGrant)
        || (faults.has(&Fault::RefreshRefused) && grant == Some(GrantType::RefreshToken))
    {
        return Refusal::grant("refused (injected fault)").into_response();
    }
    match answer(&provider, &params, presented, grant) {
        Ok(body) => (StatusCode::OK, no_store(), Json(body)).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

fn answer(
    provider: &Provider,
    params: &Params,
    presented: Option<Presented>,
    grant: Option<GrantType>,
) -> Result<Value, Refusal> {
    if let Some(name) = params.duplicated() {
        return Err(Refusal::bad(
            "invalid_request",
            format!("{name} is repeated"),
        ));
    }
    let client = authenticate(provider, presented)?;
    let grant = match (params.get("grant_type"), grant) {
        (None, _) => return Err(Refusal::bad("invalid_request", "grant_type is missing")),
        (Some(_), None) => {
            return Err(Refusal::bad(
                "unsupported_grant_type",
                "unsupported grant_type",
            ));
        }
        (Some(_), Some(grant)) => grant,
    };
    if !client.allows(grant) {
        return Err(Refusal::bad(
            "unauthorized_client",
            format!("the client may not use {}", grant.as_str()),
        ));
    }
    match grant {
        GrantType::AuthorizationCode => authorization_code(provider, client, params),
        GrantType::RefreshToken => refresh(provider, client, params),
        GrantType::ClientCredentials => client_credentials(provider, client, params),
    }
}

/// Reads `client_secret_basic` or `client_secret_post` credentials; using both is refused.
fn presented_credentials(
    headers: &HeaderMap,
    params: &Params,
) -> Result<Option<Presented>, Refusal> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then(|| rest.trim())
        });
    if let Some(encoded) = basic {
        if params.get("client_secret").is_some() {
            return Err(Refusal::bad(
                "invalid_request",
                "more than one client authentication method",
            ));
        }
        let decoded = STANDARD
            .decode(encoded)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| Refusal::client(true))?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(|| Refusal::client(true))?;
        // RFC 6749 section 2.3.1: both parts are form-urlencoded before Base64.
        let id = form_decode(id);
        if params.get("client_id").is_some_and(|body_id| body_id != id) {
            return Err(Refusal::bad(
                "invalid_request",
                "client_id differs from the authenticated client",
            ));
        }
        return Ok(Some(Presented {
            client_id: id,
            secret: Some(form_decode(secret)),
            basic: true,
        }));
    }
    Ok(params.get("client_id").map(|id| Presented {
        client_id: id.to_owned(),
        secret: params.get("client_secret").map(str::to_owned),
        basic: false,
    }))
}

fn form_decode(text: &str) -> String {
    form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn authenticate(provider: &Provider, presented: Option<Presented>) -> Result<&ClientSpec, Refusal> {
    let presented = presented.ok_or_else(|| Refusal::client(false))?;
    let client = provider
        .client(&presented.client_id)
        .ok_or_else(|| Refusal::client(presented.basic))?;
    let given = presented.secret.unwrap_or_default();
    if bool::from(client.secret.expose().as_bytes().ct_eq(given.as_bytes())) && !given.is_empty() {
        Ok(client)
    } else {
        Err(Refusal::client(presented.basic))
    }
}

fn pkce_matches(challenge: &str, method: ChallengeMethod, verifier: &str) -> bool {
    let computed = match method {
        ChallengeMethod::Plain => verifier.to_owned(),
        ChallengeMethod::S256 => {
            URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
        }
    };
    bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

fn authorization_code(
    provider: &Provider,
    client: &ClientSpec,
    params: &Params,
) -> Result<Value, Refusal> {
    let code = params
        .get("code")
        .ok_or_else(|| Refusal::bad("invalid_request", "code is missing"))?;
    let now_ms = provider.clock.now_ms();
    let grant: CodeGrant = {
        let mut grants = lock(&provider.grants);
        let entry = grants
            .codes
            .get_mut(code)
            .ok_or_else(|| Refusal::grant("unknown code"))?;
        if entry.request.client_id != client.id {
            return Err(Refusal::grant("the code was issued to another client"));
        }
        if entry.redeemed {
            let revoked = std::mem::take(&mut entry.issued_tokens);
            grants
                .refresh_tokens
                .retain(|token, _| !revoked.contains(token));
            grants
                .access_tokens
                .retain(|token, _| !revoked.contains(token));
            return Err(Refusal::grant("the code was already used"));
        }
        if entry.expires_at_ms <= now_ms {
            return Err(Refusal::grant("the code has expired"));
        }
        // Spent even if the checks below fail: a code is tried once.
        entry.redeemed = true;
        entry.clone()
    };
    if params.get("redirect_uri") != Some(grant.request.redirect_uri.as_str()) {
        return Err(Refusal::grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    match (&grant.request.code_challenge, params.get("code_verifier")) {
        (None, None) => {}
        (None, Some(_)) => return Err(Refusal::grant("no code_challenge was sent")),
        (Some(_), None) => return Err(Refusal::grant("code_verifier is missing")),
        (Some((challenge, method)), Some(verifier)) => {
            if !is_pkce_value(verifier) || !pkce_matches(challenge, *method, verifier) {
                return Err(Refusal::grant("code_verifier does not match"));
            }
        }
    }
    let user = provider
        .user(&grant.username)
        .ok_or_else(|| Refusal::grant("the user no longer exists"))?;
    let scope = grant.request.scope.clone();
    let (access_token, expires_in) = tokens::access_token(
        provider,
        &AccessTokenInput {
            client,
            user: Some(&user),
            scope: &scope,
            audience: audience(provider, client, params),
            sid: Some(&grant.sid),
            auth_time: Some(grant.auth_time),
        },
    )
    .map_err(|e| Refusal::server(e.to_string()))?;
    let faults = provider.faults(Some(&client.id));
    let id_token = tokens::id_token(
        provider,
        &IdTokenInput {
            client,
            user: &user,
            sid: &grant.sid,
            auth_time: grant.auth_time,
            nonce: grant.request.nonce.as_deref(),
            access_token: Some(&access_token),
        },
        &faults,
    )
    .map_err(|e| Refusal::server(e.to_string()))?;
    let refresh_token = client.allows(GrantType::RefreshToken).then(random_token);
    let mut grants = lock(&provider.grants);
    grants.prune(now_ms);
    let mut issued = vec![access_token.clone()];
    store_access(
        &mut grants,
        provider,
        &access_token,
        client,
        Some(&user.username),
        Some(&grant.sid),
    );
    if let Some(refresh_token) = &refresh_token {
        issued.push(refresh_token.clone());
        grants.refresh_tokens.insert(
            refresh_token.clone(),
            RefreshGrant {
                client_id: client.id.clone(),
                username: user.username.clone(),
                sid: grant.sid.clone(),
                scope: scope.clone(),
                auth_time: grant.auth_time,
                expires_at_ms: now_ms
                    .saturating_add(millis(provider.config.lifetimes.refresh_token)),
            },
        );
    }
    if let Some(entry) = grants.codes.get_mut(code) {
        entry.issued_tokens = issued;
    }
    Ok(token_response(
        access_token,
        expires_in,
        &scope,
        Some(id_token),
        refresh_token,
    ))
}

fn refresh(provider: &Provider, client: &ClientSpec, params: &Params) -> Result<Value, Refusal> {
    let presented = params
        .get("refresh_token")
        .ok_or_else(|| Refusal::bad("invalid_request", "refresh_token is missing"))?;
    let now_ms = provider.clock.now_ms();
    let (old, scope) = {
        let mut grants = lock(&provider.grants);
        let entry = grants
            .refresh_tokens
            .get(presented)
            .ok_or_else(|| Refusal::grant("unknown, used or revoked refresh token"))?;
        if entry.client_id != client.id {
            return Err(Refusal::grant(
                "the refresh token was issued to another client",
            ));
        }
        if entry.expires_at_ms <= now_ms {
            return Err(Refusal::grant("the refresh token has expired"));
        }
        let scope = match params.get("scope") {
            None => entry.scope.clone(),
            Some(requested) => {
                let granted: Vec<&str> = entry.scope.split(' ').collect();
                if !requested.split(' ').all(|s| granted.contains(&s)) {
                    return Err(Refusal::bad(
                        "invalid_scope",
                        "scope exceeds the original grant",
                    ));
                }
                requested.to_owned()
            }
        };
        // Rotation: the presented token is spent now, whatever happens next.
        let old = grants
            .refresh_tokens
            .remove(presented)
            .ok_or_else(|| Refusal::grant("unknown refresh token"))?;
        (old, scope)
    };
    let user = provider
        .user(&old.username)
        .ok_or_else(|| Refusal::grant("the user no longer exists"))?;
    let (access_token, expires_in) = tokens::access_token(
        provider,
        &AccessTokenInput {
            client,
            user: Some(&user),
            scope: &scope,
            audience: audience(provider, client, params),
            sid: Some(&old.sid),
            auth_time: Some(old.auth_time),
        },
    )
    .map_err(|e| Refusal::server(e.to_string()))?;
    let faults = provider.faults(Some(&client.id));
    // OpenID Connect Core 1.0 section 12.2: a refreshed ID token carries no nonce.
    let id_token = tokens::id_token(
        provider,
        &IdTokenInput {
            client,
            user: &user,
            sid: &old.sid,
            auth_time: old.auth_time,
            nonce: None,
            access_token: Some(&access_token),
        },
        &faults,
    )
    .map_err(|e| Refusal::server(e.to_string()))?;
    let new_refresh = random_token();
    let mut grants = lock(&provider.grants);
    grants.prune(now_ms);
    store_access(
        &mut grants,
        provider,
        &access_token,
        client,
        Some(&user.username),
        Some(&old.sid),
    );
    grants.refresh_tokens.insert(
        new_refresh.clone(),
        RefreshGrant {
            scope: old.scope.clone(),
            expires_at_ms: now_ms.saturating_add(millis(provider.config.lifetimes.refresh_token)),
            ..old
        },
    );
    Ok(token_response(
        access_token,
        expires_in,
        &scope,
        Some(id_token),
        Some(new_refresh),
    ))
}

fn client_credentials(
    provider: &Provider,
    client: &ClientSpec,
    params: &Params,
) -> Result<Value, Refusal> {
    let scope = params.get("scope").unwrap_or_default();
    let (access_token, expires_in) = tokens::access_token(
        provider,
        &AccessTokenInput {
            client,
            user: None,
            scope,
            audience: audience(provider, client, params),
            sid: None,
            auth_time: None,
        },
    )
    .map_err(|e| Refusal::server(e.to_string()))?;
    let mut grants = lock(&provider.grants);
    grants.prune(provider.clock.now_ms());
    store_access(&mut grants, provider, &access_token, client, None, None);
    Ok(token_response(access_token, expires_in, scope, None, None))
}

/// The requested `audience` or `resource` (any value is accepted: this is a development
/// provider), else the client's configured audience, else `<issuer>/api`.
fn audience(provider: &Provider, client: &ClientSpec, params: &Params) -> String {
    params
        .get("audience")
        .or_else(|| params.get("resource"))
        .map(str::to_owned)
        .or_else(|| client.access_token_audience.clone())
        .unwrap_or_else(|| provider.default_audience())
}

fn store_access(
    grants: &mut crate::state::Grants,
    provider: &Provider,
    token: &str,
    client: &ClientSpec,
    username: Option<&str>,
    sid: Option<&str>,
) {
    grants.access_tokens.insert(
        token.to_owned(),
        AccessGrant {
            client_id: client.id.clone(),
            username: username.map(str::to_owned),
            sid: sid.map(str::to_owned),
            expires_at_ms: provider
                .clock
                .now_ms()
                .saturating_add(millis(provider.config.lifetimes.access_token)),
        },
    );
}

fn token_response(
    access_token: String,
    expires_in: i64,
    scope: &str,
    id_token: Option<String>,
    refresh_token: Option<String>,
) -> Value {
    let mut body = Map::new();
    body.insert("access_token".into(), access_token.into());
    body.insert("token_type".into(), "Bearer".into());
    body.insert("expires_in".into(), expires_in.into());
    if !scope.is_empty() {
        body.insert("scope".into(), scope.into());
    }
    if let Some(id_token) = id_token {
        body.insert("id_token".into(), id_token.into());
    }
    if let Some(refresh_token) = refresh_token {
        body.insert("refresh_token".into(), refresh_token.into());
    }
    json!(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(challenge, ChallengeMethod::S256, verifier));
        assert!(!pkce_matches(challenge, ChallengeMethod::Plain, verifier));
        assert!(pkce_matches(verifier, ChallengeMethod::Plain, verifier));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        assert_eq!(form_decode("a%3Ab+c"), "a:b c");
    }
}
