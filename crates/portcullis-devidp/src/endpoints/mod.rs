//! HTTP endpoints and the helpers they share: request parameter parsing (duplicates are refused,
//! as RFC 6749 section 3.1 requires), the OAuth JSON error response, and HTML error pages for
//! errors that must not be redirected.
//!
//! Every handler answers; none panics on input.

mod authorize;
mod discovery;
mod logout;
mod token;
mod userinfo;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::state::Provider;

pub(crate) use authorize::{AUTHORIZE_PATH, LOGIN_PATH};

/// Path of the token endpoint below the issuer.
pub(crate) const TOKEN_PATH: &str = "/token";
/// Path of the JWKS below the issuer.
pub(crate) const JWKS_PATH: &str = "/jwks";
/// Path of the userinfo endpoint below the issuer.
pub(crate) const USERINFO_PATH: &str = "/userinfo";
/// Path of the end-session endpoint below the issuer.
pub(crate) const END_SESSION_PATH: &str = "/logout";
/// Path of the discovery document below the issuer.
pub(crate) const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// The provider's routes, below the issuer's path.
pub(crate) fn router(provider: Arc<Provider>) -> Router {
    let routes = Router::new()
        .route(DISCOVERY_PATH, get(discovery::discovery))
        .route(JWKS_PATH, get(discovery::jwks))
        .route(
            AUTHORIZE_PATH,
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route(LOGIN_PATH, post(authorize::login))
        .route(TOKEN_PATH, post(token::token))
        .route(
            USERINFO_PATH,
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route(
            END_SESSION_PATH,
            get(logout::end_session_get).post(logout::end_session_post),
        )
        .with_state(Arc::clone(&provider));
    let prefix = url::Url::parse(&provider.issuer)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    if prefix.is_empty() {
        routes
    } else {
        Router::new().nest(&prefix, routes)
    }
}

/// Request parameters from a query string or form body.
#[derive(Debug, Default)]
pub(crate) struct Params {
    values: HashMap<String, String>,
    duplicated: Vec<String>,
}

impl Params {
    pub(crate) fn parse(encoded: &[u8]) -> Self {
        let mut params = Params::default();
        for (name, value) in form_urlencoded::parse(encoded) {
            if params.values.contains_key(name.as_ref()) {
                params.duplicated.push(name.into_owned());
            } else {
                params.values.insert(name.into_owned(), value.into_owned());
            }
        }
        params
    }

    /// A parameter's value; an empty value counts as absent (RFC 6749 section 3.1).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The first parameter given more than once, if any.
    pub(crate) fn duplicated(&self) -> Option<&str> {
        self.duplicated.first().map(String::as_str)
    }
}

/// An RFC 6749 section 5.2 error: JSON `{"error", "error_description"}` with `no-store`.
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({ "error": error, "error_description": description });
    (status, no_store(), axum::Json(body)).into_response()
}

/// `Cache-Control: no-store` and `Pragma: no-cache`, for answers that carry tokens or errors.
pub(crate) fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// Escapes text for HTML element content and double-quoted attributes.
pub(crate) fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The banner every page carries: this provider is for development only.
pub(crate) const DEV_BANNER: &str = "Portcullis development OpenID Provider — for demos and \
     tests only, never for production: any configured user logs in without a real credential \
     check unless a password is set, and keys live in memory.";

/// A small HTML page (errors that must not be redirected, logout confirmation).
pub(crate) fn html_page(status: StatusCode, title: &str, body_html: &str) -> Response {
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title} — devidp (development only)</title></head>\n<body>\n\
         <p style=\"background:#fde68a;padding:.5em\"><strong>{banner}</strong></p>\n\
         <h1>{title}</h1>\n{body_html}\n</body></html>\n",
        title = html_escape(title),
        banner = html_escape(DEV_BANNER),
    );
    (
        status,
        no_store(),
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        page,
    )
        .into_response()
}

/// The value of a cookie in the request, if present.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// Appends parameters to a redirect URI that may already have a query.
pub(crate) fn with_query(uri: &str, params: &[(&str, Option<&str>)]) -> Option<String> {
    let mut url = url::Url::parse(uri).ok()?;
    // No parameter to add: the URI stays exactly as registered (no dangling `?`).
    if params.iter().any(|(_, value)| value.is_some()) {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
    }
    Some(url.into())
}

/// A redirect with `Location`, `no-store`.
pub(crate) fn redirect(status: StatusCode, location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (status, no_store(), [(header::LOCATION, value)]).into_response(),
        Err(_) => html_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Bad redirect",
            "<p>The redirect target cannot be sent as a header.</p>",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicated_and_empty_parameters() {
        let params = Params::parse(b"a=1&b=&a=2&c=x+y");
        assert_eq!(params.get("a"), Some("1"));
        assert_eq!(params.get("b"), None);
        assert_eq!(params.get("c"), Some("x y"));
        assert_eq!(params.duplicated(), Some("a"));
    }

    #[test]
    fn query_is_appended_to_existing_one() {
        let uri = with_query(
            "http://rp/cb?x=1",
            &[("code", Some("a b")), ("state", None)],
        );
        assert_eq!(uri.as_deref(), Some("http://rp/cb?x=1&code=a+b"));
    }

    #[test]
    fn cookies_are_found_among_several() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; sid=xyz; b=2"),
        );
        assert_eq!(cookie(&headers, "sid"), Some("xyz"));
        assert_eq!(cookie(&headers, "c"), None);
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            html_escape("<a href=\"x\">'&"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
    }
}
