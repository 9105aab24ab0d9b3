//! How one claim value is compared with one configured string.
//!
//! Scalars compare by their JSON text, so `true` matches the boolean and `42` the number, as the
//! reference product documents. This runs on every request, so it never allocates: numbers are
//! compared while they are being formatted, through a [`fmt::Write`] sink.

use std::fmt::{self, Write};

use serde_json::Value;

/// True when `value` is a string, number or boolean whose JSON text is `expected` (strings
/// without their quotes). `null`, arrays and objects match nothing.
pub(crate) fn scalar_matches(value: &Value, expected: &str) -> bool {
    match value {
        Value::String(text) => text == expected,
        Value::Bool(true) => expected == "true",
        Value::Bool(false) => expected == "false",
        Value::Number(number) => formats_as(number, expected),
        Value::Null | Value::Array(_) | Value::Object(_) => false,
    }
}

/// True when `value` formats exactly as `expected`, without building the formatted string.
fn formats_as(value: &impl fmt::Display, expected: &str) -> bool {
    let mut sink = PrefixMatcher {
        remaining: expected,
    };
    // The sink reports a mismatch as a formatting error, which stops formatting early.
    write!(sink, "{value}").is_ok() && sink.remaining.is_empty()
}

/// Consumes `remaining` as formatted pieces arrive; fails at the first piece that differs.
struct PrefixMatcher<'a> {
    remaining: &'a str,
}

impl Write for PrefixMatcher<'_> {
    fn write_str(&mut self, piece: &str) -> fmt::Result {
        match self.remaining.strip_prefix(piece) {
            Some(rest) => {
                self.remaining = rest;
                Ok(())
            }
            None => Err(fmt::Error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_match_their_json_text_only() {
        assert!(scalar_matches(&json!(42), "42"));
        assert!(scalar_matches(&json!(-7), "-7"));
        assert!(scalar_matches(&json!(1.5), "1.5"));
        assert!(!scalar_matches(&json!(42), "4"));
        assert!(!scalar_matches(&json!(42), "420"));
        assert!(!scalar_matches(&json!(42), "42.0"));
        assert!(!scalar_matches(&json!(42), ""));
    }

    #[test]
    fn booleans_match_true_and_false() {
        assert!(scalar_matches(&json!(true), "true"));
        assert!(scalar_matches(&json!(false), "false"));
        assert!(!scalar_matches(&json!(true), "True"));
        assert!(!scalar_matches(&json!(false), "true"));
    }

    #[test]
    fn null_arrays_and_objects_match_nothing() {
        assert!(!scalar_matches(&json!(null), "null"));
        assert!(!scalar_matches(&json!(null), ""));
        assert!(!scalar_matches(&json!(["a"]), "a"));
        assert!(!scalar_matches(&json!(["a"]), "[\"a\"]"));
        assert!(!scalar_matches(&json!({"a": 1}), "{\"a\":1}"));
    }
}
