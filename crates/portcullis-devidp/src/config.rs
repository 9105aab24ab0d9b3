//! Configuration of the development provider: clients, users, lifetimes and keys, read from YAML
//! (unknown keys are refused, so a typo is an error rather than a silently ignored setting) or
//! built in code by tests.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};

use crate::error::DevIdpError;

/// A secret (client secret, user password) whose `Debug` output is redacted.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// A JWS signing algorithm the provider has keys for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Default)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys.
    #[default]
    RS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
}

impl Alg {
    /// The JOSE name of the algorithm.
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
        }
    }

    /// Every algorithm the provider signs with.
    pub const ALL: [Alg; 2] = [Alg::RS256, Alg::ES256];
}

/// An OAuth 2.0 grant type the token endpoint serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// `authorization_code` (OpenID Connect code flow, with or without PKCE).
    AuthorizationCode,
    /// `refresh_token`, with rotation.
    RefreshToken,
    /// `client_credentials`.
    ClientCredentials,
}

impl GrantType {
    /// The grant type's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }

    /// Parses a `grant_type` parameter.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "authorization_code" => Some(GrantType::AuthorizationCode),
            "refresh_token" => Some(GrantType::RefreshToken),
            "client_credentials" => Some(GrantType::ClientCredentials),
            _ => None,
        }
    }

    /// Every grant type.
    pub const ALL: [GrantType; 3] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
    ];
}

fn all_grants() -> Vec<GrantType> {
    GrantType::ALL.to_vec()
}

/// A registered client (relying party).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    pub(crate) id: String,
    pub(crate) secret: Secret,
    #[serde(default)]
    pub(crate) redirect_uris: Vec<String>,
    #[serde(default)]
    pub(crate) post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub(crate) backchannel_logout_uri: Option<String>,
    #[serde(default = "all_grants")]
    pub(crate) grant_types: Vec<GrantType>,
    /// `aud` of the access tokens issued to this client; default `<issuer>/api`.
    #[serde(default)]
    pub(crate) access_token_audience: Option<String>,
    /// Claims added to every access token issued to this client.
    #[serde(default)]
    pub(crate) access_token_claims: Map<String, Value>,
    #[serde(default)]
    pub(crate) id_token_signing_alg: Alg,
}

impl ClientSpec {
    /// A client with every grant type allowed, ID tokens signed with RS256.
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            secret: Secret::new(secret),
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
            grant_types: all_grants(),
            access_token_audience: None,
            access_token_claims: Map::new(),
            id_token_signing_alg: Alg::RS256,
        }
    }

    /// Registers a redirect URI (matched exactly).
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uris.push(uri.into());
        self
    }

    /// Registers a post-logout redirect URI (matched exactly).
    pub fn post_logout_redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.post_logout_redirect_uris.push(uri.into());
        self
    }

    /// Sets the URL the provider POSTs logout tokens to.
    pub fn backchannel_logout_uri(mut self, uri: impl Into<String>) -> Self {
        self.backchannel_logout_uri = Some(uri.into());
        self
    }

    /// Restricts the grant types the client may use.
    pub fn grant_types(mut self, grants: impl IntoIterator<Item = GrantType>) -> Self {
        self.grant_types = grants.into_iter().collect();
        self
    }

    /// Sets the `aud` of the client's access tokens.
    pub fn access_token_audience(mut self, audience: impl Into<String>) -> Self {
        self.access_token_audience = Some(audience.into());
        self
    }

    /// Adds claims to the client's access tokens; `claims` must be a JSON object (anything
    /// else is ignored).
    pub fn access_token_claims(mut self, claims: Value) -> Self {
        if let Value::Object(map) = claims {
            self.access_token_claims.extend(map);
        }
        self
    }

    /// Chooses the algorithm that signs the client's ID tokens and logout tokens.
    pub fn id_token_signing_alg(mut self, alg: Alg) -> Self {
        self.id_token_signing_alg = alg;
        self
    }

    /// The client id.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

/// A user who can log in at the provider's login form.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub(crate) username: String,
    /// When set, the login form demands it; otherwise any password (or none) is accepted.
    #[serde(default)]
    pub(crate) password: Option<Secret>,
    /// The `sub` claim; default the username.
    #[serde(default)]
    pub(crate) sub: Option<String>,
    /// Claims put into the user's ID tokens, access tokens and userinfo answers.
    #[serde(default)]
    pub(crate) claims: Map<String, Value>,
}

