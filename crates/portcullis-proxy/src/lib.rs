//! The request path of the gateway: listeners, router table, middleware chain and the upstream
//! client. Authentication middlewares live in their own crate and plug in through
//! [`middleware::Middleware`].

pub mod access_log;
pub mod admin;
pub mod body;
pub mod builtin;
mod direct;
pub mod error;
pub mod error_page;
pub mod forward_auth;
pub mod forwarding;
pub mod gateway;
pub mod hygiene;
mod idle;
pub mod metrics;
pub mod middleware;
pub mod middlewares;
pub mod request_id;
pub mod runtime;
pub mod server;
pub mod services;
mod tls_client;
pub mod tls_server;
pub mod transform;
pub mod upstream;

/// Resolves once `shutdown` turns true (or its sender is gone).
pub async fn stopped(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    // The borrowed value is dropped here, so callers' futures stay `Send`.
    let _ = shutdown.wait_for(|stop| *stop).await;
}
