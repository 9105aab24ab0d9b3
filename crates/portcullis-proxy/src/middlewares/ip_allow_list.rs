//! Traefik's `ipAllowList`: only clients in `sourceRange` pass.
//!
//! Protects a route from clients outside the listed networks. The client address is the TCP
//! peer unless `ipStrategy` says otherwise (see [`super::client_ip`] for why forwarded addresses
//! can only come from trusted proxies). A client whose address cannot be determined is refused.
//! A refusal is `rejectStatusCode` (403 by default) with the status text as body, as Traefik.

use std::net::IpAddr;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use http::{HeaderValue, Request, Response, header};
use portcullis_config::middleware_traffic::IpAllowListConfig;

use super::client_ip::client_ip;
use crate::body::{self, Body};
use crate::error::GatewayError;
use crate::middleware::{Decision, Middleware, RequestContext};

pub struct IpAllowList {
    config: IpAllowListConfig,
}

pub fn build(config: &IpAllowListConfig) -> Arc<dyn Middleware> {
    Arc::new(IpAllowList {
        config: config.clone(),
    })
}

impl IpAllowList {
    fn allows(&self, ip: &str) -> bool {
        ip.parse::<IpAddr>().is_ok_and(|ip| {
            let ip = ip.to_canonical();
            self.config.source_range.iter().any(|net| net.contains(&ip))
        })
    }
}

impl Middleware for IpAllowList {
    fn handle<'a>(
        &'a self,
        request: Request<Body>,
        ctx: &'a mut RequestContext,
    ) -> BoxFuture<'a, Result<Decision, GatewayError>> {
        Box::pin(async move {
            let strategy = &self.config.strategy;
            if strategy.depth == 0 && strategy.excluded.is_empty() {
                // The common case, the TCP peer, without going through text.
                let peer = ctx.client_addr.ip().to_canonical();
                let peer = super::client_ip::to_subnet(peer, strategy.ipv6_subnet);
                if self
                    .config
                    .source_range
                    .iter()
                    .any(|net| net.contains(&peer))
                {
                    return Ok(Decision::Forward(request));
                }
            }
            let ip = client_ip(strategy, request.headers(), ctx.client_addr.ip());
            if self.allows(&ip) {
                return Ok(Decision::Forward(request));
            }
            tracing::debug!(client = %ip, router = %ctx.router, "ipAllowList refused the client");
            let status = self.config.reject_status;
            let mut response =
                Response::new(body::full(status.canonical_reason().unwrap_or_default()));
            *response.status_mut() = status;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            Ok(Decision::Respond(response))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::Scheme;
    use http::StatusCode;
    use portcullis_config::middleware_traffic::IpStrategy;

    fn allow(ranges: &[&str], strategy: IpStrategy, reject: StatusCode) -> Arc<dyn Middleware> {
        build(&IpAllowListConfig {
            source_range: ranges.iter().map(|r| r.parse().unwrap()).collect(),
            strategy,
            reject_status: reject,
        })
    }

    async fn status(m: &Arc<dyn Middleware>, peer: &str, xff: Option<&str>) -> StatusCode {
        let mut builder = Request::get("/");
        if let Some(xff) = xff {
            builder = builder.header("x-forwarded-for", xff);
        }
        let mut ctx = RequestContext::new(
            format!("{peer}:4000").parse().unwrap(),
            Scheme::Http,
            "web".into(),
            "r".into(),
        );
        match m
            .handle(builder.body(body::empty()).unwrap(), &mut ctx)
            .await
            .unwrap()
        {
            Decision::Forward(_) => StatusCode::OK,
            Decision::Respond(r) => r.status(),
        }
    }

    #[tokio::test]
    async fn peers_inside_the_ranges_pass_and_others_get_403() {
        let m = allow(
            &["127.0.0.1/32", "192.168.1.7/32", "10.0.0.0/8"],
            IpStrategy::default(),
            StatusCode::FORBIDDEN,
        );
        assert_eq!(status(&m, "127.0.0.1", None).await, StatusCode::OK);
        assert_eq!(status(&m, "10.200.1.1", None).await, StatusCode::OK);
        assert_eq!(
            status(&m, "[::ffff:192.168.1.7]", None).await,
            StatusCode::OK
        );
        assert_eq!(status(&m, "192.168.1.8", None).await, StatusCode::FORBIDDEN);
        // A forged X-Forwarded-For is not read without a strategy.
        assert_eq!(
            status(&m, "203.0.113.5", Some("127.0.0.1, 203.0.113.5")).await,
            StatusCode::FORBIDDEN
        );
    }

    #[tokio::test]
    async fn reject_status_code_is_used_for_refusals() {
        let m = allow(
            &["10.0.0.0/8"],
            IpStrategy::default(),
            StatusCode::NOT_FOUND,
        );
        assert_eq!(status(&m, "127.0.0.1", None).await, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn depth_reads_the_address_a_trusted_proxy_forwarded() {
        let strategy = IpStrategy {
            depth: 1,
            ..IpStrategy::default()
        };
        let m = allow(&["198.51.100.0/24"], strategy, StatusCode::FORBIDDEN);
        // The trusted proxy 10.0.0.2 saw 198.51.100.4; the gateway appended the proxy.
        assert_eq!(
            status(&m, "10.0.0.2", Some("198.51.100.4, 10.0.0.2")).await,
            StatusCode::OK
        );
        assert_eq!(
            status(&m, "10.0.0.2", Some("198.51.100.4, 203.0.113.1, 10.0.0.2")).await,
            StatusCode::FORBIDDEN
        );
        // No forwarded address at all: refused.
        assert_eq!(
            status(&m, "10.0.0.2", Some("10.0.0.2")).await,
            StatusCode::FORBIDDEN
        );
    }
}
