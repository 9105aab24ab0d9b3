//! Fault injection: switches a test flips at runtime to make the provider misbehave in one
//! named way, so the relying party's defences can be tested one at a time.
//!
//! The ID-token faults follow the OpenID Foundation's relying-party certification cases for the
//! code flow. A fault is active globally or for one client; discovery and JWKS requests carry no
//! client, so only global faults affect them.

use std::collections::HashMap;
use std::mem::discriminant;
use std::time::Duration;

/// The `iss` put into ID tokens under [`Fault::IdTokenWrongIssuer`].
pub const WRONG_ISSUER: &str = "https://wrong-issuer.invalid";
/// The `aud` put into ID tokens under [`Fault::IdTokenWrongAudience`].
pub const WRONG_AUDIENCE: &str = "some-other-client";
/// The second audience put into ID tokens under [`Fault::IdTokenExtraAudienceWithoutAzp`].
pub const EXTRA_AUDIENCE: &str = "another-client";
/// Appended to the `sub` answered by userinfo under [`Fault::UserinfoSubMismatch`].
pub const USERINFO_SUB_SUFFIX: &str = "-not-the-id-token-sub";
/// Appended to the nonce under [`Fault::IdTokenNonceMismatch`].
pub const NONCE_MISMATCH_SUFFIX: &str = "-not-the-nonce-sent";
/// How far `iat` is moved into the future under [`Fault::IdTokenIssuedInFuture`], and `exp`
/// into the past under [`Fault::IdTokenExpired`].
pub const FAULT_TIME_SHIFT: Duration = Duration::from_secs(24 * 3600);

/// Which bytes of the RSA public key key the HMAC under [`Fault::IdTokenHs256WithPublicKey`]:
/// the two forms a confused verifier might hand to HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublicKeyForm {
    /// The SubjectPublicKeyInfo PEM text, `-----BEGIN PUBLIC KEY-----` … with a final newline.
    Pem,
    /// The SubjectPublicKeyInfo DER bytes.
    Der,
}

/// One way to misbehave. Setting a fault replaces any active fault of the same variant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// Discovery answers with an `issuer` that differs from the URL it was fetched from
    /// (`<issuer>/mismatch`).
    DiscoveryIssuerMismatch,
    /// Discovery answers 503.
    DiscoveryUnavailable,
    /// The JWKS endpoint answers 503.
    JwksUnavailable,
    /// ID tokens are signed correctly, then a signature byte is flipped.
    IdTokenBadSignature,
    /// ID tokens have header `alg: none` and an empty signature.
    IdTokenAlgNone,
    /// ID tokens are HS256-signed with the RSA signing key's public key bytes as the secret.
    IdTokenHs256WithPublicKey(PublicKeyForm),
    /// ID tokens carry no `kid`; several keys of the signing algorithm are published.
    IdTokenKidAbsent,
    /// ID tokens are signed with a fresh key that the JWKS lists only after
    /// `publish_pending_keys` or `rotate_signing_key`.
    IdTokenUnpublishedKid,
    /// ID tokens have `iss` = [`WRONG_ISSUER`].
    IdTokenWrongIssuer,
    /// ID tokens have `aud` = [`WRONG_AUDIENCE`].
    IdTokenWrongAudience,
    /// ID tokens have `aud` = `[client_id, EXTRA_AUDIENCE]` and no `azp`.
    IdTokenExtraAudienceWithoutAzp,
    /// ID tokens have no `nonce` although one was sent.
    IdTokenNonceMissing,
    /// ID tokens carry the sent nonce with [`NONCE_MISMATCH_SUFFIX`] appended.
    IdTokenNonceMismatch,
    /// ID tokens expired [`FAULT_TIME_SHIFT`] ago.
    IdTokenExpired,
    /// ID tokens have `iat` [`FAULT_TIME_SHIFT`] in the future.
    IdTokenIssuedInFuture,
    /// ID tokens have no `sub`.
    IdTokenMissingSub,
    /// Userinfo answers a `sub` that differs from the ID token's.
    UserinfoSubMismatch,
    /// The token endpoint answers 500.
    TokenServerError,
    /// The token endpoint answers 200 with a body that is not JSON.
    TokenInvalidJson,
    /// The token endpoint answers `invalid_grant` to every grant.
    TokenInvalidGrant,
    /// The token endpoint waits this long before answering.
    TokenDelay(Duration),
    /// The token endpoint refuses `refresh_token` grants with `invalid_grant`.
    RefreshRefused,
}

/// The active faults: global ones and per-client ones.
#[derive(Debug, Default)]
pub(crate) struct FaultSet {
    global: Vec<Fault>,
    per_client: HashMap<String, Vec<Fault>>,
}

fn replace_same_variant(list: &mut Vec<Fault>, fault: Fault) {
    list.retain(|f| discriminant(f) != discriminant(&fault));
    list.push(fault);
}

impl FaultSet {
    pub(crate) fn set_global(&mut self, fault: Fault) {
        replace_same_variant(&mut self.global, fault);
    }

    pub(crate) fn set_for_client(&mut self, client_id: &str, fault: Fault) {
        replace_same_variant(
            self.per_client.entry(client_id.to_owned()).or_default(),
            fault,
        );
    }

    pub(crate) fn clear(&mut self) {
        self.global.clear();
        self.per_client.clear();
    }

    pub(crate) fn clear_one(&mut self, fault: &Fault) {
        self.global.retain(|f| f != fault);
        for list in self.per_client.values_mut() {
            list.retain(|f| f != fault);
        }
    }

    /// The faults that apply to a request of `client_id` (global ones for a request without a
    /// client).
    pub(crate) fn active(&self, client_id: Option<&str>) -> Active {
        let mut faults = self.global.clone();
        if let Some(list) = client_id.and_then(|id| self.per_client.get(id)) {
            faults.extend(list.iter().cloned());
        }
        Active(faults)
    }
}

/// A snapshot of the faults applying to one request.
#[derive(Debug, Default, Clone)]
pub(crate) struct Active(Vec<Fault>);

impl Active {
    pub(crate) fn has(&self, fault: &Fault) -> bool {
        self.0.contains(fault)
    }

    pub(crate) fn hs256_form(&self) -> Option<PublicKeyForm> {
        self.0.iter().find_map(|f| match f {
            Fault::IdTokenHs256WithPublicKey(form) => Some(*form),
            _ => None,
        })
    }

    pub(crate) fn token_delay(&self) -> Option<Duration> {
        self.0.iter().find_map(|f| match f {
            Fault::TokenDelay(d) => Some(*d),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_faults_apply_only_to_that_client() {
        let mut set = FaultSet::default();
        set.set_for_client("a", Fault::TokenServerError);
        assert!(set.active(Some("a")).has(&Fault::TokenServerError));
        assert!(!set.active(Some("b")).has(&Fault::TokenServerError));
        assert!(!set.active(None).has(&Fault::TokenServerError));
    }

    #[test]
    fn setting_a_variant_again_replaces_it() {
        let mut set = FaultSet::default();
        set.set_global(Fault::TokenDelay(Duration::from_secs(1)));
        set.set_global(Fault::TokenDelay(Duration::from_secs(2)));
        assert_eq!(set.active(None).token_delay(), Some(Duration::from_secs(2)));
        set.clear_one(&Fault::TokenDelay(Duration::from_secs(2)));
        assert_eq!(set.active(None).token_delay(), None);
    }
}
