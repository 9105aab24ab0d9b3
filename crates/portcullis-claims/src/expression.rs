//! The compiled form of a claims expression, its evaluation and its canonical printing.
//!
//! Evaluation is what stands between a request and the upstream, so it must be total and cheap:
//! it walks a tree built once at configuration time, reads claims by reference and allocates
//! nothing. Printing is what operators see in explained denials, so it shows only the expression
//! the operator wrote (keys and configured values), never a claim value from a token.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::matching::scalar_matches;
use crate::{ClaimPath, Claims, ParseError, TokenKind};

/// A compiled claims expression, ready to be evaluated against the claims of each request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expression {
    pub(crate) root: Node,
}

/// One node of the expression tree. `All` and `Any` always hold at least two children: a chain
/// `a && b && c` is one node, while `a && (b && c)` keeps its parenthesised group as a child, so
/// that printing and parsing again gives back the same tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Node {
    Call(Call),
    Not(Box<Node>),
    All(Vec<Node>),
    Any(Vec<Node>),
}

/// A function call with its compiled arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Call {
    Equals {
        path: ClaimPath,
        value: String,
    },
    Prefix {
        path: ClaimPath,
        prefix: String,
    },
    Contains {
        path: ClaimPath,
        value: String,
    },
    SplitContains {
        path: ClaimPath,
        separator: String,
        value: String,
    },
    OneOf {
        path: ClaimPath,
        values: Vec<String>,
    },
}

impl Expression {
    /// Compiles an expression such as ``Equals(`grp`, `admin`) && !Contains(`areas`, `lab`)``.
    pub fn parse(src: &str) -> Result<Expression, ParseError> {
        crate::parser::parse(src)
    }

    /// True when the claims satisfy the expression. Missing claims and absent tokens make the
    /// functions that read them false; this never fails and never allocates.
    pub fn evaluate(&self, claims: &Claims<'_>) -> bool {
        self.root.evaluate(claims)
    }

    /// When [`Expression::evaluate`] is false: the canonical text of the smallest part of the
    /// expression that made it false, for "explained denial" log lines. `None` when the
    /// expression is true. The text holds keys and configured values only, never claim values.
    pub fn explain_failure(&self, claims: &Claims<'_>) -> Option<String> {
        self.root
            .failing_part(claims)
            .map(|node| PrintNode(node).to_string())
    }

    /// When [`Expression::evaluate`] is false: the claim keys read by the failing part (see
    /// [`Expression::explain_failure`]) that are absent from the tokens, so a denial can say
    /// "the claim is missing" apart from "the claim has another value". Keys only, never values.
    pub fn absent_claims_in_failure(&self, claims: &Claims<'_>) -> Vec<String> {
        let mut absent = Vec::new();
        if let Some(node) = self.root.failing_part(claims) {
            node.collect_absent(claims, &mut absent);
        }
        absent
    }

    /// True when any key reads the access token (`access_token.` prefix), so that the caller
    /// knows it needs the access token's claims, not only the ID token's.
    pub fn uses_access_token(&self) -> bool {
        self.root.uses_access_token()
    }
}

impl Node {
    fn evaluate(&self, claims: &Claims<'_>) -> bool {
        match self {
            Node::Call(call) => call.evaluate(claims),
            Node::Not(inner) => !inner.evaluate(claims),
            Node::All(children) => children.iter().all(|child| child.evaluate(claims)),
            Node::Any(children) => children.iter().any(|child| child.evaluate(claims)),
        }
    }

    /// The smallest node that explains why this one is false: the first false term of an `&&`
    /// chain (explained in turn), and otherwise the node itself, since an `||` needs all of its
    /// terms and a `!` its whole operand to be false.
    fn failing_part(&self, claims: &Claims<'_>) -> Option<&Node> {
        match self {
            Node::All(children) => children.iter().find_map(|child| child.failing_part(claims)),
            other if other.evaluate(claims) => None,
            other => Some(other),
        }
    }

    fn collect_absent(&self, claims: &Claims<'_>, out: &mut Vec<String>) {
        match self {
            Node::Call(call) => {
                let key = call.path().to_string();
                if call.path().lookup(claims).is_none() && !out.contains(&key) {
                    out.push(key);
                }
            }
            Node::Not(inner) => inner.collect_absent(claims, out),
            Node::All(children) | Node::Any(children) => {
                for child in children {
                    child.collect_absent(claims, out);
                }
            }
        }
    }

    fn uses_access_token(&self) -> bool {
        match self {
            Node::Call(call) => call.path().token() == TokenKind::AccessToken,
            Node::Not(inner) => inner.uses_access_token(),
            Node::All(children) | Node::Any(children) => {
                children.iter().any(Node::uses_access_token)
            }
        }
    }

    /// Binding strength, used to print the fewest parentheses that keep the tree's shape.
    fn precedence(&self) -> u8 {
        match self {
            Node::Any(_) => 1,
            Node::All(_) => 2,
            Node::Not(_) => 3,
            Node::Call(_) => 4,
        }
    }
}

