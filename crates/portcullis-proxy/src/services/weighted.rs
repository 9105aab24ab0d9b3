//! Traefik's `weighted` service: requests spread over services in proportion to their weights,
//! smoothly (a service of weight 3 next to one of weight 1 gets three of every four requests,
//! not in a row), as Traefik's weighted round robin does.

use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use http::{Request, Response};

use super::Upstream;
use crate::body::Body;
use crate::error::GatewayError;

pub struct Weighted {
    name: Arc<str>,
    children: Vec<(Arc<dyn Upstream>, i64)>,
    total: i64,
    /// Smooth weighted round robin: each child's running score.
    scores: Mutex<Vec<i64>>,
}

impl Weighted {
    pub fn new(name: &str, children: Vec<(Arc<dyn Upstream>, u32)>) -> Self {
        let children: Vec<(Arc<dyn Upstream>, i64)> = children
            .into_iter()
            .map(|(child, weight)| (child, i64::from(weight)))
            .collect();
        Self {
            name: name.into(),
            total: children.iter().map(|(_, w)| w).sum(),
            scores: Mutex::new(vec![0; children.len()]),
            children,
        }
    }

    /// The index of the next child.
    fn pick(&self) -> usize {
        let mut scores = self
            .scores
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut best = 0;
        for ((_, weight), score) in self.children.iter().zip(scores.iter_mut()) {
            *score += weight;
        }
        for (i, score) in scores.iter().enumerate() {
            if scores.get(best).is_some_and(|b| score > b) {
                best = i;
            }
        }
        if let Some(score) = scores.get_mut(best) {
            *score -= self.total;
        }
        best
    }
}

impl Upstream for Weighted {
    fn name(&self) -> &Arc<str> {
        &self.name
    }

    fn forward(
        &self,
        request: Request<Body>,
    ) -> BoxFuture<'_, Result<Response<Body>, GatewayError>> {
        Box::pin(async move {
            let Some((child, _)) = self.children.get(self.pick()) else {
                return Err(GatewayError::new(
                    crate::error::ErrorKind::ServiceUnavailable,
                    format!("service {}: no service to send to", self.name),
                ));
            };
            child.forward(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body;

    pub(crate) struct Named(pub Arc<str>);

    impl Upstream for Named {
        fn name(&self) -> &Arc<str> {
            &self.0
        }

        fn forward(
            &self,
            _request: Request<Body>,
        ) -> BoxFuture<'_, Result<Response<Body>, GatewayError>> {
            Box::pin(async move {
                let mut response = Response::new(body::empty());
                response
                    .headers_mut()
                    .insert("x-served-by", self.0.parse().unwrap());
                Ok(response)
            })
        }
    }

    #[tokio::test]
    async fn requests_follow_the_weights_smoothly() {
        let weighted = Weighted::new(
            "app",
            vec![
                (Arc::new(Named("appv1".into())) as Arc<dyn Upstream>, 3),
                (Arc::new(Named("appv2".into())), 1),
            ],
        );
        let mut served = Vec::new();
        for _ in 0..8 {
            let response = weighted.forward(Request::new(body::empty())).await.unwrap();
            served.push(
                response.headers()["x-served-by"]
                    .to_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        assert_eq!(
            served,
            [
                "appv1", "appv1", "appv2", "appv1", "appv1", "appv1", "appv2", "appv1"
            ]
        );
    }
}
