//! Configuration of the Portcullis gateway.
//!
//! Three steps, kept apart so each can be tested alone: [`raw`] types mirror the YAML and reject
//! unknown keys; [`validate`] is pure and reports every error with its path; [`model`] holds the
//! typed result the gateway runs. [`secret`] parses and resolves secret references.

pub mod errors;
pub mod forward_auth;
pub mod load;
mod locate;
pub mod middleware_traffic;
pub mod middleware_transform;
pub mod model;
pub mod plugin;
pub mod raw;
pub mod secret;
pub mod service_traefik;
pub mod transport;
pub mod validate;

pub use errors::{ConfigError, Errors, MiddlewareError, Path};
pub use load::{load, load_str, read_all};
pub use model::*;
pub use secret::{KubernetesSecret, LocalResolver, Secret, SecretError, SecretRef, SecretResolver};
