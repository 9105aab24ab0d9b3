//! Signing keys (RS256 2048-bit and ES256), their public JWKs, and the key ring that rotation and
//! the unpublished-key fault work on.
//!
//! Keys live only in memory unless a PKCS#8 PEM is configured: a development provider's tokens
//! must not outlive it by accident.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::config::{Alg, KeySpec};
use crate::error::DevIdpError;

enum Material {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// One signing key with its published form.
pub(crate) struct SigningKey {
    kid: String,
    alg: Alg,
    material: Material,
    public_jwk: Value,
    spki_der: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn key_error(what: &str) -> impl Fn(aws_lc_rs::error::Unspecified) -> DevIdpError + '_ {
    move |_| DevIdpError::Key(format!("{what} failed"))
}

/// Random bytes as lowercase hex, for key ids, codes and tokens.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if aws_lc_rs::rand::fill(&mut buf).is_err() {
        // The system RNG failing is not recoverable in a meaningful way; fall back to the
        // clock so the value is still unique within this process.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        return format!("{nanos:x}");
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Random bytes, URL-safe base64, for codes and opaque tokens.
pub(crate) fn random_token() -> String {
    let mut buf = [0u8; 32];
    if aws_lc_rs::rand::fill(&mut buf).is_err() {
        return random_hex(32);
    }
    URL_SAFE_NO_PAD.encode(buf)
}

fn generated_kid(alg: Alg) -> String {
    format!("{}-{}", alg.as_str().to_ascii_lowercase(), random_hex(4))
}

impl SigningKey {
    /// Generates a key, or loads it from the spec's PEM.
    pub(crate) fn from_spec(spec: &KeySpec) -> Result<Self, DevIdpError> {
        let kid = spec.kid.clone().unwrap_or_else(|| generated_kid(spec.alg));
        let material = match (&spec.private_key_pem, spec.alg) {
            (None, Alg::RS256) => Material::Rsa(
                RsaKeyPair::generate(KeySize::Rsa2048).map_err(key_error("RSA generation"))?,
            ),
            (None, Alg::ES256) => Material::Ec(
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(key_error("EC generation"))?,
            ),
            (Some(pem), alg) => {
                let der = pem_to_der(pem.expose(), "PRIVATE KEY")
                    .ok_or_else(|| DevIdpError::Key(format!("{kid}: not a PKCS#8 PEM")))?;
                match alg {
                    Alg::RS256 => Material::Rsa(
                        RsaKeyPair::from_pkcs8(&der)
                            .map_err(|e| DevIdpError::Key(format!("{kid}: {e}")))?,
                    ),
                    Alg::ES256 => Material::Ec(
                        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                            .map_err(|e| DevIdpError::Key(format!("{kid}: {e}")))?,
                    ),
                }
            }
        };
        Self::new(kid, spec.alg, material)
    }

    pub(crate) fn generate(alg: Alg) -> Result<Self, DevIdpError> {
        Self::from_spec(&KeySpec::generated(alg))
    }

    fn from_pkcs8(kid: String, alg: Alg, der: &[u8]) -> Result<Self, DevIdpError> {
        let material = match alg {
            Alg::RS256 => Material::Rsa(
                RsaKeyPair::from_pkcs8(der).map_err(|e| DevIdpError::Key(e.to_string()))?,
            ),
            Alg::ES256 => Material::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(|e| DevIdpError::Key(e.to_string()))?,
            ),
        };
        Self::new(kid, alg, material)
    }

    fn pkcs8(&self) -> Result<Vec<u8>, DevIdpError> {
        match &self.material {
            Material::Rsa(pair) => {
                let der: Pkcs8V1Der<'_> = pair.as_der().map_err(key_error("RSA export"))?;
                Ok(der.as_ref().to_vec())
            }
            Material::Ec(pair) => Ok(pair
                .to_pkcs8v1()
                .map_err(key_error("EC export"))?
                .as_ref()
                .to_vec()),
        }
    }

