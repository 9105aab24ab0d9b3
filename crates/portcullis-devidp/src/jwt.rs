//! Compact JWS encoding, including the deliberately broken forms the faults need (`alg: none`,
//! HMAC keyed with a public key, a corrupted signature), and verification of the provider's own
//! tokens (`id_token_hint`).
//!
//! Verification accepts only the provider's asymmetric keys and the algorithm each key is for,
//! so a forged hint with `alg: none` or HS256 is never taken for the provider's own token.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::error::DevIdpError;
use crate::keys::{KeyRing, SigningKey};

/// How a token is signed.
pub(crate) enum Signer<'a> {
    /// With a provider key; the header gets its `alg` and, when `with_kid`, its `kid`.
    Key { key: &'a SigningKey, with_kid: bool },
    /// `alg: none`, empty signature.
    Unsigned,
    /// HS256 with the given bytes as the secret.
    Hs256(&'a [u8]),
}

fn b64_json(value: &Value) -> Result<String, DevIdpError> {
    let bytes = serde_json::to_vec(value).map_err(|e| DevIdpError::Key(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Encodes and signs `claims` with header `typ` (when given) and the signer's `alg`/`kid`.
pub(crate) fn encode(
    typ: Option<&str>,
    claims: &Value,
    signer: &Signer<'_>,
) -> Result<String, DevIdpError> {
    let mut header = Map::new();
    let alg = match signer {
        Signer::Key { key, .. } => key.alg().as_str(),
        Signer::Unsigned => "none",
        Signer::Hs256(_) => "HS256",
    };
    header.insert("alg".into(), alg.into());
    if let Some(typ) = typ {
        header.insert("typ".into(), typ.into());
    }
    if let Signer::Key {
        key,
        with_kid: true,
    } = signer
    {
        header.insert("kid".into(), key.kid().into());
    }
    let signing_input = format!(
        "{}.{}",
        b64_json(&Value::Object(header))?,
        b64_json(claims)?
    );
    let signature = match signer {
        Signer::Key { key, .. } => key.sign(signing_input.as_bytes())?,
        Signer::Unsigned => Vec::new(),
        Signer::Hs256(secret) => {
            let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
            hmac::sign(&key, signing_input.as_bytes()).as_ref().to_vec()
        }
    };
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// Flips bits in the first signature byte, leaving header and payload intact.
pub(crate) fn corrupt_signature(token: &str) -> String {
    let Some((input, signature)) = token.rsplit_once('.') else {
        return token.to_owned();
    };
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap_or_default();
    match bytes.first_mut() {
        Some(first) => *first ^= 0x5a,
        None => bytes.push(0x5a),
    }
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The decoded header, claims, signing input and signature, without any check.
pub(crate) struct Parts {
    pub(crate) header: Value,
    pub(crate) claims: Value,
    signing_input: String,
    signature: Vec<u8>,
}

pub(crate) fn split(token: &str) -> Option<Parts> {
    let mut pieces = token.split('.');
    let (header, claims, signature) = (pieces.next()?, pieces.next()?, pieces.next()?);
    if pieces.next().is_some() {
        return None;
    }
    let decode = |part: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
    };
    Some(Parts {
        header: decode(header)?,
        claims: decode(claims)?,
        signing_input: format!("{header}.{claims}"),
        signature: URL_SAFE_NO_PAD.decode(signature).ok()?,
    })
}

/// The claims of a token signed by one of the provider's keys, published or pending. The
/// header's `alg` must be the key's algorithm; without a `kid` every key of that algorithm is
/// tried. Time claims are not checked: callers decide what expiry means for them.
pub(crate) fn verify(token: &str, keys: &KeyRing) -> Option<Value> {
    let parts = split(token)?;
    let alg = parts.header.get("alg")?.as_str()?;
    let candidates = match parts.header.get("kid").and_then(Value::as_str) {
        Some(kid) => keys.find(kid).into_iter().collect(),
        None => crate::config::Alg::ALL
            .into_iter()
            .filter(|a| a.as_str() == alg)
            .flat_map(|a| keys.all_of(a))
            .collect::<Vec<_>>(),
    };
    candidates
        .iter()
        .filter(|key| key.alg().as_str() == alg)
        .any(|key| key.verify(parts.signing_input.as_bytes(), &parts.signature))
        .then_some(parts.claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Alg;
    use serde_json::json;

    #[test]
    fn own_tokens_verify_and_forgeries_do_not() {
        let ring = KeyRing::from_specs(&[], false).unwrap();
        let key = ring.signing_key(Alg::RS256).unwrap();
        let claims = json!({"sub": "alice"});
        let good = encode(
            Some("JWT"),
            &claims,
            &Signer::Key {
                key: &key,
                with_kid: true,
            },
        )
        .unwrap();
        assert_eq!(verify(&good, &ring), Some(claims.clone()));
        assert_eq!(verify(&corrupt_signature(&good), &ring), None);
        let none = encode(None, &claims, &Signer::Unsigned).unwrap();
        assert!(none.ends_with('.'));
        assert_eq!(verify(&none, &ring), None);
        let hs = encode(None, &claims, &Signer::Hs256(key.public_der())).unwrap();
        assert_eq!(verify(&hs, &ring), None);
        let no_kid = encode(
            None,
            &claims,
            &Signer::Key {
                key: &key,
                with_kid: false,
            },
        )
        .unwrap();
        assert_eq!(verify(&no_kid, &ring), Some(claims));
    }
}
