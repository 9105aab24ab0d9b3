//! The middleware contract: given a request, a middleware decides to *forward* it (possibly
//! changed), to *respond* itself, or fails with a [`GatewayError`]. The chain runner is written
//! once; each middleware implements only the decision.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};

use crate::body::Body;
use crate::error::GatewayError;

/// The scheme the client used to reach the gateway (the entry point's, not a header's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    pub const fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A change to the response headers, applied to whatever response goes back to the client
/// (the upstream's, or one a later middleware produced).
#[derive(Debug, Clone)]
pub enum HeaderEdit {
    /// Adds a value, keeping existing ones (`Set-Cookie`).
    Append(HeaderName, HeaderValue),
    /// Replaces every value.
    Set(HeaderName, HeaderValue),
    /// Removes the header.
    Remove(HeaderName),
    /// Adds a token to a comma-separated list header (`Vary: Origin`) unless it is listed.
    AddToList(HeaderName, HeaderValue),
}

impl HeaderEdit {
    pub fn apply(&self, headers: &mut HeaderMap) {
        match self {
            HeaderEdit::Append(name, value) => {
                headers.append(name.clone(), value.clone());
            }
            HeaderEdit::Set(name, value) => {
                headers.insert(name.clone(), value.clone());
            }
            HeaderEdit::Remove(name) => {
                headers.remove(name);
            }
            HeaderEdit::AddToList(name, token) => add_to_list(headers, name, token),
        }
    }
}

fn add_to_list(headers: &mut HeaderMap, name: &HeaderName, token: &HeaderValue) {
    let listed = headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|b| *b == b',')
            .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    });
    if listed {
        return;
    }
    let joined = match headers.get(name) {
        Some(existing) if !existing.is_empty() => {
            let mut bytes = existing.as_bytes().to_vec();
            bytes.push(b',');
            bytes.extend_from_slice(token.as_bytes());
            HeaderValue::from_bytes(&bytes).unwrap_or_else(|_| token.clone())
        }
        _ => token.clone(),
    };
    headers.insert(name.clone(), joined);
}

/// A change to the response that needs more than a header edit: its body (compression), or
/// waiting for all of it (buffering). Made per request by the middleware that needs it.
pub trait ResponseStage: Send {
    fn apply(self: Box<Self>, response: Response<Body>) -> BoxFuture<'static, Response<Body>>;
}

/// What the gateway knows about a request besides the request itself.
#[derive(Debug)]
pub struct RequestContext {
    /// The TCP peer.
    pub client_addr: SocketAddr,
    /// The scheme of the entry point the request arrived on.
    pub scheme: Scheme,
    /// The entry point's name.
    pub entry_point: Arc<str>,
    /// The router that matched.
    pub router: Arc<str>,
    /// The user, for the access log's `clientusername`, the failure log line and the error
    /// page (set by auth middlewares).
    pub username: Option<String>,
    /// Where the user signs out, for the error page (set by a login middleware with a
    /// `logoutUrl` when it refuses a request).
    pub logout_url: Option<Arc<str>>,
    /// Response header changes requested by middlewares, applied in order.
    pub response_edits: Vec<HeaderEdit>,
    /// Kept until the response body has been sent (`inFlightReq` slots).
    pub held: crate::middlewares::held::Held,
    /// How the service call is retried (`retry`).
    pub retry: Option<Arc<portcullis_config::middleware_traffic::RetryConfig>>,
    /// Response stages, applied after the header edits, the last middleware's first (as each
    /// middleware wraps the ones after it).
    pub response_stages: Vec<Box<dyn ResponseStage>>,
}

impl std::fmt::Debug for dyn ResponseStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseStage")
    }
}

#[cfg(test)]
impl RequestContext {
    /// A context for unit tests: a loopback client on entry point `web`, router `r`.
    pub(crate) fn for_test(scheme: Scheme) -> Self {
        Self::new(
            SocketAddr::from(([127, 0, 0, 1], 9)),
            scheme,
            "web".into(),
            "r".into(),
        )
    }
}

impl RequestContext {
    pub fn new(
        client_addr: SocketAddr,
        scheme: Scheme,
        entry_point: Arc<str>,
        router: Arc<str>,
    ) -> Self {
        Self {
            client_addr,
            scheme,
            entry_point,
            router,
            username: None,
            logout_url: None,
            response_edits: Vec::new(),
            held: Default::default(),
            retry: None,
            response_stages: Vec::new(),
        }
    }

    /// Keeps `value` until the response body has been sent.
    pub fn hold_until_sent(&mut self, value: Box<dyn std::any::Any + Send + Sync>) {
        self.held.push(value);
    }

    /// Ties what is held to the response body, after [`Self::finish`].
    pub fn attach_held(&mut self, response: Response<Body>) -> Response<Body> {
        let held = std::mem::take(&mut self.held);
        response.map(|body| held.attach(body))
    }

