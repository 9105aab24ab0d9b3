//! The OpenID Connect Authentication middleware (`plugin.oidc`).
//!
//! Lifecycle: an unauthenticated browser navigation is redirected to the provider with a new
//! login flow ([`flows::login`]); the provider redirects back to `redirectUrl`
//! ([`flows::callback`]), where the code is exchanged ([`flows::token_endpoint`]) and the ID
//! token validated ([`flows::id_token`]); the session ([`session`]) is stored in sealed cookies;
//! later requests to the application ([`protected`]) are checked, refreshed when the access
//! token has expired ([`protected::refresh`]), authorized by `claims` and forwarded with the
//! access token and the `forwardHeaders`; `logoutUrl` and `backchannelLogoutUrl` end sessions
//! ([`flows::logout`], [`flows::logout_token`], [`session::revocations`]); `csrf` guards unsafe
//! methods ([`protected::csrf`]).
//!
//! - [`middleware`]: building an instance and sending each request to its step;
//! - [`flows`]: login, callback and logout (front- and back-channel);
//! - [`protected`]: a request to the protected application;
//! - [`session`]: where sessions and revocations live (cookies, or the shared store with
//!   `session.store.redis`);
//! - [`request`], [`redirect_url`], [`browser`]: what a request is and where it goes;
//! - [`provider`]: the provider's metadata and keys, discovered in the background;
//! - [`settings`]: resolved secrets and build options.

pub mod browser;
pub mod flows;
pub mod middleware;
pub mod protected;
pub mod provider;
pub mod redirect_url;
pub mod request;
pub mod session;
pub mod settings;

pub use middleware::OidcMiddleware;
pub use provider::DiscoveryRetry;
pub use session::revocations::Revocations;
pub use session::server_store::ServerSessionStore;
pub use session::{CookieSessionStore, Session, SessionStore, StoreError};
pub use settings::{OidcOptions, OidcSecrets};
