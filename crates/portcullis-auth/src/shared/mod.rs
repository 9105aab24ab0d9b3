//! Building blocks shared by the authentication middlewares (OIDC and client credentials):
//!
//! - [`provider_client`]: the HTTP client for every provider call, configured by
//!   `clientConfig` (TLS, timeout, retries);
//! - [`discovery`]: OpenID Provider metadata, with the issuer check;
//! - [`jwt`] and [`jwks`]: token decoding, signature verification with allowed asymmetric
//!   algorithms only, and the provider's key set with rate-limited refetch on unknown keys;
//! - [`seal`]: authenticated encryption of cookie values, keys derived from configuration;
//! - [`cookies`]: `Cookie`/`Set-Cookie` handling, chunking, stripping the gateway's cookies;
//! - [`headers`]: `forwardHeaders`, `Authorization: Bearer` and the access-log user name.

pub mod cookies;
pub mod discovery;
pub(crate) mod exact_memory;
pub mod headers;
pub mod jwks;
pub mod jwt;
pub mod provider_client;
pub mod redacted;
pub mod seal;
