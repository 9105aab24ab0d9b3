//! Attacks on the OIDC middleware from a hostile browser, page or network peer: open
//! redirects, login-state replay and injection, forged or moved session cookies, forged
//! identity headers, cross-site request forgery, oversized input and logout-token replay. Each
//! must be refused cleanly, without a panic and without leaving a usable cookie behind.

#![cfg(test)]

#[path = "../oidc/support.rs"]
mod support;

#[path = "../conformance/served.rs"]
mod served;

mod cookies;
mod csrf;
mod headers;
mod logout_token;
mod redirects;
mod state;
