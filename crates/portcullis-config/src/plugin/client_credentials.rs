//! `plugin.oAuthClientCredentials` options: every key of the OAuth 2.0 Client Credentials
//! middleware's reference table, with its default and its checks.
//!
//! Two modes follow from the credentials: with `clientID`/`clientSecret` the gateway obtains one
//! token for itself; without them each request brings its own client credentials as HTTP Basic.

use indexmap::IndexMap;
use portcullis_claims::{ClaimPath, Expression};
use serde::Deserialize;

use super::common::{self, ClientConfig, ForwardHeader, RawClientConfig, RawRedis, RedisConfig};
use crate::errors::{Errors, Path};
use crate::secret::SecretRef;

/// Lengths `store.secret` may have (an AES key: 16, 24 or 32 bytes), as in the reference.
pub const STORE_SECRET_LENGTHS: [usize; 3] = [16, 24, 32];

/// `plugin.oAuthClientCredentials` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawClientCredentials {
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub audience: Option<String>,
    /// Both spellings are in use in the reference documentation.
    #[serde(default, rename = "clientID", alias = "clientId")]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub claims: Option<String>,
    #[serde(default)]
    pub forward_headers: IndexMap<String, String>,
    #[serde(default)]
    pub username_claim: Option<String>,
    #[serde(default)]
    pub client_config: Option<RawClientConfig>,
    #[serde(default)]
    pub store: Option<RawTokenStore>,
}

/// `store` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawTokenStore {
    #[serde(default)]
    pub key_prefix: Option<String>,
    /// Encryption secret of the stored tokens (from the newer reference).
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub redis: Option<RawRedis>,
}

/// A validated `plugin.oAuthClientCredentials` block.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientCredentialsConfig {
    /// The middleware's name, for logs and the Basic realm.
    pub middleware_name: String,
    /// The token endpoint (`url`).
    pub url: url::Url,
    /// `audience`, sent with every token request when set.
    pub audience: Option<String>,
    /// The gateway's own credentials; `None` means each request brings its own as HTTP Basic.
    pub credentials: Option<ConfiguredCredentials>,
    pub claims: Option<Expression>,
    pub forward_headers: Vec<ForwardHeader>,
    pub username_claim: Option<ClaimPath>,
    pub client_config: ClientConfig,
    pub store: TokenStoreConfig,
    /// Warnings for keys written in another spelling than the canonical one.
    pub spelling_notes: Vec<String>,
}

impl ClientCredentialsConfig {
    /// True when an option reads the access token's claims, so the token must be a JWT.
    pub fn reads_claims(&self) -> bool {
        self.claims.is_some() || !self.forward_headers.is_empty() || self.username_claim.is_some()
    }
}

/// `clientID` and `clientSecret`, always set together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredCredentials {
    pub client_id: SecretRef,
    pub client_secret: SecretRef,
}

/// `store.*`: where tokens are cached. Without `redis`, in the gateway's memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenStoreConfig {
    /// Prefix of the keys of the stored tokens (`store.keyPrefix`, default empty).
    pub key_prefix: String,
    /// `store.secret`: the key material of a shared store.
    pub secret: Option<SecretRef>,
    pub redis: Option<RedisConfig>,
}

/// Validates `plugin.oAuthClientCredentials` at `path`, reporting every problem; `None` when any
/// was found.
pub fn validate(
    raw: &RawClientCredentials,
    middleware_name: &str,
    path: &Path,
    errors: &mut Errors,
) -> Option<ClientCredentialsConfig> {
    let before = errors.len();

    let url = token_endpoint(&raw.url, &path.key("url"), errors);
    let audience = raw.audience.clone().filter(|a| !a.is_empty());
    if let Some(audience) = &audience
        && audience.chars().any(char::is_control)
    {
        errors.push(&path.key("audience"), "must not contain control characters");
    }
    let credentials = credentials(raw, path, errors);
    let claims = common::claims_expression(raw.claims.as_deref(), &path.key("claims"), errors);
    let forward_headers =
        common::forward_headers(&raw.forward_headers, &path.key("forwardHeaders"), errors);
    let username_claim = common::username_claim(
        raw.username_claim.as_deref(),
        &path.key("usernameClaim"),
        errors,
    );
    let client_config = common::validate_client_config(
        raw.client_config.as_ref(),
        &path.key("clientConfig"),
        errors,
    );
    let store = raw
        .store
        .as_ref()
        .map(|store| token_store(store, &path.key("store"), errors))
        .unwrap_or_default();

    if errors.len() != before {
        return None;
    }
    Some(ClientCredentialsConfig {
        middleware_name: middleware_name.to_owned(),
        url: url?,
        audience,
        credentials,
        claims,
        forward_headers,
        username_claim,
        client_config,
        store,
        spelling_notes: Vec::new(),
    })
}

