//! Values that must live as long as a response is being sent: an `inFlightReq` slot is given
//! back when the response body has been sent, not when its head left.

use std::any::Any;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;

use crate::body::{Body, BoxError};

/// What a request holds until its response is sent.
#[derive(Default)]
pub struct Held(Vec<Box<dyn Any + Send + Sync>>);

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Held({})", self.0.len())
    }
}

impl Held {
    pub fn push(&mut self, value: Box<dyn Any + Send + Sync>) {
        self.0.push(value);
    }

    /// `body`, holding the values until it is dropped (sent, or abandoned by the client).
    pub fn attach(self, body: Body) -> Body {
        if self.0.is_empty() {
            return body;
        }
        HoldingBody {
            inner: body,
            _held: self.0,
        }
        .boxed()
    }
}

struct HoldingBody {
    inner: Body,
    _held: Vec<Box<dyn Any + Send + Sync>>,
}

impl http_body::Body for HoldingBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
