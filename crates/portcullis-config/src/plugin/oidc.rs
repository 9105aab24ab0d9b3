//! `plugin.oidc` options: every key of the OIDC Authentication middleware's reference table,
//! with its default and its checks.

use std::time::Duration;

use http::HeaderName;
use indexmap::IndexMap;
use portcullis_claims::{ClaimPath, Expression};
use serde::Deserialize;

use super::common::{
    self, ClientConfig, ConfiguredUrl, ForwardHeader, RawClientConfig, RawRedis, RedisConfig,
    SameSite,
};
use crate::errors::{Errors, Path};
use crate::secret::SecretRef;

/// Default `session.expiry`, in seconds.
pub const DEFAULT_SESSION_EXPIRY_SECONDS: u64 = 86_400;
/// Default `stateCookie.maxAge`, in seconds.
pub const DEFAULT_STATE_MAX_AGE_SECONDS: i64 = 600;
/// Default `csrf.headerName`.
pub const DEFAULT_CSRF_HEADER: &str = "TraefikHub-Csrf-Token";
/// Default scope list.
pub const DEFAULT_SCOPE: &str = "openid";

/// Authorization request parameters the middleware sets itself; `authParams` cannot override
/// them without breaking the flow's protections (state, nonce, PKCE) or its target.
const RESERVED_AUTH_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
];

/// `plugin.oidc` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawOidc {
    #[serde(default)]
    pub issuer: String,
    #[serde(default)]
    pub redirect_url: String,
    /// Both spellings are in use in the reference documentation.
    #[serde(default, rename = "clientID", alias = "clientId")]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub claims: Option<String>,
    #[serde(default)]
    pub username_claim: Option<String>,
    #[serde(default)]
    pub forward_headers: IndexMap<String, String>,
    #[serde(default)]
    pub client_config: Option<RawClientConfig>,
    #[serde(default)]
    pub pkce: bool,
    #[serde(default)]
    pub discovery_params: IndexMap<String, String>,
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub auth_params: IndexMap<String, String>,
    #[serde(default)]
    pub disable_login: bool,
    #[serde(default)]
    pub login_url: Option<String>,
    #[serde(default)]
    pub logout_url: Option<String>,
    #[serde(default)]
    pub post_login_redirect_url: Option<String>,
    #[serde(default)]
    pub post_logout_redirect_url: Option<String>,
    /// Extension: also end the provider's session at logout (RP-initiated logout).
    #[serde(default)]
    pub end_provider_session: bool,
    #[serde(default)]
    pub backchannel_logout_url: Option<String>,
    #[serde(default)]
    pub backchannel_logout_sessions_required: bool,
    #[serde(default)]
    pub state_cookie: Option<RawStateCookie>,
    #[serde(default)]
    pub session: Option<RawSession>,
    #[serde(default)]
    pub csrf: Option<RawCsrf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawStateCookie {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub max_age: Option<crate::raw::RawDuration>,
    #[serde(default)]
    pub same_site: Option<String>,
    #[serde(default)]
    pub http_only: Option<bool>,
    #[serde(default)]
    pub secure: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSession {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub expiry: Option<crate::raw::RawDuration>,
    #[serde(default)]
    pub sliding: Option<bool>,
    #[serde(default)]
    pub refresh: Option<bool>,
    #[serde(default)]
    pub same_site: Option<String>,
    #[serde(default)]
    pub http_only: Option<bool>,
    #[serde(default)]
    pub secure: bool,
    #[serde(default)]
    pub store: Option<RawSessionStore>,
    /// Root of the session keys, instead of the client secret (an extension).
    #[serde(default)]
    pub secret: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSessionStore {
    #[serde(default)]
    pub redis: Option<RawRedis>,
    /// Prefix of the session keys (from the newer reference; optional).
    #[serde(default)]
    pub key_prefix: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCsrf {
    #[serde(default)]
    pub secure: bool,
    #[serde(default)]
    pub header_name: Option<String>,
}

/// A validated `plugin.oidc` block.
#[derive(Debug, Clone, PartialEq)]
pub struct OidcConfig {
    /// The middleware's name, for logs and default cookie names.
    pub middleware_name: String,
    /// The issuer exactly as configured (compared byte for byte with discovery and tokens).
    pub issuer: String,
    pub redirect_url: ConfiguredUrl,
    pub client_id: SecretRef,
    pub client_secret: SecretRef,
    pub claims: Option<Expression>,
    pub username_claim: Option<ClaimPath>,
    pub forward_headers: Vec<ForwardHeader>,
    pub client_config: ClientConfig,
    pub pkce: bool,
    pub discovery_params: Vec<(String, String)>,
    /// Always contains `openid`.
    pub scopes: Vec<String>,
    /// Extra authorization parameters; a `prompt` with an empty value is removed here, so the
    /// parameter is left out of the authorization URL.
    pub auth_params: Vec<(String, String)>,
    pub disable_login: bool,
    pub login_url: Option<ConfiguredUrl>,
    pub logout_url: Option<ConfiguredUrl>,
    pub post_login_redirect_url: Option<ConfiguredUrl>,
    pub post_logout_redirect_url: Option<ConfiguredUrl>,
    /// At logout, send the browser to the provider's `end_session_endpoint` (with
    /// `id_token_hint`, and `postLogoutRedirectUrl` as `post_logout_redirect_uri`) so the
    /// provider's session ends too, instead of straight to `postLogoutRedirectUrl`.
    pub end_provider_session: bool,
    pub backchannel_logout_url: Option<ConfiguredUrl>,
    pub backchannel_logout_sessions_required: bool,
    pub state_cookie: StateCookieConfig,
    pub session: SessionConfig,
    pub csrf: Option<CsrfConfig>,
    /// Warnings for keys written in another spelling than the canonical one.
    pub spelling_notes: Vec<String>,
}

/// `stateCookie.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateCookieConfig {
    /// Base name; each login flow appends a short suffix.
    pub name: String,
    pub path: String,
    pub domain: Option<String>,
    /// Seconds; zero or negative expires the cookie immediately (logins then cannot complete).
    pub max_age: i64,
    pub same_site: SameSite,
    pub http_only: bool,
    pub secure: bool,
}

/// `session.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    pub name: String,
    pub path: String,
    pub domain: Option<String>,
    /// Session lifetime (> 0).
    pub expiry: Duration,
    pub sliding: bool,
    pub refresh: bool,
    pub same_site: SameSite,
    pub http_only: bool,
    pub secure: bool,
    pub store: Option<SessionStoreConfig>,
    /// `session.secret`: the root of the session keys when set (else the client secret).
    pub secret: Option<SecretRef>,
}

/// Shortest `session.secret`, in bytes (checked here when written inline, when resolved
/// otherwise).
pub const MIN_SESSION_SECRET_LEN: usize = 32;

/// The complaint about a `session.secret` shorter than [`MIN_SESSION_SECRET_LEN`].
pub fn session_secret_too_short(len: usize) -> String {
    format!(
        "must be at least {MIN_SESSION_SECRET_LEN} bytes (it is {len}); use a random value, e.g. the output of `openssl rand -base64 32`"
    )
}

/// `session.store`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStoreConfig {
    pub redis: RedisConfig,
    pub key_prefix: String,
}

