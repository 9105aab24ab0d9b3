//! CSRF protection (`csrf: {}`): a signed double-submit cookie bound to the session (OWASP
//! "Signed Double-Submit Cookie").
//!
//! What it protects against, and how: a cross-site page can make the browser send the session
//! cookie with a forged POST, but it cannot read the CSRF cookie to copy it into a header.
//! Every unsafe method (anything but GET, HEAD, OPTIONS and TRACE) must carry the cookie's
//! value in `csrf.headerName`. The token is `random.HMAC(key, random || session id)` with a key
//! derived from the session key root (`session.secret`, else the client secret) and issuer, so a token planted by a sibling subdomain (cookie
//! tossing) or taken from another session does not verify. The cookie is readable by scripts
//! (not `HttpOnly`) on purpose: the application must copy it into the header. The cookie lives
//! as long as the session: whenever sliding renewal extends the session cookie, the CSRF cookie
//! is set again with the same token and the same `Max-Age`.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use subtle::ConstantTimeEq;

use crate::shared::cookies::{self, CookieAttributes, CookieJar};
use crate::shared::seal;

/// The cookie name (fixed by the reference).
pub const CSRF_COOKIE: &str = "traefikee-csrf-token";

/// Why an unsafe request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsrfError {
    #[error("no CSRF token header")]
    HeaderMissing,
    #[error("no valid CSRF cookie for this session")]
    CookieInvalid,
    #[error("CSRF header does not match the cookie")]
    Mismatch,
}

/// The CSRF token issuer and checker of one middleware.
#[derive(Debug)]
pub struct Csrf {
    key: hmac::Key,
    header: HeaderName,
    attributes: CookieAttributes,
}

/// RFC 7231 safe methods.
pub fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

impl Csrf {
    /// Derives the signing key from the middleware's root secret (of kind `root`) and issuer.
    pub fn new(
        root: seal::KeyRoot,
        secret: &str,
        issuer: &str,
        header: HeaderName,
        attributes: CookieAttributes,
    ) -> Result<Self, seal::SealError> {
        let mut key = [0u8; 32];
        seal::derive_rooted(root, secret.as_bytes(), issuer, b"csrf", &mut key)?;
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
            header,
            attributes,
        })
    }

    /// A new token bound to `session_id`.
    pub fn issue(&self, session_id: &str) -> Result<String, seal::SealError> {
        let mut random = [0u8; 16];
        aws_lc_rs::rand::fill(&mut random).map_err(|_| seal::SealError::Crypto)?;
        let random = URL_SAFE_NO_PAD.encode(random);
        let tag = self.tag(&random, session_id);
        Ok(format!("{random}.{tag}"))
    }

    /// The `Set-Cookie` carrying a new token for `session_id`.
    pub fn issue_cookie(&self, session_id: &str, max_age: i64) -> Option<HeaderValue> {
        let token = self.issue(session_id).ok()?;
        cookies::set_cookie(CSRF_COOKIE, &token, &self.attributes, Some(max_age)).ok()
    }

    /// The `Set-Cookie` giving the session's token `max_age` more seconds: the token the
    /// request carries when it is valid for `session_id` (a page may hold it in memory), else
    /// a new one.
    pub fn cookie_for(
        &self,
        jar: &CookieJar,
        session_id: &str,
        max_age: i64,
    ) -> Option<HeaderValue> {
        match jar
            .get(CSRF_COOKIE)
            .filter(|token| self.verify(token, session_id))
        {
            Some(token) => {
                cookies::set_cookie(CSRF_COOKIE, token, &self.attributes, Some(max_age)).ok()
            }
            None => self.issue_cookie(session_id, max_age),
        }
    }

    /// The `Set-Cookie` deleting the token (with the session).
    pub fn delete_cookie(&self, jar: &CookieJar) -> Option<HeaderValue> {
        jar.get(CSRF_COOKIE)?;
        cookies::delete_cookie(CSRF_COOKIE, &self.attributes).ok()
    }

    /// True when `token` was issued for `session_id` by this middleware.
    pub fn verify(&self, token: &str, session_id: &str) -> bool {
        let Some((random, tag)) = token.split_once('.') else {
            return false;
        };
        let Ok(tag) = URL_SAFE_NO_PAD.decode(tag) else {
            return false;
        };
        hmac::verify(&self.key, &message(random, session_id), &tag).is_ok()
    }

    /// Checks a request of the session `session_id`. `Ok(true)` means the request carries no
    /// valid token cookie and a new one should be issued (safe methods only).
    pub fn check(
        &self,
        method: &Method,
        headers: &HeaderMap,
        jar: &CookieJar,
        session_id: &str,
    ) -> Result<bool, CsrfError> {
        let cookie = jar
            .get(CSRF_COOKIE)
            .filter(|token| self.verify(token, session_id));
        if is_safe(method) {
            return Ok(cookie.is_none());
        }
        let cookie = cookie.ok_or(CsrfError::CookieInvalid)?;
        let header = headers
            .get(&self.header)
            .ok_or(CsrfError::HeaderMissing)?
            .as_bytes();
        if bool::from(header.ct_eq(cookie.as_bytes())) {
            Ok(false)
        } else {
            Err(CsrfError::Mismatch)
        }
    }

    fn tag(&self, random: &str, session_id: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.key, &message(random, session_id)).as_ref())
    }
}

