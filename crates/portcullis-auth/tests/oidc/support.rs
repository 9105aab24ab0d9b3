//! A browser-less harness: the OIDC middleware driven as a service (hand-built requests and
//! `RequestContext`s), a cookie jar that behaves like a browser's, and a development provider
//! with fault injection. Redirects are never followed automatically.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::header::{COOKIE, HOST, LOCATION, SET_COOKIE};
use http::{HeaderValue, Method, Request, Response};
use portcullis_auth::clock::ManualClock;
use portcullis_auth::oidc::{DiscoveryRetry, OidcMiddleware, OidcOptions, OidcSecrets};
use portcullis_config::plugin::oidc::{self, OidcConfig, RawOidc};
use portcullis_config::{Errors, LocalResolver, Path};
use portcullis_devidp::{ClientSpec, DevIdp, DevIdpBuilder, UserSpec};
use portcullis_proxy::body::{self, Body};
use portcullis_proxy::middleware::{Decision, Middleware, RequestContext, Scheme};

pub const HOST_NAME: &str = "app.test";
pub const CLIENT_ID: &str = "gateway";
pub const CLIENT_SECRET: &str = "gateway-secret-0123456789";
pub const CALLBACK: &str = "http://app.test/callback";

/// The users of every test provider.
pub fn users(builder: DevIdpBuilder) -> DevIdpBuilder {
    builder
        .user(UserSpec::new("alice").claims(serde_json::json!({
            "grp": "admin", "email": "alice@example.com", "preferred_username": "alice",
            "roles": ["dev", "ops"],
        })))
        .user(
            UserSpec::new("bob")
                .claims(serde_json::json!({"grp": "user", "email": "bob@example.com"})),
        )
}

/// The registered client.
pub fn client() -> ClientSpec {
    ClientSpec::new(CLIENT_ID, CLIENT_SECRET)
        .redirect_uri(CALLBACK)
        .post_logout_redirect_uri("http://app.test/bye")
}

/// What the middleware did with a request.
pub enum Outcome {
    /// Forwarded upstream: the request as the upstream sees it.
    Forwarded {
        request: Request<Body>,
        username: Option<String>,
        set_cookies: Vec<String>,
    },
    /// Answered by the middleware (including errors, as the client sees them).
    Answered(Response<Body>),
}

impl Outcome {
    /// 200 stands for "forwarded".
    pub fn status(&self) -> u16 {
        match self {
            Outcome::Forwarded { .. } => 200,
            Outcome::Answered(response) => response.status().as_u16(),
        }
    }

    pub fn location(&self) -> Option<String> {
        match self {
            Outcome::Answered(response) => response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            Outcome::Forwarded { .. } => None,
        }
    }

