//! The flows that never reach the upstream: login, the callback that completes it, logout and
//! back-channel logout.

pub mod callback;
pub mod id_token;
pub mod login;
pub mod logout;
pub mod logout_token;
pub mod token_endpoint;
