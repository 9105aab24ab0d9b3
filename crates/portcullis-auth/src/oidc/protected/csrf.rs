//! CSRF protection (`csrf: {}`): a signed double-submit cookie bound to the session (OWASP
//! "Signed Double-Submit Cookie").
//!
//! What it protects against, and how: a cross-site page can make the browser send the session
//! cookie with a forged POST, but it cannot read the CSRF cookie to copy it into a header.
//! Every unsafe method (anything but GET, HEAD, OPTIONS and TRACE) must carry, in
//! `csrf.headerName`, a token of this session that the CSRF cookie also holds. A token is
//! `area.random.generation.HMAC(key, area, random, generation, session id)` with a key derived
//! from the session key root (`session.secret`, else the client secret) and issuer, so a token
//! planted by a sibling subdomain (cookie tossing), taken from another session or from another
//! middleware does not verify. The cookie is readable by scripts (not `HttpOnly`) on purpose:
//! the application must copy it into the header.
//!
//! Rotation: the seed wants a new token "whenever the session is refreshed or recreated". A
//! login starts generation 0; each refresh of the tokens starts the next generation (kept in
//! the session, so with a shared store every replica sees it) and the answer of the request
//! that refreshed carries a new token. Requests a page sent before it read the new cookie still
//! carry the previous token: it is accepted for [`PREVIOUS_TOKEN_GRACE`] seconds after the
//! rotation, never later, and older generations never.
//!
//! Several middlewares on one host: the cookie name is fixed by the reference, so two
//! CSRF-enabled middlewares whose cookies share a path would overwrite each other's token. The
//! cookie therefore holds one token per middleware (`~`-separated; the `area` part names the
//! middleware by a digest of its name): each middleware replaces only its own token and keeps
//! the others it received (at most [`MAX_OTHER_AREAS`]). The page copies the whole cookie into
//! the header, as with one middleware; each middleware looks only at its own token there.
//!
//! The cookie lives as long as the session: whenever sliding renewal extends the session
//! cookie, the CSRF cookie is set again with the same token and the same `Max-Age` (when it
//! also holds other middlewares' tokens, at least this middleware's `session.expiry`, so it
//! does not end their tokens early).

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::{Deserialize, Serialize};

use crate::oidc::session::Session;
use crate::shared::cookies::{self, CookieAttributes, CookieJar};
use crate::shared::seal;

/// The cookie name (fixed by the reference).
pub const CSRF_COOKIE: &str = "traefikee-csrf-token";

/// Seconds the previous generation's token is still accepted after a rotation.
pub const PREVIOUS_TOKEN_GRACE: i64 = 60;

/// Tokens of other middlewares kept in the cookie, at most.
pub const MAX_OTHER_AREAS: usize = 7;

/// Longest token accepted in the cookie or the header (longer ones are ignored).
const MAX_TOKEN_LEN: usize = 160;

/// Separates the tokens of several middlewares in the cookie.
const SEPARATOR: char = '~';

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

/// The token generation of a session: a login starts the first, each refresh the next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsrfGeneration {
    #[serde(rename = "n")]
    pub number: u32,
    /// When it started (Unix seconds).
    #[serde(rename = "at")]
    pub started_at: i64,
}

impl CsrfGeneration {
    /// The generation a refresh at `now` starts.
    pub fn next(self, now: i64) -> Self {
        Self {
            number: self.number.wrapping_add(1),
            started_at: now,
        }
    }

    pub fn is_first(&self) -> bool {
        *self == Self::default()
    }
}

/// What a token is worth for a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// Of the session's current generation.
    Current,
    /// Of the previous generation, within the grace period.
    Previous,
}

/// A token's parts. Tokens issued before tokens named their middleware and generation have
/// two parts (`random.tag`); they stand for generation 0.
struct Token<'a> {
    area: Option<&'a str>,
    random: &'a str,
    generation: u32,
    tag: &'a str,
}

