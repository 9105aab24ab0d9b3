//! The Kubernetes provider of the Portcullis gateway.
//!
//! With `providers.kubernetesCRD`, Portcullis watches Traefik's `IngressRoute` and `Middleware`
//! resources (`traefik.io/v1alpha1`), `Service`, `EndpointSlice` and `Secret`, and turns them into
//! the same dynamic configuration the file provider produces:
//!
//! - [`provider`] runs the reflectors and says when something changed;
//! - [`translate`](mod@translate) turns a snapshot into routers, services and middlewares, resource by resource,
//!   reporting broken ones as [`translate::Problem`]s;
//! - [`secrets`] resolves `urn:k8s:secret:NAME:KEY` from the watched Secrets of the
//!   Middleware's namespace;
//! - [`events`] logs each problem once and publishes it as a Kubernetes Event.

pub mod events;
pub mod provider;
pub mod resources;
pub mod secrets;
#[cfg(feature = "testing")]
pub mod testing;
pub mod translate;

pub use events::ProblemReporter;
pub use provider::{KubeError, KubeProvider, connect};
pub use secrets::{KubeSecrets, SecretSource};
pub use translate::{MiddlewareCheck, Problem, Reason, Settings, Snapshot, Translation, translate};
