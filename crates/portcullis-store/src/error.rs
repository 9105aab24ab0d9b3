//! Store errors. Every variant means "the store could not give a definite answer": the gateway
//! answers 503 for all of them and never reads one as absent or present.

use std::time::Duration;

/// Why a store operation failed. Messages name the operation and the cause, never a key's value
/// or a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The server could not be reached, dropped the connection, or refused the command for a
    /// reason that may pass (failover in progress, loading, read-only replica, cluster down).
    #[error("store unavailable during {operation}: {reason}")]
    Unavailable {
        operation: &'static str,
        reason: String,
    },
    /// No answer within the configured time.
    #[error("store did not answer {operation} within {after:?}")]
    Timeout {
        operation: &'static str,
        after: Duration,
    },
    /// The server answered with something the store cannot use (an error reply such as
    /// `WRONGTYPE` or `NOPERM`, or an unexpected reply type).
    #[error("store refused {operation}: {reason}")]
    Refused {
        operation: &'static str,
        reason: String,
    },
    /// The store could not be built from its configuration (unreadable certificate, secret that
    /// cannot be resolved, invalid combination).
    #[error("invalid store configuration: {0}")]
    Config(String),
}

impl StoreError {
    /// True for errors that come from the server's state rather than from the configuration:
    /// the request may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable { .. } | StoreError::Timeout { .. }
        )
    }
}
