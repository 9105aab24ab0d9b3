//! Options of the authentication middlewares (`plugin.oidc`, `plugin.oAuthClientCredentials`),
//! with the keys, defaults and checks of their reference pages.

pub mod client_credentials;
pub mod common;
pub mod oidc;
pub mod spelling;

use std::cell::RefCell;

use serde::{Deserialize, Deserializer};

use crate::errors::{Errors, Path};
use spelling::{CaseInsensitive, Respelled};

/// `plugin:` block of a middleware: exactly one plugin must be set. Its keys, at every level,
/// are matched case-insensitively as Traefik Hub does ([`spelling`]).
#[derive(Debug, Default)]
pub struct RawPlugin {
    pub oidc: Option<oidc::RawOidc>,
    pub oauth_client_credentials: Option<client_credentials::RawClientCredentials>,
    /// The keys written in another spelling than the canonical one (paths from the block).
    pub respelled: Vec<Respelled>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPluginFields {
    #[serde(default)]
    oidc: Option<oidc::RawOidc>,
    #[serde(default, rename = "oAuthClientCredentials")]
    oauth_client_credentials: Option<client_credentials::RawClientCredentials>,
}

impl<'de> Deserialize<'de> for RawPlugin {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let log = RefCell::new(Vec::new());
        let fields = RawPluginFields::deserialize(CaseInsensitive::new(deserializer, &log))?;
        Ok(Self {
            oidc: fields.oidc,
            oauth_client_credentials: fields.oauth_client_credentials,
            respelled: log.into_inner(),
        })
    }
}

/// The warnings for the keys of `raw` written in another spelling, for the middleware at
/// `path`: each names the canonical spelling.
pub fn spelling_notes(raw: &RawPlugin, path: &Path) -> Vec<String> {
    raw.respelled
        .iter()
        .map(|respelled| {
            format!(
                "{}: key {:?} read as {:?} (keys are matched case-insensitively, as in Traefik Hub; write {:?})",
                path.key(respelled.path.clone()),
                respelled.written,
                respelled.canonical_key(),
                respelled.canonical_key(),
            )
        })
        .collect()
}

/// A validated plugin configuration.
#[derive(Debug, Clone)]
pub enum PluginConfig {
    Oidc(Box<oidc::OidcConfig>),
    ClientCredentials(Box<client_credentials::ClientCredentialsConfig>),
}

/// Validates a `plugin:` block at `path`; `middleware_name` provides defaults such as cookie names.
pub fn validate_plugin(
    raw: &RawPlugin,
    middleware_name: &str,
    path: &Path,
    errors: &mut Errors,
) -> Option<PluginConfig> {
    let notes = spelling_notes(raw, path);
    match (&raw.oidc, &raw.oauth_client_credentials) {
        (Some(oidc), None) => {
            oidc::validate(oidc, middleware_name, &path.key("oidc"), errors).map(|c| {
                PluginConfig::Oidc(Box::new(oidc::OidcConfig {
                    spelling_notes: notes,
                    ..c
                }))
            })
        }
        (None, Some(cc)) => client_credentials::validate(
            cc,
            middleware_name,
            &path.key("oAuthClientCredentials"),
            errors,
        )
        .map(|c| {
            PluginConfig::ClientCredentials(Box::new(client_credentials::ClientCredentialsConfig {
                spelling_notes: notes,
                ..c
            }))
        }),
        (None, None) => {
            errors.push(
                path,
                "no plugin configured; expected one of: oidc, oAuthClientCredentials",
            );
            None
        }
        (Some(_), Some(_)) => {
            errors.push(
                path,
                "several plugins configured; a middleware has exactly one",
            );
            None
        }
    }
}
