//! Claim keys (`user.name`, `access_token.grp`, `a\.b`), their lookup in the token claims, and
//! the extraction helpers behind `forwardHeaders` and `usernameClaim`.
//!
//! A key is split on unescaped dots; `\.` is a literal dot and `\\` a literal backslash. Any other
//! backslash is rejected when the configuration is loaded rather than guessed at, so a typo cannot
//! silently point a rule at a claim that never exists. Lookup only walks JSON objects: it never
//! indexes arrays, and it never fails, since a missing claim must make a rule false, not an error.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::ParseError;

const ID_TOKEN_PREFIX: &str = "id_token.";
const ACCESS_TOKEN_PREFIX: &str = "access_token.";

/// The claims of the tokens a rule can look at. A token that is absent (or not a JWT) is `None`,
/// and every key pointing into it is then missing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Claims<'a> {
    /// Claims of the ID token: read by keys without a prefix or with `id_token.`.
    pub id_token: Option<&'a Value>,
    /// Claims of the access token: read by keys with `access_token.`.
    pub access_token: Option<&'a Value>,
}

/// Which token a key reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// The ID token: the default when a key has no prefix.
    IdToken,
    /// The access token, selected by the `access_token.` prefix.
    AccessToken,
}

/// A parsed claim key: the token it reads and the path of object keys inside that token, with
/// escapes already resolved.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClaimPath {
    token: TokenKind,
    segments: Vec<String>,
}

impl ClaimPath {
    /// Parses a key such as `user.name`, `access_token.scope` or `urn:x\.y`.
    ///
    /// Columns in errors are 1-based character positions in `src`.
    pub fn parse(src: &str) -> Result<ClaimPath, ParseError> {
        if src.is_empty() {
            return Err(ParseError::new(1, "empty claim key"));
        }
        for (prefix, token) in [
            (ID_TOKEN_PREFIX, TokenKind::IdToken),
            (ACCESS_TOKEN_PREFIX, TokenKind::AccessToken),
        ] {
            if let Some(rest) = src.strip_prefix(prefix) {
                let prefix_width = prefix.chars().count();
                if rest.is_empty() {
                    return Err(ParseError::new(
                        prefix_width + 1,
                        format!("expected a claim name after '{prefix}'"),
                    ));
                }
                let segments = parse_segments(rest).map_err(|error| error.shifted(prefix_width))?;
                return Ok(ClaimPath { token, segments });
            }
        }
        Ok(ClaimPath {
            token: TokenKind::IdToken,
            segments: parse_segments(src)?,
        })
    }

    /// Builds a path from already-resolved parts, for generated test cases.
    #[cfg(test)]
    pub(crate) fn from_parts(token: TokenKind, segments: Vec<String>) -> ClaimPath {
        ClaimPath { token, segments }
    }

    /// The token this key reads.
    pub fn token(&self) -> TokenKind {
        self.token
    }

    /// The object keys walked from the token's top level, escapes resolved.
    pub fn segments(&self) -> impl ExactSizeIterator<Item = &str> {
        self.segments.iter().map(String::as_str)
    }

    /// The value at this key, or `None` when the token is absent, an intermediate value is not an
    /// object, or a key is missing. Arrays are never indexed into.
    pub fn lookup<'a>(&self, claims: &Claims<'a>) -> Option<&'a Value> {
        let mut value = match self.token {
            TokenKind::IdToken => claims.id_token?,
            TokenKind::AccessToken => claims.access_token?,
        };
        for segment in &self.segments {
            value = value.as_object()?.get(segment.as_str())?;
        }
        Some(value)
    }

    /// The claim as one header value: strings as they are, numbers and booleans as their JSON
    /// text, arrays as their elements' text joined with `,`, objects as compact JSON, and an
    /// absent or `null` claim as the empty string.
    pub fn text(&self, claims: &Claims<'_>) -> String {
        self.lookup(claims).map(value_text).unwrap_or_default()
    }

    /// The claim as several header values: one per element of a non-empty array (each rendered
    /// as by [`ClaimPath::text`], nested arrays and objects as compact JSON), otherwise exactly
    /// one value, equal to [`ClaimPath::text`]. Never empty, and `values().join(",") == text()`.
    pub fn values(&self, claims: &Claims<'_>) -> Vec<String> {
        match self.lookup(claims) {
            Some(Value::Array(items)) if !items.is_empty() => {
                items.iter().map(element_text).collect()
            }
            other => vec![other.map(value_text).unwrap_or_default()],
        }
    }
}

