//! The `compress` middleware: gzip, Brotli or Zstandard response compression, chosen from the
//! request's `Accept-Encoding` as Traefik chooses.
//!
//! Nothing is compressed twice (a response with a `Content-Encoding` passes unchanged), and
//! bodies are compressed as they stream: only the first `minResponseBodyBytes` are held, to
//! decide whether the response is large enough. The encoder flushes whenever the upstream has
//! nothing more ready, so a streamed response reaches the client as promptly as uncompressed.

use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::future::BoxFuture;
use http::{HeaderMap, HeaderValue, Method, Request, Response, header};
use http_body::{Body as _, Frame};
use http_body_util::BodyExt;
use portcullis_config::{CompressConfig, Encoding, MediaType};

use crate::body::{self, Body, BoxError};
use crate::error::GatewayError;
use crate::middleware::{Decision, HeaderEdit, Middleware, RequestContext, ResponseStage};

pub struct Compress {
    config: Arc<CompressConfig>,
}

impl Compress {
    pub fn new(config: CompressConfig) -> Self {
        Self {
            config: Arc::new(config),
        }
    }

    /// The encoding for a request's `Accept-Encoding` (Traefik's choice: highest weight, then
    /// the order of `encodings`; `*` means `defaultEncoding` or the first encoding).
    fn choose(&self, headers: &HeaderMap) -> Option<Encoding> {
        let mut values = headers.get_all(header::ACCEPT_ENCODING).iter().peekable();
        if values.peek().is_none() {
            return self.config.default_encoding;
        }
        let all = headers.get_all(header::ACCEPT_ENCODING);
        let mut iter = all.iter();
        if let (Some(only), None) = (iter.next(), iter.next())
            && only.is_empty()
        {
            return None;
        }
        // (weight, priority, encoding; None = identity): `*` ranks first at equal weight.
        let encodings = &self.config.encodings;
        let mut best: Option<(f64, isize, Option<Encoding>)> = None;
        for value in values {
            let Ok(text) = value.to_str() else { continue };
            for item in text.split(',') {
                let (name, params) = item.split_once(';').unwrap_or((item, ""));
                let (name, params) = (name.trim(), params.trim());
                let (priority, encoding) = match name {
                    "*" => (
                        -1,
                        Some(
                            self.config
                                .default_encoding
                                .or_else(|| encodings.first().copied()),
                        ),
                    ),
                    "identity" => (encodings.len() as isize, Some(None)),
                    other => match encodings.iter().position(|e| e.token() == other) {
                        Some(i) => (i as isize, Some(encodings.get(i).copied())),
                        None => (0, None),
                    },
                };
                let Some(encoding) = encoding else { continue };
                let weight = match params.strip_prefix('q').map(str::trim_start) {
                    Some(q) if q.starts_with('=') => q
                        .get(1..)
                        .unwrap_or("")
                        .trim()
                        .parse::<f64>()
                        .unwrap_or(0.0),
                    _ => 1.0,
                };
                if weight == 0.0 {
                    continue;
                }
                let better = match best {
                    None => true,
                    Some((w, p, _)) => weight > w || (weight == w && priority < p),
                };
                if better {
                    best = Some((weight, priority, encoding));
                }
            }
        }
        best.and_then(|(_, _, encoding)| encoding)
    }
}

impl Middleware for Compress {
    fn handle<'a>(
        &'a self,
        request: Request<Body>,
        ctx: &'a mut RequestContext,
    ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
        Box::pin(async move {
            if request.method() == Method::HEAD {
                return Ok(Decision::Forward(request));
            }
            // A request in an excluded type (text/event-stream, gRPC) expects a response in it.
            if let Some(media) = media_type(request.headers())
                && self
                    .config
                    .excluded_content_types
                    .iter()
                    .any(|m| m.essence == media.essence)
            {
                return Ok(Decision::Forward(request));
            }
            if let Some(encoding) = self.choose(request.headers()) {
                ctx.response_stages.push(Box::new(CompressStage {
                    config: self.config.clone(),
                    encoding,
                }));
            }
            Ok(Decision::Forward(request))
        })
    }
}

