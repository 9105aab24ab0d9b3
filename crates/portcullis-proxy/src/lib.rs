//! The request path of the gateway: listeners, router table, middleware chain and the upstream
//! client. Authentication middlewares live in their own crate and plug in through
//! [`middleware::Middleware`].

pub mod body;
pub mod error;
pub mod forwarding;
pub mod middleware;
pub mod upstream;
