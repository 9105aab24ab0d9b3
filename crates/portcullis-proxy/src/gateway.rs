//! Per-request handling: request hygiene ([`hygiene`]), route lookup, the middleware chain, the
//! upstream call, and the bookkeeping around them (access log, metrics, the error table).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use http::{Request, Response, Version, header};
use portcullis_rules::{RequestView, canonical_host, routing_path};

use crate::access_log::{AccessLog, Finished};
use crate::body::{self, Body};
use crate::error::{ErrorKind, GatewayError};
use crate::error_page::{ErrorPages, Format, PageFacts};
use crate::hygiene::{self, RequestPolicy};
use crate::metrics::{Metrics, RequestLabels, method_label};
use crate::middleware::{Decision, RequestContext, Scheme, run_chain};
use crate::request_id::{self, X_REQUEST_ID};
use crate::runtime::{Route, Runtime};

/// What a connection handler knows about its entry point.
#[derive(Debug)]
pub struct EntryPointInfo {
    pub name: Arc<str>,
    pub scheme: Scheme,
    pub local_port: u16,
    /// Largest accepted request head in bytes (URI plus header names and values).
    pub max_header_bytes: usize,
    /// What the entry point does to requests before routing them (`http`, `forwardedHeaders`).
    pub policy: RequestPolicy,
}

/// The shared state of a running gateway.
pub struct Gateway {
    runtime: ArcSwap<Runtime>,
    access_log: Option<AccessLog>,
    metrics: Arc<Metrics>,
    /// Request hygiene settings by entry point name; others get the defaults.
    error_pages: ErrorPages,
}

/// What the error response and the failure's log line say about the request.
struct FailureFacts<'a> {
    router: Option<&'a str>,
    user: Option<&'a str>,
    logout_url: Option<&'a str>,
    accept: Option<&'a http::HeaderValue>,
    client_request_id: Option<String>,
}

/// A request checked and matched to its router: request hygiene ([`hygiene::prepare`], the
/// head size limit, which the HTTP/1 parser also applies, checked here for HTTP/2), then the
/// router table's lookup.
fn route<'r, B>(
    runtime: &'r Runtime,
    ep: &EntryPointInfo,
    client: SocketAddr,
    request: &mut Request<B>,
) -> Result<&'r Arc<Route>, GatewayError> {
    if head_size(request) > ep.max_header_bytes {
        return Err(GatewayError::new(
            ErrorKind::HeadersTooLarge,
            "request head too large",
        ));
    }
    hygiene::prepare(request, ep, &ep.policy, client)?;
    let host = canonical_host(request.uri(), request.headers()).unwrap_or_default();
    let Ok(path) = routing_path(request.uri().path()) else {
        return Err(GatewayError::bad_request(
            "malformed percent-encoding in path",
        ));
    };
    let view = RequestView {
        method: request.method(),
        host: &host,
        path: &path,
        query: request.uri().query(),
        headers: request.headers(),
        client_ip: client.ip(),
    };
    runtime
        .find(&ep.name, ep.scheme == Scheme::Https, &view)
        .ok_or_else(|| GatewayError::new(ErrorKind::NotFound, "no router matched"))
}

/// What the error page of a failed request needs from the request, kept before it moves on.
struct PageRequest {
    accept: Option<http::HeaderValue>,
    client_request_id: Option<String>,
}

impl PageRequest {
    fn of<B>(request: &Request<B>) -> Self {
        Self {
            accept: request.headers().get(header::ACCEPT).cloned(),
            client_request_id: request_id::from_client(request.headers()),
        }
    }

    /// The facts of a failure before any router took the request.
    fn facts(&self) -> FailureFacts<'_> {
        FailureFacts {
            router: None,
            user: None,
            logout_url: None,
            accept: self.accept.as_ref(),
            client_request_id: self.client_request_id.clone(),
        }
    }
}

/// What the access log needs from the request, taken only when the log is on.
struct LogFacts {
    start: SystemTime,
    path: String,
    protocol: &'static str,
    user_agent: Option<String>,
    referer: Option<String>,
}

