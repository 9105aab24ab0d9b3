//! End-session endpoint (OpenID Connect RP-Initiated Logout 1.0).
//!
//! `id_token_hint` must be a token this provider signed (expiry is not checked: the spec allows
//! expired hints); `post_logout_redirect_uri` must exactly match one registered for the client
//! the hint or `client_id` names, so the endpoint is not an open redirector. Logging out ends
//! the provider session, revokes its refresh and access tokens, and sends back-channel logout
//! tokens to every client of the session before answering, so a test that sees the redirect
//! can already check the deliveries.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use super::{Params, cookie, html_escape, html_page, redirect, with_query};
use crate::backchannel::{self, Notice};
use crate::jwt;
use crate::state::{Provider, lock};

pub(crate) async fn end_session_get(
    State(provider): State<Arc<Provider>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    end_session(&provider, &headers, &params).await
}

pub(crate) async fn end_session_post(
    State(provider): State<Arc<Provider>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    end_session(&provider, &headers, &Params::parse(&body)).await
}

fn refuse(reason: &str) -> Response {
    html_page(
        StatusCode::BAD_REQUEST,
        "Invalid logout request",
        &format!("<p>{}</p>", html_escape(reason)),
    )
}

/// The client an ID token was issued to: `azp`, else a single `aud`.
fn hint_client(claims: &Value) -> Option<String> {
    if let Some(azp) = claims.get("azp").and_then(Value::as_str) {
        return Some(azp.to_owned());
    }
    match claims.get("aud")? {
        Value::String(aud) => Some(aud.clone()),
        Value::Array(list) if list.len() == 1 => list.first()?.as_str().map(str::to_owned),
        _ => None,
    }
}

async fn end_session(provider: &Provider, headers: &HeaderMap, params: &Params) -> Response {
    if params.duplicated().is_some() {
        return refuse("A parameter is repeated.");
    }
    let hint = match params.get("id_token_hint") {
        None => None,
        Some(token) => {
            let claims = jwt::verify(token, &lock(&provider.keys));
            match claims {
                Some(c) if c.get("iss").and_then(Value::as_str) == Some(&provider.issuer) => {
                    Some(c)
                }
                _ => return refuse("The id_token_hint was not issued by this provider."),
            }
        }
    };
    let hinted_client = hint.as_ref().and_then(hint_client);
    let client_id = match (params.get("client_id"), hinted_client.as_deref()) {
        (Some(given), Some(hinted)) if given != hinted => {
            return refuse("client_id does not match the id_token_hint.");
        }
        (Some(given), _) => Some(given.to_owned()),
        (None, hinted) => hinted.map(str::to_owned),
    };
    let post_logout = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let registered = client_id
                .as_deref()
                .and_then(|id| provider.client(id))
                .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r == uri));
            if !registered {
                return refuse(
                    "The post_logout_redirect_uri is not registered for the client, or no \
                     client was identified (send id_token_hint or client_id).",
                );
            }
            Some(uri.to_owned())
        }
    };

    let mut sids: Vec<String> = Vec::new();
    if let Some(sid) = hint
        .as_ref()
        .and_then(|c| c.get("sid"))
        .and_then(Value::as_str)
    {
        sids.push(sid.to_owned());
    }
    if let Some(sid) = cookie(headers, &provider.cookie_name) {
        if !sids.iter().any(|s| s == sid) {
            sids.push(sid.to_owned());
        }
    }
    let notices: Vec<Notice> = {
        let mut grants = lock(&provider.grants);
        sids.iter()
            .filter_map(|sid| grants.end_session(sid).map(|s| (sid.clone(), s)))
            .flat_map(|(sid, session)| {
                let sub = provider
                    .user(&session.username)
                    .map(|u| u.effective_sub().to_owned());
                session.clients.into_iter().map(move |client_id| Notice {
                    client_id,
                    sub: sub.clone(),
                    sid: Some(sid.clone()),
                })
            })
            .collect()
    };
    backchannel::deliver(provider, notices).await;

    let mut response = match post_logout {
        Some(uri) => match with_query(&uri, &[("state", params.get("state"))]) {
            Some(location) => redirect(StatusCode::FOUND, &location),
            None => refuse("The post_logout_redirect_uri is not a valid URL."),
        },
        None => html_page(
            StatusCode::OK,
            "Logged out",
            "<p>You are logged out of the development provider.</p>",
        ),
    };
    let expired = format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0",
        provider.cookie_name
    );
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
