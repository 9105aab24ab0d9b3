//! Flow tests of the OIDC middleware against the development provider: every option, and every
//! fault the provider can inject. The middleware is driven as a service; redirects are
//! followed by hand.

// Test helpers outside #[test] functions may fail loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod csrf;
mod faults;
mod login;
mod logout;
mod session;
mod session_keys;
mod shared_store;
mod support;
