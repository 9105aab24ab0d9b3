//! Userinfo endpoint (OpenID Connect Core 1.0 section 5.3) with Bearer tokens (RFC 6750).
//!
//! Only access tokens this provider issued for a user, unexpired and not revoked by a logout,
//! are accepted; client-credentials tokens have no user and are refused.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::no_store;
use crate::faults::{Fault, USERINFO_SUB_SUFFIX};
use crate::state::{Counters, Provider, lock};

pub(crate) async fn userinfo(
    State(provider): State<Arc<Provider>>,
    headers: HeaderMap,
) -> Response {
    Counters::bump(&provider.counters.userinfo);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    let Some(token) = token else {
        return challenge("Bearer realm=\"devidp\"");
    };
    let now_ms = provider.clock.now_ms();
    let grant = lock(&provider.grants)
        .access_tokens
        .get(&token)
        .filter(|g| g.expires_at_ms > now_ms)
        .cloned();
    let Some((grant, username)) = grant.and_then(|g| g.username.clone().map(|u| (g, u))) else {
        return challenge("Bearer realm=\"devidp\", error=\"invalid_token\"");
    };
    let Some(user) = provider.user(&username) else {
        return challenge("Bearer realm=\"devidp\", error=\"invalid_token\"");
    };
    let mut claims = user.claims.clone();
    let sub = if provider
        .faults(Some(&grant.client_id))
        .has(&Fault::UserinfoSubMismatch)
    {
        format!("{}{USERINFO_SUB_SUFFIX}", user.effective_sub())
    } else {
        user.effective_sub().to_owned()
    };
    claims.insert("sub".into(), sub.into());
    (StatusCode::OK, no_store(), Json(Value::Object(claims))).into_response()
}

fn challenge(value: &'static str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, HeaderValue::from_static(value))],
    )
        .into_response()
}
