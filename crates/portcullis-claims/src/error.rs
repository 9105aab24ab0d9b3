//! The one error type of this crate: a syntax error found while compiling an expression or a key.
//!
//! Errors are meant for the person who wrote the configuration, so each one names the column
//! (1-based, counted in characters from the start of the source text) and what was expected.

use std::fmt;

/// A syntax error in a claims expression or a claim key.
///
/// Displays as `"{message} at column {column}"`, followed by `"; {hint}"` when a hint is set
/// (for instance the list of known function names after an unknown one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at column {column}{}", HintSuffix(.hint.as_deref()))]
pub struct ParseError {
    /// 1-based column, in characters, of the place where the error was found.
    pub column: usize,
    /// What is wrong, without the column.
    pub message: String,
    /// An optional suggestion printed after the column.
    pub hint: Option<String>,
}

impl ParseError {
    pub(crate) fn new(column: usize, message: impl Into<String>) -> Self {
        ParseError {
            column,
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Moves the column by `offset` characters: used when a key, parsed on its own, sits inside a
    /// larger expression.
    pub(crate) fn shifted(mut self, offset: usize) -> Self {
        self.column = self.column.saturating_add(offset);
        self
    }
}

/// Prints `; {hint}` when there is a hint, nothing otherwise.
struct HintSuffix<'a>(Option<&'a str>);

impl fmt::Display for HintSuffix<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(hint) => write!(formatter, "; {hint}"),
            None => Ok(()),
        }
    }
}
