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

#[path = "flows/logout_token.rs"]
pub mod backchannel;
pub mod browser;
#[path = "flows/callback.rs"]
pub mod callback;
#[path = "protected/csrf.rs"]
pub mod csrf;
mod flows;
#[path = "flows/id_token.rs"]
pub mod id_token;
pub use flows::login;
#[path = "flows/logout.rs"]
pub mod logout;
pub mod middleware;
#[path = "session/opened_cache.rs"]
pub mod opened_cache;
#[path = "protected/mod.rs"]
pub mod protected;
pub mod provider;
pub mod redirect_url;
#[path = "protected/refresh.rs"]
pub mod refresh;
#[path = "request.rs"]
pub mod request_view;
#[path = "session/revocations.rs"]
pub mod revocation;
#[path = "session/server_store.rs"]
pub mod server_session;
#[path = "session/mod.rs"]
pub mod session;
pub mod settings;
#[path = "session/shared_sessions.rs"]
pub mod shared_refresh;
#[path = "session/shared_revocations.rs"]
pub mod shared_revocations;
#[path = "session/store_keys.rs"]
pub mod store_keys;
#[path = "protected/stored_tokens.rs"]
pub mod stored_tokens;
#[path = "flows/token_endpoint.rs"]
pub mod token;

pub use middleware::OidcMiddleware;
pub use provider::DiscoveryRetry;
pub use revocation::{InMemoryRevocations, Revocations};
pub use server_session::ServerSessionStore;
pub use session::{CookieSessionStore, Session, SessionStore, StoreError};
pub use settings::{OidcOptions, OidcSecrets};