    fn new(kid: String, alg: Alg, material: Material) -> Result<Self, DevIdpError> {
        let (public_jwk, spki_der) = match &material {
            Material::Rsa(pair) => {
                let public = pair.public_key();
                let jwk = json!({
                    "kty": "RSA", "use": "sig", "alg": alg.as_str(), "kid": kid,
                    "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
                    "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
                });
                let der = public
                    .as_der()
                    .map_err(key_error("RSA public key export"))?;
                (jwk, der.as_ref().to_vec())
            }
            Material::Ec(pair) => {
                let point = pair.public_key().as_ref();
                // An uncompressed P-256 point: 0x04, then 32 bytes of x and 32 of y.
                let (x, y) = match (point.get(1..33), point.get(33..65)) {
                    (Some(x), Some(y)) if point.len() == 65 => (x, y),
                    _ => return Err(DevIdpError::Key("unexpected EC point encoding".into())),
                };
                let jwk = json!({
                    "kty": "EC", "use": "sig", "alg": alg.as_str(), "kid": kid, "crv": "P-256",
                    "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
                });
                let der = pair
                    .public_key()
                    .as_der()
                    .map_err(key_error("EC public key export"))?;
                (jwk, der.as_ref().to_vec())
            }
        };
        Ok(Self {
            kid,
            alg,
            material,
            public_jwk,
            spki_der,
        })
    }

    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    pub(crate) fn alg(&self) -> Alg {
        self.alg
    }

    pub(crate) fn public_jwk(&self) -> &Value {
        &self.public_jwk
    }

    /// SubjectPublicKeyInfo DER of the public key.
    pub(crate) fn public_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// SubjectPublicKeyInfo PEM of the public key, 64-column lines, final newline.
    pub(crate) fn public_pem(&self) -> String {
        let body = STANDARD.encode(&self.spki_der);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        let mut rest = body.as_str();
        while !rest.is_empty() {
            let (line, tail) = rest.split_at(rest.len().min(64));
            pem.push_str(line);
            pem.push('\n');
            rest = tail;
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    /// A JWS signature (RSASSA-PKCS1-v1_5, or ECDSA as r‖s) over `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, DevIdpError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        match &self.material {
            Material::Rsa(pair) => {
                let mut signature = vec![0u8; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .map_err(key_error("RSA signing"))?;
                Ok(signature)
            }
            Material::Ec(pair) => Ok(pair
                .sign(&rng, message)
                .map_err(key_error("EC signing"))?
                .as_ref()
                .to_vec()),
        }
    }

    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.material {
            Material::Rsa(pair) => {
                UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pair.public_key().as_ref())
                    .verify(message, signature)
                    .is_ok()
            }
            Material::Ec(pair) => {
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref())
                    .verify(message, signature)
                    .is_ok()
            }
        }
    }
}

/// Extracts the DER body of the first PEM block labelled `label`.
fn pem_to_der(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)?.checked_add(begin.len())?;
    let rest = pem.get(start..)?;
    let body = rest.get(..rest.find(&end)?)?;
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(compact).ok()
}

/// PKCS#8 key material generated once per process and shared by providers that start with
/// default keys: a 2048-bit RSA key takes up to a second to generate in an unoptimised test
/// build, and a test suite starts many providers. Each provider still gets its own `kid`s, and
/// rotation always generates fresh keys.
fn shared_material(alg: Alg) -> Result<SigningKey, DevIdpError> {
    static SHARED: OnceLock<Mutex<HashMap<Alg, Vec<u8>>>> = OnceLock::new();
    let cache = SHARED.get_or_init(Mutex::default);
    let mut cache = crate::state::lock(cache);
    let kid = generated_kid(alg);
    if let Some(der) = cache.get(&alg) {
        return SigningKey::from_pkcs8(kid, alg, der);
    }
    let der = SigningKey::generate(alg)?.pkcs8()?;
    let key = SigningKey::from_pkcs8(kid, alg, &der)?;
    cache.insert(alg, der);
    Ok(key)
}

