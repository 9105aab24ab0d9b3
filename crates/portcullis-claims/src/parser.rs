//! Recursive-descent parser from source text to the compiled [`Expression`] tree.
//!
//! Grammar (`!` binds tighter than `&&`, which binds tighter than `||`):
//!
//! ```text
//! expression := any END
//! any        := all ( "||" all )*
//! all        := unary ( "&&" unary )*
//! unary      := "!" unary | "(" any ")" | call
//! call       := NAME "(" [ STRING ( "," STRING )* [ "," ] ] ")"
//! ```
//!
//! Nesting of `(` and `!` is bounded so that hostile configuration cannot exhaust the stack of
//! the parser, of evaluation or of the tree's destructor.

use crate::expression::{Call, Expression, Node};
use crate::lexer::{Lexeme, Lexer, Quote, Token};
use crate::{ClaimPath, ParseError};

/// Deepest nesting of parentheses and `!` accepted; real rules use a handful.
pub const MAX_NESTING: usize = 64;

const FUNCTION_NAMES: &str = "Equals, Prefix, Contains, SplitContains, OneOf";

pub(crate) fn parse(src: &str) -> Result<Expression, ParseError> {
    let mut lexer = Lexer::new(src);
    let current = lexer.next_token()?;
    if current.lexeme == Lexeme::End {
        return Err(ParseError::new(current.column, "empty expression")
            .with_hint("expected a function call such as Equals(`grp`, `admin`)"));
    }
    let mut parser = Parser {
        lexer,
        current,
        depth: 0,
    };
    let root = parser.any(None)?;
    match &parser.current.lexeme {
        Lexeme::End => Ok(Expression { root }),
        Lexeme::CloseParen => Err(parser.error("unbalanced parentheses: ')' has no matching '('")),
        other => Err(parser
            .error("expected '&&', '||' or the end of the expression")
            .with_hint(format!("found {}", other.describe()))),
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    /// The next token, not yet consumed.
    current: Token,
    /// Current nesting of `(` and `!`.
    depth: usize,
}

/// What an operand follows, to say so when it is missing.
#[derive(Clone, Copy)]
enum After {
    And,
    Or,
    Not,
    OpenParen,
}

impl After {
    fn text(self) -> &'static str {
        match self {
            After::And => "&&",
            After::Or => "||",
            After::Not => "!",
            After::OpenParen => "(",
        }
    }
}

impl Parser<'_> {
    /// Consumes the current token and returns it.
    fn advance(&mut self) -> Result<Token, ParseError> {
        let next = self.lexer.next_token()?;
        Ok(std::mem::replace(&mut self.current, next))
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError::new(self.current.column, message)
    }

    fn any(&mut self, after: Option<After>) -> Result<Node, ParseError> {
        let first = self.all(after)?;
        if self.current.lexeme != Lexeme::Or {
            return Ok(first);
        }
        let mut terms = vec![first];
        while self.current.lexeme == Lexeme::Or {
            self.advance()?;
            terms.push(self.all(Some(After::Or))?);
        }
        Ok(Node::Any(terms))
    }

    fn all(&mut self, after: Option<After>) -> Result<Node, ParseError> {
        let first = self.unary(after)?;
        if self.current.lexeme != Lexeme::And {
            return Ok(first);
        }
        let mut terms = vec![first];
        while self.current.lexeme == Lexeme::And {
            self.advance()?;
            terms.push(self.unary(Some(After::And))?);
        }
        Ok(Node::All(terms))
    }

    fn unary(&mut self, after: Option<After>) -> Result<Node, ParseError> {
        match &self.current.lexeme {
            Lexeme::Not => {
                self.enter()?;
                self.advance()?;
                let operand = self.unary(Some(After::Not))?;
                self.depth -= 1;
                Ok(Node::Not(Box::new(operand)))
            }
            Lexeme::OpenParen => {
                self.enter()?;
                let open = self.advance()?;
                let inner = self.any(Some(After::OpenParen))?;
                self.close_group(open.column)?;
                self.depth -= 1;
                Ok(inner)
            }
            Lexeme::Identifier(_) => self.call(),
            found => Err(self.missing_operand(after, found)),
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        if self.depth >= MAX_NESTING {
            return Err(self.error(format!(
                "expression nested too deeply (more than {MAX_NESTING} levels of '(' and '!')"
            )));
        }
        self.depth += 1;
        Ok(())
    }

    fn close_group(&mut self, open_column: usize) -> Result<(), ParseError> {
        match &self.current.lexeme {
            Lexeme::CloseParen => {
                self.advance()?;
                Ok(())
            }
            Lexeme::End => Err(self
                .error("unbalanced parentheses: expected ')'")
                .with_hint(format!("the '(' at column {open_column} is never closed"))),
            found => Err(self.error("expected '&&', '||' or ')'").with_hint(format!(
                "found {}, inside the '(' at column {open_column}",
                found.describe()
            ))),
        }
    }

    fn missing_operand(&self, after: Option<After>, found: &Lexeme) -> ParseError {
        const EXPECTED: &str = "a function call, '!' or '('";
        match (after, found) {
            (Some(after), Lexeme::End) => self.error(format!(
                "missing operand after '{}': expected {EXPECTED}",
                after.text()
            )),
            (Some(after), found) => self
                .error(format!("expected {EXPECTED} after '{}'", after.text()))
                .with_hint(format!("found {}", found.describe())),
            (None, found) => self
                .error(format!("expected {EXPECTED}"))
                .with_hint(format!("found {}", found.describe())),
        }
    }

    fn call(&mut self) -> Result<Node, ParseError> {
        let name_token = self.advance()?;
        let name_column = name_token.column;
        let Lexeme::Identifier(name) = name_token.lexeme else {
            return Err(ParseError::new(name_column, "expected a function name"));
        };
        let Some(function) = Function::from_name(&name) else {
            return Err(
                ParseError::new(name_column, format!("unknown function '{name}'"))
                    .with_hint(format!("expected one of {FUNCTION_NAMES}")),
            );
        };
        if self.current.lexeme != Lexeme::OpenParen {
            return Err(self
                .error(format!("expected '(' after '{name}'"))
                .with_hint(format!("found {}", self.current.lexeme.describe())));
        }
        self.advance()?;
        let arguments = self.arguments()?;
        function.build(name_column, arguments).map(Node::Call)
    }

    /// Reads the arguments after `(` up to and including `)`.
    fn arguments(&mut self) -> Result<Vec<Argument>, ParseError> {
        let mut arguments = Vec::new();
        loop {
            let token = self.advance()?;
            match token.lexeme {
                Lexeme::CloseParen => return Ok(arguments),
                Lexeme::Text {
                    value,
                    quote,
                    columns_exact,
                } => arguments.push(Argument {
                    value,
                    column: token.column,
                    quote,
                    columns_exact,
                }),
                found => {
                    let expected = if arguments.is_empty() {
                        "a backtick-quoted argument or ')'"
                    } else {
                        "a backtick-quoted argument"
                    };
                    return Err(
                        ParseError::new(token.column, format!("expected {expected}"))
                            .with_hint(format!("found {}", found.describe())),
                    );
                }
            }
            match &self.current.lexeme {
                Lexeme::Comma => {
                    self.advance()?;
                    // A trailing comma before ')' is valid in the reference (Go) syntax.
                    if self.current.lexeme == Lexeme::CloseParen {
                        self.advance()?;
                        return Ok(arguments);
                    }
                }
                Lexeme::CloseParen => {
                    self.advance()?;
                    return Ok(arguments);
                }
                found => {
                    return Err(self
                        .error("expected ',' or ')'")
                        .with_hint(format!("found {}", found.describe())));
                }
            }
        }
    }
}

