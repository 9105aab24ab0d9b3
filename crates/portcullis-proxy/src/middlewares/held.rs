//! Values that must live as long as a response is being sent: an `inFlightReq` slot is given
//! back when the response body has been sent, not when its head left.

use std::any::Any;

use http_body_util::BodyExt;

use crate::body::{Body, Keeping};

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
        Keeping::new(body, self.0).boxed()
    }
}
