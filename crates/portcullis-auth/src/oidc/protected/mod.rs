//! Requests to the protected application: session check, CSRF, refresh, claims, and the
//! request the upstream receives.
//!
//! What it protects against, and how:
//! - expired, revoked or unreadable sessions: the sealed expiry is checked against the clock
//!   and the revocation hook is asked on every request; a dead session's cookies are deleted;
//! - sessions sealed by someone else holding the key's root secret: the stored tokens are
//!   verified again with the provider's keys when first seen ([`stored_tokens`]);
//! - cross-site request forgery (with `csrf`): checked before anything is spent, so a forged
//!   request cannot even trigger a refresh;
//! - spending a rotating refresh token twice: refreshes go through the per-session
//!   single-flight ([`refresh`]);
//! - unauthorized users: the `claims` rule must hold (403 otherwise, logging the false part);
//! - leaking or forging credentials upstream: the gateway's cookies are removed from `Cookie`,
//!   `Authorization` is replaced by the session's access token, and `forwardHeaders` are set
//!   after removing client-sent copies.

pub mod csrf;
pub mod refresh;
pub mod stored_tokens;

use std::sync::Arc;

use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue, Request};
use portcullis_claims::{Claims, TokenKind};
use portcullis_proxy::body::Body;
use portcullis_proxy::middleware::{Decision, HeaderEdit, RequestContext};
use serde_json::Value;

use self::stored_tokens::Refusal;
use crate::error::AuthError;
use crate::oidc::flows::callback::{session_from_tokens, token_error};
use crate::oidc::flows::token_endpoint::{self, Credentials};
use crate::oidc::middleware::{Handled, Inner, secret, unauthenticated};
use crate::oidc::protected::refresh::RefreshFailure;
use crate::oidc::request::OidcRequest;
use crate::oidc::session::Session;
use crate::shared::provider_client::ProviderError;
use crate::shared::{cookies, headers};

/// Forwards a request that carries a live session, with the session's access token and claims;
/// any other request gets what [`unauthenticated`] decides.
pub(crate) async fn handle(
    inner: &Inner,
    mut request: Request<Body>,
    ctx: &mut RequestContext,
    view: OidcRequest,
) -> Handled {
    let now = inner.now();
    let Some(session) = live_session(inner, &view, now).await? else {
        return signed_out(inner, None, &view, &request).await;
    };
    if !genuine(inner, &session).await? {
        return signed_out(inner, Some(&session), &view, &request).await;
    }
    let csrf_missing = check_csrf(inner, &request, &view, &session, ctx, now)?;
    let (mut session, refreshed) = match current_tokens(inner, session, now).await? {
        Tokens::Current(session) => (session, false),
        Tokens::Refreshed(session) => (session, true),
        Tokens::Ended(session) => {
            return signed_out(inner, Some(&session), &view, &request).await;
        }
    };
    let decoded = DecodedClaims::of(inner, &session);
    let claims = decoded.claims();
    check_claims(inner, &claims, &session, ctx)?;
    let set_cookies = renew(inner, &mut session, refreshed, csrf_missing, &view, now).await?;
    if let Some(claim) = &inner.config().username_claim {
        if let Some(name) = headers::username(claim, &claims) {
            ctx.username = Some(name);
        }
    }
    rewrite_upstream(inner, request.headers_mut(), &session, &claims);
    for cookie in set_cookies {
        ctx.response_edits
            .push(HeaderEdit::Append(SET_COOKIE, cookie));
    }
    Ok(Decision::Forward(request))
}

/// Ends the session the request carries (if any) and answers as for a request without one.
async fn signed_out(
    inner: &Inner,
    session: Option<&Session>,
    view: &OidcRequest,
    request: &Request<Body>,
) -> Handled {
    let cookies = end_session(inner, session, view).await;
    unauthenticated(inner, view, request.headers(), cookies).await
}

