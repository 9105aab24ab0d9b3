//! What the crate's tests share (the `test-support` feature for integration tests): signing
//! keys and token builders (an RSA, an EC and an Ed25519 key with their JWKs, compact JWS over
//! arbitrary headers and claims), sessions, and the client credentials middleware driven as a
//! service ([`client_credentials`]).

// Test code: a helper that cannot do its job fails the test loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod client_credentials;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::shared::jwt::Jwk;

/// A signing key with its public JWK.
pub enum TestKey {
    Rsa(RsaKeyPair, String),
    Ec(EcdsaKeyPair, String),
    Ed(Ed25519KeyPair, String),
}

impl TestKey {
    pub fn rsa(kid: &str) -> TestKey {
        TestKey::Rsa(
            RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap(),
            kid.into(),
        )
    }

    pub fn ec(kid: &str) -> TestKey {
        TestKey::Ec(
            EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap(),
            kid.into(),
        )
    }

    pub fn ed(kid: &str) -> TestKey {
        TestKey::Ed(Ed25519KeyPair::generate().unwrap(), kid.into())
    }

    pub fn alg(&self) -> &'static str {
        match self {
            TestKey::Rsa(..) => "RS256",
            TestKey::Ec(..) => "ES256",
            TestKey::Ed(..) => "EdDSA",
        }
    }

    pub fn jwk_json(&self) -> Value {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        match self {
            TestKey::Rsa(key, kid) => {
                let (n, e) = rsa_components(key.public_key().as_ref());
                json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(&n), "e": b64(&e)})
            }
            TestKey::Ec(key, kid) => {
                let point = key.public_key().as_ref();
                json!({"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])})
            }
            TestKey::Ed(key, kid) => {
                json!({"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64(key.public_key().as_ref())})
            }
        }
    }

    pub fn jwk(&self) -> Jwk {
        serde_json::from_value(self.jwk_json()).unwrap()
    }

    pub fn kid(&self) -> &str {
        match self {
            TestKey::Rsa(_, kid) | TestKey::Ec(_, kid) | TestKey::Ed(_, kid) => kid,
        }
    }

    /// A token with the key's algorithm and kid.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(
            &json!({"alg": self.alg(), "kid": self.kid(), "typ": "JWT"}),
            claims,
        )
    }

    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = match self {
            TestKey::Rsa(key, _) => {
                let mut sig = vec![0; key.public_modulus_len()];
                key.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    input.as_bytes(),
                    &mut sig,
                )
                .unwrap();
                sig
            }
            TestKey::Ec(key, _) => key
                .sign(&SystemRandom::new(), input.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
            TestKey::Ed(key, _) => key.sign(input.as_bytes()).as_ref().to_vec(),
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// A token with any header, signed with HMAC-SHA256 over `secret`.
pub fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// `(n, e)` of a DER `RSAPublicKey ::= SEQUENCE { n INTEGER, e INTEGER }`.
fn rsa_components(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    fn read(der: &[u8], at: usize) -> (usize, usize, usize) {
        // (tag position, content start, content length)
        let len_byte = der[at + 1] as usize;
        if len_byte < 0x80 {
            (at, at + 2, len_byte)
        } else {
            let count = len_byte & 0x7f;
            let mut len = 0usize;
            for i in 0..count {
                len = (len << 8) | der[at + 2 + i] as usize;
            }
            (at, at + 2 + count, len)
        }
    }
    let (_, seq_start, _) = read(der, 0);
    let (_, n_start, n_len) = read(der, seq_start);
    let (_, e_start, e_len) = read(der, n_start + n_len);
    let strip = |b: &[u8]| {
        let mut b = b.to_vec();
        while b.first() == Some(&0) {
            b.remove(0);
        }
        b
    };
    (
        strip(&der[n_start..n_start + n_len]),
        strip(&der[e_start..e_start + e_len]),
    )
}

/// A session of `sub` (with the provider session `sid`) created at `created_at`, lasting 100 s,
/// without tokens: what revocation checks look at.
pub fn session(id: &str, sub: &str, sid: Option<&str>, created_at: i64) -> crate::oidc::Session {
    crate::oidc::Session {
        id: id.into(),
        sub: sub.into(),
        sid: sid.map(Into::into),
        id_token: Default::default(),
        access_token: Default::default(),
        access_token_is_jwt: false,
        refresh_token: None,
        access_expires_at: None,
        created_at,
        expires_at: created_at + 100,
        csrf: Default::default(),
        sealed_with: Default::default(),
    }
}