impl LogFacts {
    fn of<B>(request: &Request<B>) -> Self {
        Self {
            start: SystemTime::now(),
            path: request
                .uri()
                .path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_owned(),
            protocol: version_text(request.version()),
            user_agent: header_text(request, header::USER_AGENT),
            referer: header_text(request, header::REFERER),
        }
    }

    fn finished(
        self,
        ep: &EntryPointInfo,
        client: SocketAddr,
        method: http::Method,
        status: u16,
        duration: Duration,
        names: LogNames,
    ) -> Finished {
        Finished {
            client,
            username: names.username,
            method,
            path: self.path,
            protocol: self.protocol,
            status,
            duration,
            router: names.router,
            service: names.service,
            entry_point: ep.name.clone(),
            user_agent: self.user_agent,
            referer: self.referer,
            start: self.start,
            request_id: names.request_id,
        }
    }
}

/// What serving a request learnt that the access log shows.
#[derive(Default)]
struct LogNames {
    username: Option<String>,
    /// The request id of a failed request (the one its error page and log line show).
    request_id: Option<String>,
    router: Option<Arc<str>>,
    service: Option<Arc<str>>,
}

/// The response to a request, and what the access log shows about it.
struct Served {
    response: Response<Body>,
    names: LogNames,
}

impl Served {
    /// A request refused before any router took it.
    fn failed((response, id): (Response<Body>, String)) -> Self {
        Self {
            response,
            names: LogNames {
                request_id: Some(id),
                ..LogNames::default()
            },
        }
    }
}

impl Gateway {
    pub fn new(runtime: Runtime, access_log: Option<AccessLog>, metrics: Arc<Metrics>) -> Self {
        Self {
            runtime: ArcSwap::from_pointee(runtime),
            access_log,
            metrics,
            error_pages: ErrorPages::builtin(),
        }
    }

    /// Serves error pages from `pages` (`errorPages.directory`) instead of the built-in ones.
    pub fn with_error_pages(mut self, pages: ErrorPages) -> Self {
        self.error_pages = pages;
        self
    }

    /// Replaces the router table; requests already routed finish on the old one.
    pub fn swap_runtime(&self, runtime: Runtime) {
        self.runtime.store(Arc::new(runtime));
    }

    /// The router table in use now.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Handles one request from `client` on entry point `ep`. Never fails: every error becomes a
    /// response through the error table.
    pub async fn handle<B>(
        &self,
        ep: &EntryPointInfo,
        client: SocketAddr,
        mut request: Request<B>,
    ) -> Response<Body>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + Sync + 'static,
        B::Error: Into<body::BoxError>,
    {
        let started = Instant::now();
        let method = request.method().clone();
        let log_facts = self.access_log.as_ref().map(|_| LogFacts::of(&request));
        let page_facts = PageRequest::of(&request);

        let runtime = self.runtime.load();
        let route = route(&runtime, ep, client, &mut request);
        // Borrowed from the router table, which `runtime` holds for the whole request.
        let stats_route = route.as_ref().ok().copied();
        let served = match route {
            Err(error) => Served::failed(self.error_response(error, page_facts.facts())),
            Ok(route) => self.serve(route, ep, client, request, page_facts).await,
        };

        let elapsed = started.elapsed();
        let status = served.response.status().as_u16();
        self.count(stats_route, &method, status, elapsed);
        match (&self.access_log, log_facts) {
            (Some(log), Some(facts)) => {
                let head_only = method == http::Method::HEAD;
                let finished = facts.finished(ep, client, method, status, elapsed, served.names);
                log.record_response(finished, served.response, head_only)
            }
            _ => served.response,
        }
    }

