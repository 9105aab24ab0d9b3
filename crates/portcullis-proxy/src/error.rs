//! The one table that turns a failure into an HTTP status.
//!
//! Every layer (router, middlewares, upstream client) reports failures as a [`GatewayError`]; only
//! [`GatewayError::into_response`] decides what the client sees. The client gets a short, fixed
//! reason phrase; the cause (which may name hosts, claims or provider answers) goes to the log and
//! never into the response, so error pages cannot leak internal detail. The gateway writes the
//! body for the client's `Accept` ([`crate::error_page`]) and logs the cause once per request.

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};

use crate::body::{self, Body};

/// What went wrong, from the client's point of view. Each kind has exactly one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed (bad path encoding, bad callback parameters, ...).
    BadRequest,
    /// No usable credentials (no session and no login possible, rejected client credentials).
    Unauthorized,
    /// Authenticated but not allowed (claims rejected, CSRF token missing or wrong).
    Forbidden,
    /// No router matched.
    NotFound,
    /// Request headers too large.
    HeadersTooLarge,
    /// A provider or upstream was unreachable or answered nonsense.
    BadGateway,
    /// A required backing store (Redis) is down.
    ServiceUnavailable,
    /// A provider or upstream did not answer in time.
    GatewayTimeout,
    /// A bug or an impossible state; never caused by the client.
    Internal,
}

impl ErrorKind {
    /// The status for this kind: the error-to-status table of the design.
    pub const fn status(self) -> StatusCode {
        match self {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorKind::BadGateway => StatusCode::BAD_GATEWAY,
            ErrorKind::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A failure on the request path: a kind for the client and a cause for the log.
#[derive(Debug, thiserror::Error)]
#[error("{kind:?}: {cause}")]
pub struct GatewayError {
    kind: ErrorKind,
    cause: String,
    /// Boxed: most errors carry no extra header, and a small error keeps `Result`s cheap.
    headers: Option<Box<HeaderMap>>,
    /// The middleware and check that refused the request, for the log line.
    origin: Option<Box<(String, &'static str)>>,
}

impl GatewayError {
    /// A failure of `kind`; `cause` is logged, never sent to the client.
    pub fn new(kind: ErrorKind, cause: impl Into<String>) -> Self {
        Self {
            kind,
            cause: cause.into(),
            headers: None,
            origin: None,
        }
    }

    /// Shorthand constructors for the common kinds.
    pub fn bad_request(cause: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, cause)
    }
    pub fn unauthorized(cause: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, cause)
    }
    pub fn forbidden(cause: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, cause)
    }
    pub fn bad_gateway(cause: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadGateway, cause)
    }
    pub fn unavailable(cause: impl Into<String>) -> Self {
        Self::new(ErrorKind::ServiceUnavailable, cause)
    }
    pub fn timeout(cause: impl Into<String>) -> Self {
        Self::new(ErrorKind::GatewayTimeout, cause)
    }
    pub fn internal(cause: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, cause)
    }

    /// Adds a header to the error response (for example `WWW-Authenticate` on a 401, or a
    /// `Set-Cookie` that clears a broken session).
    #[must_use]
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers
            .get_or_insert_with(Default::default)
            .append(name, value);
        self
    }

    /// Names the middleware and the check (a short fixed word) that refused the request.
    #[must_use]
    pub fn with_origin(mut self, middleware: &str, check: &'static str) -> Self {
        self.origin = Some(Box::new((middleware.to_owned(), check)));
        self
    }

    /// The middleware and check that refused the request, when a middleware said so.
    pub fn origin(&self) -> Option<(&str, &'static str)> {
        self.origin.as_deref().map(|(m, c)| (m.as_str(), *c))
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn cause(&self) -> &str {
        &self.cause
    }

    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The response the client sees: the status, its standard reason as a plain-text body, and
    /// the headers attached with [`GatewayError::with_header`].
    pub fn into_response(self) -> Response<Body> {
        let reason = self.kind.status().canonical_reason().unwrap_or("Error");
        let text = format!("{reason}\n");
        self.into_response_with("text/plain; charset=utf-8", text)
    }

    /// The response with `body` of `content_type` (an error page), the status and the headers
    /// attached with [`GatewayError::with_header`].
    pub fn into_response_with(self, content_type: &'static str, body: String) -> Response<Body> {
        let status = self.kind.status();
        let mut response = Response::new(body::full(body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(extra) = self.headers {
            for (name, value) in extra.iter() {
                headers.append(name.clone(), value.clone());
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn every_kind_has_its_status() {
        let table = [
            (ErrorKind::BadRequest, 400),
            (ErrorKind::Unauthorized, 401),
            (ErrorKind::Forbidden, 403),
            (ErrorKind::NotFound, 404),
            (ErrorKind::HeadersTooLarge, 431),
            (ErrorKind::BadGateway, 502),
            (ErrorKind::ServiceUnavailable, 503),
            (ErrorKind::GatewayTimeout, 504),
            (ErrorKind::Internal, 500),
        ];
        for (kind, status) in table {
            assert_eq!(kind.status().as_u16(), status, "{kind:?}");
        }
    }

    #[tokio::test]
    async fn the_cause_never_reaches_the_client() {
        let error = GatewayError::bad_gateway("token endpoint 10.0.0.7 said: secret=hunter2")
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
        let response = error.into_response();
        assert_eq!(response.status(), 502);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Basic");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"Bad Gateway\n");
    }
}