fn media_type(headers: &HeaderMap) -> Option<MediaType> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .and_then(MediaType::parse)
}

struct CompressStage {
    config: Arc<CompressConfig>,
    encoding: Encoding,
}

impl CompressStage {
    /// Whether the response's type allows compression.
    fn type_allows(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(header::CONTENT_TYPE).filter(|v| !v.is_empty()) else {
            return true;
        };
        let Some(media) = value.to_str().ok().and_then(MediaType::parse) else {
            return false;
        };
        if !self.config.included_content_types.is_empty() {
            return self
                .config
                .included_content_types
                .iter()
                .any(|m| m.matches(&media));
        }
        !self
            .config
            .excluded_content_types
            .iter()
            .any(|m| m.matches(&media))
    }

    async fn run(self, response: Response<Body>) -> Response<Body> {
        let (mut parts, mut body) = response.into_parts();
        HeaderEdit::AddToList(header::VARY, HeaderValue::from_static("Accept-Encoding"))
            .apply(&mut parts.headers);
        let encoded = parts
            .headers
            .get(header::CONTENT_ENCODING)
            .is_some_and(|v| !v.is_empty());
        let small = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|len| len < self.config.min_response_body_bytes);
        if encoded || small || body.is_end_stream() || !self.type_allows(&parts.headers) {
            return Response::from_parts(parts, body);
        }
        // Hold the first bytes until the body is known to reach the minimum size.
        let mut held = BytesMut::new();
        while held.len() < self.config.min_response_body_bytes {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        held.extend_from_slice(&data);
                    }
                }
                Some(Err(error)) => {
                    return GatewayError::bad_gateway(format!("compress: {error}")).into_response();
                }
                None => {
                    // Too small: sent as it is, now with a known length.
                    parts
                        .headers
                        .insert(header::CONTENT_LENGTH, HeaderValue::from(held.len()));
                    return Response::from_parts(parts, body::full(held.freeze()));
                }
            }
        }
        let encoder = match Encoder::new(self.encoding) {
            Ok(e) => e,
            Err(error) => {
                return GatewayError::internal(format!("compress: {error}")).into_response();
            }
        };
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(self.encoding.token()),
        );
        let compressed = CompressedBody {
            inner: body,
            held: Some(held.freeze()),
            encoder: Mutex::new(Some(encoder)),
            dirty: false,
        };
        Response::from_parts(parts, BodyExt::boxed(compressed))
    }
}

impl ResponseStage for CompressStage {
    fn apply(self: Box<Self>, response: Response<Body>) -> BoxFuture<'static, Response<Body>> {
        Box::pin(self.run(response))
    }
}

/// A streaming encoder writing into memory.
enum Encoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl Encoder {
    fn new(encoding: Encoding) -> std::io::Result<Self> {
        Ok(match encoding {
            Encoding::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::default(),
            )),
            // Quality 5 and a 4 MiB window: a proxy's usual trade of ratio for speed.
            Encoding::Brotli => Encoder::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                4096,
                5,
                22,
            ))),
            Encoding::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(Vec::new(), 3)?),
        })
    }

    fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.write_all(data),
            Encoder::Brotli(e) => e.write_all(data),
            Encoder::Zstd(e) => e.write_all(data),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Brotli(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }

    /// The compressed bytes produced so far.
    fn take(&mut self) -> Bytes {
        let out = match self {
            Encoder::Gzip(e) => e.get_mut(),
            Encoder::Brotli(e) => e.get_mut(),
            Encoder::Zstd(e) => e.get_mut(),
        };
        Bytes::from(std::mem::take(out))
    }

    fn finish(self) -> std::io::Result<Bytes> {
        let out = match self {
            Encoder::Gzip(e) => e.finish()?,
            Encoder::Brotli(e) => e.into_inner(),
            Encoder::Zstd(e) => e.finish()?,
        };
        Ok(Bytes::from(out))
    }
}

