//! Every way an expression or a key can be malformed is reported at compile time with the
//! 1-based character column and what was expected.

#![cfg(test)]

use portcullis_claims::{ClaimPath, Expression, MAX_NESTING, ParseError};

fn error_of(source: &str) -> ParseError {
    match Expression::parse(source) {
        Ok(expression) => panic!("{source:?} should not parse, got {expression}"),
        Err(error) => error,
    }
}

#[track_caller]
fn assert_error(source: &str, column: usize, displayed: &str) {
    let error = error_of(source);
    assert_eq!(error.to_string(), displayed, "for {source:?}");
    assert_eq!(error.column, column, "for {source:?}");
}

#[test]
fn empty_expression() {
    let hint = "; expected a function call such as Equals(`grp`, `admin`)";
    assert_error("", 1, &format!("empty expression at column 1{hint}"));
    assert_error("  \t", 4, &format!("empty expression at column 4{hint}"));
}

#[test]
fn unterminated_backtick() {
    assert_error(
        "Equals(`grp`, `admin)",
        15,
        "unterminated backtick-quoted argument at column 15; expected a closing '`'",
    );
    assert_error(
        "Equals(`grp",
        8,
        "unterminated backtick-quoted argument at column 8; expected a closing '`'",
    );
}

#[test]
fn trailing_garbage() {
    assert_error(
        "Equals(`grp`, `admin`) admin",
        24,
        "expected '&&', '||' or the end of the expression at column 24; found 'admin'",
    );
    assert_error(
        "Equals(`a`, `b`) = x",
        18,
        "expected '&&', '||' or the end of the expression at column 18; found '='",
    );
    assert_error(
        "Equals(`a`, `b`) Equals(`a`, `b`)",
        18,
        "expected '&&', '||' or the end of the expression at column 18; found 'Equals'",
    );
}

#[test]
fn missing_operand() {
    let expected = "expected a function call, '!' or '('";
    assert_error(
        "Equals(`grp`, `admin`) &&",
        26,
        &format!("missing operand after '&&': {expected} at column 26"),
    );
    assert_error(
        "Equals(`grp`, `admin`) ||   ",
        29,
        &format!("missing operand after '||': {expected} at column 29"),
    );
    assert_error(
        "Equals(`grp`, `admin`) && || Equals(`a`, `b`)",
        27,
        &format!("{expected} after '&&' at column 27; found '||'"),
    );
    assert_error(
        "!",
        2,
        &format!("missing operand after '!': {expected} at column 2"),
    );
    assert_error(
        "()",
        2,
        &format!("{expected} after '(' at column 2; found ')'"),
    );
    assert_error(
        "&& Equals(`a`, `b`)",
        1,
        &format!("{expected} at column 1; found '&&'"),
    );
    assert_error(
        "`grp`",
        1,
        &format!("{expected} at column 1; found a quoted argument"),
    );
}

#[test]
fn unbalanced_parentheses() {
    assert_error(
        "(Equals(`grp`, `admin`)",
        24,
        "unbalanced parentheses: expected ')' at column 24; the '(' at column 1 is never closed",
    );
    assert_error(
        "Equals(`grp`, `admin`))",
        23,
        "unbalanced parentheses: ')' has no matching '(' at column 23",
    );
    assert_error(
        "(Equals(`a`, `b`) x)",
        19,
        "expected '&&', '||' or ')' at column 19; found 'x', inside the '(' at column 1",
    );
}

#[test]
fn single_ampersand_or_bar() {
    assert_error(
        "Equals(`a`, `b`) & Equals(`c`, `d`)",
        18,
        "expected '&&', found a single '&' at column 18",
    );
    assert_error("|", 1, "expected '||', found a single '|' at column 1");
    assert_error(
        "Equals(`a`, `b`) |",
        18,
        "expected '||', found a single '|' at column 18",
    );
}

#[test]
fn unknown_function() {
    assert_error(
        "Equal(`grp`, `admin`)",
        1,
        "unknown function 'Equal' at column 1; \
         expected one of Equals, Prefix, Contains, SplitContains, OneOf",
    );
    // Names are case-sensitive, as in the reference implementation.
    assert_eq!(error_of("!equals(`a`, `b`)").column, 2);
    assert_eq!(
        error_of("Equals(`a`, `b`) || oneOf(`a`, `b`)").message,
        "unknown function 'oneOf'"
    );
}

#[test]
fn wrong_argument_count() {
    assert_error(
        "Equals(`grp`, `admin`, `x`)",
        1,
        "Equals takes 2 arguments, got 3 at column 1",
    );
    assert_error(
        "Equals(`a`, `b`) && Prefix(`a`)",
        21,
        "Prefix takes 2 arguments, got 1 at column 21",
    );
    assert_error(
        "Contains()",
        1,
        "Contains takes 2 arguments, got 0 at column 1",
    );
    assert_error(
        "SplitContains(`scope`, `writer`)",
        1,
        "SplitContains takes 3 arguments, got 2 at column 1",
    );
    assert_error(
        "OneOf(`areas`)",
        1,
        "OneOf takes at least 2 arguments, got 1 at column 1",
    );
}

