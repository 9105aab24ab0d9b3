//! The login and logout flows.

pub mod login;