    /// A routed request through its router's middleware chain and service: the response, with
    /// what the middlewares learnt (the user) and the names the access log shows.
    async fn serve<B>(
        &self,
        route: &Route,
        ep: &EntryPointInfo,
        client: SocketAddr,
        request: Request<B>,
        page_facts: PageRequest,
    ) -> Served
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + Sync + 'static,
        B::Error: Into<body::BoxError>,
    {
        let mut ctx = RequestContext::new(client, ep.scheme, ep.name.clone(), route.name.clone());
        let request = request.map(body::stream);
        let outcome = match run_chain(&route.chain, request, &mut ctx).await {
            // Nothing is removed from the request after the middlewares: what they set reaches
            // the upstream.
            Ok(Decision::Forward(request)) => {
                crate::middlewares::retry::forward(&*route.service, request, ctx.retry.as_deref())
                    .await
            }
            Ok(Decision::Respond(response)) => Ok(response),
            Err(error) => Err(error),
        };
        let (response, request_id) = match outcome {
            Ok(response) => (response, None),
            Err(error) => {
                let facts = FailureFacts {
                    router: Some(&route.name),
                    user: ctx.username.as_deref(),
                    logout_url: ctx.logout_url.as_deref(),
                    ..page_facts.facts()
                };
                let (response, id) = self.error_response(error, facts);
                (response, Some(id))
            }
        };
        let response = ctx.finish(response).await;
        Served {
            response: ctx.attach_held(response),
            names: LogNames {
                username: ctx.username.take(),
                request_id,
                // Names for the access log only: cloning them touches counters every thread
                // shares.
                router: self.access_log.as_ref().map(|_| route.name.clone()),
                service: self
                    .access_log
                    .as_ref()
                    .map(|_| route.service.name().clone()),
            },
        }
    }

    /// Counts the request under its route's metric handles, or unrouted.
    fn count(
        &self,
        route: Option<&Arc<Route>>,
        method: &http::Method,
        status: u16,
        took: Duration,
    ) {
        match route {
            Some(route) => route.stats.record(&self.metrics, method, status, took),
            None => {
                self.metrics
                    .requests
                    .get_or_create(&RequestLabels {
                        router: String::new(),
                        service: String::new(),
                        method: method_label(method),
                        code: status,
                    })
                    .inc();
            }
        }
    }

    /// The response for a failed request, and its request id. Logs the failure: the one line
    /// for this request, with the request id the client sees, the router, the middleware and
    /// check that refused it, the user when known, and the cause.
    fn error_response(
        &self,
        error: GatewayError,
        facts: FailureFacts<'_>,
    ) -> (Response<Body>, String) {
        let id = facts.client_request_id.unwrap_or_else(request_id::generate);
        let router = facts.router.unwrap_or("-");
        let (middleware, check) = error.origin().unwrap_or(("-", "-"));
        let user = facts.user.unwrap_or("-");
        let status = error.status().as_u16();
        let cause = error.cause();
        match error.kind() {
            kind if kind.status().is_server_error() => {
                tracing::warn!(request_id = %id, router, middleware, check, user, status, cause, "request failed");
            }
            // Refusals that a middleware explains are worth reading; unmatched paths and
            // malformed requests are client noise.
            _ if error.origin().is_some() => {
                tracing::info!(request_id = %id, router, middleware, check, user, status, cause, "request refused");
            }
            _ => {
                tracing::debug!(request_id = %id, router, middleware, check, user, status, cause, "request refused");
            }
        }
        let format = Format::negotiate(facts.accept);
        let page = self.error_pages.render(
            format,
            &PageFacts {
                status: error.status(),
                request_id: &id,
                user: facts.user,
                logout_url: facts.logout_url,
            },
        );
        let mut response = error.into_response_with(format.content_type(), page);
        if let Ok(value) = http::HeaderValue::from_str(&id) {
            response.headers_mut().insert(X_REQUEST_ID.clone(), value);
        }
        response.headers_mut().insert(
            header::X_CONTENT_TYPE_OPTIONS,
            http::HeaderValue::from_static("nosniff"),
        );
        (response, id)
    }
}

fn head_size<B>(request: &Request<B>) -> usize {
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    headers
        + request
            .uri()
            .path_and_query()
            .map_or(0, |pq| pq.as_str().len())
}

fn header_text<B>(request: &Request<B>, name: header::HeaderName) -> Option<String> {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn version_text(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}
