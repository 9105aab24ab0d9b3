//! What a route sends its requests to: a `loadBalancer` service ([`crate::upstream::Service`])
//! or one of Traefik's services made of other services, `weighted` and `mirroring`.

pub mod mirroring;
pub mod weighted;

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use http::{Request, Response};
use portcullis_config::service_traefik::TraefikServiceConfig;

use crate::body::Body;
use crate::error::GatewayError;
use crate::upstream::Service;

/// A service a route can forward to.
pub trait Upstream: Send + Sync + 'static {
    fn name(&self) -> &Arc<str>;
    fn forward(
        &self,
        request: Request<Body>,
    ) -> BoxFuture<'_, Result<Response<Body>, GatewayError>>;
}

impl Upstream for Service {
    fn name(&self) -> &Arc<str> {
        Service::name(self)
    }

    fn forward(
        &self,
        request: Request<Body>,
    ) -> BoxFuture<'_, Result<Response<Body>, GatewayError>> {
        Service::forward(self, request)
    }
}

/// Builds the `weighted` and `mirroring` services on top of those already `built`, children
/// first; every failure is returned with the service it concerns.
pub fn build_composed(
    dynamic: &portcullis_config::DynamicConfig,
    built: &mut HashMap<String, Arc<dyn Upstream>>,
) -> Vec<portcullis_config::ConfigError> {
    let mut pending: Vec<(&String, &TraefikServiceConfig)> =
        dynamic.traefik_services.iter().collect();
    // Validation refused cycles, so each pass builds at least one service until all are built
    // or the rest lack a child that failed.
    loop {
        let before = pending.len();
        pending.retain(|&(name, config)| {
            let children: Option<Vec<Arc<dyn Upstream>>> = config
                .children()
                .iter()
                .map(|child| built.get(*child).cloned())
                .collect();
            let Some(children) = children else {
                return true;
            };
            let service: Arc<dyn Upstream> = match config {
                TraefikServiceConfig::Weighted(weights) => Arc::new(weighted::Weighted::new(
                    name,
                    children
                        .into_iter()
                        .zip(weights.iter().map(|(_, w)| *w))
                        .collect(),
                )),
                TraefikServiceConfig::Mirroring(mirroring) => {
                    let mut children = children.into_iter();
                    let Some(main) = children.next() else {
                        return true;
                    };
                    Arc::new(mirroring::Mirroring::new(
                        name,
                        main,
                        children
                            .zip(mirroring.mirrors.iter().map(|(_, p)| *p))
                            .collect(),
                        mirroring,
                    ))
                }
            };
            built.insert(name.clone(), service);
            false
        });
        if pending.is_empty() || pending.len() == before {
            break;
        }
    }
    pending
        .iter()
        .map(|(name, config)| {
            let missing: Vec<&str> = config
                .children()
                .into_iter()
                .filter(|c| !built.contains_key(*c))
                .collect();
            portcullis_config::ConfigError {
                path: format!("http.services.{name}"),
                message: format!("service(s) {} not available", missing.join(", ")),
            }
        })
        .collect()
}