impl<'a> Token<'a> {
    fn parse(text: &'a str) -> Option<Self> {
        if text.is_empty() || text.len() > MAX_TOKEN_LEN || !text.bytes().all(is_token_byte) {
            return None;
        }
        let mut parts = text.split('.');
        match (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) {
            (Some(area), Some(random), Some(generation), Some(tag), None) => Some(Self {
                area: Some(area),
                random,
                generation: generation.parse().ok()?,
                tag,
            }),
            (Some(random), Some(tag), None, None, None) => Some(Self {
                area: None,
                random,
                generation: 0,
                tag,
            }),
            _ => None,
        }
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

/// The tokens of a cookie or header value.
fn tokens(value: &str) -> impl Iterator<Item = &str> {
    value.split(SEPARATOR).map(str::trim)
}

/// The CSRF token issuer and checker of one middleware.
#[derive(Debug)]
pub struct Csrf {
    key: hmac::Key,
    /// Names this middleware in its tokens.
    area: String,
    header: HeaderName,
    attributes: CookieAttributes,
    /// `Max-Age` floor of a cookie that also holds other middlewares' tokens.
    shared_max_age: i64,
}

/// RFC 7231 safe methods.
pub fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// The digest of a middleware's name that its tokens carry.
fn area_of(middleware: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, middleware.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref().get(..6).unwrap_or_default())
}

/// What a [`Csrf`] is built from, besides its key.
#[derive(Debug, Clone)]
pub struct CsrfSettings {
    /// The middleware's name (its tokens are bound to it).
    pub middleware: String,
    pub header: HeaderName,
    pub attributes: CookieAttributes,
    /// The session lifetime, in seconds.
    pub session_seconds: i64,
}

impl Csrf {
    /// Derives the signing key from the middleware's root secret (of kind `root`) and issuer.
    pub fn new(
        root: seal::KeyRoot,
        secret: &str,
        issuer: &str,
        settings: CsrfSettings,
    ) -> Result<Self, seal::SealError> {
        let mut key = [0u8; 32];
        seal::derive_rooted(root, secret.as_bytes(), issuer, b"csrf", &mut key)?;
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
            area: area_of(&settings.middleware),
            header: settings.header,
            attributes: settings.attributes,
            shared_max_age: settings.session_seconds,
        })
    }

    /// A new token of `session`'s current generation.
    pub fn issue(&self, session: &Session) -> Result<String, seal::SealError> {
        let mut random = [0u8; 16];
        aws_lc_rs::rand::fill(&mut random).map_err(|_| seal::SealError::Crypto)?;
        let random = URL_SAFE_NO_PAD.encode(random);
        let generation = session.csrf.number;
        let tag = URL_SAFE_NO_PAD.encode(
            hmac::sign(&self.key, &self.message(&random, generation, &session.id)).as_ref(),
        );
        Ok(format!("{}.{random}.{generation}.{tag}", self.area))
    }

    /// The `Set-Cookie` carrying a new token for `session` (a login), keeping the other
    /// middlewares' tokens the request carries.
    pub fn issue_cookie(
        &self,
        jar: &CookieJar,
        session: &Session,
        max_age: i64,
    ) -> Option<HeaderValue> {
        let token = self.issue(session).ok()?;
        self.write(jar, Some(&token), max_age)
    }

    /// The `Set-Cookie` giving the session's token `max_age` more seconds: the current token
    /// the request carries (a page may hold it in memory), else a new one.
    pub fn cookie_for(
        &self,
        jar: &CookieJar,
        session: &Session,
        now: i64,
        max_age: i64,
    ) -> Option<HeaderValue> {
        match self.best(cookie_values(jar), session, now) {
            Some((token, Standing::Current)) => self.write(jar, Some(token), max_age),
            _ => self.issue_cookie(jar, session, max_age),
        }
    }

    /// The `Set-Cookie` removing this middleware's token (with the session): the cookie is
    /// deleted, or keeps only the other middlewares' tokens.
    pub fn delete_cookie(&self, jar: &CookieJar) -> Option<HeaderValue> {
        jar.get(CSRF_COOKIE)?;
        self.write(jar, None, 0)
    }

    /// Checks a request of `session` at `now`. `Ok(true)` means the request carries no token of
    /// the session's current generation, so a new cookie should be set.
    pub fn check(
        &self,
        method: &Method,
        headers: &HeaderMap,
        jar: &CookieJar,
        session: &Session,
        now: i64,
    ) -> Result<bool, CsrfError> {
        let cookie = self.best(cookie_values(jar), session, now);
        let renew = !matches!(cookie, Some((_, Standing::Current)));
        if is_safe(method) {
            return Ok(renew);
        }
        cookie.ok_or(CsrfError::CookieInvalid)?;
        let header = headers.get(&self.header).ok_or(CsrfError::HeaderMissing)?;
        let header = header.to_str().map_err(|_| CsrfError::Mismatch)?;
        self.best(std::iter::once(header), session, now)
            .ok_or(CsrfError::Mismatch)?;
        Ok(renew)
    }

    /// The best token of this middleware for `session` among `values` (cookie or header
    /// values, each possibly holding several middlewares' tokens).
    fn best<'a>(
        &self,
        values: impl Iterator<Item = &'a str>,
        session: &Session,
        now: i64,
    ) -> Option<(&'a str, Standing)> {
        let mut best = None;
        for token in values.flat_map(tokens) {
            match self.standing(token, session, now) {
                Some(Standing::Current) => return Some((token, Standing::Current)),
                Some(Standing::Previous) => best = Some((token, Standing::Previous)),
                None => {}
            }
        }
        best
    }

    /// Whether `token` is this middleware's token of `session`, and of which generation.
    fn standing(&self, token: &str, session: &Session, now: i64) -> Option<Standing> {
        let token = Token::parse(token)?;
        let message = match token.area {
            Some(area) if area == self.area => {
                self.message(token.random, token.generation, &session.id)
            }
            Some(_) => return None,
            None => [token.random.as_bytes(), b".", session.id.as_bytes()].concat(),
        };
        let tag = URL_SAFE_NO_PAD.decode(token.tag).ok()?;
        hmac::verify(&self.key, &message, &tag).ok()?;
        let current = session.csrf;
        if token.generation == current.number {
            Some(Standing::Current)
        } else if token.generation.wrapping_add(1) == current.number
            && now < current.started_at.saturating_add(PREVIOUS_TOKEN_GRACE)
        {
            Some(Standing::Previous)
        } else {
            None
        }
    }

    fn message(&self, random: &str, generation: u32, session_id: &str) -> Vec<u8> {
        format!("{}.{random}.{generation}.{session_id}", self.area).into_bytes()
    }

    /// The `Set-Cookie` holding `own` (none: this middleware's token is removed) and the
    /// well-formed tokens of other middlewares the request carried.
    fn write(&self, jar: &CookieJar, own: Option<&str>, max_age: i64) -> Option<HeaderValue> {
        let mut kept: Vec<&str> = Vec::new();
        for token in cookie_values(jar).flat_map(tokens) {
            let other = Token::parse(token)
                .and_then(|parsed| parsed.area)
                .is_some_and(|area| area != self.area);
            if other && !kept.contains(&token) && kept.len() < MAX_OTHER_AREAS {
                kept.push(token);
            }
        }
        let max_age = if kept.is_empty() {
            max_age
        } else {
            max_age.max(self.shared_max_age)
        };
        kept.extend(own);
        if kept.is_empty() {
            return cookies::delete_cookie(CSRF_COOKIE, &self.attributes).ok();
        }
        let value = kept.join(&SEPARATOR.to_string());
        cookies::set_cookie(CSRF_COOKIE, &value, &self.attributes, Some(max_age)).ok()
    }
}

