//! Splits an expression into tokens on demand, so that the first error in reading order is the
//! one reported, with its 1-based character column.
//!
//! Arguments are string literals as in the reference implementation (Go syntax): raw strings in
//! backticks, which the documentation uses everywhere, and double-quoted strings with a small set
//! of escapes, which let any text (even one containing a backtick) be written and printed back.

use std::iter::Peekable;
use std::str::Chars;

use crate::ParseError;

/// How an argument was quoted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Quote {
    Backtick,
    Double,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Lexeme {
    Identifier(String),
    Text {
        value: String,
        quote: Quote,
        /// True when each character of `value` sits at its own column after the opening quote
        /// (no escape shortened it), so errors inside the text can point at the exact column.
        columns_exact: bool,
    },
    OpenParen,
    CloseParen,
    Comma,
    And,
    Or,
    Not,
    /// A character that starts no token; the parser says what it expected instead.
    Unexpected(char),
    End,
}

impl Lexeme {
    /// How the token is named in "found ..." parts of error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Lexeme::Identifier(name) => format!("'{name}'"),
            Lexeme::Text { .. } => "a quoted argument".to_owned(),
            Lexeme::OpenParen => "'('".to_owned(),
            Lexeme::CloseParen => "')'".to_owned(),
            Lexeme::Comma => "','".to_owned(),
            Lexeme::And => "'&&'".to_owned(),
            Lexeme::Or => "'||'".to_owned(),
            Lexeme::Not => "'!'".to_owned(),
            Lexeme::Unexpected(character) => format!("'{}'", character.escape_debug()),
            Lexeme::End => "the end of the expression".to_owned(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) lexeme: Lexeme,
    /// 1-based character column of the token's first character.
    pub(crate) column: usize,
}

pub(crate) struct Lexer<'a> {
    chars: Peekable<Chars<'a>>,
    /// 1-based column of the next character `chars` yields.
    column: usize,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Lexer {
            chars: src.chars().peekable(),
            column: 1,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let character = self.chars.next()?;
        self.column += 1;
        Some(character)
    }

    pub(crate) fn next_token(&mut self) -> Result<Token, ParseError> {
        while self
            .chars
            .peek()
            .is_some_and(|character| character.is_whitespace())
        {
            self.bump();
        }
        let column = self.column;
        let Some(character) = self.bump() else {
            return Ok(Token {
                lexeme: Lexeme::End,
                column,
            });
        };
        let lexeme = match character {
            '(' => Lexeme::OpenParen,
            ')' => Lexeme::CloseParen,
            ',' => Lexeme::Comma,
            '!' => Lexeme::Not,
            '&' | '|' => self.doubled_operator(character, column)?,
            '`' => self.backtick_text(column)?,
            '"' => self.double_quoted_text(column)?,
            first if is_identifier_start(first) => {
                let mut name = String::from(first);
                while let Some(&next) = self.chars.peek() {
                    if !is_identifier_continue(next) {
                        break;
                    }
                    name.push(next);
                    self.bump();
                }
                Lexeme::Identifier(name)
            }
            other => Lexeme::Unexpected(other),
        };
        Ok(Token { lexeme, column })
    }

    fn doubled_operator(&mut self, first: char, column: usize) -> Result<Lexeme, ParseError> {
        if self.chars.peek() == Some(&first) {
            self.bump();
            return Ok(if first == '&' {
                Lexeme::And
            } else {
                Lexeme::Or
            });
        }
        Err(ParseError::new(
            column,
            format!("expected '{first}{first}', found a single '{first}'"),
        ))
    }

    fn backtick_text(&mut self, open_column: usize) -> Result<Lexeme, ParseError> {
        let mut value = String::new();
        loop {
            match self.bump() {
                Some('`') => {
                    return Ok(Lexeme::Text {
                        value,
                        quote: Quote::Backtick,
                        columns_exact: true,
                    });
                }
                Some(character) => value.push(character),
                None => {
                    return Err(ParseError::new(
                        open_column,
                        "unterminated backtick-quoted argument",
                    )
                    .with_hint("expected a closing '`'"));
                }
            }
        }
    }

    fn double_quoted_text(&mut self, open_column: usize) -> Result<Lexeme, ParseError> {
        let mut value = String::new();
        let mut columns_exact = true;
        loop {
            let escape_column = self.column;
            match self.bump() {
                Some('"') => {
                    return Ok(Lexeme::Text {
                        value,
                        quote: Quote::Double,
                        columns_exact,
                    });
                }
                Some('\\') => {
                    columns_exact = false;
                    value.push(self.escaped_character(escape_column, open_column)?);
                }
                Some(character) => value.push(character),
                None => {
                    return Err(ParseError::new(
                        open_column,
                        "unterminated double-quoted argument",
                    )
                    .with_hint("expected a closing '\"'"));
                }
            }
        }
    }

    /// Reads what follows a backslash in a double-quoted argument.
    fn escaped_character(
        &mut self,
        escape_column: usize,
        open_column: usize,
    ) -> Result<char, ParseError> {
        match self.bump() {
            Some('\\') => Ok('\\'),
            Some('"') => Ok('"'),
            Some('n') => Ok('\n'),
            Some('r') => Ok('\r'),
            Some('t') => Ok('\t'),
            Some('u') => {
                let mut code = 0u32;
                for _ in 0..4 {
                    let digit = self.bump().and_then(|character| character.to_digit(16));
                    let Some(digit) = digit else {
                        return Err(ParseError::new(
                            escape_column,
                            "invalid '\\u' escape: expected four hexadecimal digits",
                        ));
                    };
                    code = code * 16 + digit;
                }
                char::from_u32(code).ok_or_else(|| {
                    ParseError::new(
                        escape_column,
                        "invalid '\\u' escape: not a Unicode scalar value",
                    )
                })
            }
            Some(other) => Err(ParseError::new(
                escape_column,
                format!(
                    "invalid escape '\\{}' in double-quoted argument",
                    other.escape_debug()
                ),
            )
            .with_hint("allowed escapes are \\\\, \\\", \\n, \\r, \\t and \\uXXXX")),
            None => Err(
                ParseError::new(open_column, "unterminated double-quoted argument")
                    .with_hint("expected a closing '\"'"),
            ),
        }
    }
}

fn is_identifier_start(character: char) -> bool {
    character.is_alphabetic() || character == '_'
}

fn is_identifier_continue(character: char) -> bool {
    character.is_alphanumeric() || character == '_'
}
