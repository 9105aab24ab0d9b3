//! Sealing: authenticated encryption of values the gateway hands to the browser (session and
//! state cookies) and must get back unchanged and unread.
//!
//! What it protects against, and how:
//! - reading or forging a cookie: AES-256-GCM (aws-lc-rs) with a random 96-bit nonce per seal;
//!   any change to any byte (including the header) fails the tag check;
//! - swapping a value between uses (a state cookie presented as a session): the purpose is
//!   authenticated data and is part of the key derivation, so a value sealed for one purpose
//!   never opens for another;
//! - replicas disagreeing: keys are derived with HKDF-SHA256 from a root secret and the
//!   issuer, so every replica with the same configuration derives the same keys, with no key
//!   distribution. The root is `session.secret` when set, else the client secret
//!   ([`KeyRoot`]); the two use different HKDF salts, so a key rooted in `session.secret` can
//!   never be derived from the client secret and the (public) issuer;
//! - logging everyone out on a secret rotation: the sealed value names its key (a 4-byte id
//!   derived alongside the key), and a [`Sealer`] can keep previous keys for opening only;
//! - a leaked previous secret opening (or forging) values forever: a kept key carries the time
//!   until which it opens anything ([`Sealer::keeping`]), after which it is ignored;
//! - decompression bombs and oversized input: inputs above [`MAX_SEALED_LEN`] are refused
//!   before decoding, and inflated plaintext is capped at [`MAX_PLAINTEXT_LEN`].
//!
//! Layout, base64url without padding:
//! `version (1) || flags (1) || key id (4) || nonce (12) || ciphertext || tag (16)`.
//!
//! The `nonce || ciphertext || tag` part is the crate's one AEAD envelope ([`AeadKey`]), which
//! the client credentials token store uses too, behind its own header.

use std::io::Read;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;

use crate::clock::{Clock, SystemClock};

/// Format version.
const VERSION: u8 = 1;
/// Flag: the plaintext was deflated before sealing.
const FLAG_DEFLATE: u8 = 1;
const KEY_ID_LEN: usize = 4;
const HEADER_LEN: usize = 2 + KEY_ID_LEN;
const TAG_LEN: usize = 16;
/// Largest sealed text accepted (a chunked session cookie stays far below).
pub const MAX_SEALED_LEN: usize = 256 * 1024;
/// Largest plaintext produced by opening.
pub const MAX_PLAINTEXT_LEN: usize = 512 * 1024;
/// HKDF salt of keys rooted in the client secret: fixed, so the derivation depends only on
/// the configuration.
const SALT: &[u8] = b"portcullis/seal/v1";
/// HKDF salt of keys rooted in `session.secret`: distinct, so the same text used as both
/// secrets still gives unrelated keys.
const SESSION_SECRET_SALT: &[u8] = b"portcullis/seal/v1/session.secret";

/// The secret a middleware's keys derive from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyRoot {
    /// The client secret: whoever holds it (the provider's administrators, another
    /// application registered with the same client, a reader of its Kubernetes Secret) can
    /// derive the keys.
    #[default]
    ClientSecret,
    /// `session.secret`, known only to the gateway.
    SessionSecret,
}

impl KeyRoot {
    const fn salt(self) -> &'static [u8] {
        match self {
            KeyRoot::ClientSecret => SALT,
            KeyRoot::SessionSecret => SESSION_SECRET_SALT,
        }
    }

    /// What `portcullis check` and the start-up log say about a middleware's keys.
    pub const fn describe(self) -> &'static str {
        match self {
            KeyRoot::SessionSecret => "session key derived from session.secret",
            KeyRoot::ClientSecret => {
                "session key derived from the client secret: anyone holding the client secret can forge sessions; set session.secret"
            }
        }
    }
}

/// What a sealed value is for; part of the key derivation and of the authenticated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Session,
    LoginState,
}

impl Purpose {
    const fn label(self) -> &'static [u8] {
        match self {
            Purpose::Session => b"session",
            Purpose::LoginState => b"login-state",
        }
    }
}

/// Why a value could not be sealed or opened. Deliberately coarse: the client learns nothing
/// about which check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed value names an unknown key")]
    UnknownKey,
    #[error("sealed value failed authentication")]
    Tampered,
    #[error("sealed value is too large")]
    TooLarge,
    #[error("sealing failed")]
    Crypto,
}