/// Published keys, the current signing key per algorithm, and keys generated but not yet
/// published.
#[derive(Debug, Default)]
pub(crate) struct KeyRing {
    published: Vec<Arc<SigningKey>>,
    signing: HashMap<Alg, String>,
    pending: HashMap<Alg, Arc<SigningKey>>,
}

impl KeyRing {
    /// Loads the configured keys (the first of each algorithm signs) and generates a key for any
    /// algorithm left without one, from the process-wide material when `share` is set.
    pub(crate) fn from_specs(specs: &[KeySpec], share: bool) -> Result<Self, DevIdpError> {
        let mut ring = KeyRing::default();
        for spec in specs {
            let key = Arc::new(SigningKey::from_spec(spec)?);
            ring.signing
                .entry(key.alg())
                .or_insert_with(|| key.kid().to_owned());
            ring.published.push(key);
        }
        for alg in Alg::ALL {
            if !ring.signing.contains_key(&alg) {
                let key = if share {
                    shared_material(alg)?
                } else {
                    SigningKey::generate(alg)?
                };
                ring.add_signing(Arc::new(key));
            }
        }
        Ok(ring)
    }

    fn add_signing(&mut self, key: Arc<SigningKey>) {
        self.signing.insert(key.alg(), key.kid().to_owned());
        self.published.push(key);
    }

    /// The key that signs for `alg`.
    pub(crate) fn signing_key(&self, alg: Alg) -> Option<Arc<SigningKey>> {
        let kid = self.signing.get(&alg)?;
        self.published.iter().find(|k| k.kid() == kid).cloned()
    }

    /// Any key known to the provider, published or pending.
    pub(crate) fn find(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.published
            .iter()
            .chain(self.pending.values())
            .find(|k| k.kid() == kid)
            .cloned()
    }

    /// Every key known to the provider of one algorithm, published or pending.
    pub(crate) fn all_of(&self, alg: Alg) -> Vec<Arc<SigningKey>> {
        self.published
            .iter()
            .chain(self.pending.values())
            .filter(|k| k.alg() == alg)
            .cloned()
            .collect()
    }

    /// Makes a new key the signing key for `alg`: the pending one when there is one (so a token
    /// signed under the unpublished-key fault becomes verifiable), else a fresh one. The old key
    /// stays published. Returns the new key id.
    pub(crate) fn rotate(&mut self, alg: Alg) -> Result<String, DevIdpError> {
        let key = match self.pending.remove(&alg) {
            Some(key) => key,
            None => Arc::new(SigningKey::generate(alg)?),
        };
        let kid = key.kid().to_owned();
        self.add_signing(key);
        Ok(kid)
    }

    /// The pending key for `alg`, generated on first use.
    pub(crate) fn pending_key(&mut self, alg: Alg) -> Result<Arc<SigningKey>, DevIdpError> {
        if let Some(key) = self.pending.get(&alg) {
            return Ok(Arc::clone(key));
        }
        let key = Arc::new(SigningKey::generate(alg)?);
        self.pending.insert(alg, Arc::clone(&key));
        Ok(key)
    }

    /// Publishes every pending key without making it the signing key. Returns their ids.
    pub(crate) fn publish_pending(&mut self) -> Vec<String> {
        let mut kids = Vec::new();
        for (_, key) in self.pending.drain() {
            kids.push(key.kid().to_owned());
            self.published.push(key);
        }
        kids
    }

    /// Publishes extra keys until at least `count` keys of `alg` are in the JWKS.
    pub(crate) fn ensure_published(&mut self, alg: Alg, count: usize) -> Result<(), DevIdpError> {
        while self.published.iter().filter(|k| k.alg() == alg).count() < count {
            self.published.push(Arc::new(SigningKey::generate(alg)?));
        }
        Ok(())
    }

