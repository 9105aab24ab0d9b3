//! htpasswd password hashes, as Traefik's `basicAuth` reads them: bcrypt (`$2y$`, `$2a$`,
//! `$2b$`), SHA1 (`{SHA}`) and Apache MD5 (`$apr1$`).
//!
//! Protects against password guessing by timing: computed hashes are compared in constant time,
//! and a user that does not exist costs the same work as one that does (the caller verifies
//! against a stand-in hash of the same kind).

use base64::Engine;
use md5::{Digest, Md5};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// One user's stored hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordHash {
    Bcrypt(String),
    /// The 20-byte SHA1 digest.
    Sha1(Vec<u8>),
    Apr1 {
        salt: String,
        hash: String,
    },
}

impl PasswordHash {
    /// Parses the hash part of an htpasswd line.
    pub fn parse(text: &str) -> Result<Self, String> {
        if ["$2y$", "$2a$", "$2b$"].iter().any(|p| text.starts_with(p)) {
            // Checked here so a malformed hash fails at start, not on every request.
            bcrypt::verify("", text).map_err(|e| format!("invalid bcrypt hash: {e}"))?;
            return Ok(PasswordHash::Bcrypt(text.to_owned()));
        }
        if let Some(encoded) = text.strip_prefix("{SHA}") {
            let digest = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| "invalid {SHA} hash: not base64".to_owned())?;
            if digest.len() != 20 {
                return Err("invalid {SHA} hash: not a SHA1 digest".to_owned());
            }
            return Ok(PasswordHash::Sha1(digest));
        }
        if let Some(rest) = text.strip_prefix("$apr1$") {
            let Some((salt, hash)) = rest.split_once('$') else {
                return Err("invalid $apr1$ hash: expected $apr1$salt$hash".to_owned());
            };
            if salt.is_empty() || salt.len() > 8 || hash.len() != 22 {
                return Err("invalid $apr1$ hash: expected $apr1$salt$hash".to_owned());
            }
            return Ok(PasswordHash::Apr1 {
                salt: salt.to_owned(),
                hash: hash.to_owned(),
            });
        }
        Err("unsupported password hash; expected bcrypt, {SHA} or $apr1$".to_owned())
    }

    /// Whether the hash is slow to verify (worth moving off the request threads).
    pub fn is_slow(&self) -> bool {
        matches!(self, PasswordHash::Bcrypt(_))
    }

    /// Whether `password` matches.
    pub fn verify(&self, password: &str) -> bool {
        match self {
            PasswordHash::Bcrypt(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            PasswordHash::Sha1(digest) => {
                let computed = Sha1::digest(password.as_bytes());
                computed.as_slice().ct_eq(digest).into()
            }
            PasswordHash::Apr1 { salt, hash } => {
                let computed = apr1(password.as_bytes(), salt.as_bytes());
                computed.as_bytes().ct_eq(hash.as_bytes()).into()
            }
        }
    }
}

const CRYPT_ALPHABET: &[u8; 64] =
    b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The 22-character hash part of Apache's MD5-crypt (`$apr1$`), the FreeBSD MD5-crypt
/// algorithm with Apache's magic string.
pub fn apr1(password: &[u8], salt: &[u8]) -> String {
    const MAGIC: &[u8] = b"$apr1$";
    let salt = salt.get(..salt.len().min(8)).unwrap_or(salt);

    let alternate = Md5::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize();
    let mut context = Md5::new()
        .chain_update(password)
        .chain_update(MAGIC)
        .chain_update(salt);
    let mut remaining = password.len();
    while remaining > 0 {
        let take = remaining.min(16);
        context.update(alternate.get(..take).unwrap_or_default());
        remaining -= take;
    }
    let mut bits = password.len();
    while bits > 0 {
        if bits & 1 == 1 {
            context.update([0u8]);
        } else {
            context.update(password.get(..1).unwrap_or_default());
        }
        bits >>= 1;
    }
    let mut digest = context.finalize();

    for round in 0..1000 {
        let mut next = Md5::new();
        if round & 1 == 1 {
            next.update(password);
        } else {
            next.update(digest);
        }
        if round % 3 != 0 {
            next.update(salt);
        }
        if round % 7 != 0 {
            next.update(password);
        }
        if round & 1 == 1 {
            next.update(digest);
        } else {
            next.update(password);
        }
        digest = next.finalize();
    }

    let byte = |i: usize| u32::from(digest.get(i).copied().unwrap_or_default());
    let mut out = String::with_capacity(22);
    let mut push = |mut value: u32, count: usize| {
        for _ in 0..count {
            let index = (value & 0x3f) as usize;
            out.push(char::from(
                CRYPT_ALPHABET.get(index).copied().unwrap_or(b'.'),
            ));
            value >>= 6;
        }
    };
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        push((byte(a) << 16) | (byte(b) << 8) | byte(c), 4);
    }
    push(byte(11), 2);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apr1_matches_htpasswd_output() {
        // Traefik's documented user `test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/` has password
        // `test`; the others were made with `openssl passwd -apr1`.
        assert_eq!(apr1(b"test", b"H6uskkkW"), "IgXLP6ewTrSuBkTrqE8wj/");
        let hash = PasswordHash::parse("$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/").unwrap();
        assert!(hash.verify("test"));
        assert!(!hash.verify("Test"));
        assert!(!hash.verify(""));
    }

    #[test]
    fn sha1_hashes_verify() {
        // htpasswd -nbs user password
        let hash = PasswordHash::parse("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=").unwrap();
        assert!(hash.verify("password"));
        assert!(!hash.verify("passwore"));
    }

    #[test]
    fn bcrypt_hashes_of_every_prefix_verify() {
        let made = bcrypt::hash("s3cret", 4).unwrap();
        for prefix in ["$2y$", "$2a$", "$2b$"] {
            let text = format!("{prefix}{}", made.get(4..).unwrap());
            let hash = PasswordHash::parse(&text).unwrap();
            assert!(hash.is_slow());
            assert!(hash.verify("s3cret"), "{prefix}");
            assert!(!hash.verify("s3cre"), "{prefix}");
        }
    }

    #[test]
    fn malformed_hashes_are_refused() {
        assert!(PasswordHash::parse("{SHA}!!!").is_err());
        assert!(PasswordHash::parse("{SHA}YWJj").is_err());
        assert!(PasswordHash::parse("$apr1$nosalt").is_err());
        assert!(PasswordHash::parse("$2y$xx$short").is_err());
        assert!(PasswordHash::parse("plain").is_err());
    }
}
