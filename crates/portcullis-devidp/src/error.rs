//! Errors of the development provider's setup and test helpers.
//!
//! Errors answered to HTTP clients are not here: each endpoint maps its own refusals to the
//! protocol's error responses (see `endpoints::oauth_error`).

/// Why the provider could not be configured, started, or driven from a test.
#[derive(Debug, thiserror::Error)]
pub enum DevIdpError {
    /// The YAML configuration could not be parsed.
    #[error("invalid devidp configuration: {0}")]
    ConfigSyntax(String),
    /// The configuration parsed but is not consistent.
    #[error("invalid devidp configuration: {0}")]
    ConfigInvalid(String),
    /// Reading the configuration file failed.
    #[error("cannot read {path}: {source}")]
    ReadConfig {
        /// The file that could not be read.
        path: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// Binding or serving the listener failed.
    #[error("devidp server: {0}")]
    Server(#[from] std::io::Error),
    /// Generating or loading a signing key failed.
    #[error("signing key: {0}")]
    Key(String),
    /// An operation referred to a key that does not exist or cannot be removed.
    #[error("key {0}")]
    KeyState(String),
    /// A test helper's HTTP call failed.
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// A test helper got an answer it did not expect.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}