    /// Removes a published key; the current signing keys cannot be removed.
    pub(crate) fn remove(&mut self, kid: &str) -> Result<(), DevIdpError> {
        if self.signing.values().any(|k| k == kid) {
            return Err(DevIdpError::KeyState(format!(
                "{kid} signs tokens; rotate before removing it"
            )));
        }
        let before = self.published.len();
        self.published.retain(|k| k.kid() != kid);
        if self.published.len() == before {
            return Err(DevIdpError::KeyState(format!("{kid} is not published")));
        }
        Ok(())
    }

    /// The JWKS document.
    pub(crate) fn jwks(&self) -> Value {
        let keys: Vec<&Value> = self.published.iter().map(|k| k.public_jwk()).collect();
        json!({ "keys": keys })
    }

    pub(crate) fn published_kids(&self) -> Vec<String> {
        self.published.iter().map(|k| k.kid().to_owned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_tampering_is_detected() {
        for alg in Alg::ALL {
            let key = SigningKey::generate(alg).unwrap();
            let sig = key.sign(b"message").unwrap();
            assert!(key.verify(b"message", &sig), "{alg:?}");
            assert!(!key.verify(b"massage", &sig), "{alg:?}");
        }
    }

    #[test]
    fn shared_material_publishes_the_kid_it_signs_with() {
        // The first call generates the material, later ones reuse it: both must agree.
        for _ in 0..2 {
            let ring = KeyRing::from_specs(&[], true).unwrap();
            for alg in Alg::ALL {
                let key = ring.signing_key(alg).unwrap();
                assert_eq!(key.public_jwk()["kid"], key.kid(), "{alg:?}");
            }
        }
    }

    #[test]
    fn public_pem_round_trips_to_der() {
        let key = SigningKey::generate(Alg::RS256).unwrap();
        let pem = key.public_pem();
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert_eq!(pem_to_der(&pem, "PUBLIC KEY").unwrap(), key.public_der());
    }

    #[test]
    fn rotation_keeps_old_key_and_promotes_pending() {
        let mut ring = KeyRing::from_specs(&[], false).unwrap();
        let old = ring.signing_key(Alg::RS256).unwrap().kid().to_owned();
        let pending = ring.pending_key(Alg::RS256).unwrap().kid().to_owned();
        assert!(!ring.published_kids().contains(&pending));
        let new = ring.rotate(Alg::RS256).unwrap();
        assert_eq!(new, pending);
        assert_eq!(ring.signing_key(Alg::RS256).unwrap().kid(), new);
        assert!(ring.published_kids().contains(&old));
        assert!(ring.remove(&new).is_err());
        ring.remove(&old).unwrap();
        assert!(!ring.published_kids().contains(&old));
    }

    #[test]
    fn shared_material_gets_distinct_kids() {
        let a = KeyRing::from_specs(&[], true).unwrap();
        let b = KeyRing::from_specs(&[], true).unwrap();
        for alg in Alg::ALL {
            let (ka, kb) = (a.signing_key(alg).unwrap(), b.signing_key(alg).unwrap());
            assert_ne!(ka.kid(), kb.kid());
            assert_eq!(ka.public_der(), kb.public_der());
            let sig = ka.sign(b"m").unwrap();
            assert!(kb.verify(b"m", &sig));
        }
    }

    #[test]
    fn pem_private_keys_load() {
        let pkcs8 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .unwrap()
            .to_pkcs8v1()
            .unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(pkcs8.as_ref())
        );
        let spec = KeySpec {
            alg: Alg::ES256,
            kid: Some("fixed".into()),
            private_key_pem: Some(crate::config::Secret::new(pem)),
        };
        let ring = KeyRing::from_specs(&[spec], false).unwrap();
        assert_eq!(ring.signing_key(Alg::ES256).unwrap().kid(), "fixed");
    }
}
