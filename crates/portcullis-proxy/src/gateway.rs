//! Per-request handling: request hygiene ([`hygiene`]), route lookup, the middleware chain, the
//! upstream call, and the bookkeeping around them (access log, metrics, the error table).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

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
use crate::runtime::Runtime;

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
        // Wall-clock time is for the access log only.
        let started_at = self.access_log.as_ref().map(|_| SystemTime::now());
        let method = request.method().clone();
        let log_path = self.access_log.as_ref().map(|_| {
            request
                .uri()
                .path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_owned()
        });
        let protocol = version_text(request.version());
        let user_agent = self
            .access_log
            .as_ref()
            .and_then(|_| header_text(&request, header::USER_AGENT));
        let referer = self
            .access_log
            .as_ref()
            .and_then(|_| header_text(&request, header::REFERER));
        // Kept for the error page, should the request fail.
        let accept = request.headers().get(header::ACCEPT).cloned();
        let client_request_id = request_id::from_client(request.headers());

        let runtime = self.runtime.load();
        let policy = &ep.policy;
        // Checked here as well as by the HTTP/1 parser so HTTP/2 gets the same limit.
        let prepared = if head_size(&request) > ep.max_header_bytes {
            Err(GatewayError::new(
                ErrorKind::HeadersTooLarge,
                "request head too large",
            ))
        } else {
            hygiene::prepare(&mut request, ep, policy, client)
        };
        let host = canonical_host(request.uri(), request.headers()).unwrap_or_default();
        let route = match prepared.map(|()| routing_path(request.uri().path())) {
            Err(error) => Err(error),
            Ok(Err(_)) => Err(GatewayError::bad_request(
                "malformed percent-encoding in path",
            )),
            Ok(Ok(path)) => {
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
        };

        let mut username = None;
        let mut failed_id = None;
        // Borrowed from the router table, which `runtime` holds for the whole request.
        let stats_route = route.as_ref().ok().copied();
        let (response, router, service) = match route {
            Err(error) => {
                let facts = FailureFacts {
                    router: None,
                    user: None,
                    logout_url: None,
                    accept: accept.as_ref(),
                    client_request_id,
                };
                let (response, id) = self.error_response(error, facts);
                failed_id = Some(id);
                (response, None, None)
            }
            Ok(route) => {
                let mut ctx =
                    RequestContext::new(client, ep.scheme, ep.name.clone(), route.name.clone());
                let request = request.map(body::stream);
                let outcome = match run_chain(&route.chain, request, &mut ctx).await {
                    // Nothing is removed from the request after the middlewares: what they set
                    // reaches the upstream.
                    Ok(Decision::Forward(request)) => {
                        crate::middlewares::retry::forward(
                            &*route.service,
                            request,
                            ctx.retry.as_deref(),
                        )
                        .await
                    }
                    Ok(Decision::Respond(response)) => Ok(response),
                    Err(error) => Err(error),
                };
                let mut response = match outcome {
                    Ok(response) => response,
                    Err(error) => {
                        let facts = FailureFacts {
                            router: Some(&route.name),
                            user: ctx.username.as_deref(),
                            logout_url: ctx.logout_url.as_deref(),
                            accept: accept.as_ref(),
                            client_request_id,
                        };
                        let (response, id) = self.error_response(error, facts);
                        failed_id = Some(id);
                        response
                    }
                };
                response = ctx.finish(response).await;
                let response = ctx.attach_held(response);
                username = ctx.username.take();
                // Names for the access log only: cloning them touches counters every thread
                // shares.
                match &self.access_log {
                    Some(_) => (
                        response,
                        Some(route.name.clone()),
                        Some(route.service.name().clone()),
                    ),
                    None => (response, None, None),
                }
            }
        };

        let elapsed = started.elapsed();
        let status = response.status().as_u16();
        match &stats_route {
            Some(route) => {
                route.stats.record(&self.metrics, &method, status, elapsed);
            }
            None => {
                self.metrics
                    .requests
                    .get_or_create(&RequestLabels {
                        router: String::new(),
                        service: String::new(),
                        method: method_label(&method),
                        code: status,
                    })
                    .inc();
            }
        }
        match &self.access_log {
            Some(log) => {
                let head_only = method == http::Method::HEAD;
                let finished = Finished {
                    client,
                    username,
                    method,
                    path: log_path.unwrap_or_else(|| "/".to_owned()),
                    protocol,
                    status,
                    duration: elapsed,
                    router,
                    service,
                    entry_point: ep.name.clone(),
                    user_agent,
                    referer,
                    start: started_at.unwrap_or_else(SystemTime::now),
                    request_id: failed_id,
                };
                log.record_response(finished, response, head_only)
            }
            None => response,
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
