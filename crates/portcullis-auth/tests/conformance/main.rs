//! The OpenID Foundation's relying-party certification cases for a code-flow relying party
//! with discovery and back-channel logout (profiles Basic RP, Config RP, RP-Initiated Logout
//! and Back-Channel Logout RP), one test per test id, run against the development provider.
//! `docs/conformance.md` lists every id, including the ones that do not apply and the ones the
//! development provider cannot reproduce.

#![cfg(test)]

#[path = "../oidc/support.rs"]
mod support;

mod backchannel_rp;
mod basic_rp;
mod checks;
mod config_rp;
mod crafted;
mod recording;
mod served;
