//! The OpenID Connect Authentication middleware (`plugin.oidc`).
//!
//! Lifecycle: an unauthenticated browser navigation is redirected to the provider with a new
//! login flow ([`login`]); the provider redirects back to `redirectUrl` ([`callback`]), where
//! the code is exchanged and the ID token validated ([`id_token`]); the session ([`session`]) is
//! stored in sealed cookies; later requests are checked, refreshed when the access token has
//! expired ([`refresh`]), authorized by `claims` and forwarded with the access token and the
//! `forwardHeaders` ([`protected`]); `logoutUrl` and `backchannelLogoutUrl` end sessions
//! ([`logout`], [`backchannel`], [`revocation`]); `csrf` guards unsafe methods ([`csrf`]).
//!
//! Where sessions live: sealed in cookies ([`session::CookieSessionStore`], the default) or in
//! the shared store with only a sealed id in the cookie ([`server_session`], with
//! `session.store.redis`); revocations follow ([`revocation`] in memory, [`shared_revocations`]
//! in the shared store, keys named by [`store_keys`]).

pub mod backchannel;
pub mod browser;
pub mod callback;
pub mod csrf;
pub mod id_token;
pub mod login;
pub mod logout;
pub mod middleware;
pub mod opened_cache;
pub mod protected;
pub mod provider;
pub mod redirect_url;
pub mod refresh;
pub mod request_view;
pub mod revocation;
pub mod server_session;
pub mod session;
pub mod settings;
pub mod shared_refresh;
pub mod shared_revocations;
pub mod store_keys;
pub mod stored_tokens;
pub mod token;

pub use middleware::OidcMiddleware;
pub use provider::DiscoveryRetry;
pub use revocation::{InMemoryRevocations, Revocations};
pub use server_session::ServerSessionStore;
pub use session::{CookieSessionStore, Session, SessionStore, StoreError};
pub use settings::{OidcOptions, OidcSecrets};
