//! Tokenizer of the rule language.
//!
//! Traefik parses rules as Go expressions, so string arguments follow Go's literal syntax:
//! backtick raw strings (carriage returns dropped) and double-quoted strings with Go escapes.
//! Everything here works on untrusted text: no indexing that can panic, every malformed input
//! becomes a [`RuleError`] pointing at the offending character.

use crate::error::RuleError;

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind<'a> {
    /// A run of ASCII letters, digits and underscores: a matcher name, or a misplaced word.
    Word(&'a str),
    /// A string literal, already unescaped.
    Str(String),
    LParen,
    RParen,
    Comma,
    And,
    Or,
    Not,
    End,
}

/// A token and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub(crate) kind: Kind<'a>,
    pub(crate) offset: usize,
}

/// Splits `src` into tokens, always ending with [`Kind::End`] at `src.len()`.
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token<'_>>, RuleError> {
    let mut tokens = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some((offset, c)) = chars.next() {
        let kind = match c {
            // Go's scanner accepts exactly these as white space.
            ' ' | '\t' | '\n' | '\r' => continue,
            '(' => Kind::LParen,
            ')' => Kind::RParen,
            ',' => Kind::Comma,
            '!' => Kind::Not,
            '&' | '|' => {
                if chars.next_if(|&(_, next)| next == c).is_none() {
                    return Err(RuleError::at(src, offset, format!("expected '{c}{c}'")));
                }
                if c == '&' { Kind::And } else { Kind::Or }
            }
            '`' => {
                let (value, end) = raw_string(src, offset)?;
                skip_to(&mut chars, end);
                Kind::Str(value)
            }
            '"' => {
                let (value, end) = interpreted_string(src, offset)?;
                skip_to(&mut chars, end);
                Kind::Str(value)
            }
            '\'' => {
                return Err(RuleError::at(
                    src,
                    offset,
                    "single quotes are not allowed, use backticks or double quotes",
                ));
            }
            c if c.is_ascii_alphanumeric() || c == '_' => {
                let mut end = offset + c.len_utf8();
                while let Some((i, next)) =
                    chars.next_if(|&(_, n)| n.is_ascii_alphanumeric() || n == '_')
                {
                    end = i + next.len_utf8();
                }
                Kind::Word(src.get(offset..end).unwrap_or_default())
            }
            other => {
                return Err(RuleError::at(
                    src,
                    offset,
                    format!("unexpected character {other:?}"),
                ));
            }
        };
        tokens.push(Token { kind, offset });
    }
    tokens.push(Token {
        kind: Kind::End,
        offset: src.len(),
    });
    Ok(tokens)
}

/// Advances `chars` until the next character starts at or after byte `end`.
fn skip_to(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>, end: usize) {
    while chars.next_if(|&(i, _)| i < end).is_some() {}
}

/// Reads a backtick string whose opening quote is at `start`; returns the value and the byte
/// offset just past the closing quote.
fn raw_string(src: &str, start: usize) -> Result<(String, usize), RuleError> {
    let body_start = start + 1;
    let body = src.get(body_start..).unwrap_or_default();
    let Some(len) = body.find('`') else {
        return Err(RuleError::at(src, start, "unterminated string"));
    };
    let raw = body.get(..len).unwrap_or_default();
    // Go discards carriage returns inside raw string literals.
    let value = raw.chars().filter(|&c| c != '\r').collect();
    Ok((value, body_start + len + 1))
}

/// Reads a double-quoted Go string whose opening quote is at `start`; returns the value and the
/// byte offset just past the closing quote.
fn interpreted_string(src: &str, start: usize) -> Result<(String, usize), RuleError> {
    let unterminated = || RuleError::at(src, start, "unterminated string");
    // Bytes, not chars: Go's \x and octal escapes produce single bytes, which must together form
    // valid UTF-8 once the literal is complete.
    let mut value: Vec<u8> = Vec::new();
    let mut chars = src
        .get(start + 1..)
        .unwrap_or_default()
        .char_indices()
        .map(|(i, c)| (i + start + 1, c));
    loop {
        let Some((offset, c)) = chars.next() else {
            return Err(unterminated());
        };
        match c {
            '"' => {
                let value = String::from_utf8(value)
                    .map_err(|_| RuleError::at(src, start, "string is not valid UTF-8"))?;
                return Ok((value, offset + 1));
            }
            '\n' => return Err(RuleError::at(src, start, "newline in string")),
            '\\' => {
                let Some((_, escape)) = chars.next() else {
                    return Err(unterminated());
                };
                let invalid = || RuleError::at(src, offset, "invalid escape sequence");
                let simple = match escape {
                    'a' => Some(0x07),
                    'b' => Some(0x08),
                    'f' => Some(0x0c),
                    'n' => Some(b'\n'),
                    'r' => Some(b'\r'),
                    't' => Some(b'\t'),
                    'v' => Some(0x0b),
                    '\\' => Some(b'\\'),
                    '"' => Some(b'"'),
                    _ => None,
                };
                if let Some(byte) = simple {
                    value.push(byte);
                    continue;
                }
                match escape {
                    '0'..='7' => {
                        let mut code = escape.to_digit(8).unwrap_or_default();
                        for _ in 0..2 {
                            let digit = chars.next().and_then(|(_, d)| d.to_digit(8));
                            code = code * 8 + digit.ok_or_else(invalid)?;
                        }
                        value.push(u8::try_from(code).map_err(|_| invalid())?);
                    }
                    'x' => {
                        let code = hex_digits(&mut chars, 2).ok_or_else(invalid)?;
                        value.push(u8::try_from(code).map_err(|_| invalid())?);
                    }
                    'u' | 'U' => {
                        let width = if escape == 'u' { 4 } else { 8 };
                        let code = hex_digits(&mut chars, width).ok_or_else(invalid)?;
                        let decoded = char::from_u32(code).ok_or_else(invalid)?;
                        let mut buf = [0u8; 4];
                        value.extend_from_slice(decoded.encode_utf8(&mut buf).as_bytes());
                    }
                    _ => return Err(invalid()),
                }
            }
            other => {
                let mut buf = [0u8; 4];
                value.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

/// Reads exactly `count` hex digits.
fn hex_digits(chars: &mut impl Iterator<Item = (usize, char)>, count: usize) -> Option<u32> {
    let mut code: u32 = 0;
    for _ in 0..count {
        let digit = chars.next().and_then(|(_, d)| d.to_digit(16))?;
        code = code.checked_mul(16)?.checked_add(digit)?;
    }
    Some(code)
}
