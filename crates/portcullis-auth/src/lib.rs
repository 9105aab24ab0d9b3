//! Authentication middlewares of the Portcullis gateway.
//!
//! - [`oidc`]: the OpenID Connect Authentication middleware (`plugin.oidc`): login with the
//!   authorization code flow, sealed cookie sessions, refresh, logout, CSRF, claims checks and
//!   forwarded headers.
//! - [`shared`]: the pieces every authentication middleware uses (provider HTTP client,
//!   discovery, JWT verification with the provider's JWKS, sealing, cookies, forwarded
//!   headers).
//! - [`registry`]: what the gateway calls to turn a validated `plugin:` block into a
//!   [`portcullis_proxy::middleware::Middleware`], reusing instances across reloads.
//! - [`error`]: the one mapping from refusals to HTTP statuses, with explained denials.

pub mod client_credentials;
pub mod clock;
pub mod error;
pub mod oidc;
pub mod registry;
pub mod shared;

pub use registry::{AuthRegistry, BuildError, build_plugin};

#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
