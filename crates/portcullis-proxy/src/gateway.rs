//! Per-request handling: request hygiene ([`hygiene`]), route lookup, the middleware chain, the
//! upstream call, and the bookkeeping around them (access log, metrics, the error table).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwap;
use http::{Request, Response, Version, header};
use portcullis_config::EntryPoint;
use portcullis_rules::{RequestView, canonical_host, routing_path};

use crate::access_log::{AccessLog, Entry};
use crate::body::{self, Body};
use crate::error::{ErrorKind, GatewayError};
use crate::hygiene::{self, RequestPolicy};
use crate::metrics::{Metrics, RequestLabels, method_label};
use crate::middleware::{Decision, RequestContext, Scheme, run_chain};
use crate::runtime::Runtime;

/// What a connection handler knows about its entry point.
#[derive(Debug)]
pub struct EntryPointInfo {
    pub name: Arc<str>,
    pub scheme: Scheme,
    pub local_port: u16,
    /// Largest accepted request head in bytes (URI plus header names and values).
    pub max_header_bytes: usize,
}

/// The shared state of a running gateway.
pub struct Gateway {
    runtime: ArcSwap<Runtime>,
    access_log: Option<AccessLog>,
    metrics: Arc<Metrics>,
    /// Request hygiene settings by entry point name; others get the defaults.
    policies: HashMap<String, RequestPolicy>,
    default_policy: RequestPolicy,
}

impl Gateway {
    pub fn new(runtime: Runtime, access_log: Option<AccessLog>, metrics: Arc<Metrics>) -> Self {
        Self {
            runtime: ArcSwap::from_pointee(runtime),
            access_log,
            metrics,
            policies: HashMap::new(),
            default_policy: RequestPolicy::default(),
        }
    }

    /// Takes each entry point's request hygiene settings (`http`, `forwardedHeaders`).
    pub fn with_entry_points(mut self, entry_points: &[EntryPoint]) -> Self {
        self.policies = entry_points
            .iter()
            .map(|ep| (ep.name.clone(), RequestPolicy::for_entry_point(ep)))
            .collect();
        self
    }

    /// Replaces the router table; requests already routed finish on the old one.
    pub fn swap_runtime(&self, runtime: Runtime) {
        self.runtime.store(Arc::new(runtime));
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
        let started_at = SystemTime::now();
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

        let runtime = self.runtime.load();
        let policy = self.policies.get(&*ep.name).unwrap_or(&self.default_policy);
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
                    .find(&ep.name, &view)
                    .cloned()
                    .ok_or_else(|| GatewayError::new(ErrorKind::NotFound, "no router matched"))
            }
        };

        let mut username = None;
        let stats_route = route.as_ref().ok().cloned();
        let (response, router, service) = match route {
            Err(error) => (self.error_response(error, None), None, None),
            Ok(route) => {
                let mut ctx =
                    RequestContext::new(client, ep.scheme, ep.name.clone(), route.name.clone());
                let request = request.map(body::stream);
                let response = match run_chain(&route.chain, request, &mut ctx).await {
                    // Nothing is removed from the request after the middlewares: what they set
                    // reaches the upstream.
                    Ok(Decision::Forward(request)) => match crate::middlewares::retry::forward(
                        &*route.service,
                        request,
                        ctx.retry.as_deref(),
                    )
                    .await
                    {
                        Ok(response) => response,
                        Err(error) => self.error_response(error, Some(&route.name)),
                    },
                    Ok(Decision::Respond(response)) => response,
                    Err(error) => self.error_response(error, Some(&route.name)),
                };
                let response = ctx.finish_and_hold(response);
                username = ctx.username.take();
                (
                    response,
                    Some(route.name.clone()),
                    Some(route.service.name().clone()),
                )
            }
        };

        let elapsed = started.elapsed();
        let status = response.status().as_u16();
        match &stats_route {
            Some(route) => {
                route
                    .stats
                    .record(&self.metrics, &method, status, elapsed.as_secs_f64());
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
        if let Some(log) = &self.access_log {
            log.record(&Entry {
                client,
                username: username.as_deref(),
                method: method.as_str(),
                path: log_path.as_deref().unwrap_or("/"),
                protocol,
                status,
                duration: elapsed,
                router: router.as_deref(),
                service: service.as_deref(),
                entry_point: &ep.name,
                user_agent: user_agent.as_deref(),
                referer: referer.as_deref(),
                start: started_at,
            });
        }
        response
    }

    fn error_response(&self, error: GatewayError, router: Option<&str>) -> Response<Body> {
        let router = router.unwrap_or("-");
        match error.kind() {
            ErrorKind::NotFound => {}
            kind if kind.status().is_server_error() => {
                tracing::warn!(
                    router,
                    status = kind.status().as_u16(),
                    cause = error.cause(),
                    "request failed"
                );
            }
            kind => {
                tracing::debug!(
                    router,
                    status = kind.status().as_u16(),
                    cause = error.cause(),
                    "request refused"
                );
            }
        }
        error.into_response()
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
