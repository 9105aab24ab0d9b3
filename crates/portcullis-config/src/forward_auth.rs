//! `forwardAuth` on a router: the router is the authorization endpoint of a proxy in front
//! (Traefik's ForwardAuth, nginx's `auth_request`, Caddy's `forward_auth`, Envoy's `ext_authz`).
//! Each request it matches describes the client's request instead of being it; the router's
//! middlewares judge the described request and the answer tells the proxy what to do.
//!
//! Only the proxies an entry point trusts (`forwardedHeaders.trustedIPs`) may describe a
//! request, so a router whose entry points trust nobody would refuse every request: that is a
//! configuration error rather than a silent 403.

use serde::Deserialize;

use crate::errors::{Errors, Path};
use crate::model::EntryPoint;
use crate::raw::RawRouter;

/// `forwardAuth` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawForwardAuth {
    /// `traefik` (default), `caddy`, `nginx` or `envoy`.
    #[serde(default)]
    pub proxy: Option<String>,
    /// Envoy's `path_prefix`: the auth request's path is this prefix followed by the original
    /// path and query.
    #[serde(default)]
    pub path_prefix: Option<String>,
}

/// Which proxy sends the requests, and so how they describe the original one and what answer
/// the proxy understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardAuthProxy {
    /// `X-Forwarded-Method`, `-Proto`, `-Host`, `-Uri`, `-For`; any answer but 2xx goes to the
    /// client as it is.
    Traefik,
    /// The same shape as Traefik's (`forward_auth`).
    Caddy,
    /// `X-Original-Method`, `X-Original-URI`, `Host`, `X-Forwarded-Proto`, `X-Forwarded-For`;
    /// only 2xx, 401 and 403 are understood, so a redirect becomes a 401 naming its target in
    /// `X-Auth-Redirect`.
    Nginx,
    /// The original method, `Host` and path (after `pathPrefix`), `X-Forwarded-Proto`,
    /// `X-Forwarded-For`; any answer but 2xx goes to the client as it is.
    Envoy,
}

impl ForwardAuthProxy {
    pub const NAMES: &'static str = "traefik, caddy, nginx, envoy";

    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "traefik" => Some(Self::Traefik),
            "caddy" => Some(Self::Caddy),
            "nginx" => Some(Self::Nginx),
            "envoy" => Some(Self::Envoy),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Traefik => "traefik",
            Self::Caddy => "caddy",
            Self::Nginx => "nginx",
            Self::Envoy => "envoy",
        }
    }
}

/// A validated `forwardAuth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardAuthConfig {
    pub proxy: ForwardAuthProxy,
    /// With [`ForwardAuthProxy::Envoy`] only: the prefix before the original path.
    pub path_prefix: Option<String>,
}

/// Validates the `forwardAuth` of the router `raw` at `path`, against the entry points it
/// listens on.
pub fn validate_router(
    raw: &RawRouter,
    entry_points: &[EntryPoint],
    path: &Path,
    errors: &mut Errors,
) -> Option<ForwardAuthConfig> {
    let forward_auth = raw.forward_auth.as_ref()?;
    let path = path.key("forwardAuth");
    let before = errors.len();
    let proxy = match forward_auth.proxy.as_deref() {
        None => ForwardAuthProxy::Traefik,
        Some(text) => ForwardAuthProxy::parse(text).unwrap_or_else(|| {
            errors.push(
                &path.key("proxy"),
                format!(
                    "unknown proxy {text:?}; expected one of {}",
                    ForwardAuthProxy::NAMES
                ),
            );
            ForwardAuthProxy::Traefik
        }),
    };
    let prefix_path = path.key("pathPrefix");
    match (&forward_auth.path_prefix, proxy) {
        (None, ForwardAuthProxy::Envoy) => errors.push(
            &prefix_path,
            "required with proxy envoy (the ext_authz path_prefix)",
        ),
        (Some(prefix), ForwardAuthProxy::Envoy) => {
            if !prefix.starts_with('/') || prefix.len() < 2 || prefix.ends_with('/') {
                errors.push(
                    &prefix_path,
                    format!("{prefix:?} must start with '/' and not end with '/'"),
                );
            }
        }
        (Some(_), _) => errors.push(&prefix_path, "only used with proxy envoy"),
        (None, _) => {}
    }
    let listens_on: Vec<&EntryPoint> = if raw.entry_points.is_empty() {
        entry_points.iter().collect()
    } else {
        entry_points
            .iter()
            .filter(|ep| raw.entry_points.contains(&ep.name))
            .collect()
    };
    let trusts_nobody = |ep: &EntryPoint| {
        !ep.forwarded_headers.insecure && ep.forwarded_headers.trusted_ips.is_empty()
    };
    let refusing: Vec<&str> = listens_on
        .iter()
        .filter(|ep| trusts_nobody(ep))
        .map(|ep| ep.name.as_str())
        .collect();
    // Without a list the router is on every entry point: one that trusts the proxy suffices.
    let all_refuse = !listens_on.is_empty() && refusing.len() == listens_on.len();
    if !refusing.is_empty() && (!raw.entry_points.is_empty() || all_refuse) {
        errors.push(
            &path,
            format!(
                "entry point(s) {} trust no proxy (forwardedHeaders.trustedIPs), so every request would be refused",
                refusing.join(", ")
            ),
        );
    }
    (errors.len() == before).then(|| ForwardAuthConfig {
        proxy,
        path_prefix: forward_auth.path_prefix.clone(),
    })
}