#[test]
fn malformed_argument_lists() {
    assert_error(
        "Equals `grp`",
        8,
        "expected '(' after 'Equals' at column 8; found a quoted argument",
    );
    assert_error(
        "Equals(grp, `admin`)",
        8,
        "expected a backtick-quoted argument or ')' at column 8; found 'grp'",
    );
    assert_error(
        "Equals(`grp` `admin`)",
        14,
        "expected ',' or ')' at column 14; found a quoted argument",
    );
    assert_error(
        "Equals(`a`,, `b`)",
        12,
        "expected a backtick-quoted argument at column 12; found ','",
    );
    assert_error(
        "Equals(`a`, `b`",
        16,
        "expected ',' or ')' at column 16; found the end of the expression",
    );
}

#[test]
fn empty_key() {
    assert_error("Equals(``, `x`)", 9, "empty claim key at column 9");
    assert_eq!(ClaimPath::parse("").map_err(|error| error.column), Err(1));
}

#[test]
fn empty_names_between_dots() {
    assert_error(
        "Equals(`.a`, `x`)",
        9,
        "claim key starts with '.' at column 9",
    );
    assert_error(
        "Equals(`a.`, `x`)",
        10,
        "claim key ends with '.' at column 10",
    );
    assert_error(
        "Equals(`a..b`, `x`)",
        11,
        "empty name between two dots in claim key at column 11",
    );
}

#[test]
fn bad_escape_in_key() {
    let only = "only '\\.' (a literal dot) and '\\\\' (a literal backslash) are allowed";
    assert_error(
        "Equals(`a\\b`, `x`)",
        10,
        &format!("invalid escape '\\b' in claim key at column 10; {only}"),
    );
    assert_error(
        "Equals(`a\\`, `x`)",
        10,
        "unfinished escape at the end of claim key at column 10; \
         write '\\\\' for a literal backslash",
    );
    // After a prefix the column still counts from the start of the expression.
    assert_eq!(error_of("Equals(`access_token.x\\y`, `v`)").column, 23);
}

#[test]
fn prefix_without_a_claim_name() {
    assert_error(
        "Equals(`id_token.`, `x`)",
        18,
        "expected a claim name after 'id_token.' at column 18",
    );
    assert_error(
        "Equals(`a`, `b`) || Prefix(`access_token.`, `x`)",
        42,
        "expected a claim name after 'access_token.' at column 42",
    );
}

#[test]
fn empty_split_separator() {
    assert_error(
        "SplitContains(`scope`, ``, `writer`)",
        24,
        "SplitContains separator must not be empty at column 24",
    );
}

#[test]
fn nesting_is_bounded() {
    let deepest_allowed = format!(
        "{}Equals(`a`, `b`){}",
        "(".repeat(MAX_NESTING),
        ")".repeat(MAX_NESTING)
    );
    assert!(Expression::parse(&deepest_allowed).is_ok());
    let too_deep = format!("{}Equals(`a`, `b`)", "!".repeat(MAX_NESTING + 1));
    let error = error_of(&too_deep);
    assert_eq!(error.column, MAX_NESTING + 1);
    assert!(error.message.starts_with("expression nested too deeply"));
    // Far deeper input fails the same way instead of exhausting the stack.
    let hostile = "(".repeat(1_000_000);
    assert!(
        error_of(&hostile)
            .message
            .starts_with("expression nested too deeply")
    );
}

#[test]
fn double_quoted_arguments() {
    assert_error(
        "Equals(\"grp\", \"admin)",
        15,
        "unterminated double-quoted argument at column 15; expected a closing '\"'",
    );
    assert_error(
        "Equals(\"grp\", \"a\\qb\")",
        17,
        "invalid escape '\\q' in double-quoted argument at column 17; \
         allowed escapes are \\\\, \\\", \\n, \\r, \\t and \\uXXXX",
    );
    assert_error(
        "Equals(\"a\", \"\\u12\")",
        14,
        "invalid '\\u' escape: expected four hexadecimal digits at column 14",
    );
    assert_error(
        "Equals(\"a\", \"\\ud800\")",
        14,
        "invalid '\\u' escape: not a Unicode scalar value at column 14",
    );
    // A key error inside a string whose escapes moved the characters points at the string.
    assert_error(
        "Equals(\"\\\"\\\\x\", `v`)",
        8,
        "invalid escape '\\x' in claim key (in the double-quoted key) at column 8; \
         only '\\.' (a literal dot) and '\\\\' (a literal backslash) are allowed",
    );
    // Without escapes the column is exact.
    assert_eq!(error_of("Equals(\"a..b\", `v`)").column, 11);
}

#[test]
fn columns_count_characters_not_bytes() {
    assert_error(
        "Equals(`é€`, `ü`) x",
        19,
        "expected '&&', '||' or the end of the expression at column 19; found 'x'",
    );
    assert_error(
        "Equals(`a`, `b`)\n&&\n",
        21,
        "missing operand after '&&': expected a function call, '!' or '(' at column 21",
    );
}

#[test]
fn claim_path_errors_count_from_the_key() {
    let column_of = |key: &str| ClaimPath::parse(key).map_err(|error| error.column);
    assert_eq!(column_of("id_token."), Err(10));
    assert_eq!(column_of("access_token."), Err(14));
    assert_eq!(column_of("a\\x"), Err(2));
    assert_eq!(column_of("id_token.a\\x"), Err(11));
    assert_eq!(column_of("a..b"), Err(3));
}