fn message(random: &str, session_id: &str) -> Vec<u8> {
    [random.as_bytes(), b".", session_id.as_bytes()].concat()
}

#[cfg(test)]
mod tests {
    use http::header::COOKIE;
    use portcullis_config::plugin::common::SameSite;

    use super::*;

    fn csrf(secret: &str) -> Csrf {
        Csrf::new(
            seal::KeyRoot::ClientSecret,
            secret,
            "https://idp",
            HeaderName::from_static("traefikhub-csrf-token"),
            CookieAttributes {
                path: "/".into(),
                domain: None,
                same_site: SameSite::Lax,
                http_only: false,
                secure: false,
            },
        )
        .unwrap()
    }

    fn request(cookie: Option<&str>, header: Option<&str>) -> (HeaderMap, CookieJar) {
        let mut headers = HeaderMap::new();
        if let Some(token) = cookie {
            headers.insert(
                COOKIE,
                HeaderValue::from_str(&format!("{CSRF_COOKIE}={token}")).unwrap(),
            );
        }
        if let Some(value) = header {
            headers.insert(
                "traefikhub-csrf-token",
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let jar = CookieJar::from_headers(&headers);
        (headers, jar)
    }

    #[test]
    fn tokens_are_bound_to_the_session_and_the_key() {
        let c = csrf("secret");
        let token = c.issue("session-1").unwrap();
        assert!(c.verify(&token, "session-1"));
        assert!(!c.verify(&token, "session-2"));
        assert!(!csrf("other").verify(&token, "session-1"));
        assert!(!c.verify("garbage", "session-1"));
        assert!(!c.verify("a.!!!", "session-1"));
    }

    #[test]
    fn unsafe_methods_need_the_matching_header() {
        let c = csrf("secret");
        let token = c.issue("s").unwrap();
        for method in [
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::from_bytes(b"PROPFIND").unwrap(),
        ] {
            let (headers, jar) = request(Some(&token), Some(&token));
            assert_eq!(c.check(&method, &headers, &jar, "s"), Ok(false));
            let (headers, jar) = request(Some(&token), None);
            assert_eq!(
                c.check(&method, &headers, &jar, "s"),
                Err(CsrfError::HeaderMissing)
            );
            let (headers, jar) = request(Some(&token), Some("other"));
            assert_eq!(
                c.check(&method, &headers, &jar, "s"),
                Err(CsrfError::Mismatch)
            );
            let (headers, jar) = request(None, Some(&token));
            assert_eq!(
                c.check(&method, &headers, &jar, "s"),
                Err(CsrfError::CookieInvalid)
            );
            // A token from another session, echoed correctly, still fails.
            let foreign = c.issue("other-session").unwrap();
            let (headers, jar) = request(Some(&foreign), Some(&foreign));
            assert_eq!(
                c.check(&method, &headers, &jar, "s"),
                Err(CsrfError::CookieInvalid)
            );
        }
    }

    #[test]
    fn safe_methods_pass_and_ask_for_a_token_when_missing() {
        let c = csrf("secret");
        let token = c.issue("s").unwrap();
        for method in [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE] {
            let (headers, jar) = request(None, None);
            assert_eq!(c.check(&method, &headers, &jar, "s"), Ok(true));
            let (headers, jar) = request(Some(&token), None);
            assert_eq!(c.check(&method, &headers, &jar, "s"), Ok(false));
        }
    }
}