impl fmt::Display for ClaimPath {
    /// Canonical form: re-escaped, with a prefix only where one is needed (the access token, or an
    /// ID-token key whose first segment would otherwise be read as a prefix).
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first_looks_like_prefix = self.segments.len() > 1
            && self
                .segments
                .first()
                .is_some_and(|first| first == "id_token" || first == "access_token");
        match self.token {
            TokenKind::AccessToken => formatter.write_str(ACCESS_TOKEN_PREFIX)?,
            TokenKind::IdToken if first_looks_like_prefix => {
                formatter.write_str(ID_TOKEN_PREFIX)?
            }
            TokenKind::IdToken => {}
        }
        for (index, segment) in self.segments.iter().enumerate() {
            if index > 0 {
                formatter.write_str(".")?;
            }
            for character in segment.chars() {
                if character == '.' || character == '\\' {
                    formatter.write_str("\\")?;
                }
                write!(formatter, "{character}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for ClaimPath {
    type Err = ParseError;

    fn from_str(src: &str) -> Result<Self, Self::Err> {
        ClaimPath::parse(src)
    }
}

/// Splits a key without prefix on unescaped dots, resolving `\.` and `\\`.
fn parse_segments(src: &str) -> Result<Vec<String>, ParseError> {
    let mut segments = Vec::new();
    let mut current = String::new();
    // Column of a backslash whose escaped character has not been read yet.
    let mut pending_escape: Option<usize> = None;
    let mut last_column = 0;
    for (index, character) in src.chars().enumerate() {
        let column = index + 1;
        last_column = column;
        if let Some(backslash_column) = pending_escape.take() {
            if character == '.' || character == '\\' {
                current.push(character);
                continue;
            }
            return Err(ParseError::new(
                backslash_column,
                format!("invalid escape '\\{character}' in claim key"),
            )
            .with_hint("only '\\.' (a literal dot) and '\\\\' (a literal backslash) are allowed"));
        }
        match character {
            '\\' => pending_escape = Some(column),
            '.' if current.is_empty() => {
                let message = if segments.is_empty() {
                    "claim key starts with '.'"
                } else {
                    "empty name between two dots in claim key"
                };
                return Err(ParseError::new(column, message));
            }
            '.' => segments.push(std::mem::take(&mut current)),
            other => current.push(other),
        }
    }
    if let Some(backslash_column) = pending_escape {
        return Err(ParseError::new(
            backslash_column,
            "unfinished escape at the end of claim key",
        )
        .with_hint("write '\\\\' for a literal backslash"));
    }
    if current.is_empty() {
        // Either the key is empty or it ends with a dot (a dot always follows a non-empty name).
        return Err(if segments.is_empty() {
            ParseError::new(1, "empty claim key")
        } else {
            ParseError::new(last_column, "claim key ends with '.'")
        });
    }
    segments.push(current);
    Ok(segments)
}

/// Header text of a whole claim value.
fn value_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => text.clone(),
        Value::Array(items) => {
            let mut joined = String::new();
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    joined.push(',');
                }
                joined.push_str(&element_text(item));
            }
            joined
        }
        Value::Object(_) => value.to_string(),
    }
}

/// Header text of one array element: like a whole value, except that a nested array keeps its
/// brackets so that its elements stay distinguishable from the outer ones.
fn element_text(value: &Value) -> String {
    match value {
        Value::Array(_) => value.to_string(),
        other => value_text(other),
    }
}
