//! Reading the claims of an access token for `claims`, `forwardHeaders` and `usernameClaim`.
//!
//! The token arrives in the answer of the configured token endpoint, over the connection that
//! `clientConfig` secures (TLS with the configured trust, optionally mutual). That answer is
//! the primary trust anchor. On top of it, the signature is verified when the issuer can be
//! checked, so that a provider answering with a token it did not sign, or a token altered on a
//! plain-HTTP hop, is refused.
//!
//! The rule, per token:
//! 1. Not a JWT (not three base64url parts with a JSON header): an opaque token, no claims.
//! 2. `alg: none`: refused; an unsigned token never passes as a JWT.
//! 3. The issuer (`iss`) is **trusted** when it has the same origin (scheme, host, port) as the
//!    configured `url`, or when its discovery document names exactly `url` as its
//!    `token_endpoint`. A trusted issuer whose discovery document
//!    (`<iss>/.well-known/openid-configuration`, with `issuer` equal to `iss`) can be fetched
//!    has its signature checked with its JWKS (asymmetric algorithms only, as everywhere in the
//!    gateway): a token that fails is refused with 502.
//! 4. Otherwise (no `iss`, issuer not discoverable, issuer not trusted, or an HMAC-signed token
//!    whose key only the provider and the resource server share) the claims are taken from the
//!    token as the token endpoint answered it.
//!
//! What it protects against, and how:
//! - an issuer named in a token steering the gateway to fetch keys from anywhere: keys are only
//!   fetched for trusted issuers (rule 3), discovery and key sets are cached per issuer, and at
//!   most [`MAX_ISSUERS`] issuers are remembered;
//! - a discovery outage turning into an outage of the middleware: an issuer that cannot be
//!   discovered is remembered for [`UNDISCOVERABLE_RETRY`] and its tokens fall back to rule 4.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::Mutex as AsyncMutex;
use url::Url;

use super::cached_token::TokenClaims;
use super::error::ObtainError;
use crate::clock::Clock;
use crate::shared::discovery;
use crate::shared::jwks::JwksCache;
use crate::shared::jwt::{self, JwtError};
use crate::shared::provider_client::ProviderClient;

/// Most issuers remembered.
pub const MAX_ISSUERS: usize = 16;
/// How long an issuer that could not be discovered, or is not trusted, is left alone.
pub const UNDISCOVERABLE_RETRY: Duration = Duration::from_secs(300);

/// What is known about one issuer.
#[derive(Debug, Clone)]
enum IssuerState {
    /// Trusted and discovered: tokens are verified with its keys.
    Verified(Arc<JwksCache>),
    /// Not discoverable or not trusted, until `retry_at` (seconds since the epoch).
    Unverifiable { retry_at: i64 },
}

/// Reads and checks access-token claims for one middleware.
#[derive(Debug)]
pub struct ClaimsReader {
    client: ProviderClient,
    token_url: Url,
    issuers: Mutex<HashMap<String, IssuerState>>,
    /// One discovery at a time, so that concurrent first tokens discover their issuer once.
    discovery_lock: AsyncMutex<()>,
    clock: Arc<dyn Clock>,
}

impl ClaimsReader {
    pub fn new(client: ProviderClient, token_url: Url, clock: Arc<dyn Clock>) -> Self {
        Self {
            client,
            token_url,
            issuers: Mutex::new(HashMap::new()),
            discovery_lock: AsyncMutex::new(()),
            clock,
        }
    }

    /// The claims of `token`, by the rule of the module documentation.
    pub async fn read(&self, token: &str) -> Result<TokenClaims, ObtainError> {
        if !jwt::looks_like_jwt(token) {
            return Ok(TokenClaims::Opaque);
        }
        let Some(payload) = jwt::trusted_claims(token) else {
            return Ok(TokenClaims::Opaque);
        };
        let decoded = match jwt::decode(token) {
            Ok(decoded) => decoded,
            Err(JwtError::AlgNone) => {
                return Err(ObtainError::Untrusted(
                    "the token is unsigned (alg none)".into(),
                ));
            }
            // HMAC-signed, or an algorithm the gateway does not verify: the token endpoint's
            // answer is all there is to trust.
            Err(_) => return Ok(jwt_claims(payload)),
        };
        let Some(issuer) = decoded.claims.get("iss").and_then(Value::as_str) else {
            return Ok(jwt_claims(payload));
        };
        match self.issuer_state(issuer).await {
            IssuerState::Verified(keys) => {
                let verified = keys.verify(token).await?;
                Ok(jwt_claims(verified.claims))
            }
            IssuerState::Unverifiable { .. } => Ok(jwt_claims(payload)),
        }
    }

    /// The state of `issuer`, discovering it when it is new or its retry time has come.
    async fn issuer_state(&self, issuer: &str) -> IssuerState {
        if let Some(state) = self.known(issuer) {
            return state;
        }
        let _guard = self.discovery_lock.lock().await;
        if let Some(state) = self.known(issuer) {
            return state;
        }
        let state = self.discover(issuer).await;
        let mut issuers = self.issuers.lock().unwrap_or_else(PoisonError::into_inner);
        if issuers.len() >= MAX_ISSUERS && !issuers.contains_key(issuer) {
            issuers.retain(|_, s| matches!(s, IssuerState::Verified(_)));
        }
        if issuers.len() < MAX_ISSUERS || issuers.contains_key(issuer) {
            issuers.insert(issuer.to_owned(), state.clone());
        }
        state
    }

    fn known(&self, issuer: &str) -> Option<IssuerState> {
        let now = self.clock.now();
        let issuers = self.issuers.lock().unwrap_or_else(PoisonError::into_inner);
        match issuers.get(issuer)? {
            IssuerState::Unverifiable { retry_at } if *retry_at <= now => None,
            state => Some(state.clone()),
        }
    }

    async fn discover(&self, issuer: &str) -> IssuerState {
        let retry_at = self
            .clock
            .now()
            .saturating_add(i64::try_from(UNDISCOVERABLE_RETRY.as_secs()).unwrap_or(i64::MAX));
        let unverifiable = IssuerState::Unverifiable { retry_at };
        let Some(issuer_url) = Url::parse(issuer)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
        else {
            tracing::debug!(
                issuer,
                "token issuer is not a URL; claims taken as answered"
            );
            return unverifiable;
        };
        let metadata = match discovery::discover(&self.client, issuer, &[]).await {
            Ok(metadata) => metadata,
            Err(error) => {
                tracing::info!(
                    issuer,
                    %error,
                    "token issuer cannot be discovered; claims taken as the token endpoint answered them"
                );
                return unverifiable;
            }
        };
        let same_origin = issuer_url.origin() == self.token_url.origin();
        if !same_origin && metadata.token_endpoint != self.token_url {
            tracing::info!(
                issuer,
                "token issuer is neither at the token endpoint's origin nor names it as its token_endpoint; its keys are not used"
            );
            return unverifiable;
        }
        IssuerState::Verified(Arc::new(
            JwksCache::new(self.client.clone(), metadata.jwks_uri)
                .with_clock(Arc::clone(&self.clock)),
        ))
    }
}

fn jwt_claims(claims: Map<String, Value>) -> TokenClaims {
    TokenClaims::Jwt(Arc::new(Value::Object(claims)))
}