/// `url`: an absolute http(s) URL without fragment.
fn token_endpoint(text: &str, path: &Path, errors: &mut Errors) -> Option<url::Url> {
    let url = common::absolute_http_url(text, path, errors)?;
    if url.fragment().is_some() {
        errors.push(path, "fragments are not allowed in the token endpoint URL");
        return None;
    }
    Some(url)
}

/// `clientID`/`clientSecret`: both or neither.
fn credentials(
    raw: &RawClientCredentials,
    path: &Path,
    errors: &mut Errors,
) -> Option<ConfiguredCredentials> {
    let id_path = path.key("clientID");
    let secret_path = path.key("clientSecret");
    let client_id = common::optional_secret(raw.client_id.as_deref(), &id_path, errors);
    let client_secret = common::optional_secret(raw.client_secret.as_deref(), &secret_path, errors);
    let id_set = raw.client_id.as_deref().is_some_and(|s| !s.is_empty());
    let secret_set = raw.client_secret.as_deref().is_some_and(|s| !s.is_empty());
    common::check_pair(
        id_set,
        secret_set,
        (&id_path, "clientID"),
        (&secret_path, "clientSecret"),
        errors,
    );
    Some(ConfiguredCredentials {
        client_id: client_id?,
        client_secret: client_secret?,
    })
}