    /// Applies the header edits, then the response stages, to `response`.
    pub async fn finish(&mut self, mut response: Response<Body>) -> Response<Body> {
        self.finish_response(&mut response);
        while let Some(stage) = self.response_stages.pop() {
            response = stage.apply(response).await;
        }
        response
    }

    /// Applies the requested response edits to `response`.
    pub fn finish_response(&self, response: &mut Response<Body>) {
        for edit in &self.response_edits {
            edit.apply(response.headers_mut());
        }
    }
}

/// A middleware's decision about one request.
pub enum Decision {
    /// Pass this request on to the next middleware, or to the service.
    Forward(Request<Body>),
    /// Answer the client with this response; the rest of the chain and the service are skipped.
    Respond(Response<Body>),
}

impl std::fmt::Debug for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Decision::Forward(req) => write!(f, "Forward({} {})", req.method(), req.uri()),
            Decision::Respond(res) => write!(f, "Respond({})", res.status()),
        }
    }
}

/// One link of a router's chain.
pub trait Middleware: Send + Sync + 'static {
    /// Decides what happens to `request`.
    fn handle<'a>(
        &'a self,
        request: Request<Body>,
        ctx: &'a mut RequestContext,
    ) -> BoxFuture<'a, Result<Decision, GatewayError>>;
}

/// Runs `chain` in order; returns the request to send upstream, or the response that ended it.
pub async fn run_chain(
    chain: &[Arc<dyn Middleware>],
    mut request: Request<Body>,
    ctx: &mut RequestContext,
) -> Result<Decision, GatewayError> {
    for middleware in chain {
        match middleware.handle(request, ctx).await? {
            Decision::Forward(next) => request = next,
            respond @ Decision::Respond(_) => return Ok(respond),
        }
    }
    Ok(Decision::Forward(request))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body;
    use http::StatusCode;

    struct AddHeader(&'static str);
    impl Middleware for AddHeader {
        fn handle<'a>(
            &'a self,
            mut request: Request<Body>,
            ctx: &'a mut RequestContext,
        ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
            Box::pin(async move {
                request
                    .headers_mut()
                    .append("x-seen", HeaderValue::from_static(self.0));
                ctx.response_edits.push(HeaderEdit::Append(
                    HeaderName::from_static("x-after"),
                    HeaderValue::from_static(self.0),
                ));
                Ok(Decision::Forward(request))
            })
        }
    }

    struct Stop;
    impl Middleware for Stop {
        fn handle<'a>(
            &'a self,
            _request: Request<Body>,
            _ctx: &'a mut RequestContext,
        ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
            Box::pin(async move {
                let mut response = Response::new(body::empty());
                *response.status_mut() = StatusCode::NO_CONTENT;
                Ok(Decision::Respond(response))
            })
        }
    }

    struct Fail;
    impl Middleware for Fail {
        fn handle<'a>(
            &'a self,
            _request: Request<Body>,
            _ctx: &'a mut RequestContext,
        ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
            Box::pin(async move { Err(GatewayError::forbidden("claims")) })
        }
    }

    fn ctx() -> RequestContext {
        RequestContext::for_test(Scheme::Http)
    }

    #[tokio::test]
    async fn chain_runs_in_order_and_stops_at_a_response() {
        let chain: Vec<Arc<dyn Middleware>> = vec![
            Arc::new(AddHeader("a")),
            Arc::new(AddHeader("b")),
            Arc::new(Stop),
            Arc::new(AddHeader("never")),
        ];
        let mut ctx = ctx();
        let decision = run_chain(&chain, Request::new(body::empty()), &mut ctx)
            .await
            .unwrap();
        let Decision::Respond(mut response) = decision else {
            panic!("expected a response")
        };
        ctx.finish_response(&mut response);
        let after: Vec<_> = response.headers().get_all("x-after").iter().collect();
        assert_eq!(after, ["a", "b"]);
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }

    #[tokio::test]
    async fn forward_carries_changes_and_errors_stop_the_chain() {
        let chain: Vec<Arc<dyn Middleware>> =
            vec![Arc::new(AddHeader("a")), Arc::new(AddHeader("b"))];
        let Decision::Forward(request) = run_chain(&chain, Request::new(body::empty()), &mut ctx())
            .await
            .unwrap()
        else {
            panic!("expected forward")
        };
        let seen: Vec<_> = request.headers().get_all("x-seen").iter().collect();
        assert_eq!(seen, ["a", "b"]);

        let chain: Vec<Arc<dyn Middleware>> = vec![Arc::new(Fail), Arc::new(AddHeader("a"))];
        let error = run_chain(&chain, Request::new(body::empty()), &mut ctx())
            .await
            .unwrap_err();
        assert_eq!(error.status(), StatusCode::FORBIDDEN);
    }
}
