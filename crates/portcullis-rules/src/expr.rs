//! The compiled rule tree and its canonical printing.

use std::fmt;

use crate::RequestView;
use crate::matcher::Matcher;

/// A rule tree. `&&` and `||` chains are n-ary so that long rules stay shallow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Matcher(Matcher),
}

impl Expr {
    pub(crate) fn matches(&self, req: &RequestView<'_>) -> bool {
        match self {
            Self::Or(items) => items.iter().any(|e| e.matches(req)),
            Self::And(items) => items.iter().all(|e| e.matches(req)),
            Self::Not(inner) => !inner.matches(req),
            Self::Matcher(m) => m.matches(req),
        }
    }
}

/// Prints with the fewest parentheses that rebuild the same tree, so printing never nests deeper
/// than the source did.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Or(items) => join(f, items, " || ", |e| matches!(e, Self::Or(_))),
            Self::And(items) => join(f, items, " && ", |e| {
                matches!(e, Self::Or(_) | Self::And(_))
            }),
            Self::Not(inner) => {
                f.write_str("!")?;
                operand(f, inner, matches!(**inner, Self::Or(_) | Self::And(_)))
            }
            Self::Matcher(m) => write!(f, "{m}"),
        }
    }
}

fn join(
    f: &mut fmt::Formatter<'_>,
    items: &[Expr],
    separator: &str,
    needs_parens: impl Fn(&Expr) -> bool,
) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        operand(f, item, needs_parens(item))?;
    }
    Ok(())
}

fn operand(f: &mut fmt::Formatter<'_>, expr: &Expr, parens: bool) -> fmt::Result {
    if parens {
        write!(f, "({expr})")
    } else {
        write!(f, "{expr}")
    }
}
