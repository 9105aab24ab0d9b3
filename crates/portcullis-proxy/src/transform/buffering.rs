//! The `buffering` middleware: reads whole request and response bodies before passing them on,
//! and refuses bodies above the configured sizes, as Traefik does. It protects upstreams from
//! oversized uploads (413 before a byte reaches them) and clients from oversized answers (500).
//!
//! Bodies are held in memory: `memRequestBodyBytes` and `memResponseBodyBytes` (where Traefik
//! moves to disk) are accepted and have no effect, so `maxRequestBodyBytes` should be set.

use bytes::BytesMut;
use futures_util::future::BoxFuture;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body::Body as _;
use http_body_util::BodyExt;
use portcullis_config::BufferingConfig;

use crate::body::{self, Body};
use crate::error::GatewayError;
use crate::middleware::{Decision, Middleware, RequestContext, ResponseStage};

pub struct Buffering {
    config: BufferingConfig,
}

impl Buffering {
    pub fn new(config: BufferingConfig) -> Self {
        Self { config }
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Reads all of `body`; `Ok(None)` when it is longer than `max`.
async fn read_all(mut body: Body, max: Option<u64>) -> Result<Option<bytes::Bytes>, String> {
    let mut out = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Ok(data) = frame.into_data() {
            if max.is_some_and(|max| (out.len() + data.len()) as u64 > max) {
                return Ok(None);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(Some(out.freeze()))
}

/// Traefik's answer to a request body above `maxRequestBodyBytes`.
fn too_large() -> Response<Body> {
    let status = StatusCode::PAYLOAD_TOO_LARGE;
    let mut response = Response::new(body::full("Request Entity Too Large\n"));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Replaces a body by its bytes with a fixed length.
fn with_fixed_length(headers: &mut HeaderMap, len: usize) {
    headers.remove(header::TRANSFER_ENCODING);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
}

impl Middleware for Buffering {
    fn handle<'a>(
        &'a self,
        request: Request<Body>,
        ctx: &'a mut RequestContext,
    ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
        Box::pin(async move {
            let max = self.config.max_request_body_bytes;
            if max.is_some_and(|max| declared_length(request.headers()).is_some_and(|n| n > max)) {
                return Ok(Decision::Respond(too_large()));
            }
            ctx.response_stages.push(Box::new(BufferResponse {
                max: self.config.max_response_body_bytes,
            }));
            if request.body().is_end_stream() {
                return Ok(Decision::Forward(request));
            }
            let (mut parts, body) = request.into_parts();
            let bytes = match read_all(body, max).await {
                Ok(Some(bytes)) => bytes,
                Ok(None) => return Ok(Decision::Respond(too_large())),
                Err(error) => {
                    return Err(GatewayError::bad_request(format!(
                        "buffering: reading the request body: {error}"
                    )));
                }
            };
            with_fixed_length(&mut parts.headers, bytes.len());
            Ok(Decision::Forward(Request::from_parts(
                parts,
                body::full(bytes),
            )))
        })
    }
}

struct BufferResponse {
    max: Option<u64>,
}

impl ResponseStage for BufferResponse {
    fn apply(self: Box<Self>, response: Response<Body>) -> BoxFuture<'static, Response<Body>> {
        Box::pin(async move {
            let too_large = || {
                GatewayError::internal("buffering: response body above maxResponseBodyBytes")
                    .into_response()
            };
            if self
                .max
                .is_some_and(|max| declared_length(response.headers()).is_some_and(|n| n > max))
            {
                return too_large();
            }
            if response.body().is_end_stream() {
                return response;
            }
            let (mut parts, body) = response.into_parts();
            match read_all(body, self.max).await {
                Ok(Some(bytes)) => {
                    with_fixed_length(&mut parts.headers, bytes.len());
                    Response::from_parts(parts, body::full(bytes))
                }
                Ok(None) => too_large(),
                Err(error) => GatewayError::bad_gateway(format!(
                    "buffering: reading the response body: {error}"
                ))
                .into_response(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::Scheme;
    use bytes::Bytes;
    use http_body::Frame;

    fn ctx() -> RequestContext {
        RequestContext::for_test(Scheme::Http)
    }

    fn config(max_request: Option<u64>, max_response: Option<u64>) -> Buffering {
        Buffering::new(BufferingConfig {
            max_request_body_bytes: max_request,
            mem_request_body_bytes: 1 << 20,
            max_response_body_bytes: max_response,
            mem_response_body_bytes: 1 << 20,
        })
    }

    /// A chunked body: no Content-Length, so the limit is found while reading.
    fn chunked(chunks: &[&'static [u8]]) -> Body {
        let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = chunks
            .iter()
            .map(|c| Ok(Frame::data(Bytes::from_static(c))))
            .collect();
        body::stream(http_body_util::StreamBody::new(futures_util::stream::iter(
            frames,
        )))
    }

    #[tokio::test]
    async fn request_bodies_above_the_limit_get_413() {
        let m = config(Some(5), None);
        let declared = Request::post("/")
            .header("content-length", "6")
            .body(body::full("abcdef"))
            .unwrap();
        let Decision::Respond(r) = m.handle(declared, &mut ctx()).await.unwrap() else {
            panic!("expected 413")
        };
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let streamed = Request::post("/").body(chunked(&[b"abc", b"def"])).unwrap();
        let Decision::Respond(r) = m.handle(streamed, &mut ctx()).await.unwrap() else {
            panic!("expected 413")
        };
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn request_bodies_within_the_limit_are_sent_with_a_fixed_length() {
        let m = config(Some(6), None);
        let streamed = Request::post("/")
            .header("transfer-encoding", "chunked")
            .body(chunked(&[b"abc", b"def"]))
            .unwrap();
        let Decision::Forward(r) = m.handle(streamed, &mut ctx()).await.unwrap() else {
            panic!("expected forwarding")
        };
        assert_eq!(r.headers()["content-length"], "6");
        assert!(!r.headers().contains_key("transfer-encoding"));
        let body = r.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"abcdef");
    }

    #[tokio::test]
    async fn response_bodies_above_the_limit_become_500() {
        let m = config(None, Some(5));
        let mut c = ctx();
        let Decision::Forward(_) = m
            .handle(Request::get("/").body(body::empty()).unwrap(), &mut c)
            .await
            .unwrap()
        else {
            panic!("expected forwarding")
        };
        let r = c.finish(Response::new(chunked(&[b"abc", b"def"]))).await;
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let mut c = ctx();
        let _ = m
            .handle(Request::get("/").body(body::empty()).unwrap(), &mut c)
            .await
            .unwrap();
        let r = c.finish(Response::new(chunked(&[b"abc", b"de"]))).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-length"], "5");
    }
}