impl Call {
    pub(crate) fn path(&self) -> &ClaimPath {
        match self {
            Call::Equals { path, .. }
            | Call::Prefix { path, .. }
            | Call::Contains { path, .. }
            | Call::SplitContains { path, .. }
            | Call::OneOf { path, .. } => path,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Call::Equals { .. } => "Equals",
            Call::Prefix { .. } => "Prefix",
            Call::Contains { .. } => "Contains",
            Call::SplitContains { .. } => "SplitContains",
            Call::OneOf { .. } => "OneOf",
        }
    }

    fn evaluate(&self, claims: &Claims<'_>) -> bool {
        let Some(claim) = self.path().lookup(claims) else {
            return false;
        };
        match self {
            // An array is not equal to any one string: use Contains or OneOf on arrays.
            Call::Equals { value, .. } => scalar_matches(claim, value),
            Call::Prefix { prefix, .. } => {
                matches!(claim, Value::String(text) if text.starts_with(prefix.as_str()))
            }
            Call::Contains { value, .. } => match claim {
                Value::String(text) => text.contains(value.as_str()),
                Value::Array(items) => items.iter().any(|item| scalar_matches(item, value)),
                _ => false,
            },
            Call::SplitContains {
                separator, value, ..
            } => match claim {
                Value::String(text) => text
                    .split(separator.as_str())
                    .any(|part| part.trim() == value),
                _ => false,
            },
            Call::OneOf { values, .. } => match claim {
                Value::Array(items) => items.iter().any(|item| matches_one_of(item, values)),
                scalar => matches_one_of(scalar, values),
            },
        }
    }

    fn write(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}(", self.name())?;
        write_literal(formatter, &self.path().to_string())?;
        let arguments: &[String] = match self {
            Call::Equals { value, .. } | Call::Contains { value, .. } => {
                std::slice::from_ref(value)
            }
            Call::Prefix { prefix, .. } => std::slice::from_ref(prefix),
            Call::SplitContains {
                separator, value, ..
            } => {
                formatter.write_str(", ")?;
                write_literal(formatter, separator)?;
                std::slice::from_ref(value)
            }
            Call::OneOf { values, .. } => values,
        };
        for argument in arguments {
            formatter.write_str(", ")?;
            write_literal(formatter, argument)?;
        }
        formatter.write_str(")")
    }
}

fn matches_one_of(value: &Value, candidates: &[String]) -> bool {
    candidates
        .iter()
        .any(|candidate| scalar_matches(value, candidate))
}

/// Writes a string argument: in backticks, as the documentation does, unless it contains a
/// backtick, which only a double-quoted string can hold.
fn write_literal(formatter: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    if !text.contains('`') {
        return write!(formatter, "`{text}`");
    }
    formatter.write_str("\"")?;
    for character in text.chars() {
        match character {
            '"' => formatter.write_str("\\\"")?,
            '\\' => formatter.write_str("\\\\")?,
            '\n' => formatter.write_str("\\n")?,
            '\r' => formatter.write_str("\\r")?,
            '\t' => formatter.write_str("\\t")?,
            other => write!(formatter, "{other}")?,
        }
    }
    formatter.write_str("\"")
}

/// Prints a node in canonical form: one space around `&&` and `||`, `, ` between arguments, and
/// parentheses only where the tree's shape needs them.
struct PrintNode<'a>(&'a Node);

impl fmt::Display for PrintNode<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let node = self.0;
        match node {
            Node::Call(call) => call.write(formatter),
            Node::Not(inner) => {
                formatter.write_str("!")?;
                write_operand(formatter, inner, inner.precedence() < node.precedence())
            }
            Node::All(children) | Node::Any(children) => {
                let operator = if matches!(node, Node::All(_)) {
                    " && "
                } else {
                    " || "
                };
                for (index, child) in children.iter().enumerate() {
                    if index > 0 {
                        formatter.write_str(operator)?;
                    }
                    // A child of equal strength is a parenthesised group in the source: keep it.
                    write_operand(formatter, child, child.precedence() <= node.precedence())?;
                }
                Ok(())
            }
        }
    }
}

fn write_operand(
    formatter: &mut fmt::Formatter<'_>,
    node: &Node,
    parenthesised: bool,
) -> fmt::Result {
    if parenthesised {
        write!(formatter, "({})", PrintNode(node))
    } else {
        write!(formatter, "{}", PrintNode(node))
    }
}

impl fmt::Display for Expression {
    /// Canonical form, which [`Expression::parse`] turns back into an equal expression.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        PrintNode(&self.root).fmt(formatter)
    }
}

impl FromStr for Expression {
    type Err = ParseError;

    fn from_str(src: &str) -> Result<Self, Self::Err> {
        Expression::parse(src)
    }
}
