//! Discovery document (OpenID Connect Discovery 1.0 section 4) and JWKS, with their faults and
//! fetch counters.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{AUTHORIZE_PATH, END_SESSION_PATH, JWKS_PATH, TOKEN_PATH, USERINFO_PATH, oauth_error};
use crate::config::{Alg, GrantType};
use crate::faults::Fault;
use crate::state::{Counters, Provider, lock};

pub(crate) async fn discovery(State(provider): State<Arc<Provider>>) -> Response {
    Counters::bump(&provider.counters.discovery);
    let faults = provider.faults(None);
    if faults.has(&Fault::DiscoveryUnavailable) {
        return unavailable();
    }
    let issuer = if faults.has(&Fault::DiscoveryIssuerMismatch) {
        provider.endpoint("/mismatch")
    } else {
        provider.issuer.clone()
    };
    let algs: Vec<&str> = Alg::ALL.iter().map(|a| a.as_str()).collect();
    let grants: Vec<&str> = GrantType::ALL.iter().map(|g| g.as_str()).collect();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": provider.endpoint(AUTHORIZE_PATH),
        "token_endpoint": provider.endpoint(TOKEN_PATH),
        "userinfo_endpoint": provider.endpoint(USERINFO_PATH),
        "jwks_uri": provider.endpoint(JWKS_PATH),
        "end_session_endpoint": provider.endpoint(END_SESSION_PATH),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": grants,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256", "plain"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "sid", "at_hash",
            "name", "preferred_username", "email", "email_verified"
        ],
        "prompt_values_supported": ["none", "login"],
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    }))
    .into_response()
}

pub(crate) async fn jwks(State(provider): State<Arc<Provider>>) -> Response {
    Counters::bump(&provider.counters.jwks);
    if provider.faults(None).has(&Fault::JwksUnavailable) {
        return unavailable();
    }
    let document = lock(&provider.keys).jwks();
    Json(document).into_response()
}

fn unavailable() -> Response {
    oauth_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "injected fault",
    )
}