    pub fn set_cookies(&self) -> Vec<String> {
        match self {
            Outcome::Forwarded { set_cookies, .. } => set_cookies.clone(),
            Outcome::Answered(response) => response
                .headers()
                .get_all(SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_owned))
                .collect(),
        }
    }

    pub fn forwarded(&self) -> &Request<Body> {
        match self {
            Outcome::Forwarded { request, .. } => request,
            Outcome::Answered(response) => {
                panic!("expected a forwarded request, got {}", response.status())
            }
        }
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.forwarded()
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// A cookie jar that applies `Set-Cookie` like a browser (deletion by `Max-Age=0`).
#[derive(Debug, Clone, Default)]
pub struct Jar {
    pub cookies: BTreeMap<String, String>,
}

impl Jar {
    pub fn apply(&mut self, set_cookies: &[String]) {
        for header in set_cookies {
            let (pair, attributes) = header.split_once(';').unwrap_or((header, ""));
            let (name, value) = pair.split_once('=').expect("name=value");
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    pub fn header(&self) -> Option<String> {
        (!self.cookies.is_empty()).then(|| {
            self.cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    pub fn names(&self) -> Vec<String> {
        self.cookies.keys().cloned().collect()
    }

    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.cookies.keys().any(|k| k.starts_with(prefix))
    }
}

/// The middleware, its provider, the shared clock and a browser's cookies.
pub struct Harness {
    pub idp: DevIdp,
    pub middleware: OidcMiddleware,
    pub clock: Arc<ManualClock>,
    pub jar: Jar,
    /// The configuration and options the middleware was built from, for replicas.
    pub yaml: String,
    pub options: OidcOptions,
}

pub struct Setup {
    pub yaml: String,
    pub idp: DevIdpBuilder,
    pub client: ClientSpec,
    pub options: OidcOptions,
}

impl Setup {
    /// A provider with the test users and client, and a middleware configured with `extra`
    /// YAML lines on top of issuer, redirectUrl and client credentials.
    pub fn new(extra: &str) -> Self {
        Self {
            yaml: extra.to_owned(),
            idp: users(DevIdp::builder()),
            client: client(),
            options: OidcOptions {
                provider_retry_backoff: Duration::from_millis(10),
                discovery_retry: DiscoveryRetry {
                    min: Duration::from_millis(50),
                    max: Duration::from_millis(200),
                },
                ..OidcOptions::default()
            },
        }
    }

    pub fn idp(mut self, change: impl FnOnce(DevIdpBuilder) -> DevIdpBuilder) -> Self {
        self.idp = change(self.idp);
        self
    }

    pub fn client(mut self, change: impl FnOnce(ClientSpec) -> ClientSpec) -> Self {
        self.client = change(self.client);
        self
    }

    pub fn options(mut self, change: impl FnOnce(&mut OidcOptions)) -> Self {
        change(&mut self.options);
        self
    }

    pub async fn start(self) -> Harness {
        let idp = self
            .idp
            .client(self.client)
            .start()
            .await
            .expect("provider starts");
        Harness::with_provider(idp, &self.yaml, self.options)
    }
}

fn build(yaml: &str, options: OidcOptions) -> OidcMiddleware {
    build_named(yaml, "oidc-test", options)
}

fn build_named(yaml: &str, name: &str, options: OidcOptions) -> OidcMiddleware {
    let config = config_named(yaml, name);
    let secrets = OidcSecrets::resolve(&config, None, &LocalResolver::new()).expect("secrets");
    OidcMiddleware::new(config, secrets, options).expect("middleware builds")
}

/// Parses and validates a `plugin.oidc` block.
pub fn config(yaml: &str) -> OidcConfig {
    config_named(yaml, "oidc-test")
}

/// Parses and validates a `plugin.oidc` block of the middleware `name`.
pub fn config_named(yaml: &str, name: &str) -> OidcConfig {
    let raw: RawOidc = serde_saphyr::from_str(yaml).expect("YAML parses");
    let mut errors = Errors::new();
    let config = oidc::validate(&raw, name, &Path::root(), &mut errors);
    assert!(errors.is_empty(), "{:?}", errors.into_vec());
    config.expect("valid")
}

impl Harness {
    pub fn with_provider(idp: DevIdp, extra: &str, mut options: OidcOptions) -> Self {
        let yaml = format!(
            "issuer: {}\nredirectUrl: /callback\nclientID: {CLIENT_ID}\nclientSecret: {CLIENT_SECRET}\n{extra}",
            idp.issuer()
        );
        let clock = Arc::new(ManualClock::new());
        options.clock = clock.clone();
        let middleware = build(&yaml, options.clone());
        Self {
            idp,
            middleware,
            clock,
            jar: Jar::default(),
            yaml,
            options,
        }
    }

    /// Another instance built like this one (same configuration, clock and shared store): a
    /// second replica of the gateway.
    pub fn replica(&self) -> OidcMiddleware {
        build(&self.yaml, self.options.clone())
    }

    /// Another middleware named `name` (so with its own session and state cookies), configured
    /// like this one and sharing its clock and provider: a second protected area of the host.
    pub fn sibling(&self, name: &str) -> OidcMiddleware {
        build_named(&self.yaml, name, self.options.clone())
    }

    /// Moves the gateway's and the provider's clocks together.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
        self.idp.advance_clock(by);
    }

    /// A browser navigation (Accept: text/html) to `path_and_query` with the jar's cookies.
    pub async fn get(&mut self, path_and_query: &str) -> Outcome {
        self.send(Method::GET, path_and_query, &[("accept", "text/html")])
            .await
    }

    /// Sends a request with the jar's cookies and applies the cookies the answer sets.
    pub async fn send(
        &mut self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
    ) -> Outcome {
        let cookie = self.jar.header();
        let outcome = send_raw(
            &self.middleware,
            method,
            path_and_query,
            headers,
            cookie.as_deref(),
        )
        .await;
        self.jar.apply(&outcome.set_cookies());
        outcome
    }

    /// Follows a login from a protected navigation to the callback's answer. Returns the
    /// callback's outcome.
    pub async fn login_as(&mut self, path: &str, user: &str) -> Outcome {
        let start = self.get(path).await;
        assert_eq!(
            start.status(),
            302,
            "login starts with a redirect to the provider"
        );
        self.finish_login(&start.location().expect("location"), user)
            .await
    }

    /// Completes a login at the provider for `authorization_url` and calls the callback.
    pub async fn finish_login(&mut self, authorization_url: &str, user: &str) -> Outcome {
        assert!(
            authorization_url.starts_with(&self.idp.issuer()),
            "{authorization_url}"
        );
        let callback = self
            .idp
            .complete_login(authorization_url, user)
            .await
            .expect("provider login");
        let path = callback
            .strip_prefix("http://app.test")
            .unwrap_or_else(|| panic!("callback to the gateway: {callback}"));
        self.get(path).await
    }

    /// True when the jar holds a session cookie.
    pub fn has_session(&self) -> bool {
        self.jar.has_prefix("oidc-test-session")
    }
}

/// Sends one request to `middleware` (no cookie jar).
pub async fn send_raw(
    middleware: &OidcMiddleware,
    method: Method,
    path_and_query: &str,
    headers: &[(&str, &str)],
    cookie: Option<&str>,
) -> Outcome {
    let mut builder = Request::builder()
        .method(method)
        .uri(path_and_query)
        .header(HOST, HOST_NAME);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    if let Some(cookie) = cookie {
        builder = builder.header(
            COOKIE,
            HeaderValue::from_str(cookie).expect("cookie header"),
        );
    }
    let request = builder.body(body::empty()).expect("request");
    send_request(middleware, request).await
}

pub async fn send_request(middleware: &OidcMiddleware, request: Request<Body>) -> Outcome {
    let mut ctx = RequestContext::new(
        "127.0.0.1:40000".parse().unwrap(),
        Scheme::Http,
        "web".into(),
        "app".into(),
    );
    match middleware.handle(request, &mut ctx).await {
        Ok(Decision::Forward(request)) => Outcome::Forwarded {
            request,
            username: ctx.username.clone(),
            set_cookies: ctx
                .response_edits
                .iter()
                .filter_map(|edit| match edit {
                    portcullis_proxy::middleware::HeaderEdit::Append(name, value)
                        if name == SET_COOKIE =>
                    {
                        value.to_str().ok().map(str::to_owned)
                    }
                    _ => None,
                })
                .collect(),
        },
        Ok(Decision::Respond(response)) => Outcome::Answered(response),
        Err(error) => Outcome::Answered(error.into_response()),
    }
}

/// The query parameters of a URL.
pub fn query(url: &str) -> BTreeMap<String, String> {
    url::Url::parse(url)
        .expect("absolute URL")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}
