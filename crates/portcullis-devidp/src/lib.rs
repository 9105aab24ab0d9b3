//! # portcullis-devidp — a development OpenID Provider with fault injection
//!
//! **For development and tests only. Never run it in production:** users log in by picking a
//! name (a password is checked only when one is configured), keys live in memory, and every
//! grant is kept in process memory.
//!
//! It serves the OpenID Connect code flow (with PKCE S256 and plain), refresh-token rotation,
//! client credentials, JWT access tokens (RFC 9068), userinfo, RP-initiated logout and
//! back-channel logout, correctly by the specs, and can be made to misbehave on purpose, one
//! named [`Fault`] at a time, globally or for one client, while it runs. `portcullis demo` runs
//! it through [`serve`]; tests start it with [`DevIdp::builder`] on `127.0.0.1:0`:
//!
//! ```no_run
//! # async fn example() -> Result<(), portcullis_devidp::DevIdpError> {
//! use portcullis_devidp::{ClientSpec, DevIdp, Fault, UserSpec};
//! let idp = DevIdp::builder()
//!     .client(ClientSpec::new("gw", "gw-secret").redirect_uri("http://127.0.0.1:8080/callback"))
//!     .user(UserSpec::new("alice").claims(serde_json::json!({"grp": "admin"})))
//!     .start()
//!     .await?;
//! let issuer = idp.issuer(); // http://127.0.0.1:PORT
//! idp.set_fault(Fault::IdTokenWrongAudience);
//! # let _ = issuer;
//! # Ok(())
//! # }
//! ```
//!
//! Endpoints below the issuer: `/.well-known/openid-configuration`, `/jwks`, `/authorize`
//! (GET and POST; the login form posts to `/login`), `/token`, `/userinfo`, `/logout`
//! (end session). The repository's `docs/devidp.md` describes configuration and faults.
//!
//! Providers started by the builder in one process share their initial key material (each has
//! its own `kid`s) so that a test suite does not pay for many RSA key generations;
//! [`DevIdpBuilder::fresh_keys`] opts out, and rotation always makes a fresh key.

mod backchannel;
mod clock;
mod config;
mod endpoints;
mod error;
mod faults;
mod jwt;
mod keys;
mod server;
mod state;
mod tokens;

pub use backchannel::{BackchannelDelivery, LogoutTarget};
pub use config::{
    Alg, ClientSpec, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_SERVICE_CLIENT_ID,
    DEMO_SERVICE_CLIENT_SECRET, DevIdpConfig, GrantType, KeySpec, Lifetimes, Secret, UserSpec,
};
pub use error::DevIdpError;
pub use faults::{
    EXTRA_AUDIENCE, FAULT_TIME_SHIFT, Fault, NONCE_MISMATCH_SUFFIX, PublicKeyForm,
    USERINFO_SUB_SUFFIX, WRONG_AUDIENCE, WRONG_ISSUER,
};
pub use server::{DevIdp, DevIdpBuilder, serve};
pub use tokens::BACKCHANNEL_LOGOUT_EVENT;
