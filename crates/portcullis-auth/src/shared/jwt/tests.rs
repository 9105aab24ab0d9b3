use serde_json::json;

use super::*;
use crate::test_support::{TestKey, hs256};

fn claims() -> Value {
    json!({"iss": "https://idp", "sub": "alice", "aud": "gw"})
}

#[test]
fn every_key_type_verifies_its_own_tokens() {
    for key in [TestKey::rsa("r"), TestKey::ec("e"), TestKey::ed("d")] {
        let token = key.sign(&claims());
        let jwt = decode(&token).unwrap();
        assert_eq!(jwt.header.kid.as_deref(), Some(key.kid()));
        assert_eq!(jwt.claims["sub"], "alice");
        jwt.verify(&key.jwk()).unwrap();
    }
}

#[test]
fn a_flipped_signature_byte_is_refused() {
    let key = TestKey::rsa("r");
    let token = key.sign(&claims());
    let (input, signature) = token.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    bytes[10] ^= 1;
    let tampered = format!("{input}.{}", URL_SAFE_NO_PAD.encode(bytes));
    assert_eq!(
        decode(&tampered).unwrap().verify(&key.jwk()),
        Err(JwtError::BadSignature)
    );
    // A changed payload with the original signature.
    let other = key.sign(&json!({"sub": "mallory"}));
    let (_, other_payload, _) = {
        let mut p = other.split('.');
        (p.next().unwrap(), p.next().unwrap(), p.next().unwrap())
    };
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[1] = other_payload;
    let spliced = parts.join(".");
    assert_eq!(
        decode(&spliced).unwrap().verify(&key.jwk()),
        Err(JwtError::BadSignature)
    );
}

#[test]
fn another_keys_signature_is_refused() {
    let key = TestKey::ec("e");
    let other = TestKey::ec("e");
    let token = key.sign(&claims());
    assert_eq!(
        decode(&token).unwrap().verify(&other.jwk()),
        Err(JwtError::BadSignature)
    );
}

#[test]
fn none_and_hmac_are_refused_before_any_key_is_used() {
    let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
    for alg in ["none", "None", "NONE"] {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg}).to_string());
        assert_eq!(
            decode(&format!("{header}.{payload}.")).unwrap_err(),
            JwtError::AlgNone
        );
        assert_eq!(
            decode(&format!("{header}.{payload}.c2ln")).unwrap_err(),
            JwtError::AlgNone
        );
    }
    let header = URL_SAFE_NO_PAD.encode(json!({"typ": "JWT"}).to_string());
    assert_eq!(
        decode(&format!("{header}.{payload}.c2ln")).unwrap_err(),
        JwtError::AlgNone
    );
    // HS256 keyed with the RSA public key's published bytes: the classic confusion attack.
    let key = TestKey::rsa("r");
    let forged = hs256(
        &json!({"alg": "HS256", "kid": "r"}),
        &claims(),
        key.jwk().n.unwrap().as_bytes(),
    );
    assert_eq!(
        decode(&forged).unwrap_err(),
        JwtError::SymmetricAlgorithm("HS256".into())
    );
}

#[test]
fn key_type_and_alg_must_fit() {
    let rsa = TestKey::rsa("r");
    let ec = TestKey::ec("e");
    let token = rsa.sign(&claims());
    assert!(matches!(
        decode(&token).unwrap().verify(&ec.jwk()),
        Err(JwtError::KeyMismatch(_))
    ));
    // RS256 key declared for PS256 use only.
    let mut jwk = rsa.jwk();
    jwk.alg = Some("PS256".into());
    assert!(matches!(
        decode(&token).unwrap().verify(&jwk),
        Err(JwtError::KeyMismatch(_))
    ));
    let mut jwk = rsa.jwk();
    jwk.key_use = Some("enc".into());
    assert!(decode(&token).unwrap().verify(&jwk).is_err());
    // An oct key never verifies anything.
    let oct: Jwk = serde_json::from_value(json!({"kty": "oct", "k": "c2VjcmV0"})).unwrap();
    assert!(decode(&token).unwrap().verify(&oct).is_err());
}

#[test]
fn malformed_tokens_are_refused() {
    let key = TestKey::rsa("r");
    let token = key.sign(&claims());
    for bad in [
        "",
        "a.b",
        "a.b.c.d",
        "!!!.e30.c2ln",
        "e30.e30.c2ln",
        &token[..token.rfind('.').unwrap()],
        &format!("{token}."),
    ] {
        assert!(decode(bad).is_err(), "{bad}");
    }
    // Cut inside the signature, the rest may still be well-formed base64 (decoding does not
    // check signatures), but it never verifies.
    for cut in [token.len() / 2, token.len() - 10, token.len() - 1] {
        let truncated = &token[..cut];
        if let Ok(jwt) = decode(truncated) {
            assert!(jwt.verify(&key.jwk()).is_err(), "{truncated}");
        }
    }
    let big = "a".repeat(MAX_TOKEN_BYTES + 1);
    assert_eq!(decode(&big).unwrap_err(), JwtError::TooLarge);
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "crit": ["b64"]}).to_string());
    assert_eq!(
        decode(&format!("{header}.e30.c2ln")).unwrap_err(),
        JwtError::CriticalHeader
    );
    // The payload must be an object.
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "RS256"}).to_string());
    let array = URL_SAFE_NO_PAD.encode("[1]");
    assert!(decode(&format!("{header}.{array}.c2ln")).is_err());
}

#[test]
fn at_hash_is_the_left_half_of_the_algorithms_digest() {
    // Left 128 bits of SHA-256("abc"), and left 256 bits of SHA-512("abc") for EdDSA.
    assert_eq!(
        token_hash(Algorithm::Rs256, "abc"),
        "ungWv48Bz-pBQUDeXa4iIw"
    );
    assert_eq!(
        token_hash(Algorithm::EdDsa, "abc"),
        "3a81oZNherrMQXNJriBBMRLm-k6JqX6iCp7u5ktV05o"
    );
}

#[test]
fn trusted_claims_and_shape() {
    let key = TestKey::ed("d");
    let token = key.sign(&claims());
    assert_eq!(trusted_claims(&token).unwrap()["aud"], "gw");
    assert!(looks_like_jwt(&token));
    assert!(!looks_like_jwt("opaque-token"));
    assert!(trusted_claims("opaque").is_none());
}
