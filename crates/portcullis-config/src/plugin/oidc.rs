//! `plugin.oidc` options.

use serde::Deserialize;

use crate::errors::{Errors, Path};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawOidc {
    pub issuer: String,
}

#[derive(Debug, Clone)]
pub struct OidcConfig {
    pub issuer: String,
}

pub fn validate(
    raw: &RawOidc,
    _middleware_name: &str,
    path: &Path,
    errors: &mut Errors,
) -> Option<OidcConfig> {
    if raw.issuer.is_empty() {
        errors.push(&path.key("issuer"), "is required");
        return None;
    }
    Some(OidcConfig {
        issuer: raw.issuer.clone(),
    })
}
