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

use portcullis_config::MiddlewareConfig;

/// Whether a middleware keeps state in memory worth keeping across configuration changes: an
/// in-memory `rateLimit` (its buckets) or an `inFlightReq` (its counts). Resetting them on every
/// change would let a client past the limit whenever, for one, a Kubernetes endpoint moves.
pub fn keeps_state(config: &MiddlewareConfig) -> bool {
    match config {
        MiddlewareConfig::RateLimit(limit) => limit.redis.is_none(),
        MiddlewareConfig::InFlightReq(_) => true,
        _ => false,
    }
}

/// Whether two configurations of a stateful middleware are the same (then the built instance
/// may be reused).
pub fn same_state_config(a: &MiddlewareConfig, b: &MiddlewareConfig) -> bool {
    match (a, b) {
        (MiddlewareConfig::RateLimit(a), MiddlewareConfig::RateLimit(b)) => {
            a.redis.is_none() && a == b
        }
        (MiddlewareConfig::InFlightReq(a), MiddlewareConfig::InFlightReq(b)) => a == b,
        _ => false,
    }
}