/// An AES-256-GCM key and the crate's one AEAD envelope: `nonce (12) || ciphertext || tag
/// (16)`, with a random nonce per seal and the caller's authenticated data. Cloning shares the
/// key.
#[derive(Clone)]
pub struct AeadKey(Arc<LessSafeKey>);

impl AeadKey {
    /// Length of the envelope around a plaintext.
    pub const OVERHEAD: usize = NONCE_LEN + TAG_LEN;

    pub fn new(key: &[u8; 32]) -> Result<Self, SealError> {
        let unbound = UnboundKey::new(&AES_256_GCM, key).map_err(|_| SealError::Crypto)?;
        Ok(Self(Arc::new(LessSafeKey::new(unbound))))
    }

    /// Appends the envelope of `plaintext`, authenticated with `aad`, to `out`.
    pub fn seal_into(
        &self,
        aad: &[u8],
        mut plaintext: Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<(), SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| SealError::Crypto)?;
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut plaintext,
            )
            .map_err(|_| SealError::Crypto)?;
        out.reserve(NONCE_LEN + plaintext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&plaintext);
        Ok(())
    }

    /// The plaintext of `envelope`, which must authenticate with `aad`.
    pub fn open(&self, aad: &[u8], envelope: &[u8]) -> Result<Vec<u8>, SealError> {
        if envelope.len() < Self::OVERHEAD {
            return Err(SealError::Malformed);
        }
        let (nonce, ciphertext) = envelope.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Malformed)?;
        let mut in_out = ciphertext.to_vec();
        let opened = self
            .0
            .open_in_place(nonce, Aad::from(aad), &mut in_out)
            .map_err(|_| SealError::Tampered)?
            .len();
        in_out.truncate(opened);
        Ok(in_out)
    }
}

#[derive(Clone)]
struct SealKey {
    id: [u8; KEY_ID_LEN],
    key: AeadKey,
    root: KeyRoot,
    /// For a kept previous key: opens nothing from this time on (Unix seconds).
    until: Option<i64>,
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealKey({})", URL_SAFE_NO_PAD.encode(self.id))
    }
}

/// Seals with one current key and opens with it or any kept previous key still in its time.
/// Cloning shares the keys.
#[derive(Debug, Clone)]
pub struct Sealer {
    purpose: Purpose,
    current: SealKey,
    previous: Vec<SealKey>,
    /// Reads the time for the previous keys' limits.
    clock: Arc<dyn Clock>,
}

/// A value opened, with what the key that opened it says about it.
#[derive(Debug)]
pub struct Opened {
    pub plaintext: Vec<u8>,
    /// The root of the key that opened it.
    pub root: KeyRoot,
    /// Until when that key opens values (a previous key), `None` for the current key.
    pub until: Option<i64>,
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// Derives `out.len()` bytes from the client secret `secret` for `label` and `issuer`
/// (HKDF-SHA256).
pub fn derive(secret: &[u8], issuer: &str, label: &[u8], out: &mut [u8]) -> Result<(), SealError> {
    derive_rooted(KeyRoot::ClientSecret, secret, issuer, label, out)
}

/// Derives `out.len()` bytes from `secret`, a secret of kind `root`, for `label` and `issuer`
/// (HKDF-SHA256).
pub fn derive_rooted(
    root: KeyRoot,
    secret: &[u8],
    issuer: &str,
    label: &[u8],
    out: &mut [u8],
) -> Result<(), SealError> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, root.salt()).extract(secret);
    let info = [label, b"\0", issuer.as_bytes()];
    prk.expand(&info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| SealError::Crypto)
}

impl Sealer {
    /// Derives the key for `purpose` from the client secret and the issuer.
    pub fn derive(secret: &str, issuer: &str, purpose: Purpose) -> Result<Self, SealError> {
        Self::derive_rooted(KeyRoot::ClientSecret, secret, issuer, purpose)
    }

    /// Derives the key for `purpose` from `secret`, a secret of kind `root`, and the issuer.
    pub fn derive_rooted(
        root: KeyRoot,
        secret: &str,
        issuer: &str,
        purpose: Purpose,
    ) -> Result<Self, SealError> {
        let mut key_bytes = [0u8; 32];
        derive_rooted(
            root,
            secret.as_bytes(),
            issuer,
            purpose.label(),
            &mut key_bytes,
        )?;
        let mut id = [0u8; KEY_ID_LEN];
        let id_label = [b"key-id/".as_slice(), purpose.label()].concat();
        derive_rooted(root, secret.as_bytes(), issuer, &id_label, &mut id)?;
        Ok(Self {
            purpose,
            current: SealKey {
                id,
                key: AeadKey::new(&key_bytes)?,
                root,
                until: None,
            },
            previous: Vec::new(),
            clock: Arc::new(SystemClock),
        })
    }

