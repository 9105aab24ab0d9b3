//! Errors of the rule language and of the request-view helpers.
//!
//! A rule error carries the 1-based column, counted in characters, so that an operator can find
//! the fault in a rule written inside YAML, TOML or a Kubernetes label.

/// A rule that cannot be parsed or compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at column {column}")]
pub struct RuleError {
    /// 1-based column of the fault, in characters (not bytes).
    pub column: usize,
    /// What is wrong, without the position.
    pub message: String,
}

impl RuleError {
    /// Builds an error at byte offset `offset` of `src`, converting it to a character column.
    pub(crate) fn at(src: &str, offset: usize, message: impl Into<String>) -> Self {
        Self {
            column: column_of(src, offset),
            message: message.into(),
        }
    }
}

/// 1-based character column of byte offset `offset` in `src`; an offset past the end or inside a
/// character counts the characters that start before it.
fn column_of(src: &str, offset: usize) -> usize {
    src.char_indices().take_while(|(i, _)| *i < offset).count() + 1
}

/// A request path whose percent-encoding is malformed (a `%` not followed by two hex digits).
///
/// Traefik answers such requests with 400 Bad Request before any router is consulted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid percent-encoding in the request path at byte {offset}")]
pub struct InvalidPath {
    /// Byte offset of the offending `%` in the raw path.
    pub offset: usize,
}