/// Every value of the CSRF cookie the request carries (several when the browser holds it for
/// several paths or domains).
fn cookie_values(jar: &CookieJar) -> impl Iterator<Item = &str> {
    jar.iter()
        .filter(|(name, _)| *name == CSRF_COOKIE)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use http::header::COOKIE;
    use portcullis_config::plugin::common::SameSite;

    use super::*;

    fn csrf_of(secret: &str, middleware: &str) -> Csrf {
        Csrf::new(
            seal::KeyRoot::ClientSecret,
            secret,
            "https://idp",
            CsrfSettings {
                middleware: middleware.into(),
                header: HeaderName::from_static("traefikhub-csrf-token"),
                attributes: CookieAttributes {
                    path: "/".into(),
                    domain: None,
                    same_site: SameSite::Lax,
                    http_only: false,
                    secure: false,
                },
                session_seconds: 3600,
            },
        )
        .unwrap()
    }

    fn csrf(secret: &str) -> Csrf {
        csrf_of(secret, "mw")
    }

    fn session(id: &str) -> Session {
        crate::test_support::session(id, "alice", None, 0)
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

    fn verifies(c: &Csrf, token: &str, session: &Session, now: i64) -> bool {
        c.standing(token, session, now).is_some()
    }

    #[test]
    fn tokens_are_bound_to_the_session_the_key_and_the_middleware() {
        let c = csrf("secret");
        let token = c.issue(&session("session-1")).unwrap();
        assert!(verifies(&c, &token, &session("session-1"), 0));
        assert!(!verifies(&c, &token, &session("session-2"), 0));
        assert!(!verifies(&csrf("other"), &token, &session("session-1"), 0));
        assert!(!verifies(
            &csrf_of("secret", "other-mw"),
            &token,
            &session("session-1"),
            0
        ));
        assert!(!verifies(&c, "garbage", &session("session-1"), 0));
        assert!(!verifies(&c, "a.!!!", &session("session-1"), 0));
        // Relabelled as another middleware's, or another generation's: the tag no longer fits.
        let other = csrf_of("secret", "other-mw");
        let (_, rest) = token.split_once('.').unwrap();
        assert!(!verifies(
            &other,
            &format!("{}.{rest}", other.area),
            &session("session-1"),
            0
        ));
        let mut next = session("session-1");
        next.csrf = next.csrf.next(0);
        let bumped = token.replacen(".0.", ".1.", 1);
        assert!(!verifies(&c, &bumped, &next, 0));
    }

    #[test]
    fn tokens_issued_before_generations_stand_for_the_first_one() {
        let c = csrf("secret");
        let s = session("s");
        let legacy = {
            let random = "AAAAAAAAAAAAAAAAAAAAAA";
            let tag = hmac::sign(&c.key, format!("{random}.s").as_bytes());
            format!("{random}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
        };
        assert_eq!(c.standing(&legacy, &s, 0), Some(Standing::Current));
        let mut refreshed = s.clone();
        refreshed.csrf = s.csrf.next(100);
        assert_eq!(
            c.standing(&legacy, &refreshed, 100),
            Some(Standing::Previous)
        );
        assert_eq!(c.standing(&legacy, &refreshed, 160), None);
    }

    #[test]
    fn a_rotation_keeps_the_previous_generation_for_the_grace_period_only() {
        let c = csrf("secret");
        let first = session("s");
        let old = c.issue(&first).unwrap();
        let mut second = first.clone();
        second.csrf = first.csrf.next(1_000);
        let new = c.issue(&second).unwrap();
        assert_eq!(c.standing(&new, &second, 1_000), Some(Standing::Current));
        assert_eq!(c.standing(&old, &second, 1_000), Some(Standing::Previous));
        assert_eq!(
            c.standing(&old, &second, 1_000 + PREVIOUS_TOKEN_GRACE - 1),
            Some(Standing::Previous)
        );
        assert_eq!(
            c.standing(&old, &second, 1_000 + PREVIOUS_TOKEN_GRACE),
            None
        );
        // Two rotations: the first generation is gone even within the grace period.
        let mut third = second.clone();
        third.csrf = second.csrf.next(1_001);
        assert_eq!(c.standing(&old, &third, 1_001), None);
        assert_eq!(c.standing(&new, &third, 1_001), Some(Standing::Previous));
        // A request carrying the previous cookie passes within the grace period and is given
        // a current token.
        let (headers, jar) = request(Some(&old), Some(&old));
        assert_eq!(
            c.check(&Method::POST, &headers, &jar, &second, 1_010),
            Ok(true)
        );
        let (headers, jar) = request(Some(&new), Some(&old));
        assert_eq!(
            c.check(&Method::POST, &headers, &jar, &second, 1_010),
            Ok(false)
        );
        assert_eq!(
            c.check(&Method::POST, &headers, &jar, &second, 1_060),
            Err(CsrfError::Mismatch)
        );
    }

    #[test]
    fn unsafe_methods_need_the_matching_header() {
        let c = csrf("secret");
        let s = session("s");
        let token = c.issue(&s).unwrap();
        for method in [
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::from_bytes(b"PROPFIND").unwrap(),
        ] {
            let (headers, jar) = request(Some(&token), Some(&token));
            assert_eq!(c.check(&method, &headers, &jar, &s, 0), Ok(false));
            let (headers, jar) = request(Some(&token), None);
            assert_eq!(
                c.check(&method, &headers, &jar, &s, 0),
                Err(CsrfError::HeaderMissing)
            );
            let (headers, jar) = request(Some(&token), Some("other"));
            assert_eq!(
                c.check(&method, &headers, &jar, &s, 0),
                Err(CsrfError::Mismatch)
            );
            let (headers, jar) = request(None, Some(&token));
            assert_eq!(
                c.check(&method, &headers, &jar, &s, 0),
                Err(CsrfError::CookieInvalid)
            );
            // A token from another session, echoed correctly, still fails.
            let foreign = c.issue(&session("other-session")).unwrap();
            let (headers, jar) = request(Some(&foreign), Some(&foreign));
            assert_eq!(
                c.check(&method, &headers, &jar, &s, 0),
                Err(CsrfError::CookieInvalid)
            );
        }
    }

    #[test]
    fn safe_methods_pass_and_ask_for_a_token_when_missing() {
        let c = csrf("secret");
        let s = session("s");
        let token = c.issue(&s).unwrap();
        for method in [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE] {
            let (headers, jar) = request(None, None);
            assert_eq!(c.check(&method, &headers, &jar, &s, 0), Ok(true));
            let (headers, jar) = request(Some(&token), None);
            assert_eq!(c.check(&method, &headers, &jar, &s, 0), Ok(false));
        }
    }

    #[test]
    fn the_cookie_keeps_other_middlewares_tokens() {
        let a = csrf_of("secret", "a");
        let b = csrf_of("secret", "b");
        let (sa, sb) = (session("sa"), session("sb"));
        let ta = a.issue(&sa).unwrap();
        // b's login keeps a's token.
        let (_, jar) = request(Some(&ta), None);
        let set = b.issue_cookie(&jar, &sb, 100).unwrap();
        let set = set.to_str().unwrap();
        let value = set
            .strip_prefix(&format!("{CSRF_COOKIE}="))
            .and_then(|rest| rest.split(';').next())
            .unwrap()
            .to_owned();
        assert!(value.starts_with(&format!("{ta}~")), "{value}");
        assert!(
            set.contains("Max-Age=3600"),
            "shared cookie lasts a session: {set}"
        );
        let tb = value.split('~').nth(1).unwrap().to_owned();
        assert_eq!(b.standing(&tb, &sb, 0), Some(Standing::Current));
        // The page echoes the whole cookie; each middleware finds its own token in it.
        let (headers, jar) = request(Some(&value), Some(&value));
        assert_eq!(a.check(&Method::POST, &headers, &jar, &sa, 0), Ok(false));
        assert_eq!(b.check(&Method::POST, &headers, &jar, &sb, 0), Ok(false));
        // One middleware's token does not pass the other.
        let (headers, jar) = request(Some(&value), Some(&tb));
        assert_eq!(
            a.check(&Method::POST, &headers, &jar, &sa, 0),
            Err(CsrfError::Mismatch)
        );
        // a's logout keeps b's token; b's logout then deletes the cookie.
        let kept = a.delete_cookie(&jar).unwrap();
        assert!(
            kept.to_str()
                .unwrap()
                .starts_with(&format!("{CSRF_COOKIE}={tb};")),
            "{kept:?}"
        );
        let (_, jar) = request(Some(&tb), None);
        let deleted = b.delete_cookie(&jar).unwrap();
        assert!(
            deleted.to_str().unwrap().contains("Max-Age=0"),
            "{deleted:?}"
        );
    }

    #[test]
    fn the_cookie_holds_a_bounded_number_of_tokens() {
        let own = csrf_of("secret", "own");
        let mut planted = Vec::new();
        for i in 0..20 {
            let other = csrf_of("secret", &format!("other-{i}"));
            planted.push(other.issue(&session("x")).unwrap());
        }
        planted.push("not a token".into());
        planted.push("x".repeat(500));
        let value = planted.join("~");
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_str(&format!("{CSRF_COOKIE}={}", value.replace(' ', "_"))).unwrap(),
        );
        let jar = CookieJar::from_headers(&headers);
        let set = own.issue_cookie(&jar, &session("s"), 100).unwrap();
        let set = set.to_str().unwrap();
        let value = set.split(';').next().unwrap();
        assert_eq!(value.matches('~').count(), MAX_OTHER_AREAS, "{value}");
        assert!(!value.contains("xxxxxxxx"), "{value}");
    }
}
