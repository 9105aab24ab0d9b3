//! Traefik's request- and response-shaping middlewares, built from their checked configuration.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use http::Request;
use portcullis_config::MiddlewareConfig;

use crate::body::Body;
use crate::error::GatewayError;
use crate::middleware::{Decision, Middleware, RequestContext};

pub mod buffering;
pub mod compress;
pub mod headers;
pub mod paths;

/// Builds the middleware for `config` when it is one of this module's types.
pub fn build(config: &MiddlewareConfig) -> Option<Result<Arc<dyn Middleware>, String>> {
    let built: Arc<dyn Middleware> = match config {
        MiddlewareConfig::Headers(headers) => Arc::new(headers::Headers::new((**headers).clone())),
        MiddlewareConfig::AddPrefix { prefix } => Arc::new(paths::AddPrefix {
            prefix: prefix.clone(),
        }),
        MiddlewareConfig::ReplacePath { path } => {
            Arc::new(paths::ReplacePath { path: path.clone() })
        }
        MiddlewareConfig::ReplacePathRegex(rewrite) => Arc::new(paths::ReplacePathRegex {
            rewrite: rewrite.clone(),
        }),
        MiddlewareConfig::StripPrefixRegex { regexes } => Arc::new(paths::StripPrefixRegex {
            regexes: regexes.clone(),
        }),
        MiddlewareConfig::RedirectRegex { rewrite, permanent } => Arc::new(paths::RedirectRegex {
            rewrite: rewrite.clone(),
            permanent: *permanent,
        }),
        // Routers are built with the chain's members in its place; this stands for nothing.
        MiddlewareConfig::Chain { .. } => Arc::new(Nothing),
        MiddlewareConfig::Compress(config) => Arc::new(compress::Compress::new(config.clone())),
        MiddlewareConfig::Buffering(config) => Arc::new(buffering::Buffering::new(config.clone())),
        _ => return None,
    };
    Some(Ok(built))
}

/// Forwards every request unchanged.
struct Nothing;

impl Middleware for Nothing {
    fn handle<'a>(
        &'a self,
        request: Request<Body>,
        _ctx: &'a mut RequestContext,
    ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
        Box::pin(async move { Ok(Decision::Forward(request)) })
    }
}