/// `csrf.*` (present means enabled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrfConfig {
    pub secure: bool,
    pub header_name: HeaderName,
}

/// Validates `plugin.oidc` at `path`, reporting every problem; `None` when any was found.
pub fn validate(
    raw: &RawOidc,
    middleware_name: &str,
    path: &Path,
    errors: &mut Errors,
) -> Option<OidcConfig> {
    let before = errors.len();

    let issuer = common::absolute_http_url(&raw.issuer, &path.key("issuer"), errors)
        .map(|_| raw.issuer.clone());
    let redirect_url = if raw.redirect_url.is_empty() {
        errors.push(&path.key("redirectUrl"), "is required");
        None
    } else {
        common::optional_url(Some(&raw.redirect_url), &path.key("redirectUrl"), errors)
    };

    let client_id =
        common::optional_secret(raw.client_id.as_deref(), &path.key("clientID"), errors);
    let client_secret = common::optional_secret(
        raw.client_secret.as_deref(),
        &path.key("clientSecret"),
        errors,
    );
    let id_set = raw.client_id.as_deref().is_some_and(|s| !s.is_empty());
    let secret_set = raw.client_secret.as_deref().is_some_and(|s| !s.is_empty());
    match (id_set, secret_set) {
        (false, false) => {
            errors.push(&path.key("clientID"), "is required");
            errors.push(&path.key("clientSecret"), "is required");
        }
        (true, false) => errors.push(
            &path.key("clientSecret"),
            "must be set when clientID is set",
        ),
        (false, true) => errors.push(
            &path.key("clientID"),
            "must be set when clientSecret is set",
        ),
        (true, true) => {}
    }

    let claims = common::claims_expression(raw.claims.as_deref(), &path.key("claims"), errors);
    let username_claim = common::username_claim(
        raw.username_claim.as_deref(),
        &path.key("usernameClaim"),
        errors,
    );
    let forward_headers =
        common::forward_headers(&raw.forward_headers, &path.key("forwardHeaders"), errors);
    let client_config = common::validate_client_config(
        raw.client_config.as_ref(),
        &path.key("clientConfig"),
        errors,
    );

    let scopes = validate_scopes(raw.scopes.as_deref(), &path.key("scopes"), errors);
    let auth_params = validate_auth_params(&raw.auth_params, &path.key("authParams"), errors);
    let discovery_params: Vec<(String, String)> = raw
        .discovery_params
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, _) in &discovery_params {
        if key.is_empty() {
            errors.push(
                &path.key("discoveryParams"),
                "parameter names must not be empty",
            );
        }
    }

    let url = |text: &Option<String>, key: &str, errors: &mut Errors| {
        common::optional_url(text.as_deref(), &path.key(key), errors)
    };
    let login_url = url(&raw.login_url, "loginUrl", errors);
    let logout_url = url(&raw.logout_url, "logoutUrl", errors);
    let post_login_redirect_url = url(&raw.post_login_redirect_url, "postLoginRedirectUrl", errors);
    let post_logout_redirect_url = url(
        &raw.post_logout_redirect_url,
        "postLogoutRedirectUrl",
        errors,
    );
    let backchannel_logout_url = url(&raw.backchannel_logout_url, "backchannelLogoutUrl", errors);

    let state_cookie = validate_state_cookie(
        raw.state_cookie.as_ref(),
        middleware_name,
        &path.key("stateCookie"),
        errors,
    );
    let session = validate_session(
        raw.session.as_ref(),
        middleware_name,
        &path.key("session"),
        errors,
    );
    if session
        .as_ref()
        .is_some_and(|session| session.name == state_cookie.name)
    {
        errors.push(
            &path.key("stateCookie").key("name"),
            "must differ from session.name",
        );
    }
    let csrf = raw.csrf.as_ref().and_then(|csrf| {
        let header_path = path.key("csrf").key("headerName");
        let name = csrf
            .header_name
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(DEFAULT_CSRF_HEADER);
        match HeaderName::from_bytes(name.as_bytes()) {
            Ok(header_name) => Some(CsrfConfig {
                secure: csrf.secure,
                header_name,
            }),
            Err(_) => {
                errors.push(&header_path, format!("invalid header name {name:?}"));
                None
            }
        }
    });

    if errors.len() != before {
        return None;
    }
    Some(OidcConfig {
        middleware_name: middleware_name.to_owned(),
        issuer: issuer?,
        redirect_url: redirect_url?,
        client_id: client_id?,
        client_secret: client_secret?,
        claims,
        username_claim,
        forward_headers,
        client_config,
        pkce: raw.pkce,
        discovery_params,
        scopes,
        auth_params,
        disable_login: raw.disable_login,
        login_url,
        logout_url,
        post_login_redirect_url,
        post_logout_redirect_url,
        end_provider_session: raw.end_provider_session,
        backchannel_logout_url,
        backchannel_logout_sessions_required: raw.backchannel_logout_sessions_required,
        state_cookie,
        session: session?,
        csrf,
        spelling_notes: Vec::new(),
    })
}

