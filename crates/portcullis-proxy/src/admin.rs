//! The small side listeners: `/ping` for readiness probes and `/metrics` for Prometheus.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::{Request, Response, StatusCode, header};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::body::{self, Body};
use crate::metrics::Metrics;

/// Readiness: true once the configuration is loaded and the entry points listen, false again
/// when shutdown starts (so load balancers stop sending traffic while connections drain).
#[derive(Debug, Default)]
pub struct Readiness(AtomicBool);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }
    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What an admin listener serves.
#[derive(Clone)]
pub enum AdminRoutes {
    Ping(Arc<Readiness>),
    Metrics(Arc<Metrics>),
}

fn answer(routes: &AdminRoutes, request: &Request<hyper::body::Incoming>) -> Response<Body> {
    let (status, content_type, text) = match (routes, request.uri().path()) {
        (AdminRoutes::Ping(ready), "/ping") => {
            if ready.get() {
                (StatusCode::OK, "text/plain; charset=utf-8", "OK".to_owned())
            } else {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain; charset=utf-8",
                    "Service Unavailable".to_owned(),
                )
            }
        }
        (AdminRoutes::Metrics(metrics), "/metrics") => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.encode(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "Not Found".to_owned(),
        ),
    };
    let mut response = Response::new(body::full(text));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// Serves `routes` on `listener` until `shutdown` turns true.
pub async fn serve_admin(
    listener: TcpListener,
    routes: AdminRoutes,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = crate::stopped(&mut shutdown) => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let routes = routes.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let response = answer(&routes, &request);
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
