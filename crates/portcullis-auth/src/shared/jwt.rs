//! Compact JWS (JWT) decoding and signature verification against a provider's JWK.
//!
//! What it protects against, and how:
//! - `alg: none` and algorithm confusion (an HMAC "signature" keyed with the provider's public
//!   key): only asymmetric algorithms are accepted (RS256/384/512, PS256/384/512, ES256/384,
//!   EdDSA); `none` and every `HS*` are refused while the header is parsed, before any key is
//!   looked at, and symmetric (`oct`) keys are never used;
//! - a key used with an algorithm it was not published for: the key type and curve must match
//!   the algorithm, and a JWK's own `alg`, when present, must equal the header's;
//! - extensions we do not understand: a `crit` header is refused;
//! - oversized or malformed input: tokens above [`MAX_TOKEN_BYTES`], wrong part counts, bad
//!   base64url and non-object JSON are refused without panicking.
//!
//! Signatures are checked with aws-lc-rs directly rather than through a JOSE crate, so that
//! which algorithms and key types can ever verify is decided here, in one short table.

use aws_lc_rs::signature::{self, RsaParameters, UnparsedPublicKey, VerificationAlgorithm};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};

/// Largest token accepted.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// The signature algorithms a token may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
}

impl Algorithm {
    /// Parses a JOSE `alg`; `none` and HMAC algorithms are refused with their own errors.
    pub fn from_name(name: &str) -> Result<Algorithm, JwtError> {
        Ok(match name {
            "RS256" => Algorithm::Rs256,
            "RS384" => Algorithm::Rs384,
            "RS512" => Algorithm::Rs512,
            "PS256" => Algorithm::Ps256,
            "PS384" => Algorithm::Ps384,
            "PS512" => Algorithm::Ps512,
            "ES256" => Algorithm::Es256,
            "ES384" => Algorithm::Es384,
            "EdDSA" => Algorithm::EdDsa,
            n if n.eq_ignore_ascii_case("none") => return Err(JwtError::AlgNone),
            n if n.starts_with("HS") => return Err(JwtError::SymmetricAlgorithm(n.to_owned())),
            other => return Err(JwtError::UnsupportedAlgorithm(other.to_owned())),
        })
    }

    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Rs384 => "RS384",
            Algorithm::Rs512 => "RS512",
            Algorithm::Ps256 => "PS256",
            Algorithm::Ps384 => "PS384",
            Algorithm::Ps512 => "PS512",
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::EdDsa => "EdDSA",
        }
    }

    /// The JWK `kty` this algorithm needs.
    pub const fn key_type(self) -> &'static str {
        match self {
            Algorithm::Rs256
            | Algorithm::Rs384
            | Algorithm::Rs512
            | Algorithm::Ps256
            | Algorithm::Ps384
            | Algorithm::Ps512 => "RSA",
            Algorithm::Es256 | Algorithm::Es384 => "EC",
            Algorithm::EdDsa => "OKP",
        }
    }

    /// The digest behind `at_hash`/`c_hash` (OpenID Connect Core 3.1.3.6): the hash of the
    /// signature algorithm (SHA-512 for Ed25519).
    pub fn digest(self) -> &'static aws_lc_rs::digest::Algorithm {
        match self {
            Algorithm::Rs256 | Algorithm::Ps256 | Algorithm::Es256 => &aws_lc_rs::digest::SHA256,
            Algorithm::Rs384 | Algorithm::Ps384 | Algorithm::Es384 => &aws_lc_rs::digest::SHA384,
            Algorithm::Rs512 | Algorithm::Ps512 | Algorithm::EdDsa => &aws_lc_rs::digest::SHA512,
        }
    }

    fn rsa_parameters(self) -> Option<&'static RsaParameters> {
        Some(match self {
            Algorithm::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
            Algorithm::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
            Algorithm::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        })
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("token is not a compact JWS: {0}")]
    Malformed(&'static str),
    #[error("token is larger than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error("alg none is not accepted")]
    AlgNone,
    #[error("symmetric algorithm {0} is not accepted")]
    SymmetricAlgorithm(String),
    #[error("algorithm {0:?} is not supported")]
    UnsupportedAlgorithm(String),
    #[error("critical header extensions are not supported")]
    CriticalHeader,
    #[error("no published key matches the token (kid {0:?})")]
    UnknownKey(Option<String>),
    #[error("the key does not fit the algorithm: {0}")]
    KeyMismatch(&'static str),
    #[error("invalid signature")]
    BadSignature,
}

/// The header fields that matter for verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwsHeader {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub typ: Option<String>,
}

/// A decoded token whose signature has not been checked yet.
#[derive(Debug, Clone)]
pub struct UnverifiedJwt {
    pub header: JwsHeader,
    pub claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
    typ: Option<String>,
    crit: Option<Value>,
}

/// Decodes a compact JWS without checking its signature (that is [`UnverifiedJwt::verify`]).
pub fn decode(token: &str) -> Result<UnverifiedJwt, JwtError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("expected three dot-separated parts"));
    };
    let header_bytes = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| JwtError::Malformed("header is not base64url"))?;
    let raw: RawHeader = serde_json::from_slice(&header_bytes)
        .map_err(|_| JwtError::Malformed("header is not a JSON object"))?;
    let alg = Algorithm::from_name(raw.alg.as_deref().unwrap_or("none"))?;
    if raw.crit.is_some() {
        return Err(JwtError::CriticalHeader);
    }
    let claims = decode_claims_part(payload_b64)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| JwtError::Malformed("signature is not base64url"))?;
    if signature.is_empty() {
        return Err(JwtError::BadSignature);
    }
    let signing_input_len = header_b64
        .len()
        .saturating_add(1)
        .saturating_add(payload_b64.len());
    let signing_input = token
        .get(..signing_input_len)
        .ok_or(JwtError::Malformed("truncated"))?
        .to_owned();
    Ok(UnverifiedJwt {
        header: JwsHeader {
            alg,
            kid: raw.kid,
            typ: raw.typ,
        },
        claims,
        signing_input,
        signature,
    })
}

