//! Traefik's `mirroring` service: the main service answers; `percent` % of the requests are
//! also copied to each mirror, whose answers are dropped.
//!
//! Protects the client's request from the mirrors: a copy is sent in the background and its
//! failure or slowness never reaches the client. The choice of requests follows Traefik (a
//! mirror gets a request while it has had fewer than `percent` % of them so far), so it is
//! even rather than random. A request is read into memory only when at least one mirror gets
//! it and `mirrorBody` is on; a body larger than `maxBodySize` is not mirrored at all and
//! reaches the main service whole. At most [`MAX_COPIES_IN_FLIGHT`] copies of one mirroring
//! service are in progress at once: when mirrors are slower than the traffic, further copies
//! are skipped rather than piling up in memory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use http::{Request, Response};
use http_body_util::{BodyExt, BodyStream, StreamBody};
use portcullis_config::service_traefik::MirroringConfig;

use super::Upstream;
use crate::body::{self, Body};
use crate::error::GatewayError;

/// Most copies of one mirroring service in progress at once.
pub const MAX_COPIES_IN_FLIGHT: usize = 1024;

pub struct Mirroring {
    name: Arc<str>,
    main: Arc<dyn Upstream>,
    mirrors: Vec<(Arc<dyn Upstream>, u8)>,
    mirror_body: bool,
    max_body_size: Option<u64>,
    /// Requests seen, and requests sent to each mirror.
    counts: Mutex<(u64, Vec<u64>)>,
    in_flight: Arc<AtomicUsize>,
}

impl Mirroring {
    pub fn new(
        name: &str,
        main: Arc<dyn Upstream>,
        mirrors: Vec<(Arc<dyn Upstream>, u8)>,
        config: &MirroringConfig,
    ) -> Self {
        Self {
            name: name.into(),
            counts: Mutex::new((0, vec![0; mirrors.len()])),
            in_flight: Arc::new(AtomicUsize::new(0)),
            main,
            mirrors,
            mirror_body: config.mirror_body,
            max_body_size: config.max_body_size,
        }
    }

    /// The mirrors that get this request.
    fn chosen(&self) -> Vec<Arc<dyn Upstream>> {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        counts.0 += 1;
        let total = counts.0;
        let mut chosen = Vec::new();
        for ((mirror, percent), sent) in self.mirrors.iter().zip(counts.1.iter_mut()) {
            if *sent * 100 < total * u64::from(*percent) {
                *sent += 1;
                chosen.push(mirror.clone());
            }
        }
        chosen
    }
}

/// The body read into memory when it is at most `limit` bytes; otherwise the body as it was
/// (what was read put back in front).
async fn read_up_to(body: Body, limit: Option<u64>) -> Result<Result<Bytes, Body>, GatewayError> {
    let mut body = body;
    let mut read: Vec<Bytes> = Vec::new();
    let mut size: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| GatewayError::bad_request(format!("request body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        size += data.len() as u64;
        read.push(data);
        if limit.is_some_and(|limit| size > limit) {
            let front = futures_util::stream::iter(
                read.into_iter()
                    .map(|d| Ok::<_, body::BoxError>(http_body::Frame::data(d))),
            );
            let rest = BodyStream::new(body);
            return Ok(Err(body::stream(StreamBody::new(front.chain(rest)))));
        }
    }
    Ok(Ok(read.concat().into()))
}

fn copy(parts: &http::request::Parts, body: Body) -> Request<Body> {
    let mut request = Request::new(body);
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    request
}

impl Upstream for Mirroring {
    fn name(&self) -> &Arc<str> {
        &self.name
    }

    fn forward(
        &self,
        request: Request<Body>,
    ) -> BoxFuture<'_, Result<Response<Body>, GatewayError>> {
        Box::pin(async move {
            let chosen = self.chosen();
            if chosen.is_empty() {
                return self.main.forward(request).await;
            }
            let (parts, body) = request.into_parts();
            let (main_body, mirror_body) = if self.mirror_body {
                match read_up_to(body, self.max_body_size).await? {
                    Ok(bytes) => (body::full(bytes.clone()), Some(bytes)),
                    Err(whole) => {
                        tracing::debug!(service = %self.name, "request body too large to mirror");
                        return self.main.forward(Request::from_parts(parts, whole)).await;
                    }
                }
            } else {
                (body, Some(Bytes::new()))
            };
            if let Some(bytes) = mirror_body {
                for mirror in chosen {
                    if self.in_flight.fetch_add(1, Ordering::Relaxed) >= MAX_COPIES_IN_FLIGHT {
                        self.in_flight.fetch_sub(1, Ordering::Relaxed);
                        tracing::debug!(service = %self.name, "mirror copy skipped: too many in flight");
                        continue;
                    }
                    let copy = copy(&parts, body::full(bytes.clone()));
                    let in_flight = self.in_flight.clone();
                    tokio::spawn(async move {
                        if let Ok(response) = mirror.forward(copy).await {
                            // Read to the end so the connection can be reused.
                            let _ = response.into_body().collect().await;
                        }
                        in_flight.fetch_sub(1, Ordering::Relaxed);
                    });
                }
            }
            self.main
                .forward(Request::from_parts(parts, main_body))
                .await
        })
    }
}

#[cfg(test)]
mod tests;