fn token_store(raw: &RawTokenStore, path: &Path, errors: &mut Errors) -> TokenStoreConfig {
    let key_prefix = raw.key_prefix.clone().unwrap_or_default();
    if key_prefix
        .chars()
        .any(|c| c.is_control() || c.is_whitespace())
    {
        errors.push(
            &path.key("keyPrefix"),
            "must not contain whitespace or control characters",
        );
    }
    let secret_path = path.key("secret");
    let secret = common::optional_secret(raw.secret.as_deref(), &secret_path, errors);
    if let Some(SecretRef::Inline(value)) = &secret
        && !STORE_SECRET_LENGTHS.contains(&value.expose().len())
    {
        errors.push(&secret_path, "must be 16, 24 or 32 characters long");
    }
    let redis = raw
        .redis
        .as_ref()
        .and_then(|redis| common::validate_redis(redis, &path.key("redis"), errors));
    TokenStoreConfig {
        key_prefix,
        secret,
        redis,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Secret;

    fn parse(yaml: &str) -> Result<ClientCredentialsConfig, Vec<String>> {
        let raw: RawClientCredentials =
            serde_saphyr::from_str(yaml).map_err(|e| vec![e.to_string()])?;
        let mut errors = Errors::new();
        let path = Path::root().key("cc");
        let config = validate(&raw, "api-creds", &path, &mut errors);
        match config {
            Some(config) if errors.is_empty() => Ok(config),
            _ => Err(errors.into_vec().iter().map(|e| e.to_string()).collect()),
        }
    }

    #[test]
    fn only_url_is_required() {
        let config = parse("url: https://idp.example.com/oauth/token\n").unwrap();
        assert_eq!(config.url.as_str(), "https://idp.example.com/oauth/token");
        assert_eq!(config.middleware_name, "api-creds");
        assert!(config.credentials.is_none());
        assert!(config.audience.is_none());
        assert!(config.claims.is_none() && config.username_claim.is_none());
        assert!(config.forward_headers.is_empty());
        assert!(!config.reads_claims());
        assert_eq!(config.client_config, ClientConfig::default());
        assert_eq!(config.client_config.timeout, Duration::from_secs(5));
        assert_eq!(config.client_config.max_retries, 3);
        assert_eq!(config.store, TokenStoreConfig::default());
    }

    #[test]
    fn every_option_parses() {
        let yaml = r#"
url: https://idp.example.com/oauth/token?tenant=a
audience: https://api.example.com
clientID: "urn:k8s:secret:my-secret:clientID"
clientSecret: "urn:k8s:secret:my-secret:clientSecret"
claims: Equals(`grp`, `admin`)
forwardHeaders:
  Group: grp
  Expires-At: exp
usernameClaim: sub
clientConfig:
  tls: { ca: "urn:k8s:secret:tls:ca", cert: "urn:k8s:secret:tls:cert", key: "urn:k8s:secret:tls:key", insecureSkipVerify: true }
  timeoutSeconds: 2
  maxRetries: 0
store:
  keyPrefix: cc-tokens
  secret: 0123456789abcdef
  redis:
    endpoints: [redis:6379]
    username: gateway
    password: "urn:k8s:secret:redis:password"
    database: 3
    tls: { caBundle: "urn:k8s:secret:redis:ca", insecureSkipVerify: false }
    sentinel: { masterSet: mymaster, username: s, password: p }
"#;
        let config = parse(yaml).unwrap();
        assert_eq!(config.audience.as_deref(), Some("https://api.example.com"));
        let credentials = config.credentials.clone().unwrap();
        assert_eq!(
            credentials.client_id,
            SecretRef::Kubernetes {
                name: "my-secret".into(),
                key: "clientID".into()
            }
        );
        assert!(config.claims.is_some());
        assert_eq!(config.forward_headers.len(), 2);
        assert_eq!(config.forward_headers[1].header.as_str(), "expires-at");
        assert!(config.username_claim.is_some());
        assert!(config.reads_claims());
        assert_eq!(config.client_config.timeout, Duration::from_secs(2));
        assert_eq!(config.client_config.max_retries, 0);
        assert!(config.client_config.tls.insecure_skip_verify);
        assert_eq!(config.store.key_prefix, "cc-tokens");
        assert_eq!(
            config.store.secret,
            Some(SecretRef::Inline(Secret::new("0123456789abcdef")))
        );
        let redis = config.store.redis.unwrap();
        assert_eq!(redis.database, 3);
        assert_eq!(redis.sentinel.unwrap().master_set, "mymaster");
    }

    #[test]
    fn client_id_has_two_spellings() {
        let yaml = "url: http://idp/token\nclientId: camel\nclientSecret: s\n";
        assert_eq!(
            parse(yaml).unwrap().credentials.unwrap().client_id,
            SecretRef::Inline(Secret::new("camel"))
        );
        assert!(parse(&format!("{yaml}clientID: upper\n")).is_err());
    }

    #[test]
    fn credentials_are_set_together() {
        assert_eq!(
            parse("url: http://idp/token\nclientID: id\n").unwrap_err(),
            ["cc.clientSecret: must be set when clientID is set"]
        );
        assert_eq!(
            parse("url: http://idp/token\nclientSecret: s\n").unwrap_err(),
            ["cc.clientID: must be set when clientSecret is set"]
        );
        assert!(
            parse("url: http://idp/token\nclientID: \"\"\nclientSecret: \"\"\n")
                .unwrap()
                .credentials
                .is_none()
        );
    }

    #[test]
    fn every_error_is_reported_with_its_path() {
        let yaml = r#"
url: ftp://idp.example.com/token
audience: "a\u0007b"
clientID: "urn:k8s:my-secret:my-secret:clientID"
claims: "Equals(`grp`"
forwardHeaders: { "Bad Header": grp, Authorization: sub }
usernameClaim: "a\\b"
clientConfig: { timeoutSeconds: 0, maxRetries: 11, tls: { cert: x } }
store:
  keyPrefix: "a b"
  secret: short
  redis: { endpoints: [], database: -1 }
"#;
        let errors = parse(yaml).unwrap_err();
        let expected = [
            "cc.url: unsupported scheme \"ftp\": only http and https are supported",
            "cc.audience: must not contain control characters",
            "cc.clientID: invalid secret reference \"urn:k8s:my-secret:my-secret:clientID\"",
            "cc.clientSecret: must be set when clientID is set",
            "cc.claims: invalid expression:",
            "cc.forwardHeaders.Bad Header: invalid header name",
            "cc.forwardHeaders.Authorization: the authorization header is set by the gateway",
            "cc.usernameClaim: invalid claim key:",
            "cc.clientConfig.timeoutSeconds: must be greater than 0",
            "cc.clientConfig.maxRetries: must be between 0 and 10",
            "cc.clientConfig.tls.key: must be set when cert is set",
            "cc.store.keyPrefix: must not contain whitespace or control characters",
            "cc.store.secret: must be 16, 24 or 32 characters long",
            "cc.store.redis.endpoints: at least one endpoint is required",
            "cc.store.redis.database: must be 0 or greater",
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
    fn url_is_required_and_absolute() {
        assert_eq!(parse("{}").unwrap_err(), ["cc.url: is required"]);
        assert_eq!(parse("audience: x").unwrap_err(), ["cc.url: is required"]);
        let errors = parse("url: /oauth/token").unwrap_err();
        assert!(errors[0].starts_with("cc.url: invalid URL"), "{errors:?}");
        assert_eq!(
            parse("url: https://user:pw@idp/token").unwrap_err(),
            ["cc.url: credentials are not allowed in the URL"]
        );
        assert_eq!(
            parse("url: https://idp/token#x").unwrap_err(),
            ["cc.url: fragments are not allowed in the token endpoint URL"]
        );
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let minimal = "url: https://idp/token\n";
        assert!(parse(&format!("{minimal}clientSecrett: x\n")).is_err());
        assert!(parse(&format!("{minimal}store: {{ prefix: x }}\n")).is_err());
        assert!(parse(&format!("{minimal}clientConfig: {{ timeout: 3 }}\n")).is_err());
        assert!(parse(&format!("{minimal}scopes: [a]\n")).is_err());
    }

    #[test]
    fn store_without_redis_keeps_the_prefix() {
        let config = parse("url: https://idp/token\nstore: { keyPrefix: p }\n").unwrap();
        assert_eq!(config.store.key_prefix, "p");
        assert!(config.store.redis.is_none());
        let config =
            parse("url: https://idp/token\nstore: { secret: \"env:STORE_SECRET\" }\n").unwrap();
        assert_eq!(
            config.store.secret,
            Some(SecretRef::Env("STORE_SECRET".into()))
        );
    }
}