impl UserSpec {
    /// A user without a password whose `sub` is the username.
    pub fn new(username: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: None,
            sub: None,
            claims: Map::new(),
        }
    }

    /// Requires this password at the login form.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(Secret::new(password));
        self
    }

    /// Sets the `sub` claim.
    pub fn subject(mut self, sub: impl Into<String>) -> Self {
        self.sub = Some(sub.into());
        self
    }

    /// Adds claims (nested objects allowed); `claims` must be a JSON object (anything else is
    /// ignored).
    pub fn claims(mut self, claims: Value) -> Self {
        if let Value::Object(map) = claims {
            self.claims.extend(map);
        }
        self
    }

    /// The login name.
    pub fn username(&self) -> &str {
        &self.username
    }

    pub(crate) fn effective_sub(&self) -> &str {
        self.sub.as_deref().unwrap_or(&self.username)
    }
}

/// How long codes and tokens live.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Lifetimes {
    /// Authorization codes (default 60 s).
    #[serde(deserialize_with = "duration")]
    pub code: Duration,
    /// ID tokens (default 300 s).
    #[serde(deserialize_with = "duration")]
    pub id_token: Duration,
    /// Access tokens (default 300 s).
    #[serde(deserialize_with = "duration")]
    pub access_token: Duration,
    /// Refresh tokens (default 24 h).
    #[serde(deserialize_with = "duration")]
    pub refresh_token: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            code: Duration::from_secs(60),
            id_token: Duration::from_secs(300),
            access_token: Duration::from_secs(300),
            refresh_token: Duration::from_secs(24 * 3600),
        }
    }
}

/// Accepts a number of seconds or a human-readable duration such as `"5m"`.
fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Seconds(s) => Ok(Duration::from_secs(s)),
        Raw::Text(t) => humantime::parse_duration(&t).map_err(serde::de::Error::custom),
    }
}

/// A signing key: generated at start unless a PKCS#8 PEM private key is given.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    /// The key's algorithm.
    pub alg: Alg,
    /// The key id; generated when absent.
    #[serde(default)]
    pub kid: Option<String>,
    /// A PKCS#8 private key in PEM form (`-----BEGIN PRIVATE KEY-----`).
    #[serde(default)]
    pub private_key_pem: Option<Secret>,
}

impl KeySpec {
    /// A key generated at start.
    pub fn generated(alg: Alg) -> Self {
        Self {
            alg,
            kid: None,
            private_key_pem: None,
        }
    }
}

fn yes() -> bool {
    true
}

/// The whole provider configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevIdpConfig {
    /// The issuer URL; when absent, `http://<bound address>` is used.
    #[serde(default)]
    pub(crate) issuer: Option<String>,
    #[serde(default)]
    pub(crate) clients: Vec<ClientSpec>,
    #[serde(default)]
    pub(crate) users: Vec<UserSpec>,
    #[serde(default)]
    pub(crate) lifetimes: Lifetimes,
    /// Signing keys; the first of each algorithm signs. An algorithm without a key here gets a
    /// generated one.
    #[serde(default)]
    pub(crate) keys: Vec<KeySpec>,
    /// Whether a username that is not configured may log in (with only `sub` and
    /// `preferred_username` as claims).
    #[serde(default = "yes")]
    pub(crate) accept_any_username: bool,
}

impl Default for DevIdpConfig {
    fn default() -> Self {
        Self {
            issuer: None,
            clients: Vec::new(),
            users: Vec::new(),
            lifetimes: Lifetimes::default(),
            keys: Vec::new(),
            accept_any_username: true,
        }
    }
}

/// The demo client's id.
pub const DEMO_CLIENT_ID: &str = "gw";
/// The demo client's secret.
pub const DEMO_CLIENT_SECRET: &str = "gw-secret";
/// The demo machine client (client credentials only).
pub const DEMO_SERVICE_CLIENT_ID: &str = "svc";
/// The demo machine client's secret.
pub const DEMO_SERVICE_CLIENT_SECRET: &str = "svc-secret";