/// A string argument with where it came from, to place errors found inside it.
struct Argument {
    value: String,
    /// Column of the opening quote.
    column: usize,
    quote: Quote,
    columns_exact: bool,
}

impl Argument {
    fn into_path(self) -> Result<ClaimPath, ParseError> {
        ClaimPath::parse(&self.value).map_err(|error| {
            if self.columns_exact {
                // The key's first character is one column after the opening quote.
                error.shifted(self.column)
            } else {
                // Escapes moved the characters: point at the argument itself.
                let quoted = match self.quote {
                    Quote::Backtick => "backtick",
                    Quote::Double => "double",
                };
                ParseError {
                    column: self.column,
                    message: format!("{} (in the {quoted}-quoted key)", error.message),
                    hint: error.hint,
                }
            }
        })
    }
}

#[derive(Clone, Copy)]
enum Function {
    Equals,
    Prefix,
    Contains,
    SplitContains,
    OneOf,
}

impl Function {
    fn from_name(name: &str) -> Option<Function> {
        // Case-sensitive, as in the reference implementation.
        match name {
            "Equals" => Some(Function::Equals),
            "Prefix" => Some(Function::Prefix),
            "Contains" => Some(Function::Contains),
            "SplitContains" => Some(Function::SplitContains),
            "OneOf" => Some(Function::OneOf),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Function::Equals => "Equals",
            Function::Prefix => "Prefix",
            Function::Contains => "Contains",
            Function::SplitContains => "SplitContains",
            Function::OneOf => "OneOf",
        }
    }

    fn build(self, name_column: usize, arguments: Vec<Argument>) -> Result<Call, ParseError> {
        let count = arguments.len();
        let arity_error = |expected: &str| {
            let plural = if expected == "1" { "" } else { "s" };
            ParseError::new(
                name_column,
                format!(
                    "{} takes {expected} argument{plural}, got {count}",
                    self.name()
                ),
            )
        };
        let mut arguments = arguments.into_iter();
        match self {
            Function::Equals | Function::Prefix | Function::Contains => {
                let (Some(key), Some(value), None) =
                    (arguments.next(), arguments.next(), arguments.next())
                else {
                    return Err(arity_error("2"));
                };
                let path = key.into_path()?;
                let value = value.value;
                Ok(match self {
                    Function::Prefix => Call::Prefix {
                        path,
                        prefix: value,
                    },
                    Function::Contains => Call::Contains { path, value },
                    _ => Call::Equals { path, value },
                })
            }
            Function::SplitContains => {
                let (Some(key), Some(separator), Some(value), None) = (
                    arguments.next(),
                    arguments.next(),
                    arguments.next(),
                    arguments.next(),
                ) else {
                    return Err(arity_error("3"));
                };
                let path = key.into_path()?;
                if separator.value.is_empty() {
                    return Err(ParseError::new(
                        separator.column,
                        "SplitContains separator must not be empty",
                    ));
                }
                Ok(Call::SplitContains {
                    path,
                    separator: separator.value,
                    value: value.value,
                })
            }
            Function::OneOf => {
                let Some(key) = arguments.next() else {
                    return Err(arity_error("at least 2"));
                };
                let values: Vec<String> = arguments.map(|argument| argument.value).collect();
                if values.is_empty() {
                    return Err(arity_error("at least 2"));
                }
                Ok(Call::OneOf {
                    path: key.into_path()?,
                    values,
                })
            }
        }
    }
}