    /// False once a key whose time ends at `until` no longer opens values (for values opened
    /// earlier and remembered).
    pub fn still_opens(&self, until: Option<i64>) -> bool {
        until.is_none_or(|until| until > self.clock.now())
    }

    /// The root of the key that seals.
    pub fn root(&self) -> KeyRoot {
        self.current.root
    }

    /// Keeps `older`'s keys for opening (never for sealing), so values sealed before a secret
    /// rotation still open, until `until` (Unix seconds, read from `clock`): a key that was
    /// already kept keeps its own, earlier limit, so reloads never extend it.
    #[must_use]
    pub fn keeping(mut self, older: Sealer, until: i64, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        if older.purpose != self.purpose {
            return self;
        }
        for mut key in std::iter::once(older.current).chain(older.previous) {
            key.until = Some(key.until.map_or(until, |own| own.min(until)));
            if key.id != self.current.id && !self.previous.iter().any(|k| k.id == key.id) {
                self.previous.push(key);
            }
        }
        self
    }

    /// The id of the key that seals.
    #[cfg(test)]
    pub fn key_id(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.current.id)
    }

    /// Seals `plaintext`, deflating it first when `compress` is set.
    pub fn seal(&self, plaintext: &[u8], compress: bool) -> Result<String, SealError> {
        let flags = if compress { FLAG_DEFLATE } else { 0 };
        let body = if compress {
            deflate(plaintext)?
        } else {
            plaintext.to_vec()
        };
        let header = self.header(flags, self.current.id);
        let mut out = Vec::with_capacity(HEADER_LEN + AeadKey::OVERHEAD + body.len());
        out.extend_from_slice(&header);
        self.current
            .key
            .seal_into(&self.aad(&header), body, &mut out)?;
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens a sealed value.
    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, SealError> {
        self.open_detailed(sealed).map(|opened| opened.plaintext)
    }

    /// Opens a sealed value, telling which kind of key opened it and until when.
    pub fn open_detailed(&self, sealed: &str) -> Result<Opened, SealError> {
        if sealed.len() > MAX_SEALED_LEN {
            return Err(SealError::TooLarge);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| SealError::Malformed)?;
        if bytes.len() < HEADER_LEN + AeadKey::OVERHEAD {
            return Err(SealError::Malformed);
        }
        let (header, envelope) = bytes.split_at(HEADER_LEN);
        let (version, flags, id) = match header {
            [version, flags, id @ ..] => (*version, *flags, id),
            _ => return Err(SealError::Malformed),
        };
        if version != VERSION || flags & !FLAG_DEFLATE != 0 {
            return Err(SealError::Malformed);
        }
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id.as_slice() == id)
            .ok_or(SealError::UnknownKey)?;
        if !self.still_opens(key.until) {
            return Err(SealError::UnknownKey);
        }
        let plaintext = key.key.open(&self.aad(header), envelope)?;
        let plaintext = if flags & FLAG_DEFLATE != 0 {
            inflate(&plaintext)?
        } else {
            plaintext
        };
        Ok(Opened {
            plaintext,
            root: key.root,
            until: key.until,
        })
    }

    fn header(&self, flags: u8, id: [u8; KEY_ID_LEN]) -> [u8; HEADER_LEN] {
        let mut header = [0u8; HEADER_LEN];
        header[0] = VERSION;
        header[1] = flags;
        header[2..].copy_from_slice(&id);
        header
    }

    fn aad(&self, header: &[u8]) -> Vec<u8> {
        [header, b"/", self.purpose.label()].concat()
    }
}

fn deflate(plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
    use std::io::Write;
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder
        .write_all(plaintext)
        .map_err(|_| SealError::Crypto)?;
    encoder.finish().map_err(|_| SealError::Crypto)
}

fn inflate(compressed: &[u8]) -> Result<Vec<u8>, SealError> {
    let limit = u64::try_from(MAX_PLAINTEXT_LEN).unwrap_or(u64::MAX);
    let mut out = Vec::new();
    DeflateDecoder::new(compressed)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|_| SealError::Malformed)?;
    if out.len() > MAX_PLAINTEXT_LEN {
        return Err(SealError::TooLarge);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
