//! Logout (`logoutUrl`) and back-channel logout (`backchannelLogoutUrl`).
//!
//! `logoutUrl` accepts GET, POST and DELETE. It deletes the session (every cookie chunk and the
//! CSRF cookie), records the session as revoked so that a copy of the cookie no longer works,
//! and then, as Traefik Hub does, redirects to `postLogoutRedirectUrl`, or answers 204 when it
//! is not set. With the `endProviderSession` extension, it redirects instead to the provider's
//! `end_session_endpoint` with `id_token_hint` (and `post_logout_redirect_uri` = the resolved
//! `postLogoutRedirectUrl`, when set) so the provider's session ends too; that URL must then be
//! registered at the provider, which is why it is not the default.
//! With `csrf` enabled, a POST or DELETE logout of a live session needs the CSRF header, so a
//! cross-site page cannot log the user out.
//!
//! `backchannelLogoutUrl` accepts the provider's POST of a logout token (validated in
//! [`super::logout_token`]) and revokes the sessions it names: in the shared store with
//! `session.store.redis` (every replica), else in this process's record (see
//! [`crate::oidc::session::revocations`]). A store failure answers 503, so the provider can retry. The body is
//! capped at
//! [`MAX_BACKCHANNEL_BODY`].

use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;
use portcullis_proxy::body::Body;
use portcullis_proxy::middleware::Decision;

use crate::error::AuthError;
use crate::oidc::flows::logout_token;
use crate::oidc::middleware::{Handled, Inner, answer, no_content, redirect};
use crate::oidc::protected::csrf::is_safe;
use crate::oidc::protected::end_session;
use crate::oidc::redirect_url;
use crate::oidc::request::OidcRequest;
use crate::shared::jwks::JwksError;

/// Largest back-channel logout request body.
pub const MAX_BACKCHANNEL_BODY: usize = 64 * 1024;

pub(crate) async fn handle(inner: &Inner, view: &OidcRequest, headers: &HeaderMap) -> Handled {
    if !matches!(view.method, Method::GET | Method::POST | Method::DELETE) {
        let mut response = answer(StatusCode::METHOD_NOT_ALLOWED, Vec::new());
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
        return Ok(Decision::Respond(response));
    }
    let session = inner
        .store()
        .load(&view.jar)
        .await
        .map_err(|e| AuthError::StoreUnavailable(e.to_string()))?;
    let now = inner.now();
    if let (Some(csrf), Some(session)) = (inner.csrf(), &session) {
        if !is_safe(&view.method) && session.expires_at > now {
            csrf.check(&view.method, headers, &view.jar, session, now)
                .map_err(|e| AuthError::Csrf(e.to_string()))?;
        }
    }
    if let Some(session) = &session {
        // Recorded before anything is deleted: when the store cannot record it, the logout
        // fails (503) instead of leaving a session that still works elsewhere. Kept for a full
        // `session.expiry` from now, not until the presented cookie's expiry: a copy of the
        // cookie renewed by sliding (or a refresh finishing elsewhere) can expire later than
        // the cookie presented here, but never later than now + expiry, since renewals stop
        // with this record.
        inner
            .revocations()
            .revoke_session(&session.id, inner.revoked_until(now), now)
            .await
            .map_err(|e| AuthError::StoreUnavailable(e.to_string()))?;
    }
    let cookies = end_session(inner, session.as_ref(), view).await;
    tracing::info!(middleware = %inner.config().middleware_name, had_session = session.is_some(), "logout");
    let after = inner
        .config()
        .post_logout_redirect_url
        .as_ref()
        .map(|url| redirect_url::resolve(url, view));
    let end_session_endpoint = inner
        .config()
        .end_provider_session
        .then(|| inner.provider().ready())
        .flatten()
        .and_then(|provider| provider.metadata.end_session_endpoint.clone());
    if let (Some(mut endpoint), Some(session)) = (end_session_endpoint, &session) {
        {
            let mut query = endpoint.query_pairs_mut();
            query
                .append_pair("id_token_hint", &session.id_token)
                .append_pair("client_id", inner.client_id());
            if let Some(after) = &after {
                query.append_pair("post_logout_redirect_uri", after);
            }
        }
        return Ok(Decision::Respond(redirect(endpoint.as_str(), cookies)));
    }
    Ok(Decision::Respond(match after {
        Some(after) => redirect(&after, cookies),
        None => no_content(cookies),
    }))
}

pub(crate) async fn handle_backchannel(
    inner: &Inner,
    request: Request<Body>,
    view: &OidcRequest,
) -> Handled {
    if view.method != Method::POST {
        let mut response = answer(StatusCode::METHOD_NOT_ALLOWED, Vec::new());
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return Ok(Decision::Respond(response));
    }
    let is_form = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(AuthError::BadRequest(
            "back-channel logout: expected an application/x-www-form-urlencoded body".into(),
        )
        .into());
    }
    let body = read_body(request.into_body()).await?;
    let token = form_urlencoded::parse(&body)
        .find(|(key, _)| key == "logout_token")
        .map(|(_, value)| value.into_owned())
        .ok_or_else(|| AuthError::BadRequest("back-channel logout: no logout_token".into()))?;
    let provider = inner.provider().get().await?;
    let verified = provider
        .jwks
        .verify(&token)
        .await
        .map_err(|error| match error {
            JwksError::Fetch(provider) => AuthError::Provider(provider),
            JwksError::Token(token) => AuthError::BadRequest(format!(
                "back-channel logout: logout token refused: {token}"
            )),
        })?;
    logout_token::check_type(verified.header.typ.as_deref())
        .map_err(|e| AuthError::BadRequest(format!("back-channel logout: {e}")))?;
    let now = inner.now();
    let target = logout_token::validate(
        &verified.claims,
        &provider.metadata.issuer,
        inner.client_id(),
        inner.config().backchannel_logout_sessions_required,
        now,
        inner.options().leeway_seconds,
    )
    .map_err(|e| AuthError::BadRequest(format!("back-channel logout: {e}")))?;
    let unavailable =
        |e: crate::oidc::session::StoreError| AuthError::StoreUnavailable(e.to_string());
    if !inner
        .revocations()
        .first_use_of_jti(&target.jti, target.remember_until, now)
        .await
        .map_err(unavailable)?
    {
        return Err(
            AuthError::BadRequest("back-channel logout: logout token replayed".into()).into(),
        );
    }
    // Sessions can live at most session.expiry (sliding moves it forward on each use, so the
    // record is kept for a full expiry from now).
    let until = inner.revoked_until(now);
    if let Some(sid) = &target.sid {
        inner
            .revocations()
            .revoke_sid(sid, until, now)
            .await
            .map_err(unavailable)?;
    }
    if let Some(sub) = &target.sub {
        // With a sid too, the sub only reaches sessions whose ID token carried no sid.
        inner
            .revocations()
            .revoke_sub(sub, until, now, target.sid.is_some())
            .await
            .map_err(unavailable)?;
    }
    tracing::info!(middleware = %inner.config().middleware_name, by_sid = target.sid.is_some(), "back-channel logout accepted");
    Ok(Decision::Respond(answer(StatusCode::OK, Vec::new())))
}

/// The request body, refused above [`MAX_BACKCHANNEL_BODY`].
async fn read_body(mut body: Body) -> Result<Vec<u8>, AuthError> {
    let too_large =
        || AuthError::BadRequest("back-channel logout: body unreadable or too large".into());
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| too_large())?;
        if let Ok(data) = frame.into_data() {
            if bytes.len().saturating_add(data.len()) > MAX_BACKCHANNEL_BODY {
                return Err(too_large());
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}