impl DevIdpConfig {
    /// Parses a YAML configuration and validates it.
    pub fn from_yaml_str(yaml: &str) -> Result<Self, DevIdpError> {
        let config: DevIdpConfig =
            serde_saphyr::from_str(yaml).map_err(|e| DevIdpError::ConfigSyntax(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates a YAML configuration file.
    pub fn from_yaml_file(path: impl AsRef<Path>) -> Result<Self, DevIdpError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| DevIdpError::ReadConfig {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_yaml_str(&text)
    }

    /// The preset that `portcullis demo` runs: the provider at `idp_addr`, a web client `gw`
    /// whose callback, post-logout and back-channel URLs live under `gateway_origin`
    /// (`/callback`, `/logged-out`, `/backchannel-logout`), a machine client `svc`, and two users:
    /// `alice` (grp `admin`) and `bob` (grp `user`), without passwords.
    pub fn demo(idp_addr: SocketAddr, gateway_origin: &str) -> Self {
        let origin = gateway_origin.trim_end_matches('/');
        let gateway = ClientSpec::new(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
            .redirect_uri(format!("{origin}/callback"))
            .post_logout_redirect_uri(format!("{origin}/logged-out"))
            .backchannel_logout_uri(format!("{origin}/backchannel-logout"))
            .access_token_claims(json!({
                "grp": "gateway", "areas": ["office"],
                "user": {"name": "gw-robot", "dept": "platform"}
            }));
        let service = ClientSpec::new(DEMO_SERVICE_CLIENT_ID, DEMO_SERVICE_CLIENT_SECRET)
            .grant_types([GrantType::ClientCredentials])
            .access_token_claims(json!({
                "grp": "service", "areas": ["office", "backend"],
                "user": {"name": "svc-robot", "dept": "automation"}
            }));
        let alice = UserSpec::new("alice").claims(json!({
            "name": "Alice Example", "preferred_username": "alice",
            "email": "alice@example.test", "email_verified": true,
            "grp": "admin", "areas": ["office", "home"],
            "user": {"name": "alice", "dept": "it", "level": 9}
        }));
        let bob = UserSpec::new("bob").claims(json!({
            "name": "Bob Example", "preferred_username": "bob",
            "email": "bob@example.test", "email_verified": true,
            "grp": "user", "areas": ["home"],
            "user": {"name": "bob", "dept": "staff", "level": 1}
        }));
        Self {
            issuer: Some(format!("http://{idp_addr}")),
            clients: vec![gateway, service],
            users: vec![alice, bob],
            ..Self::default()
        }
    }

    /// Sets the issuer URL (no trailing slash).
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Adds a client, replacing one with the same id.
    pub fn with_client(mut self, client: ClientSpec) -> Self {
        self.clients.retain(|c| c.id != client.id);
        self.clients.push(client);
        self
    }

    /// Adds a user, replacing one with the same username.
    pub fn with_user(mut self, user: UserSpec) -> Self {
        self.users.retain(|u| u.username != user.username);
        self.users.push(user);
        self
    }

    /// Adds a signing key.
    pub fn with_key(mut self, key: KeySpec) -> Self {
        self.keys.push(key);
        self
    }

    /// Whether unconfigured usernames may log in.
    pub fn with_accept_any_username(mut self, accept: bool) -> Self {
        self.accept_any_username = accept;
        self
    }

    /// The configured issuer, if any.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The configured clients.
    pub fn clients(&self) -> &[ClientSpec] {
        &self.clients
    }

    /// The configured users.
    pub fn users(&self) -> &[UserSpec] {
        &self.users
    }

    /// The configured lifetimes.
    pub fn lifetimes(&self) -> Lifetimes {
        self.lifetimes
    }

    pub(crate) fn lifetimes_mut(&mut self) -> &mut Lifetimes {
        &mut self.lifetimes
    }

    /// Checks the configuration's consistency and reports every problem at once.
    pub fn validate(&self) -> Result<(), DevIdpError> {
        let mut problems = Vec::new();
        if let Some(issuer) = &self.issuer {
            check_issuer(issuer, &mut problems);
        }
        for (i, client) in self.clients.iter().enumerate() {
            check_client(i, client, &self.clients, &mut problems);
        }
        for (i, user) in self.users.iter().enumerate() {
            if user.username.is_empty() {
                problems.push(format!("users[{i}].username: must not be empty"));
            }
            if self
                .users
                .iter()
                .filter(|u| u.username == user.username)
                .count()
                > 1
            {
                problems.push(format!(
                    "users[{i}].username: duplicate {:?}",
                    user.username
                ));
            }
        }
        let lifetimes = [
            ("code", self.lifetimes.code),
            ("id_token", self.lifetimes.id_token),
            ("access_token", self.lifetimes.access_token),
            ("refresh_token", self.lifetimes.refresh_token),
        ];
        for (name, value) in lifetimes {
            if value.is_zero() {
                problems.push(format!("lifetimes.{name}: must be greater than 0"));
            }
        }
        for (i, key) in self.keys.iter().enumerate() {
            if let Some(kid) = &key.kid {
                if kid.is_empty() {
                    problems.push(format!("keys[{i}].kid: must not be empty"));
                }
                let same = self.keys.iter().filter(|k| k.kid.as_ref() == Some(kid));
                if same.count() > 1 {
                    problems.push(format!("keys[{i}].kid: duplicate {kid:?}"));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(DevIdpError::ConfigInvalid(problems.join("; ")))
        }
    }
}

fn check_issuer(issuer: &str, problems: &mut Vec<String>) {
    match url::Url::parse(issuer) {
        Ok(url) => {
            if !matches!(url.scheme(), "http" | "https") {
                problems.push("issuer: must be an http or https URL".to_owned());
            }
            if url.query().is_some() || url.fragment().is_some() {
                problems.push("issuer: must have no query or fragment".to_owned());
            }
            if issuer.ends_with('/') {
                problems.push("issuer: must not end with '/'".to_owned());
            }
        }
        Err(e) => problems.push(format!("issuer: {e}")),
    }
}

fn check_client(i: usize, client: &ClientSpec, all: &[ClientSpec], problems: &mut Vec<String>) {
    let at = format!("clients[{i}]");
    if client.id.is_empty() {
        problems.push(format!("{at}.id: must not be empty"));
    }
    if all.iter().filter(|c| c.id == client.id).count() > 1 {
        problems.push(format!("{at}.id: duplicate {:?}", client.id));
    }
    if client.secret.expose().is_empty() {
        problems.push(format!("{at}.secret: must not be empty"));
    }
    if client.grant_types.is_empty() {
        problems.push(format!("{at}.grant_types: must not be empty"));
    }
    if client.allows(GrantType::AuthorizationCode) && client.redirect_uris.is_empty() {
        problems.push(format!(
            "{at}.redirect_uris: required for the authorization_code grant"
        ));
    }
    let uris = client
        .redirect_uris
        .iter()
        .map(|u| ("redirect_uris", u))
        .chain(
            client
                .post_logout_redirect_uris
                .iter()
                .map(|u| ("post_logout_redirect_uris", u)),
        )
        .chain(
            client
                .backchannel_logout_uri
                .iter()
                .map(|u| ("backchannel_logout_uri", u)),
        );
    for (field, uri) in uris {
        match url::Url::parse(uri) {
            Ok(url) if url.fragment().is_some() => {
                problems.push(format!("{at}.{field}: {uri:?} must have no fragment"));
            }
            Ok(_) => {}
            Err(e) => problems.push(format!("{at}.{field}: {uri:?}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused() {
        let err = DevIdpConfig::from_yaml_str("clients: []\nclient: []\n").unwrap_err();
        assert!(err.to_string().contains("client"), "{err}");
    }

    #[test]
    fn durations_accept_seconds_and_text() {
        let config =
            DevIdpConfig::from_yaml_str("lifetimes:\n  code: 30\n  access_token: 5m\n").unwrap();
        assert_eq!(config.lifetimes.code, Duration::from_secs(30));
        assert_eq!(config.lifetimes.access_token, Duration::from_secs(300));
        assert_eq!(config.lifetimes.id_token, Duration::from_secs(300));
    }

    #[test]
    fn every_problem_is_reported() {
        let yaml = "issuer: http://x/\nclients:\n  - id: a\n    secret: ''\n  - id: a\n    secret: s\n    redirect_uris: ['not a url']\nlifetimes: {code: 0}\n";
        let err = DevIdpConfig::from_yaml_str(yaml).unwrap_err().to_string();
        for needle in [
            "issuer: must not end",
            "clients[0].secret",
            "clients[0].redirect_uris: required",
            "clients[1].id: duplicate",
            "clients[1].redirect_uris: \"not a url\"",
            "lifetimes.code",
        ] {
            assert!(err.contains(needle), "{needle} missing in {err}");
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let client = ClientSpec::new("a", "very-secret");
        assert!(!format!("{client:?}").contains("very-secret"));
    }

    #[test]
    fn demo_preset_is_valid() {
        let config = DevIdpConfig::demo(([127, 0, 0, 1], 9000).into(), "http://127.0.0.1:8080/");
        config.validate().unwrap();
        assert_eq!(config.issuer(), Some("http://127.0.0.1:9000"));
        assert_eq!(
            config.clients[0].redirect_uris,
            vec!["http://127.0.0.1:8080/callback"]
        );
        assert_eq!(config.users[0].claims["user"]["dept"], "it");
    }
}
