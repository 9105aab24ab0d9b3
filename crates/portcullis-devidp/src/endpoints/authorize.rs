//! Authorization endpoint (OpenID Connect Core 1.0 section 3.1.2, RFC 6749 section 4.1,
//! RFC 7636) and its development login form.
//!
//! Client and redirect URI are checked first and an error about either is shown to the user,
//! never redirected, so the endpoint cannot be used as an open redirector; redirect URIs match
//! registered ones exactly. Every later error goes back to the client with `state`. Codes are
//! random, single-use and short-lived (see the token endpoint).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::{Params, cookie, html_escape, html_page, redirect, with_query};
use crate::clock::millis;
use crate::config::{GrantType, UserSpec};
use crate::keys::random_token;
use crate::state::{
    AuthorizationRequest, ChallengeMethod, CodeGrant, LoginTransaction, Provider, ProviderSession,
    lock,
};

/// Path of the authorization endpoint below the issuer.
pub(crate) const AUTHORIZE_PATH: &str = "/authorize";
/// Path the login form posts to.
pub(crate) const LOGIN_PATH: &str = "/login";

/// How long a login form stays usable.
const LOGIN_TTL_MS: i64 = 10 * 60 * 1000;

/// An error the user sees (bad client or redirect URI) or one sent back to the client.
enum Refusal {
    Page(&'static str),
    Redirect {
        request_redirect: String,
        state: Option<String>,
        error: &'static str,
        description: &'static str,
    },
}

/// What the request asks of an existing provider session.
struct Prompt {
    none: bool,
    login: bool,
    max_age: Option<i64>,
}

pub(crate) async fn authorize_get(
    State(provider): State<Arc<Provider>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    authorize(&provider, &headers, &params)
}

pub(crate) async fn authorize_post(
    State(provider): State<Arc<Provider>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    authorize(&provider, &headers, &Params::parse(&body))
}

fn authorize(provider: &Provider, headers: &HeaderMap, params: &Params) -> Response {
    let (request, prompt) = match validate(provider, params) {
        Ok(valid) => valid,
        Err(Refusal::Page(reason)) => {
            return html_page(
                StatusCode::BAD_REQUEST,
                "Invalid authorization request",
                &format!("<p>{}</p>", html_escape(reason)),
            );
        }
        Err(Refusal::Redirect {
            request_redirect,
            state,
            error,
            description,
        }) => {
            return error_redirect(
                provider,
                &request_redirect,
                state.as_deref(),
                error,
                description,
            );
        }
    };
    let now_ms = provider.clock.now_ms();
    let session = current_session(provider, headers).filter(|(_, s)| {
        let fresh = prompt
            .max_age
            .is_none_or(|max_age| s.auth_time.saturating_add(max_age) >= now_ms.div_euclid(1000));
        fresh && !prompt.login
    });
    if let Some((sid, session)) = session {
        return match issue_code(
            provider,
            request,
            &session.username,
            &sid,
            session.auth_time,
        ) {
            Some(location) => redirect(StatusCode::FOUND, &location),
            None => bad_redirect_uri(),
        };
    }
    if prompt.none {
        return error_redirect(
            provider,
            &request.redirect_uri,
            request.state.as_deref(),
            "login_required",
            "no provider session",
        );
    }
    let txn = random_token();
    let page = login_page(provider, &txn, &request, None);
    let mut grants = lock(&provider.grants);
    grants.prune(now_ms);
    grants.logins.insert(
        txn,
        LoginTransaction {
            request,
            expires_at_ms: now_ms.saturating_add(LOGIN_TTL_MS),
        },
    );
    page
}

fn validate(
    provider: &Provider,
    params: &Params,
) -> Result<(AuthorizationRequest, Prompt), Refusal> {
    let client = params
        .get("client_id")
        .and_then(|id| provider.client(id))
        .ok_or(Refusal::Page("Unknown or missing client_id."))?;
    let redirect_uri = params
        .get("redirect_uri")
        .filter(|uri| client.redirect_uris.iter().any(|r| r == uri))
        .ok_or(Refusal::Page(
            "The redirect_uri is missing or not registered for this client.",
        ))?;
    let state = params.get("state").map(str::to_owned);
    let refuse = |error, description| Refusal::Redirect {
        request_redirect: redirect_uri.to_owned(),
        state: state.clone(),
        error,
        description,
    };
    if params.duplicated().is_some() {
        return Err(refuse("invalid_request", "a parameter is repeated"));
    }
    match params.get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err(refuse(
                "unsupported_response_type",
                "only response_type=code is supported",
            ));
        }
        None => return Err(refuse("invalid_request", "response_type is missing")),
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(refuse(
            "unauthorized_client",
            "the client may not use the authorization code grant",
        ));
    }
    let scope = params.get("scope").unwrap_or_default();
    if !scope.split(' ').any(|s| s == "openid") {
        return Err(refuse("invalid_scope", "scope must contain openid"));
    }
    let code_challenge = match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(refuse(
                "invalid_request",
                "code_challenge_method without code_challenge",
            ));
        }
        (Some(challenge), method) => {
            let method = match method {
                None | Some("plain") => ChallengeMethod::Plain,
                Some("S256") => ChallengeMethod::S256,
                Some(_) => {
                    return Err(refuse(
                        "invalid_request",
                        "transform algorithm not supported",
                    ));
                }
            };
            if !is_pkce_value(challenge) {
                return Err(refuse("invalid_request", "malformed code_challenge"));
            }
            Some((challenge.to_owned(), method))
        }
    };
    let prompts: Vec<&str> = params
        .get("prompt")
        .unwrap_or_default()
        .split(' ')
        .filter(|p| !p.is_empty())
        .collect();
    let none = prompts.contains(&"none");
    if none && prompts.len() > 1 {
        return Err(refuse(
            "invalid_request",
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age = match params.get("max_age") {
        None => None,
        Some(text) => Some(
            text.parse::<i64>()
                .ok()
                .filter(|v| *v >= 0)
                .ok_or_else(|| refuse("invalid_request", "max_age must be a number"))?,
        ),
    };
    let request = AuthorizationRequest {
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scope: scope.to_owned(),
        state,
        nonce: params.get("nonce").map(str::to_owned),
        code_challenge,
        login_hint: params.get("login_hint").map(str::to_owned),
    };
    let prompt = Prompt {
        none,
        login: prompts.contains(&"login"),
        max_age,
    };
    Ok((request, prompt))
}

/// A code challenge or verifier: 43 to 128 unreserved characters (RFC 7636 section 4.1).
pub(crate) fn is_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn current_session(provider: &Provider, headers: &HeaderMap) -> Option<(String, ProviderSession)> {
    let sid = cookie(headers, &provider.cookie_name)?;
    let session = lock(&provider.grants).sessions.get(sid).cloned()?;
    Some((sid.to_owned(), session))
}

fn error_redirect(
    provider: &Provider,
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    let params = [
        ("error", Some(error)),
        ("error_description", Some(description)),
        ("state", state),
        ("iss", Some(provider.issuer.as_str())),
    ];
    match with_query(redirect_uri, &params) {
        Some(location) => redirect(StatusCode::FOUND, &location),
        None => bad_redirect_uri(),
    }
}

fn bad_redirect_uri() -> Response {
    html_page(
        StatusCode::BAD_REQUEST,
        "Invalid redirect_uri",
        "<p>The registered redirect_uri is not a valid URL.</p>",
    )
}

/// Stores a code for the request and returns the redirect location carrying it.
fn issue_code(
    provider: &Provider,
    request: AuthorizationRequest,
    username: &str,
    sid: &str,
    auth_time: i64,
) -> Option<String> {
    let code = random_token();
    let location = with_query(
        &request.redirect_uri,
        &[
            ("code", Some(code.as_str())),
            ("state", request.state.as_deref()),
            ("iss", Some(provider.issuer.as_str())),
        ],
    )?;
    let now_ms = provider.clock.now_ms();
    let mut grants = lock(&provider.grants);
    grants.prune(now_ms);
    if let Some(session) = grants.sessions.get_mut(sid) {
        session.clients.insert(request.client_id.clone());
    }
    grants.codes.insert(
        code,
        CodeGrant {
            request,
            username: username.to_owned(),
            sid: sid.to_owned(),
            auth_time,
            expires_at_ms: now_ms.saturating_add(millis(provider.config.lifetimes.code)),
            redeemed: false,
            issued_tokens: Vec::new(),
        },
    );
    Some(location)
}

/// The login form's POST: checks the user, opens a provider session, redirects with a code.
pub(crate) async fn login(State(provider): State<Arc<Provider>>, body: Bytes) -> Response {
    let params = Params::parse(&body);
    let now_ms = provider.clock.now_ms();
    let txn = params.get("txn").unwrap_or_default();
    let pending = lock(&provider.grants)
        .logins
        .get(txn)
        .filter(|t| t.expires_at_ms > now_ms)
        .cloned();
    let Some(pending) = pending else {
        return html_page(
            StatusCode::BAD_REQUEST,
            "Login expired",
            "<p>This login form has expired or was already used. Start again from the \
             application.</p>",
        );
    };
    let username = params.get("username").unwrap_or_default().trim();
    let Some(user) = provider.user(username) else {
        let page = login_page(&provider, txn, &pending.request, Some("Unknown user."));
        return with_status(page, StatusCode::UNAUTHORIZED);
    };
    if !password_matches(&user, params.get("password").unwrap_or_default()) {
        let page = login_page(&provider, txn, &pending.request, Some("Wrong password."));
        return with_status(page, StatusCode::UNAUTHORIZED);
    }
    lock(&provider.grants).logins.remove(txn);
    let sid = random_token();
    let auth_time = now_ms.div_euclid(1000);
    lock(&provider.grants).sessions.insert(
        sid.clone(),
        ProviderSession {
            username: user.username.clone(),
            auth_time,
            clients: Default::default(),
        },
    );
    let Some(location) = issue_code(&provider, pending.request, &user.username, &sid, auth_time)
    else {
        return bad_redirect_uri();
    };
    let mut response = redirect(StatusCode::SEE_OTHER, &location);
    let cookie = format!(
        "{}={sid}; Path=/; HttpOnly; SameSite=Lax",
        provider.cookie_name
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

fn password_matches(user: &UserSpec, given: &str) -> bool {
    match &user.password {
        None => true,
        Some(expected) => bool::from(expected.expose().as_bytes().ct_eq(given.as_bytes())),
    }
}

fn with_status(mut response: Response, status: StatusCode) -> Response {
    *response.status_mut() = status;
    response
}

fn login_page(
    provider: &Provider,
    txn: &str,
    request: &AuthorizationRequest,
    problem: Option<&str>,
) -> Response {
    let action = html_escape(&provider.endpoint(LOGIN_PATH));
    let txn = html_escape(txn);
    let mut body = format!(
        "<p>Client <code>{}</code> asks you to log in. Consent is skipped.</p>\n",
        html_escape(&request.client_id)
    );
    if let Some(problem) = problem {
        body.push_str(&format!(
            "<p role=\"alert\" style=\"color:#b91c1c\">{}</p>\n",
            html_escape(problem)
        ));
    }
    if !provider.config.users.is_empty() {
        body.push_str(&format!(
            "<h2>Pick a user</h2>\n<form method=\"post\" action=\"{action}\">\n\
             <input type=\"hidden\" name=\"txn\" value=\"{txn}\">\n"
        ));
        for user in &provider.config.users {
            let name = html_escape(&user.username);
            let note = if user.password.is_some() {
                " (needs a password: use the form below)"
            } else {
                ""
            };
            body.push_str(&format!(
                "<button type=\"submit\" name=\"username\" value=\"{name}\">{name}</button>{note}\n"
            ));
        }
        body.push_str("</form>\n");
    }
    let hint = html_escape(request.login_hint.as_deref().unwrap_or_default());
    body.push_str(&format!(
        "<h2>Or type a username</h2>\n<form method=\"post\" action=\"{action}\">\n\
         <input type=\"hidden\" name=\"txn\" value=\"{txn}\">\n\
         <label>Username <input name=\"username\" value=\"{hint}\" autofocus></label>\n\
         <label>Password <input name=\"password\" type=\"password\"></label>\n\
         <button type=\"submit\">Log in</button>\n</form>\n"
    ));
    html_page(StatusCode::OK, "Log in", &body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_values_follow_rfc7636() {
        assert!(is_pkce_value(&"a".repeat(43)));
        assert!(is_pkce_value(&"-._~Az09".repeat(16)));
        assert!(!is_pkce_value(&"a".repeat(42)));
        assert!(!is_pkce_value(&"a".repeat(129)));
        assert!(!is_pkce_value(&format!("{}+", "a".repeat(43))));
    }

    #[test]
    fn password_is_required_only_when_set() {
        assert!(password_matches(&UserSpec::new("a"), ""));
        let user = UserSpec::new("a").password("pw");
        assert!(password_matches(&user, "pw"));
        assert!(!password_matches(&user, "px"));
        assert!(!password_matches(&user, ""));
    }
}
