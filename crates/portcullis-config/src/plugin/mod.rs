//! Options of the authentication middlewares (`plugin.oidc`, `plugin.oAuthClientCredentials`),
//! with the keys, defaults and checks of their reference pages.

pub mod client_credentials;
pub mod common;
pub mod oidc;

use serde::Deserialize;

use crate::errors::{Errors, Path};

/// `plugin:` block of a middleware: exactly one plugin must be set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlugin {
    #[serde(default)]
    pub oidc: Option<oidc::RawOidc>,
    #[serde(default, rename = "oAuthClientCredentials")]
    pub oauth_client_credentials: Option<client_credentials::RawClientCredentials>,
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
    match (&raw.oidc, &raw.oauth_client_credentials) {
        (Some(oidc), None) => oidc::validate(oidc, middleware_name, &path.key("oidc"), errors)
            .map(|c| PluginConfig::Oidc(Box::new(c))),
        (None, Some(cc)) => client_credentials::validate(
            cc,
            middleware_name,
            &path.key("oAuthClientCredentials"),
            errors,
        )
        .map(|c| PluginConfig::ClientCredentials(Box::new(c))),
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