/// The request's session when it is neither expired nor revoked.
async fn live_session(
    inner: &Inner,
    view: &OidcRequest,
    now: i64,
) -> Result<Option<Session>, AuthError> {
    let load_started = std::time::Instant::now();
    // With the shared store, the session and its revocation records come in one read.
    let loaded = match inner.shared() {
        Some(shared) => shared
            .load_checked(&view.jar)
            .await
            .map(|found| found.map(|(session, revoked)| (session, Some(revoked)))),
        None => inner
            .store()
            .load(&view.jar)
            .await
            .map(|found| found.map(|session| (session, None))),
    };
    inner.options().metrics.store_operation(
        &inner.config().middleware_name,
        "load",
        loaded.is_ok(),
        load_started.elapsed().as_secs_f64(),
    );
    let Some((session, revoked)) = loaded.map_err(store_unavailable)? else {
        return Ok(None);
    };
    if session.expires_at <= now {
        return Ok(None);
    }
    let revoked = match revoked {
        Some(revoked) => revoked,
        None => inner
            .revocations()
            .is_revoked(&session)
            .await
            .map_err(store_unavailable)?,
    };
    if revoked {
        tracing::info!(middleware = %inner.config().middleware_name, "session revoked");
        return Ok(None);
    }
    Ok(Some(session))
}

fn store_unavailable(error: crate::oidc::session::StoreError) -> AuthError {
    AuthError::StoreUnavailable(error.to_string())
}

/// Whether the session's tokens are the provider's. The first time this replica sees them,
/// their signatures are checked again: the session key alone does not prove the gateway made
/// the session.
async fn genuine(inner: &Inner, session: &Session) -> Result<bool, AuthError> {
    match stored_tokens::check(inner, session).await {
        Ok(()) => Ok(true),
        Err(Refusal::Invalid(reason)) => {
            tracing::warn!(middleware = %inner.config().middleware_name, %reason, "stored session refused");
            Ok(false)
        }
        Err(Refusal::Unavailable(error)) => Err(error),
    }
}

/// The CSRF check of `csrf`, before anything is spent on the request; true when the session has
/// no CSRF cookie yet (one is issued).
fn check_csrf(
    inner: &Inner,
    request: &Request<Body>,
    view: &OidcRequest,
    session: &Session,
    ctx: &mut RequestContext,
    now: i64,
) -> Result<bool, AuthError> {
    let Some(csrf) = inner.csrf() else {
        return Ok(false);
    };
    csrf.check(&view.method, request.headers(), &view.jar, session, now)
        .map_err(|error| {
            ctx.username = Some(session.sub.clone());
            AuthError::Csrf(error.to_string())
        })
}

/// A session whose access token may have expired.
enum Tokens {
    /// Its tokens are still current.
    Current(Session),
    /// Its tokens were refreshed: the session is saved again.
    Refreshed(Session),
    /// Its access token expired and cannot be refreshed: the session ends.
    Ended(Session),
}

/// Refreshes an expired access token when the session may.
async fn current_tokens(inner: &Inner, session: Session, now: i64) -> Result<Tokens, AuthError> {
    if session.access_expires_at.is_none_or(|at| at > now) {
        return Ok(Tokens::Current(session));
    }
    let can_refresh = inner.config().session.refresh && session.refresh_token.is_some();
    if !can_refresh {
        tracing::info!(middleware = %inner.config().middleware_name, "access token expired and no refresh is possible");
        return Ok(Tokens::Ended(session));
    }
    match refresh(inner, &session, now).await {
        Ok(refreshed) => Ok(Tokens::Refreshed((*refreshed).clone())),
        Err(RefreshFailure::Refused(reason)) => {
            tracing::info!(middleware = %inner.config().middleware_name, %reason, "refresh refused; session ended");
            Ok(Tokens::Ended(session))
        }
        Err(RefreshFailure::Timeout(message)) => Err(AuthError::ProviderUnavailable {
            message,
            timed_out: true,
        }),
        Err(RefreshFailure::Provider(message)) => Err(AuthError::ProviderUnavailable {
            message,
            timed_out: false,
        }),
        Err(RefreshFailure::StoreUnavailable(message)) => Err(AuthError::StoreUnavailable(message)),
    }
}

