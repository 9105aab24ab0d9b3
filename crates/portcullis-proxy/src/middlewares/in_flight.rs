//! Traefik's `inFlightReq`: at most `amount` requests of one source in progress at once.
//!
//! Protects upstreams from a source that opens many slow requests. A request holds its slot
//! until its response body has been sent (or the client went away), as Traefik counts it until
//! its handler returns; more get 429. Sources are grouped by `sourceCriterion` (the request
//! host by default, as in Traefik). Only sources with requests in progress are kept, so memory
//! is bounded by the requests in flight. As in Traefik, an `amount` of 0 (the default) lets no
//! request through.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use http::{Request, Response, StatusCode};
use portcullis_config::middleware_traffic::{InFlightReqConfig, SourceCriterion};

use super::client_ip::source;
use crate::body::{self, Body};
use crate::error::GatewayError;
use crate::middleware::{Decision, Middleware, RequestContext};

pub struct InFlightReq {
    amount: u64,
    source: SourceCriterion,
    counts: Arc<Mutex<HashMap<String, u64>>>,
}

pub fn build(config: &InFlightReqConfig) -> Arc<dyn Middleware> {
    Arc::new(InFlightReq {
        amount: config.amount,
        source: config.source.clone(),
        counts: Arc::default(),
    })
}

/// One request's slot; given back when dropped.
struct Slot {
    key: String,
    counts: Arc<Mutex<HashMap<String, u64>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = counts.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

impl InFlightReq {
    fn acquire(&self, key: String) -> Option<Slot> {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = counts.entry(key.clone()).or_insert(0);
        if *count >= self.amount {
            return None;
        }
        *count += 1;
        Some(Slot {
            key,
            counts: self.counts.clone(),
        })
    }
}

impl Middleware for InFlightReq {
    fn handle<'a>(
        &'a self,
        request: Request<Body>,
        ctx: &'a mut RequestContext,
    ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
        Box::pin(async move {
            let key = source(&self.source, request.headers(), ctx);
            match self.acquire(key) {
                Some(slot) => {
                    ctx.hold_until_sent(Box::new(slot));
                    Ok(Decision::Forward(request))
                }
                None => {
                    // Traefik's answer, word for word.
                    let text = format!("max connections reached: {}", self.amount);
                    let mut response = Response::new(body::full(text));
                    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                    Ok(Decision::Respond(response))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::Scheme;
    use http_body_util::BodyExt;

    fn ctx() -> RequestContext {
        RequestContext::for_test(Scheme::Http)
    }

    async fn status(m: &Arc<dyn Middleware>, host: &str, c: &mut RequestContext) -> u16 {
        let request = Request::get("/")
            .header("host", host)
            .body(body::empty())
            .unwrap();
        match m.handle(request, c).await.unwrap() {
            Decision::Forward(_) => 200,
            Decision::Respond(r) => r.status().as_u16(),
        }
    }

    #[tokio::test]
    async fn requests_beyond_the_amount_get_429_until_a_response_is_sent() {
        let m = build(&InFlightReqConfig {
            amount: 2,
            source: SourceCriterion::RequestHost,
        });
        let (mut a, mut b, mut c) = (ctx(), ctx(), ctx());
        assert_eq!(status(&m, "app.test", &mut a).await, 200);
        assert_eq!(status(&m, "app.test", &mut b).await, 200);
        assert_eq!(status(&m, "app.test", &mut c).await, 429);
        // Another host is another source.
        assert_eq!(status(&m, "other.test", &mut ctx()).await, 200);
        // The slot is held by the response body until it has been read to the end.
        let response = a.attach_held(Response::new(body::full("done")));
        assert_eq!(status(&m, "app.test", &mut ctx()).await, 429);
        let _ = response.into_body().collect().await.unwrap();
        assert_eq!(status(&m, "app.test", &mut ctx()).await, 200);
    }

    #[tokio::test]
    async fn amount_zero_refuses_every_request_as_traefik_does() {
        let m = build(&InFlightReqConfig {
            amount: 0,
            source: SourceCriterion::RequestHost,
        });
        assert_eq!(status(&m, "app.test", &mut ctx()).await, 429);
    }
}
