//! Secrets and protocol values as their own types, so that no `Debug` of a session, a login
//! flow or a token answer prints one.
//!
//! What it protects against, and how: tokens, nonces, PKCE verifiers and client secrets ending
//! up in logs through a `{:?}` of the structure holding them. Each value is a newtype whose
//! `Debug` prints its type name and `***`; the value itself is read through [`Deref`] (as
//! `&str`) where the protocol needs it. Serialized as the bare string, so sealed sessions and
//! state cookies keep their format.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

macro_rules! redacted {
    ($($(#[$doc:meta])* $name:ident;)+) => {$(
        $(#[$doc])*
        #[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The value, for the protocol message that carries it.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(***)"))
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    )+};
}

redacted! {
    /// An OAuth 2.0 access token.
    AccessToken;
    /// An OAuth 2.0 refresh token.
    RefreshToken;
    /// An OpenID Connect ID token (a JWT).
    IdToken;
    /// The `nonce` of a login flow, bound to the ID token.
    Nonce;
    /// A PKCE `code_verifier`.
    PkceVerifier;
    /// The `state` of a login flow.
    State;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        const RAW: &str = "raw-secret-value";
        let shown = [
            format!("{:?}", AccessToken::from(RAW)),
            format!("{:?}", RefreshToken::from(RAW)),
            format!("{:?}", IdToken::from(RAW)),
            format!("{:?}", Nonce::from(RAW)),
            format!("{:?}", PkceVerifier::from(RAW)),
            format!("{:?}", State::from(RAW)),
        ];
        for shown in shown {
            assert!(!shown.contains(RAW) && shown.ends_with("(***)"), "{shown}");
        }
        let token = AccessToken::from(RAW);
        assert_eq!(token.expose(), RAW);
        assert_eq!(&*token, RAW);
        assert_eq!(serde_json::to_string(&token).unwrap(), format!("\"{RAW}\""));
    }

    /// Every structure of the crate that holds a token, a secret or a flow value, formatted
    /// with `{:?}`: none shows it.
    #[test]
    fn no_structure_debug_shows_a_secret() {
        use std::sync::Arc;

        use portcullis_config::Secret;

        use crate::client_credentials::ClientSecretPair;
        use crate::client_credentials::cached_token::{CachedToken, TokenClaims};
        use crate::client_credentials::token_endpoint::TokenAnswer;
        use crate::oidc::flows::id_token::Expectations;
        use crate::oidc::flows::login::{AuthorizationRequest, LoginState, ReturnTo};
        use crate::oidc::flows::token_endpoint::{Credentials, TokenResponse};
        use crate::shared::provider_client::ClientAuth;

        const RAW: &str = "raw-secret-value";
        let mut session = crate::test_support::session("id", "alice", None, 0);
        session.id_token = RAW.into();
        session.access_token = RAW.into();
        session.refresh_token = Some(RAW.into());
        let response: TokenResponse = serde_json::from_value(serde_json::json!({
            "access_token": RAW, "id_token": RAW, "refresh_token": RAW,
        }))
        .unwrap();
        let flow = LoginState {
            state: RAW.into(),
            nonce: RAW.into(),
            code_verifier: Some(RAW.into()),
            redirect_uri: "https://app/cb".into(),
            return_to: ReturnTo {
                https: true,
                authority: "app".into(),
                path_and_query: "/".into(),
            },
            from_login_url: false,
            created_at: 0,
        };
        let scopes = ["openid".to_owned()];
        let shown = [
            format!("{session:?}"),
            format!("{response:?}"),
            format!("{flow:?}"),
            format!(
                "{:?}",
                Credentials {
                    client_id: "gw",
                    client_secret: RAW,
                }
            ),
            format!(
                "{:?}",
                ClientAuth::Basic {
                    client_id: "gw",
                    secret: RAW,
                }
            ),
            format!(
                "{:?}",
                ClientAuth::Post {
                    client_id: "gw",
                    secret: RAW,
                }
            ),
            format!(
                "{:?}",
                Expectations {
                    issuer: "https://idp",
                    client_id: "gw",
                    nonce: Some(RAW),
                    access_token: Some(RAW),
                    subject: None,
                    now: 0,
                    leeway: 0,
                }
            ),
            format!(
                "{:?}",
                AuthorizationRequest {
                    client_id: "gw",
                    redirect_uri: "https://app/cb",
                    scopes: &scopes,
                    state: RAW,
                    nonce: RAW,
                    code_challenge: None,
                    extra: &[],
                }
            ),
            format!(
                "{:?}",
                TokenAnswer {
                    access_token: RAW.into(),
                    expires_in: None,
                }
            ),
            format!(
                "{:?}",
                CachedToken {
                    access_token: RAW.into(),
                    claims: TokenClaims::Jwt(Arc::new(serde_json::json!({ "k": RAW }))),
                    refresh_at: 0,
                    expires_at: 1,
                }
            ),
            format!(
                "{:?}",
                ClientSecretPair {
                    client_id: "gw".into(),
                    secret: Secret::new(RAW),
                }
            ),
        ];
        for shown in shown {
            assert!(!shown.contains(RAW), "{shown}");
        }
    }
}