/// The claims of the session's tokens, decoded only when a rule, a header or the username
/// reads them.
struct DecodedClaims {
    id_token: Option<Arc<Value>>,
    access_token: Option<Arc<Value>>,
}

impl DecodedClaims {
    fn of(inner: &Inner, session: &Session) -> DecodedClaims {
        let config = inner.config();
        let reads_access = config
            .claims
            .as_ref()
            .is_some_and(|c| c.uses_access_token())
            || config
                .forward_headers
                .iter()
                .any(|h| h.claim.token() == TokenKind::AccessToken)
            || config
                .username_claim
                .as_ref()
                .is_some_and(|c| c.token() == TokenKind::AccessToken);
        let reads_any = config.claims.is_some()
            || !config.forward_headers.is_empty()
            || config.username_claim.is_some();
        DecodedClaims {
            id_token: reads_any
                .then(|| inner.decoded_claims().get_or_decode(&session.id_token))
                .flatten(),
            access_token: (reads_access && session.access_token_is_jwt)
                .then(|| inner.decoded_claims().get_or_decode(&session.access_token))
                .flatten(),
        }
    }

    fn claims(&self) -> Claims<'_> {
        Claims {
            id_token: self.id_token.as_deref(),
            access_token: self.access_token.as_deref(),
        }
    }
}

/// The `claims` rule; a refusal says which part was false and who was refused.
fn check_claims(
    inner: &Inner,
    claims: &Claims<'_>,
    session: &Session,
    ctx: &mut RequestContext,
) -> Result<(), AuthError> {
    let config = inner.config();
    let Some(rule) = &config.claims else {
        return Ok(());
    };
    if rule.evaluate(claims) {
        return Ok(());
    }
    let mut part = format!(
        "{} is false",
        rule.explain_failure(claims)
            .unwrap_or_else(|| rule.to_string())
    );
    let absent = rule.absent_claims_in_failure(claims);
    if !absent.is_empty() {
        part = format!("{part} (absent: {})", absent.join(", "));
    }
    // The error page and the log line say who was refused.
    ctx.username = config
        .username_claim
        .as_ref()
        .and_then(|claim| headers::username(claim, claims))
        .or_else(|| Some(session.sub.clone()));
    Err(AuthError::ClaimsRejected(part))
}

/// Saves the session when it was refreshed or when sliding renewal is due, and issues or renews
/// the CSRF cookie along; returns the cookies to set.
async fn renew(
    inner: &Inner,
    session: &mut Session,
    refreshed: bool,
    csrf_missing: bool,
    view: &OidcRequest,
    now: i64,
) -> Result<Vec<HeaderValue>, AuthError> {
    let mut set_cookies = Vec::new();
    // Sliding renewal re-seals the cookie, which costs more than the rest of the request; it is
    // done once the session has aged by a small step (1% of its lifetime, between 1 and 60 s),
    // so the session still ends at most that step earlier than "expiry after the last request".
    let lifetime = inner.session_seconds();
    let renew = inner.config().session.sliding
        && lifetime.saturating_sub(session.expires_at.saturating_sub(now))
            >= (lifetime / 100).clamp(1, 60);
    let mut extended = false;
    if renew || refreshed {
        if inner.config().session.sliding {
            session.expires_at = now.saturating_add(lifetime);
            extended = true;
        }
        let max_age = session.expires_at.saturating_sub(now);
        let save_started = std::time::Instant::now();
        let saved = inner.store().save(session, max_age, &view.jar).await;
        inner.options().metrics.store_operation(
            &inner.config().middleware_name,
            "save",
            saved.is_ok(),
            save_started.elapsed().as_secs_f64(),
        );
        set_cookies.extend(saved.map_err(store_unavailable)?);
    }
    // The CSRF cookie lives as long as the session: issued when missing, renewed (same
    // token) whenever sliding moved the session's expiry, or unsafe requests would get 403
    // once the login-time cookie expired, and replaced when a refresh rotated the token.
    if let Some(csrf) = inner.csrf() {
        if csrf_missing || extended || refreshed {
            set_cookies.extend(csrf.cookie_for(
                &view.jar,
                session,
                now,
                session.expires_at.saturating_sub(now),
            ));
        }
    }
    Ok(set_cookies)
}

