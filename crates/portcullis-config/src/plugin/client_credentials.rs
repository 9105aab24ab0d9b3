//! `plugin.oAuthClientCredentials` options.

use serde::Deserialize;

use crate::errors::{Errors, Path};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawClientCredentials {
    pub url: String,
}

#[derive(Debug, Clone)]
pub struct ClientCredentialsConfig {
    pub url: String,
}

pub fn validate(
    raw: &RawClientCredentials,
    _middleware_name: &str,
    path: &Path,
    errors: &mut Errors,
) -> Option<ClientCredentialsConfig> {
    if raw.url.is_empty() {
        errors.push(&path.key("url"), "is required");
        return None;
    }
    Some(ClientCredentialsConfig {
        url: raw.url.clone(),
    })
}