fn validate_scopes(raw: Option<&[String]>, path: &Path, errors: &mut Errors) -> Vec<String> {
    let Some(raw) = raw.filter(|scopes| !scopes.is_empty()) else {
        return vec![DEFAULT_SCOPE.to_owned()];
    };
    let mut scopes: Vec<String> = Vec::new();
    for (index, scope) in raw.iter().enumerate() {
        let valid = !scope.is_empty()
            && scope
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
        if !valid {
            errors.push(&path.index(index), format!("invalid scope {scope:?}"));
        } else if !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }
    if !raw.iter().any(|s| s == DEFAULT_SCOPE) {
        errors.push(path, "must contain openid");
    }
    scopes
}

fn validate_auth_params(
    raw: &IndexMap<String, String>,
    path: &Path,
    errors: &mut Errors,
) -> Vec<(String, String)> {
    let mut params = Vec::new();
    for (key, value) in raw {
        if key.is_empty() {
            errors.push(path, "parameter names must not be empty");
            continue;
        }
        if RESERVED_AUTH_PARAMS.contains(&key.as_str()) {
            errors.push(
                &path.key(key),
                "is set by the middleware and cannot be overridden",
            );
            continue;
        }
        // An empty `prompt` means "do not send prompt at all" (reference behaviour).
        if key == "prompt" && value.is_empty() {
            continue;
        }
        params.push((key.clone(), value.clone()));
    }
    params
}

