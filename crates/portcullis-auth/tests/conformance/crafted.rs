//! Tokens the development provider cannot be made to send: the test configures the provider's
//! ES256 signing key itself (a PKCS#8 PEM given to the provider, which publishes it in its JWKS
//! and signs with it), so it can sign a logout token exactly as a provider misbehaving in one
//! named way would. The provider has no logout-token faults; this is how the certification's
//! back-channel cases are reproduced.

#![allow(dead_code)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use portcullis_devidp::{Alg, KeySpec, Secret};
use serde_json::{Map, Value, json};

/// The `kid` of the provider key the tests hold.
pub const KID: &str = "conformance-es256";
/// The back-channel logout event member.
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The provider's ES256 signing key, known to the test.
pub struct ProviderKey {
    pair: EcdsaKeyPair,
    pem: String,
}

impl ProviderKey {
    pub fn generate() -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let der = pair.to_pkcs8v1().unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(der.as_ref())
        );
        Self { pair, pem }
    }

    /// The key as the provider's configuration takes it: it signs every ES256 token.
    pub fn spec(&self) -> KeySpec {
        KeySpec {
            alg: Alg::ES256,
            kid: Some(KID.to_owned()),
            private_key_pem: Some(Secret::new(self.pem.clone())),
        }
    }

    /// A compact JWS over `claims` with this key, header `{alg: ES256, kid, typ}`.
    pub fn sign(&self, typ: &str, claims: &Map<String, Value>) -> String {
        self.sign_with_header(&json!({"alg": "ES256", "kid": KID, "typ": typ}), claims)
    }

    /// A compact JWS over `claims` with this key under `header` as given.
    pub fn sign_with_header(&self, header: &Value, claims: &Map<String, Value>) -> String {
        let input = format!("{}.{}", part(header), part(&Value::Object(claims.clone())));
        let signature = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

/// base64url(JSON).
pub fn part(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// The decoded JSON of part `index` (0 header, 1 claims) of a compact JWS.
pub fn decode_part(token: &str, index: usize) -> Map<String, Value> {
    let text = token.split('.').nth(index).unwrap();
    let bytes = URL_SAFE_NO_PAD.decode(text).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// `token` with one byte of its signature changed.
pub fn flip_signature_byte(token: &str) -> String {
    let (input, signature) = token.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    bytes[0] ^= 0x01;
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// `claims` under an `alg: none` header, with an empty signature.
pub fn unsigned(typ: &str, claims: &Map<String, Value>) -> String {
    let header = json!({"alg": "none", "typ": typ});
    format!(
        "{}.{}.",
        part(&header),
        part(&Value::Object(claims.clone()))
    )
}

/// A valid logout token's claims (Back-Channel Logout 1.0 section 2.4).
pub fn logout_claims(
    issuer: &str,
    client_id: &str,
    sid: Option<&str>,
    sub: Option<&str>,
    now: i64,
) -> Map<String, Value> {
    let mut claims = json!({
        "iss": issuer,
        "aud": client_id,
        "iat": now,
        "exp": now + 120,
        "jti": format!("crafted-{}", random_suffix()),
        "events": {LOGOUT_EVENT: {}},
    })
    .as_object()
    .unwrap()
    .clone();
    if let Some(sid) = sid {
        claims.insert("sid".into(), sid.into());
    }
    if let Some(sub) = sub {
        claims.insert("sub".into(), sub.into());
    }
    claims
}

fn random_suffix() -> String {
    let mut bytes = [0u8; 12];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    URL_SAFE_NO_PAD.encode(bytes)
}