/// The claims of a token that was verified earlier (for example one kept in a sealed session),
/// or `None` when it is not a JWT.
pub fn trusted_claims(token: &str) -> Option<Map<String, Value>> {
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    decode_claims_part(payload).ok()
}

/// True when `token` has the shape of a JWS (three base64url parts with a JSON header).
pub fn looks_like_jwt(token: &str) -> bool {
    let mut parts = token.split('.');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some(h), Some(_), Some(_), None)
            if URL_SAFE_NO_PAD.decode(h).ok().is_some_and(|b| b.first() == Some(&b'{'))
    )
}

fn decode_claims_part(payload_b64: &str) -> Result<Map<String, Value>, JwtError> {
    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| JwtError::Malformed("payload is not base64url"))?;
    match serde_json::from_slice::<Value>(&payload) {
        Ok(Value::Object(claims)) => Ok(claims),
        _ => Err(JwtError::Malformed("payload is not a JSON object")),
    }
}

/// A public key from a JWKS. Unknown members are ignored.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Jwk {
    pub kty: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(default, rename = "use")]
    pub key_use: Option<String>,
    #[serde(default)]
    pub crv: Option<String>,
    #[serde(default)]
    pub n: Option<String>,
    #[serde(default)]
    pub e: Option<String>,
    #[serde(default)]
    pub x: Option<String>,
    #[serde(default)]
    pub y: Option<String>,
}

impl Jwk {
    /// True when this key may verify a token signed with `alg`: a signing key of the
    /// algorithm's type, whose own `alg` (when given) is the same.
    pub fn fits(&self, alg: Algorithm) -> bool {
        self.kty == alg.key_type()
            && self.key_use.as_deref().is_none_or(|u| u == "sig")
            && self.alg.as_deref().is_none_or(|a| a == alg.name())
    }
}

impl UnverifiedJwt {
    /// Checks the signature with `key`.
    pub fn verify(&self, key: &Jwk) -> Result<(), JwtError> {
        let alg = self.header.alg;
        if !key.fits(alg) {
            return Err(JwtError::KeyMismatch("key type, use or alg differs"));
        }
        let message = self.signing_input.as_bytes();
        let verified = if let Some(params) = alg.rsa_parameters() {
            let n = b64_member(key.n.as_deref())?;
            let e = b64_member(key.e.as_deref())?;
            signature::RsaPublicKeyComponents { n: &n, e: &e }.verify(
                params,
                message,
                &self.signature,
            )
        } else {
            let (verifier, point): (&'static dyn VerificationAlgorithm, Vec<u8>) = match alg {
                Algorithm::Es256 => (
                    &signature::ECDSA_P256_SHA256_FIXED,
                    ec_point(key, "P-256", 32)?,
                ),
                Algorithm::Es384 => (
                    &signature::ECDSA_P384_SHA384_FIXED,
                    ec_point(key, "P-384", 48)?,
                ),
                _ => {
                    if key.crv.as_deref() != Some("Ed25519") {
                        return Err(JwtError::KeyMismatch("EdDSA needs an Ed25519 key"));
                    }
                    (&signature::ED25519, b64_member(key.x.as_deref())?)
                }
            };
            UnparsedPublicKey::new(verifier, point).verify(message, &self.signature)
        };
        verified.map_err(|_| JwtError::BadSignature)
    }
}

fn b64_member(value: Option<&str>) -> Result<Vec<u8>, JwtError> {
    let value = value.ok_or(JwtError::KeyMismatch("key member missing"))?;
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| JwtError::KeyMismatch("key member is not base64url"))
}

/// The uncompressed point `04 || x || y` of an EC key on `curve`.
fn ec_point(key: &Jwk, curve: &str, size: usize) -> Result<Vec<u8>, JwtError> {
    if key.crv.as_deref() != Some(curve) {
        return Err(JwtError::KeyMismatch("curve differs"));
    }
    let x = b64_member(key.x.as_deref())?;
    let y = b64_member(key.y.as_deref())?;
    if x.len() != size || y.len() != size {
        return Err(JwtError::KeyMismatch("coordinate length"));
    }
    let mut point = Vec::with_capacity(size.saturating_mul(2).saturating_add(1));
    point.push(4);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    Ok(point)
}

/// A NumericDate claim as whole seconds (fractions are truncated).
pub fn numeric_date(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    let value = claims.get(name)?;
    value
        .as_i64()
        .or_else(|| value.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
}

/// False while the token's `nbf` ("not before", RFC 7519 section 4.1.5), when it has one, is
/// more than `leeway` seconds ahead of `now`. An `nbf` that is not a number counts as ahead, so
/// a malformed claim never widens what is accepted.
pub fn not_before_reached(claims: &Map<String, Value>, now: i64, leeway: i64) -> bool {
    if !claims.contains_key("nbf") {
        return true;
    }
    numeric_date(claims, "nbf").is_some_and(|nbf| nbf <= now.saturating_add(leeway))
}

/// `at_hash` of an access token: the left half of its digest, base64url (OpenID Connect Core
/// 3.1.3.6).
pub fn token_hash(alg: Algorithm, token: &str) -> String {
    let digest = aws_lc_rs::digest::digest(alg.digest(), token.as_bytes());
    let bytes = digest.as_ref();
    let half = bytes.get(..bytes.len() / 2).unwrap_or(bytes);
    URL_SAFE_NO_PAD.encode(half)
}

#[cfg(test)]
pub(crate) mod tests;
