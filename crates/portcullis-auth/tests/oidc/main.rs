//! Flow tests of the OIDC middleware against the development provider: every option, and every
//! fault the provider can inject. The middleware is driven as a service; redirects are
//! followed by hand.

#![cfg(test)]

mod csrf;
mod faults;
mod login;
mod logout;
mod session;
mod session_keys;
mod shared_store;
mod support;
