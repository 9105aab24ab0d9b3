//! Requests to the protected application: session check, CSRF, refresh, claims, and the
//! request the upstream receives.
//!
//! What it protects against, and how:
//! - expired, revoked or unreadable sessions: the sealed expiry is checked against the clock
//!   and the revocation hook is asked on every request; a dead session's cookies are deleted;
//! - sessions sealed by someone else holding the key's root secret: the stored tokens are
//!   verified again with the provider's keys when first seen ([`super::stored_tokens`]);
//! - cross-site request forgery (with `csrf`): checked before anything is spent, so a forged
//!   request cannot even trigger a refresh;
//! - spending a rotating refresh token twice: refreshes go through the per-session
//!   single-flight ([`super::refresh`]);
//! - unauthorized users: the `claims` rule must hold (403 otherwise, logging the false part);
//! - leaking or forging credentials upstream: the gateway's cookies are removed from `Cookie`,
//!   `Authorization` is replaced by the session's access token, and `forwardHeaders` are set
//!   after removing client-sent copies.

pub mod csrf;
pub mod refresh;
pub mod stored_tokens;

use std::sync::Arc;

use http::header::SET_COOKIE;
use http::{HeaderValue, Request};
use portcullis_claims::{Claims, TokenKind};
use portcullis_proxy::body::Body;
use portcullis_proxy::middleware::{Decision, HeaderEdit, RequestContext};

use self::stored_tokens::Refusal;
use crate::error::AuthError;
use crate::oidc::flows::callback::{session_from_tokens, token_error};
use crate::oidc::flows::token_endpoint::{self, Credentials};
use crate::oidc::middleware::{Handled, Inner, secret, unauthenticated};
use crate::oidc::protected::refresh::RefreshFailure;
use crate::oidc::request::RequestView;
use crate::oidc::session::Session;
use crate::shared::provider_client::ProviderError;
use crate::shared::{cookies, headers};

