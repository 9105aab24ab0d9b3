//! Traefik's access and traffic middlewares, one module each: `basicAuth`, `ipAllowList`,
//! `rateLimit`, `inFlightReq` and `retry`, with the client-address strategy they share.

pub mod basic_auth;
pub mod client_ip;
pub mod held;
pub mod htpasswd;
pub mod in_flight;
pub mod ip_allow_list;
pub mod rate_limit;
pub mod retry;
