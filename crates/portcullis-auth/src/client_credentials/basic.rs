//! The caller's client credentials, sent as HTTP Basic (RFC 7617) when the middleware has no
//! credentials of its own, and the challenge that asks for them.
//!
//! What it protects against, and how:
//! - pointless provider calls: a missing, malformed or empty-secret header is refused here,
//!   before any token request;
//! - header injection through the realm: the realm (the middleware's name) keeps only
//!   printable ASCII other than `"` and `\`.
//!
//! The id and secret are taken as the caller wrote them (`curl -u id:secret`); the token
//! request form-encodes them again as RFC 6749 section 2.3.1 requires.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use http::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use portcullis_config::Secret;

use super::ClientSecretPair;

/// Standard base64, padding optional (some clients leave it out).
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why the request's credentials were not usable (logged, never sent to the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BasicError {
    #[error("no Authorization header")]
    Missing,
    #[error("the Authorization header is not Basic")]
    NotBasic,
    #[error("the Basic credentials are not valid base64 of UTF-8 `id:secret`")]
    Malformed,
    #[error("the Basic credentials have an empty client id or secret")]
    Empty,
}

/// The client id and secret of the request's `Authorization: Basic` header.
pub fn caller_credentials(headers: &HeaderMap) -> Result<ClientSecretPair, BasicError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or(BasicError::Missing)?;
    if values.next().is_some() {
        // Two Authorization headers: which one the provider and the upstream would see is
        // ambiguous, so neither is used.
        return Err(BasicError::Malformed);
    }
    let text = value.to_str().map_err(|_| BasicError::Malformed)?.trim();
    let (scheme, encoded) = text.split_once(' ').ok_or(BasicError::NotBasic)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(BasicError::NotBasic);
    }
    let decoded = LENIENT_BASE64
        .decode(encoded.trim())
        .map_err(|_| BasicError::Malformed)?;
    let decoded = String::from_utf8(decoded).map_err(|_| BasicError::Malformed)?;
    let (client_id, secret) = decoded.split_once(':').ok_or(BasicError::Malformed)?;
    if client_id.is_empty() || secret.is_empty() {
        return Err(BasicError::Empty);
    }
    if client_id
        .chars()
        .chain(secret.chars())
        .any(char::is_control)
    {
        return Err(BasicError::Malformed);
    }
    Ok(ClientSecretPair {
        client_id: client_id.to_owned(),
        secret: Secret::new(secret),
    })
}

/// `Basic realm="<realm>"`, with the characters a quoted realm cannot hold removed.
pub fn challenge(realm: &str) -> HeaderValue {
    let cleaned: String = realm
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .filter(|c| !matches!(c, '"' | '\\'))
        .collect();
    HeaderValue::from_str(&format!("Basic realm=\"{cleaned}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn basic(raw: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    #[test]
    fn credentials_are_read_as_written() {
        let pair = caller_credentials(&headers(&[&basic("app:s3:cr%3At")])).unwrap();
        assert_eq!(pair.client_id, "app");
        assert_eq!(pair.secret.expose(), "s3:cr%3At");
        let unpadded = basic("ab:c")
            .trim_end_matches('=')
            .replace("Basic", "basic");
        assert_eq!(
            caller_credentials(&headers(&[&unpadded]))
                .unwrap()
                .client_id,
            "ab"
        );
    }

    #[test]
    fn unusable_headers_are_refused() {
        assert_eq!(
            caller_credentials(&headers(&[])).unwrap_err(),
            BasicError::Missing
        );
        assert_eq!(
            caller_credentials(&headers(&["Bearer abc"])).unwrap_err(),
            BasicError::NotBasic
        );
        assert_eq!(
            caller_credentials(&headers(&["Basic"])).unwrap_err(),
            BasicError::NotBasic
        );
        assert_eq!(
            caller_credentials(&headers(&["Basic !!!"])).unwrap_err(),
            BasicError::Malformed
        );
        assert_eq!(
            caller_credentials(&headers(&[&basic("nocolon")])).unwrap_err(),
            BasicError::Malformed
        );
        assert_eq!(
            caller_credentials(&headers(&[&basic("id:")])).unwrap_err(),
            BasicError::Empty
        );
        assert_eq!(
            caller_credentials(&headers(&[&basic(":s")])).unwrap_err(),
            BasicError::Empty
        );
        assert_eq!(
            caller_credentials(&headers(&[&basic("a:b"), &basic("c:d")])).unwrap_err(),
            BasicError::Malformed
        );
    }

    #[test]
    fn the_realm_is_sanitised() {
        assert_eq!(
            challenge("api-creds@file"),
            "Basic realm=\"api-creds@file\""
        );
        assert_eq!(challenge("a\"b\\c\u{7}d"), "Basic realm=\"abcd\"");
    }
}