pub(crate) async fn handle(
    inner: &Inner,
    mut request: Request<Body>,
    ctx: &mut RequestContext,
    view: RequestView,
) -> Handled {
    let now = inner.now();
    let unavailable =
        |e: crate::oidc::session::StoreError| AuthError::StoreUnavailable(e.to_string());
    let load_started = std::time::Instant::now();
    // With the shared store, the session and its revocation records come in one read.
    let loaded = match &inner.shared {
        Some(shared) => shared
            .load_checked(&view.jar)
            .await
            .map(|found| found.map(|(session, revoked)| (session, Some(revoked)))),
        None => inner
            .store
            .load(&view.jar)
            .await
            .map(|found| found.map(|session| (session, None))),
    };
    inner.options.metrics.store_operation(
        &inner.config.middleware_name,
        "load",
        loaded.is_ok(),
        load_started.elapsed().as_secs_f64(),
    );
    let loaded = loaded.map_err(unavailable)?;
    let live = match loaded {
        Some((session, revoked)) if session.expires_at > now => {
            let revoked = match revoked {
                Some(revoked) => revoked,
                None => inner
                    .revocations
                    .is_revoked(&session)
                    .await
                    .map_err(unavailable)?,
            };
            if revoked {
                tracing::info!(middleware = %inner.config.middleware_name, "session revoked");
                None
            } else {
                Some(session)
            }
        }
        _ => None,
    };
    let Some(mut session) = live else {
        let cookies = end_session(inner, None, &view).await;
        return unauthenticated(inner, &view, request.headers(), cookies).await;
    };
    // The first time this replica sees the session's tokens, their signatures are checked
    // again: the session key alone does not prove the gateway made the session.
    match stored_tokens::check(inner, &session).await {
        Ok(()) => {}
        Err(Refusal::Invalid(reason)) => {
            tracing::warn!(middleware = %inner.config.middleware_name, %reason, "stored session refused");
            let cookies = end_session(inner, Some(&session), &view).await;
            return unauthenticated(inner, &view, request.headers(), cookies).await;
        }
        Err(Refusal::Unavailable(error)) => return Err(error.into()),
    }

    let mut set_cookies: Vec<HeaderValue> = Vec::new();
    let mut csrf_missing = false;
    if let Some(csrf) = &inner.csrf {
        match csrf.check(&view.method, request.headers(), &view.jar, &session, now) {
            Ok(missing) => csrf_missing = missing,
            Err(error) => {
                ctx.username = Some(session.sub.clone());
                return Err(AuthError::Csrf(error.to_string()).into());
            }
        }
    }

    let mut changed = false;
    if session.access_expires_at.is_some_and(|at| at <= now) {
        let can_refresh = inner.config.session.refresh && session.refresh_token.is_some();
        if !can_refresh {
            tracing::info!(middleware = %inner.config.middleware_name, "access token expired and no refresh is possible");
            let cookies = end_session(inner, Some(&session), &view).await;
            return unauthenticated(inner, &view, request.headers(), cookies).await;
        }
        match refresh(inner, &session, now).await {
            Ok(refreshed) => {
                session = (*refreshed).clone();
                changed = true;
            }
            Err(RefreshFailure::Refused(reason)) => {
                tracing::info!(middleware = %inner.config.middleware_name, %reason, "refresh refused; session ended");
                let cookies = end_session(inner, Some(&session), &view).await;
                return unauthenticated(inner, &view, request.headers(), cookies).await;
            }
            Err(RefreshFailure::Timeout(message)) => {
                return Err(AuthError::ProviderUnavailable {
                    message,
                    timed_out: true,
                }
                .into());
            }
            Err(RefreshFailure::Provider(message)) => {
                return Err(AuthError::ProviderUnavailable {
                    message,
                    timed_out: false,
                }
                .into());
            }
            Err(RefreshFailure::StoreUnavailable(message)) => {
                return Err(AuthError::StoreUnavailable(message).into());
            }
        }
    }

    // Tokens are decoded only when a rule, a header or the username reads them.
    let config = &inner.config;
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
    let id_claims = reads_any
        .then(|| inner.decoded_claims.get_or_decode(&session.id_token))
        .flatten();
    let access_claims = (reads_access && session.access_token_is_jwt)
        .then(|| inner.decoded_claims.get_or_decode(&session.access_token))
        .flatten();
    let claims = Claims {
        id_token: id_claims.as_deref(),
        access_token: access_claims.as_deref(),
    };
    if let Some(rule) = &inner.config.claims {
        if !rule.evaluate(&claims) {
            let mut part = format!(
                "{} is false",
                rule.explain_failure(&claims)
                    .unwrap_or_else(|| rule.to_string())
            );
            let absent = rule.absent_claims_in_failure(&claims);
            if !absent.is_empty() {
                part = format!("{part} (absent: {})", absent.join(", "));
            }
            // The error page and the log line say who was refused.
            ctx.username = config
                .username_claim
                .as_ref()
                .and_then(|claim| headers::username(claim, &claims))
                .or_else(|| Some(session.sub.clone()));
            return Err(AuthError::ClaimsRejected(part).into());
        }
    }

    // Sliding renewal re-seals the cookie, which costs more than the rest of the request; it is
    // done once the session has aged by a small step (1% of its lifetime, between 1 and 60 s),
    // so the session still ends at most that step earlier than "expiry after the last request".
    let lifetime = inner.session_seconds();
    let renew = inner.config.session.sliding
        && lifetime.saturating_sub(session.expires_at.saturating_sub(now))
            >= (lifetime / 100).clamp(1, 60);
    let mut extended = false;
    if renew || changed {
        if inner.config.session.sliding {
            session.expires_at = now.saturating_add(lifetime);
            extended = true;
        }
        let max_age = session.expires_at.saturating_sub(now);
        let save_started = std::time::Instant::now();
        let saved = inner.store.save(&session, max_age, &view.jar).await;
        inner.options.metrics.store_operation(
            &inner.config.middleware_name,
            "save",
            saved.is_ok(),
            save_started.elapsed().as_secs_f64(),
        );
        let saved = saved.map_err(|e| AuthError::StoreUnavailable(e.to_string()))?;
        set_cookies.extend(saved);
    }
    // The CSRF cookie lives as long as the session: issued when missing, renewed (same
    // token) whenever sliding moved the session's expiry, or unsafe requests would get 403
    // once the login-time cookie expired, and replaced when a refresh rotated the token.
    if let Some(csrf) = &inner.csrf {
        if csrf_missing || extended || changed {
            set_cookies.extend(csrf.cookie_for(
                &view.jar,
                &session,
                now,
                session.expires_at.saturating_sub(now),
            ));
        }
    }

    if let Some(claim) = &inner.config.username_claim {
        if let Some(name) = headers::username(claim, &claims) {
            ctx.username = Some(name);
        }
    }
    let request_headers = request.headers_mut();
    cookies::strip_cookies(request_headers, |name| inner.is_own_cookie(name));
    headers::remove_underscore_spellings(request_headers, &inner.config.forward_headers);
    headers::set_bearer(request_headers, &session.access_token);
    headers::apply_forward_headers(request_headers, &inner.config.forward_headers, &claims);
    for cookie in set_cookies {
        ctx.response_edits
            .push(HeaderEdit::Append(SET_COOKIE, cookie));
    }
    Ok(Decision::Forward(request))
}

/// Deletes the session's cookies (and its CSRF cookie) when the request carries any, and
/// forgets its refresh state.
pub(crate) async fn end_session(
    inner: &Inner,
    session: Option<&Session>,
    view: &RequestView,
) -> Vec<HeaderValue> {
    let mut cookies = Vec::new();
    if let Some(session) = session {
        inner.refresh.forget(&session.id);
    }
    if session.is_some() || inner.store.carries_session(&view.jar) {
        match inner.store.delete(session, &view.jar).await {
            Ok(set) => cookies.extend(set),
            Err(error) => {
                tracing::warn!(middleware = %inner.config.middleware_name, %error, "session could not be deleted");
            }
        }
    }
    if let Some(csrf) = &inner.csrf {
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
        let provider = inner.provider.get().await.map_err(failure)?;
        let refresh_token = session.refresh_token.as_deref().unwrap_or_default();
        let tokens = token_endpoint::refresh(
            &inner.client,
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
        tracing::debug!(middleware = %inner.config.middleware_name, "session refreshed");
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
            .options
            .metrics
            .refresh(&inner.config.middleware_name, result);
        outcome
    };
    // One refresh per session in this replica, and across replicas with a shared store.
    inner
        .refresh
        .refresh(session, || async {
            match &inner.shared {
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
