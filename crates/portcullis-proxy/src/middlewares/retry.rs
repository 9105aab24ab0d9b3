//! Traefik's `retry`: the service call is tried again when the upstream gave no response, or,
//! with `status`, a listed status, with exponential backoff between tries.
//!
//! Protects clients from a request sent twice where that could do harm, and from a response
//! cut in two:
//! - a try is repeated only when no response head arrived (or its status is listed), so
//!   nothing of a response has reached the client; the last try's outcome is returned as is;
//! - the request body is sent again only when it could be kept: an empty body, or one whose
//!   announced length (`Content-Length`) is at most `maxRequestBodyBytes` (2 MiB by default),
//!   read once into memory. A body of unknown or larger length is sent once, without retry;
//! - `POST`, `PATCH` and `LOCK` are retried only with `retryNonIdempotentMethod`. (Traefik also
//!   retries them after a failed connection; the gateway cannot tell a refused connection from
//!   one that failed after sending, so it does not.)
//!
//! The backoff follows Traefik: waits grow from `initialInterval` by a factor chosen so that
//! the last wait is about twice the first, each randomised by ±50%; `timeout` bounds the time
//! spent retrying.

use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body::Body as _;
use http_body_util::BodyExt;
use portcullis_config::middleware_traffic::RetryConfig;

use crate::body::{self, Body};
use crate::error::GatewayError;

/// Sends `request` to `service`, retrying by `policy` when there is one.
pub async fn forward(
    service: &dyn crate::services::Upstream,
    request: Request<Body>,
    policy: Option<&RetryConfig>,
) -> Result<Response<Body>, GatewayError> {
    let Some(policy) = policy.filter(|p| p.attempts > 1) else {
        return service.forward(request).await;
    };
    let idempotent = !(request.method() == Method::POST || request.method() == Method::PATCH)
        && request.method().as_str() != "LOCK";
    if !(idempotent || policy.retry_non_idempotent_method) {
        return service.forward(request).await;
    }
    let Some((parts, kept)) = keep_body(request, policy.max_request_body_bytes).await? else {
        return Err(GatewayError::bad_request("request body could not be read"));
    };
    let (mut parts, kept) = match kept {
        Kept::Bytes(bytes) => (parts, bytes),
        Kept::Stream(body) => {
            return service.forward(Request::from_parts(parts, body)).await;
        }
    };
    let started = Instant::now();
    let growth = 2f64.powf(1.0 / f64::from(policy.attempts - 1));
    let jitter = RandomState::new();
    let mut interval = policy.initial_interval.as_secs_f64();
    for attempt in 1..=policy.attempts {
        let mut head = clone_parts(&parts);
        if attempt == 1 {
            // A protocol upgrade's handle lives in the extensions; only the first try has it.
            head.extensions = std::mem::take(&mut parts.extensions);
        }
        let request = Request::from_parts(head, body::full(kept.clone()));
        let outcome = service.forward(request).await;
        let last = attempt == policy.attempts
            || policy
                .timeout
                .is_some_and(|limit| started.elapsed() >= limit);
        let again = match &outcome {
            Err(_) => policy.retry_on_network_error,
            Ok(response) => {
                let code = response.status().as_u16();
                policy
                    .status
                    .iter()
                    .any(|(low, high)| (*low..=*high).contains(&code))
            }
        };
        if last || !again {
            return outcome;
        }
        tracing::debug!(attempt, "retrying the request");
        if interval > 0.0 {
            // ±50%, as Traefik's backoff.
            let random = (jitter.hash_one(attempt) % 1_000_001) as f64 / 1_000_000.0;
            let wait = interval * (0.5 + random);
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
            interval *= growth;
        }
    }
    Err(GatewayError::bad_gateway("retry: no attempt made"))
}

enum Kept {
    Bytes(Bytes),
    Stream(Body),
}

/// Reads a body whose announced length fits `limit` into memory; leaves others as they are.
async fn keep_body(
    request: Request<Body>,
    limit: Option<u64>,
) -> Result<Option<(http::request::Parts, Kept)>, GatewayError> {
    let (parts, body) = request.into_parts();
    if body.is_end_stream() {
        return Ok(Some((parts, Kept::Bytes(Bytes::new()))));
    }
    let announced = body.size_hint().exact().or_else(|| {
        parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    });
    let fits = match (announced, limit) {
        (Some(length), Some(limit)) => length <= limit,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if !fits {
        return Ok(Some((parts, Kept::Stream(body))));
    }
    let bytes = body
        .collect()
        .await
        .map_err(|e| GatewayError::bad_request(format!("reading the request body: {e}")))?
        .to_bytes();
    Ok(Some((parts, Kept::Bytes(bytes))))
}

fn clone_parts(parts: &http::request::Parts) -> http::request::Parts {
    let mut request = Request::new(());
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    request.into_parts().0
}

/// The `retry` middleware: it only records the policy; the gateway applies it to the
/// service call.
pub struct Retry(std::sync::Arc<RetryConfig>);

pub fn build(config: &RetryConfig) -> std::sync::Arc<dyn crate::middleware::Middleware> {
    std::sync::Arc::new(Retry(std::sync::Arc::new(config.clone())))
}

impl crate::middleware::Middleware for Retry {
    fn handle<'a>(
        &'a self,
        request: Request<Body>,
        ctx: &'a mut crate::middleware::RequestContext,
    ) -> futures_util::future::BoxFuture<'a, Result<crate::middleware::Decision, GatewayError>>
    {
        Box::pin(async move {
            ctx.retry = Some(self.0.clone());
            Ok(crate::middleware::Decision::Forward(request))
        })
    }
}

#[cfg(test)]
mod tests;