/// The response body, compressed as it streams.
struct CompressedBody {
    inner: Body,
    /// The bytes read to decide on compression, compressed first.
    held: Option<Bytes>,
    /// In a mutex only so that the body is `Sync`; it is never contended.
    encoder: Mutex<Option<Encoder>>,
    /// Data was written since the last flush.
    dirty: bool,
}

fn io_error(error: std::io::Error) -> BoxError {
    Box::new(error)
}

impl http_body::Body for CompressedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let mut guard = match this.encoder.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let Some(encoder) = guard.as_mut() else {
            return Poll::Ready(None);
        };
        if let Some(held) = this.held.take() {
            if let Err(e) = encoder.write(&held) {
                return Poll::Ready(Some(Err(io_error(e))));
            }
            this.dirty = true;
        }
        loop {
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    // Trailers cannot follow a re-encoded body reliably: they are dropped.
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    if let Err(e) = encoder.write(&data) {
                        return Poll::Ready(Some(Err(io_error(e))));
                    }
                    this.dirty = true;
                    // Whatever the encoder produced on its own goes out at once.
                    let out = encoder.take();
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(out))));
                    }
                }
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error))),
                Poll::Ready(None) => {
                    let Some(encoder) = guard.take() else {
                        return Poll::Ready(None);
                    };
                    return Poll::Ready(Some(encoder.finish().map(Frame::data).map_err(io_error)));
                }
                Poll::Pending => {
                    if !this.dirty {
                        return Poll::Pending;
                    }
                    // Nothing more is ready: send what the encoder holds.
                    this.dirty = false;
                    if let Err(e) = encoder.flush() {
                        return Poll::Ready(Some(Err(io_error(e))));
                    }
                    let out = encoder.take();
                    if out.is_empty() {
                        return Poll::Pending;
                    }
                    return Poll::Ready(Some(Ok(Frame::data(out))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use portcullis_config::errors::{Errors, Path};
    use portcullis_config::raw::RawMiddleware;
    use portcullis_config::{MiddlewareConfig, middleware_transform};

    use crate::middleware::Scheme;

    fn compress(yaml: &str) -> Compress {
        let raw: RawMiddleware = serde_saphyr::from_str(yaml).unwrap();
        let mut errors = Errors::new();
        match middleware_transform::validate(&raw, &Path::root(), &mut errors) {
            Some(Some(MiddlewareConfig::Compress(config))) => Compress::new(config),
            other => panic!("not compress: {other:?} {:?}", errors.into_vec()),
        }
    }

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).unwrap(),
        );
        h
    }

    #[test]
    fn the_encoding_follows_weights_then_the_configured_order() {
        let m = compress("compress: {}");
        assert_eq!(m.choose(&accept("gzip, br, zstd")), Some(Encoding::Gzip));
        assert_eq!(m.choose(&accept("br, zstd")), Some(Encoding::Brotli));
        assert_eq!(m.choose(&accept("gzip;q=0.5, zstd")), Some(Encoding::Zstd));
        assert_eq!(m.choose(&accept("gzip; q=0.5, br")), Some(Encoding::Brotli));
        assert_eq!(m.choose(&accept("*")), Some(Encoding::Gzip));
        assert_eq!(m.choose(&accept("gzip, *")), Some(Encoding::Gzip));
        assert_eq!(m.choose(&accept("gzip;q=0, deflate")), None);
        assert_eq!(m.choose(&accept("identity")), None);
        assert_eq!(m.choose(&accept("")), None);
        assert_eq!(m.choose(&HeaderMap::new()), None);
        let m = compress("compress: {encodings: [zstd, br, gzip], defaultEncoding: br}");
        assert_eq!(m.choose(&accept("gzip, br, zstd")), Some(Encoding::Zstd));
        assert_eq!(m.choose(&accept("*")), Some(Encoding::Brotli));
        assert_eq!(m.choose(&HeaderMap::new()), Some(Encoding::Brotli));
    }

    async fn respond(
        m: &Compress,
        request_headers: &[(&str, &str)],
        response: Response<Body>,
    ) -> Response<Body> {
        let mut request = Request::get("/").body(body::empty()).unwrap();
        for (k, v) in request_headers {
            request.headers_mut().insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let mut ctx = RequestContext::new(
            "127.0.0.1:1".parse().unwrap(),
            Scheme::Http,
            "web".into(),
            "r".into(),
        );
        let Decision::Forward(_) = m.handle(request, &mut ctx).await.unwrap() else {
            panic!("compress never answers")
        };
        ctx.finish(response).await
    }

    fn text(len: usize, content_type: &str) -> Response<Body> {
        let mut r = Response::new(body::full("a".repeat(len)));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).unwrap(),
        );
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        r
    }

    async fn bytes(response: Response<Body>) -> Vec<u8> {
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec()
    }

    #[tokio::test]
    async fn each_encoding_round_trips() {
        let m = compress("compress: {}");
        for (token, decode) in [
            (
                "gzip",
                (|b: &[u8]| {
                    let mut out = Vec::new();
                    flate2::read::GzDecoder::new(b)
                        .read_to_end(&mut out)
                        .unwrap();
                    out
                }) as fn(&[u8]) -> Vec<u8>,
            ),
            ("br", |b: &[u8]| {
                let mut out = Vec::new();
                brotli::Decompressor::new(b, 4096)
                    .read_to_end(&mut out)
                    .unwrap();
                out
            }),
            ("zstd", |b: &[u8]| zstd::decode_all(b).unwrap()),
        ] {
            let r = respond(&m, &[("accept-encoding", token)], text(5000, "text/html")).await;
            assert_eq!(r.headers()["content-encoding"], token);
            assert_eq!(r.headers()["vary"], "Accept-Encoding");
            assert!(!r.headers().contains_key("content-length"));
            let body = bytes(r).await;
            assert!(body.len() < 5000);
            assert_eq!(decode(&body), "a".repeat(5000).into_bytes(), "{token}");
        }
    }

    #[tokio::test]
    async fn small_encoded_and_excluded_responses_pass_unchanged() {
        let m = compress("compress: {}");
        let r = respond(&m, &[("accept-encoding", "gzip")], text(1023, "text/html")).await;
        assert!(!r.headers().contains_key("content-encoding"));
        assert_eq!(r.headers()["vary"], "Accept-Encoding");
        assert_eq!(bytes(r).await.len(), 1023);
        let mut already = text(5000, "text/html");
        already
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
        let r = respond(&m, &[("accept-encoding", "gzip")], already).await;
        assert_eq!(r.headers()["content-encoding"], "br");
        assert_eq!(bytes(r).await.len(), 5000);
        let r = respond(
            &m,
            &[("accept-encoding", "gzip")],
            text(5000, "application/grpc"),
        )
        .await;
        assert!(!r.headers().contains_key("content-encoding"));
        let m = compress("compress: {excludedContentTypes: [text/event-stream]}");
        let r = respond(
            &m,
            &[("accept-encoding", "gzip")],
            text(5000, "text/event-stream; charset=utf-8"),
        )
        .await;
        assert!(!r.headers().contains_key("content-encoding"));
        let m = compress(
            "compress: {includedContentTypes: [application/json], minResponseBodyBytes: 10}",
        );
        let r = respond(&m, &[("accept-encoding", "gzip")], text(100, "text/html")).await;
        assert!(!r.headers().contains_key("content-encoding"));
        let r = respond(
            &m,
            &[("accept-encoding", "gzip")],
            text(100, "application/json"),
        )
        .await;
        assert_eq!(r.headers()["content-encoding"], "gzip");
    }

    #[tokio::test]
    async fn a_body_of_unknown_length_is_measured_before_deciding() {
        let m = compress("compress: {}");
        let small = Response::new(body::stream(http_body_util::StreamBody::new(
            futures_util::stream::iter(vec![
                Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from_static(b"abc"))),
                Ok(Frame::data(Bytes::from_static(b"def"))),
            ]),
        )));
        let r = respond(&m, &[("accept-encoding", "gzip")], small).await;
        assert!(!r.headers().contains_key("content-encoding"));
        assert_eq!(r.headers()["content-length"], "6");
        assert_eq!(bytes(r).await, b"abcdef");
    }
}