fn validate_state_cookie(
    raw: Option<&RawStateCookie>,
    middleware_name: &str,
    path: &Path,
    errors: &mut Errors,
) -> StateCookieConfig {
    let default = RawStateCookie::default();
    let raw = raw.unwrap_or(&default);
    StateCookieConfig {
        name: common::cookie_name(
            raw.name.as_deref(),
            || common::cookie_name_from(middleware_name, "-state"),
            &path.key("name"),
            errors,
        ),
        path: common::cookie_path(raw.path.as_deref(), &path.key("path"), errors),
        domain: common::cookie_domain(raw.domain.as_deref(), &path.key("domain"), errors),
        max_age: match &raw.max_age {
            None => DEFAULT_STATE_MAX_AGE_SECONDS,
            Some(max_age) => crate::validate::parse_signed_seconds(max_age).unwrap_or_else(|e| {
                errors.push(&path.key("maxAge"), e);
                DEFAULT_STATE_MAX_AGE_SECONDS
            }),
        },
        same_site: common::same_site(raw.same_site.as_deref(), &path.key("sameSite"), errors),
        http_only: raw.http_only.unwrap_or(true),
        secure: raw.secure,
    }
}

fn validate_session(
    raw: Option<&RawSession>,
    middleware_name: &str,
    path: &Path,
    errors: &mut Errors,
) -> Option<SessionConfig> {
    let default = RawSession::default();
    let raw = raw.unwrap_or(&default);
    let expiry = match &raw.expiry {
        None => Some(Duration::from_secs(DEFAULT_SESSION_EXPIRY_SECONDS)),
        Some(expiry) => crate::validate::parse_positive_duration(expiry)
            .map_err(|e| errors.push(&path.key("expiry"), e))
            .ok(),
    };
    let store = raw.store.as_ref().and_then(|store| {
        let store_path = path.key("store");
        match &store.redis {
            None => {
                errors.push(&store_path.key("redis"), "is required when store is set");
                None
            }
            Some(redis) => {
                common::validate_redis(redis, &store_path.key("redis"), errors).map(|redis| {
                    SessionStoreConfig {
                        redis,
                        key_prefix: store.key_prefix.clone().unwrap_or_default(),
                    }
                })
            }
        }
    });
    let name = common::cookie_name(
        raw.name.as_deref(),
        || common::cookie_name_from(middleware_name, "-session"),
        &path.key("name"),
        errors,
    );
    let secret_path = path.key("secret");
    let secret = common::optional_secret(raw.secret.as_deref(), &secret_path, errors);
    if let Some(SecretRef::Inline(value)) = &secret {
        let len = value.expose().len();
        if len < MIN_SESSION_SECRET_LEN {
            errors.push(&secret_path, session_secret_too_short(len));
        }
    }
    let cookie_path = common::cookie_path(raw.path.as_deref(), &path.key("path"), errors);
    let domain = common::cookie_domain(raw.domain.as_deref(), &path.key("domain"), errors);
    let same_site = common::same_site(raw.same_site.as_deref(), &path.key("sameSite"), errors);
    Some(SessionConfig {
        name,
        path: cookie_path,
        domain,
        expiry: expiry?,
        sliding: raw.sliding.unwrap_or(true),
        refresh: raw.refresh.unwrap_or(true),
        same_site,
        http_only: raw.http_only.unwrap_or(true),
        secure: raw.secure,
        store,
        secret,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<OidcConfig, Vec<String>> {
        let raw: RawOidc = serde_saphyr::from_str(yaml).map_err(|e| vec![e.to_string()])?;
        let mut errors = Errors::new();
        let path = Path::root().key("oidc");
        let config = validate(&raw, "oidc-login", &path, &mut errors);
        match config {
            Some(config) if errors.is_empty() => Ok(config),
            _ => Err(errors.into_vec().iter().map(|e| e.to_string()).collect()),
        }
    }

    const MINIMAL: &str = "issuer: https://idp.example.com/realms/r\nredirectUrl: /callback\nclientID: my-client\nclientSecret: s3cret\n";

    #[test]
    fn defaults_follow_the_reference_table() {
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.issuer, "https://idp.example.com/realms/r");
        assert_eq!(config.scopes, ["openid"]);
        assert!(!config.pkce && !config.disable_login);
        assert_eq!(config.client_config, ClientConfig::default());
        assert_eq!(config.client_config.timeout, Duration::from_secs(5));
        assert_eq!(config.client_config.max_retries, 3);
        let state = &config.state_cookie;
        assert_eq!(state.name, "oidc-login-state");
        assert_eq!(state.path, "/");
        assert_eq!(state.max_age, 600);
        assert_eq!(state.same_site, SameSite::Lax);
        assert!(state.http_only && !state.secure && state.domain.is_none());
        let session = &config.session;
        assert_eq!(session.name, "oidc-login-session");
        assert_eq!(session.expiry, Duration::from_secs(86_400));
        assert!(session.sliding && session.refresh && session.http_only && !session.secure);
        assert_eq!(session.same_site, SameSite::Lax);
        assert!(session.store.is_none());
        assert!(config.csrf.is_none());
        assert!(config.claims.is_none() && config.username_claim.is_none());
    }

    #[test]
    fn the_seed_example_parses() {
        let yaml = r#"
issuer: "https://tenant.auth0.com/realms/myrealm"
redirectUrl: "/callback"
clientID: "urn:k8s:secret:my-secret:clientId"
clientSecret: "urn:k8s:secret:my-secret:clientSecret"
session:
  name: customsessioncookiename
  sliding: false
  refresh: false
  expiry: 10
  sameSite: none
  httpOnly: false
  secure: true
stateCookie:
  name: customstatecookiename
  maxAge: 10
  sameSite: none
  httpOnly: true
  secure: true
forwardHeaders:
  Group: grp
  Expires-At: exp
claims: Equals(`grp`, `admin`)
csrf: {}
"#;
        let config = parse(yaml).unwrap();
        assert_eq!(
            config.client_id,
            SecretRef::Kubernetes {
                name: "my-secret".into(),
                key: "clientId".into()
            }
        );
        assert_eq!(config.session.expiry, Duration::from_secs(10));
        assert!(!config.session.sliding && !config.session.refresh);
        assert_eq!(config.session.same_site, SameSite::None);
        assert_eq!(config.state_cookie.name, "customstatecookiename");
        assert_eq!(config.forward_headers.len(), 2);
        assert_eq!(config.forward_headers[0].header.as_str(), "group");
        let csrf = config.csrf.unwrap();
        assert_eq!(csrf.header_name.as_str(), "traefikhub-csrf-token");
        assert!(!csrf.secure);
        assert!(config.claims.is_some());
    }

    #[test]
    fn client_id_has_two_spellings() {
        let yaml =
            "issuer: https://idp.example.com\nredirectUrl: /cb\nclientId: camel\nclientSecret: s\n";
        assert_eq!(
            parse(yaml).unwrap().client_id,
            SecretRef::Inline(crate::Secret::new("camel"))
        );
        let both = format!("{yaml}clientID: upper\n");
        assert!(parse(&both).is_err());
    }

    #[test]
    fn every_option_parses() {
        let yaml = r#"
issuer: https://idp.example.com
redirectUrl: https://app.example.com/callback
clientID: env:CLIENT_ID
clientSecret: file:/run/secret
usernameClaim: preferred_username
clientConfig:
  tls: { ca: "urn:k8s:secret:tls:ca", cert: "urn:k8s:secret:tls:cert", key: "urn:k8s:secret:tls:key", insecureSkipVerify: true }
  timeoutSeconds: 2
  maxRetries: 0
pkce: true
discoveryParams: { tenant: acme }
scopes: [openid, profile, email, openid]
authParams: { prompt: "", audience: api, acr_values: mfa }
disableLogin: true
loginUrl: /login
logoutUrl: app.example.com/logout
postLoginRedirectUrl: /after/login
postLogoutRedirectUrl: https://app.example.com/bye
backchannelLogoutUrl: /backchannel-logout
backchannelLogoutSessionsRequired: true
session:
  path: /app
  domain: example.com
  store:
    keyPrefix: sessions
    redis:
      endpoints: [redis:6379]
      username: user
      password: "urn:k8s:secret:oidc:redisPass"
      database: 2
      cluster: false
      tls: { caBundle: ca, cert: c, key: k, insecureSkipVerify: false }
      sentinel: { masterSet: mymaster, username: su, password: sp }
csrf: { secure: true, headerName: X-Csrf }
"#;
        let config = parse(yaml).unwrap();
        assert!(config.pkce && config.disable_login);
        assert_eq!(config.scopes, ["openid", "profile", "email"]);
        assert_eq!(
            config.auth_params,
            [
                ("audience".to_owned(), "api".to_owned()),
                ("acr_values".to_owned(), "mfa".to_owned())
            ]
        );
        assert_eq!(
            config.discovery_params,
            [("tenant".to_owned(), "acme".to_owned())]
        );
        assert_eq!(config.client_config.timeout, Duration::from_secs(2));
        assert_eq!(config.client_config.max_retries, 0);
        assert!(config.client_config.tls.insecure_skip_verify);
        assert!(config.client_config.tls.ca.is_some());
        assert!(matches!(
            config.logout_url,
            Some(ConfiguredUrl::HostPath { .. })
        ));
        assert!(matches!(
            config.redirect_url,
            ConfiguredUrl::Absolute { https: true, .. }
        ));
        assert!(config.backchannel_logout_sessions_required);
        let store = config.session.store.unwrap();
        assert_eq!(store.key_prefix, "sessions");
        assert_eq!(store.redis.database, 2);
        assert_eq!(store.redis.sentinel.unwrap().master_set, "mymaster");
        let csrf = config.csrf.unwrap();
        assert!(csrf.secure);
        assert_eq!(csrf.header_name.as_str(), "x-csrf");
        assert_eq!(config.session.domain.as_deref(), Some("example.com"));
        assert!(config.username_claim.is_some());
    }

    #[test]
    fn every_error_is_reported_with_its_path() {
        let yaml = r#"
issuer: ftp://idp.example.com
redirectUrl: "javascript:alert(1)"
clientSecret: s
claims: "Equals(`grp`"
usernameClaim: "a\\b"
forwardHeaders: { "Bad Header": grp }
clientConfig: { timeoutSeconds: 0, maxRetries: 11 }
scopes: [profile, "a b"]
authParams: { state: fixed, "": x }
loginUrl: "ftp://x/login"
logoutUrl: "//evil/logout"
postLoginRedirectUrl: "mailto:a@b"
postLogoutRedirectUrl: "/a b"
backchannelLogoutUrl: "gopher://x"
stateCookie: { name: "bad;name", path: nopath, sameSite: sometimes }
session:
  name: "bad name"
  expiry: 0
  domain: "exa mple.com"
  sameSite: always
  store: { redis: { endpoints: [] } }
csrf: { headerName: "bad header" }
"#;
        let errors = parse(yaml).unwrap_err();
        let expected = [
            "oidc.issuer: unsupported scheme \"ftp\": only http and https are supported",
            "oidc.redirectUrl: unsupported scheme \"javascript\": only http and https are supported",
            "oidc.clientID: must be set when clientSecret is set",
            "oidc.claims: invalid expression:",
            "oidc.usernameClaim: invalid claim key:",
            "oidc.forwardHeaders.Bad Header: invalid header name",
            "oidc.clientConfig.timeoutSeconds: must be greater than 0",
            "oidc.clientConfig.maxRetries: must be between 0 and 10",
            "oidc.scopes[1]: invalid scope \"a b\"",
            "oidc.scopes: must contain openid",
            "oidc.authParams.state: is set by the middleware and cannot be overridden",
            "oidc.authParams: parameter names must not be empty",
            "oidc.loginUrl: unsupported scheme \"ftp\"",
            "oidc.logoutUrl: invalid URL \"//evil/logout\"",
            "oidc.postLoginRedirectUrl: unsupported scheme \"mailto\"",
            "oidc.postLogoutRedirectUrl: invalid URL \"/a b\": contains whitespace",
            "oidc.backchannelLogoutUrl: unsupported scheme \"gopher\"",
            "oidc.stateCookie.name: invalid cookie name \"bad;name\"",
            "oidc.stateCookie.path: invalid cookie path \"nopath\"",
            "oidc.stateCookie.sameSite: unknown value \"sometimes\"",
            "oidc.session.expiry: must be greater than 0",
            "oidc.session.store.redis.endpoints: at least one endpoint is required",
            "oidc.session.name: invalid cookie name \"bad name\"",
            "oidc.session.domain: invalid cookie domain \"exa mple.com\"",
            "oidc.session.sameSite: unknown value \"always\"",
            "oidc.csrf.headerName: invalid header name \"bad header\"",
        ];
        for want in expected {
            assert!(
                errors.iter().any(|e| e.starts_with(want)),
                "missing {want:?} in {errors:#?}"
            );
        }
        assert_eq!(errors.len(), expected.len(), "{errors:#?}");
    }

    #[test]
    fn required_options() {
        let errors = parse("{}").unwrap_err();
        assert_eq!(
            errors,
            [
                "oidc.issuer: is required",
                "oidc.redirectUrl: is required",
                "oidc.clientID: is required",
                "oidc.clientSecret: is required",
            ]
        );
        let errors = parse("issuer: https://i\nredirectUrl: /cb\nclientID: id\n").unwrap_err();
        assert_eq!(
            errors,
            ["oidc.clientSecret: must be set when clientID is set"]
        );
        let errors = parse(&format!("{MINIMAL}session: {{ expiry: -5 }}\n")).unwrap_err();
        assert_eq!(errors, ["oidc.session.expiry: must be greater than 0"]);
        let errors = parse(&format!(
            "{MINIMAL}stateCookie: {{ name: oidc-login-session }}\n"
        ))
        .unwrap_err();
        assert_eq!(
            errors,
            ["oidc.stateCookie.name: must differ from session.name"]
        );
        let errors = parse(&format!("{MINIMAL}session: {{ store: {{}} }}\n")).unwrap_err();
        assert_eq!(
            errors,
            ["oidc.session.store.redis: is required when store is set"]
        );
    }

    #[test]
    fn session_secret_is_a_secret_reference_of_at_least_32_bytes() {
        assert_eq!(parse(MINIMAL).unwrap().session.secret, None);
        let inline = "0123456789abcdef0123456789abcdef";
        let config = parse(&format!("{MINIMAL}session: {{ secret: \"{inline}\" }}\n")).unwrap();
        assert_eq!(
            config.session.secret,
            Some(SecretRef::Inline(crate::Secret::new(inline)))
        );
        let config = parse(&format!(
            "{MINIMAL}session: {{ secret: \"urn:k8s:secret:sessions:key\" }}\n"
        ))
        .unwrap();
        assert_eq!(
            config.session.secret,
            Some(SecretRef::Kubernetes {
                name: "sessions".into(),
                key: "key".into()
            })
        );
        let config = parse(&format!(
            "{MINIMAL}session: {{ secret: \"env:SESSION_KEY\" }}\n"
        ))
        .unwrap();
        assert_eq!(
            config.session.secret,
            Some(SecretRef::Env("SESSION_KEY".into()))
        );
        let errors = parse(&format!("{MINIMAL}session: {{ secret: short }}\n")).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("oidc.session.secret: must be at least 32 bytes (it is 5)"),
            "{errors:?}"
        );
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(parse(&format!("{MINIMAL}clientSecrett: x\n")).is_err());
        assert!(parse(&format!("{MINIMAL}session: {{ expiri: 5 }}\n")).is_err());
        assert!(parse(&format!("{MINIMAL}csrf: {{ header: x }}\n")).is_err());
    }

    #[test]
    fn empty_prompt_is_dropped() {
        let config = parse(&format!("{MINIMAL}authParams: {{ prompt: \"\" }}\n")).unwrap();
        assert!(config.auth_params.is_empty());
        let config = parse(&format!("{MINIMAL}authParams: {{ prompt: login }}\n")).unwrap();
        assert_eq!(
            config.auth_params,
            [("prompt".to_owned(), "login".to_owned())]
        );
    }
}
