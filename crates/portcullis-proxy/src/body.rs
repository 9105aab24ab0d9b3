//! The one body type that flows through the middleware chain, so that a middleware can replace a
//! request or response body without knowing where it came from.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};

/// Error type carried by streamed bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A streamed, type-erased body.
pub type Body = BoxBody<Bytes, BoxError>;

/// An empty body.
pub fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

/// A body made of one buffer.
pub fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed()
}

/// Wraps any compatible body (for example hyper's `Incoming`) without buffering it.
pub fn stream<B>(body: B) -> Body
where
    B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed()
}

/// A body that keeps `kept` alive until the body is finished or dropped (sent, or abandoned
/// by the client): what must last as long as a response is being sent, not just its head.
pub struct Keeping<T> {
    inner: Body,
    _kept: T,
}

impl<T> Keeping<T> {
    pub fn new(inner: Body, kept: T) -> Self {
        Self { inner, _kept: kept }
    }
}

impl<T: Unpin> http_body::Body for Keeping<T> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