/// The request the upstream receives: without the gateway's cookies, with the session's access
/// token as bearer and `forwardHeaders` set from the claims (client-sent copies removed).
fn rewrite_upstream(
    inner: &Inner,
    headers: &mut HeaderMap,
    session: &Session,
    claims: &Claims<'_>,
) {
    cookies::strip_cookies(headers, |name| inner.is_own_cookie(name));
    headers::remove_underscore_spellings(headers, &inner.config().forward_headers);
    headers::set_bearer(headers, &session.access_token);
    headers::apply_forward_headers(headers, &inner.config().forward_headers, claims);
}

/// Deletes the session's cookies (and its CSRF cookie) when the request carries any, and
/// forgets its refresh state.
pub(crate) async fn end_session(
    inner: &Inner,
    session: Option<&Session>,
    view: &OidcRequest,
) -> Vec<HeaderValue> {
    let mut cookies = Vec::new();
    if let Some(session) = session {
        inner.refresh().forget(&session.id);
    }
    if session.is_some() || inner.store().carries_session(&view.jar) {
        match inner.store().delete(session, &view.jar).await {
            Ok(set) => cookies.extend(set),
            Err(error) => {
                tracing::warn!(middleware = %inner.config().middleware_name, %error, "session could not be deleted");
            }
        }
    }
    if let Some(csrf) = inner.csrf() {
        cookies.extend(csrf.delete_cookie(&view.jar));
    }
    cookies
}

/// Refreshes the session's tokens, once per session however many requests ask.
async fn refresh(
    inner: &Inner,
    session: &Session,
    now: i64,
) -> Result<Arc<Session>, RefreshFailure> {
    let run = || async {
        let provider = inner.provider().get().await.map_err(failure)?;
        let refresh_token = session.refresh_token.as_deref().unwrap_or_default();
        let tokens = token_endpoint::refresh(
            inner.client(),
            &provider.metadata,
            Credentials {
                client_id: inner.client_id(),
                client_secret: secret(inner).expose(),
            },
            refresh_token,
        )
        .await
        .map_err(|e| failure(token_error(e)))?;
        let refreshed = session_from_tokens(inner, &provider, tokens, None, Some(session), now)
            .await
            .map_err(failure)?;
        tracing::debug!(middleware = %inner.config().middleware_name, "session refreshed");
        Ok(Arc::new(refreshed))
    };
    // Counted where the provider is called: requests waiting on another's refresh are not.
    let run = || async {
        let outcome = run().await;
        let result = match &outcome {
            Ok(_) => "success",
            Err(RefreshFailure::Refused(_)) => "refused",
            Err(RefreshFailure::Timeout(_)) => "timeout",
            Err(RefreshFailure::Provider(_)) => "provider_error",
            Err(RefreshFailure::StoreUnavailable(_)) => "store_error",
        };
        inner
            .options()
            .metrics
            .refresh(&inner.config().middleware_name, result);
        outcome
    };
    // One refresh per session in this replica, and across replicas with a shared store.
    inner
        .refresh()
        .refresh(session, || async {
            match inner.shared() {
                Some(shared) => shared.refresh(session, now, run).await,
                None => run().await,
            }
        })
        .await
}

fn failure(error: AuthError) -> RefreshFailure {
    match error {
        AuthError::LoginFailed(reason) => RefreshFailure::Refused(reason),
        AuthError::Provider(ProviderError::Timeout { .. })
        | AuthError::ProviderUnavailable {
            timed_out: true, ..
        } => RefreshFailure::Timeout(error.to_string()),
        other => RefreshFailure::Provider(other.to_string()),
    }
}
