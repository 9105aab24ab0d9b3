//! The client credentials middleware built from JSON options and driven as a service.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::Request;
use portcullis_config::plugin::client_credentials::{self, ClientCredentialsConfig};
use portcullis_config::{Errors, LocalResolver, Path};
use portcullis_proxy::body::{self, Body};
use portcullis_proxy::error::GatewayError;
use portcullis_proxy::middleware::{Decision, Middleware, RequestContext, Scheme};
use serde_json::Value;

use crate::client_credentials::{BuildOptions, ClientCredentialsMiddleware};
use crate::clock::Clock;

/// The middleware's name in every test.
pub const NAME: &str = "api-creds";

/// The validated configuration of `options` (the middleware's JSON block).
pub fn config(options: Value) -> ClientCredentialsConfig {
    let raw: client_credentials::RawClientCredentials = serde_json::from_value(options).unwrap();
    let mut errors = Errors::new();
    let config = client_credentials::validate(&raw, NAME, &Path::root(), &mut errors);
    assert!(errors.is_empty(), "{:?}", errors.into_vec());
    config.unwrap()
}

/// Build options with `clock` and short retry delays.
pub fn options(clock: Arc<dyn Clock>) -> BuildOptions {
    BuildOptions {
        clock,
        retry_backoff: Some(Duration::from_millis(10)),
        ..BuildOptions::default()
    }
}

/// The middleware of `config` on `clock`, with short retry delays.
pub fn middleware(
    config: &ClientCredentialsConfig,
    clock: Arc<dyn Clock>,
) -> ClientCredentialsMiddleware {
    ClientCredentialsMiddleware::new(NAME, config, None, &LocalResolver::new(), options(clock))
        .unwrap()
}

/// The context of a plain-HTTP request from a loopback client.
pub fn ctx() -> RequestContext {
    RequestContext::new(
        "127.0.0.1:40000".parse().unwrap(),
        Scheme::Http,
        "web".into(),
        "api".into(),
    )
}

/// A request for `uri` with `headers`.
pub fn request(uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::builder().uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body::empty()).unwrap()
}

/// An HTTP Basic `Authorization` value.
pub fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// Runs `middleware` on `request`; `Ok` holds the request sent upstream and the context.
pub async fn run(
    middleware: &dyn Middleware,
    request: Request<Body>,
) -> Result<(Request<Body>, RequestContext), GatewayError> {
    let mut ctx = ctx();
    match middleware.handle(request, &mut ctx).await? {
        Decision::Forward(forwarded) => Ok((forwarded, ctx)),
        Decision::Respond(response) => panic!("unexpected response {}", response.status()),
    }
}
