//! Recursive-descent parser: `!` binds tighter than `&&`, which binds tighter than `||`.
//!
//! Rules come from configuration that may be written by many teams (labels, CRDs), and the parser
//! is fuzzed: nesting through parentheses and `!` is capped at [`MAX_DEPTH`] so that neither
//! parsing, matching nor dropping a rule can overflow the stack, and chains of `&&` / `||` are
//! kept flat for the same reason.

use std::iter::Peekable;
use std::vec::IntoIter;

use crate::error::RuleError;
use crate::expr::Expr;
use crate::lexer::{Kind, Token, tokenize};
use crate::matcher::{Arg, Matcher};

/// Deepest nesting of parentheses and `!` accepted in a rule.
pub const MAX_DEPTH: usize = 64;

pub(crate) fn parse(src: &str) -> Result<Expr, RuleError> {
    let tokens = tokenize(src)?;
    if tokens.first().is_none_or(|t| t.kind == Kind::End) {
        return Err(RuleError::at(src, 0, "empty rule"));
    }
    let mut parser = Parser {
        src,
        tokens: tokens.into_iter().peekable(),
        depth: 0,
    };
    let expr = parser.or()?;
    let next = parser.bump();
    match next.kind {
        Kind::End => Ok(expr),
        Kind::RParen => Err(parser.error(next.offset, "unexpected ')'")),
        _ => Err(parser.error(next.offset, "expected '&&', '||' or the end of the rule")),
    }
}

struct Parser<'a> {
    src: &'a str,
    tokens: Peekable<IntoIter<Token<'a>>>,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn error(&self, offset: usize, message: impl Into<String>) -> RuleError {
        RuleError::at(self.src, offset, message)
    }

    /// The next token; [`Kind::End`] forever once the input is exhausted.
    fn bump(&mut self) -> Token<'a> {
        self.tokens.next().unwrap_or(Token {
            kind: Kind::End,
            offset: self.src.len(),
        })
    }

    fn eat(&mut self, kind: &Kind<'_>) -> bool {
        self.tokens.next_if(|t| t.kind == *kind).is_some()
    }

    fn enter(&mut self, offset: usize) -> Result<(), RuleError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(
                offset,
                format!("rule is nested too deeply (more than {MAX_DEPTH} levels)"),
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, RuleError> {
        let mut items = vec![self.and()?];
        while self.eat(&Kind::Or) {
            items.push(self.and()?);
        }
        Ok(collapse(items, Expr::Or))
    }

    fn and(&mut self) -> Result<Expr, RuleError> {
        let mut items = vec![self.unary()?];
        while self.eat(&Kind::And) {
            items.push(self.unary()?);
        }
        Ok(collapse(items, Expr::And))
    }

    fn unary(&mut self) -> Result<Expr, RuleError> {
        let Some(not) = self.tokens.next_if(|t| t.kind == Kind::Not) else {
            return self.primary();
        };
        self.enter(not.offset)?;
        let inner = self.unary()?;
        self.depth -= 1;
        Ok(Expr::Not(Box::new(inner)))
    }

    fn primary(&mut self) -> Result<Expr, RuleError> {
        let token = self.bump();
        match token.kind {
            Kind::LParen => {
                self.enter(token.offset)?;
                let inner = self.or()?;
                let close = self.bump();
                if close.kind != Kind::RParen {
                    return Err(self.error(close.offset, "expected ')'"));
                }
                self.depth -= 1;
                Ok(inner)
            }
            Kind::Word(name) => {
                let open = self.bump();
                if open.kind != Kind::LParen {
                    return Err(self.error(open.offset, format!("expected '(' after '{name}'")));
                }
                let args = self.arguments()?;
                Matcher::build(self.src, token.offset, name, args).map(Expr::Matcher)
            }
            _ => Err(self.error(token.offset, "expected a matcher")),
        }
    }

    /// Arguments after the opening parenthesis, through the closing one. A trailing comma is
    /// accepted, as in a Go call expression.
    fn arguments(&mut self) -> Result<Vec<Arg>, RuleError> {
        let mut args = Vec::new();
        loop {
            let token = self.bump();
            match token.kind {
                Kind::RParen => return Ok(args),
                Kind::Str(value) => args.push((value, token.offset)),
                Kind::End => return Err(self.error(token.offset, "expected ')'")),
                _ => {
                    return Err(self.error(
                        token.offset,
                        "expected a string argument in backticks or double quotes",
                    ));
                }
            }
            let separator = self.bump();
            match separator.kind {
                Kind::Comma => {}
                Kind::RParen => return Ok(args),
                Kind::End => return Err(self.error(separator.offset, "expected ')'")),
                _ => return Err(self.error(separator.offset, "expected ',' or ')'")),
            }
        }
    }
}

/// One operand stands for itself; several form an n-ary node.
fn collapse(mut items: Vec<Expr>, node: fn(Vec<Expr>) -> Expr) -> Expr {
    if items.len() == 1 {
        if let Some(only) = items.pop() {
            return only;
        }
    }
    node(items)
}
