//! Unit tests of the internals: tokenizer, tree shape, query decoding, columns.

use crate::error::RuleError;
use crate::expr::Expr;
use crate::lexer::{Kind, tokenize};
use crate::query::{any_value, unescape};
use crate::{Rule, parser};

fn strings(src: &str) -> Vec<String> {
    tokenize(src)
        .unwrap()
        .into_iter()
        .filter_map(|t| match t.kind {
            Kind::Str(s) => Some(s),
            _ => None,
        })
        .collect()
}

#[test]
fn lexer_reads_operators_words_and_offsets() {
    let tokens = tokenize("!Host( `a` )&&x||(y)").unwrap();
    let kinds: Vec<_> = tokens.iter().map(|t| t.kind.clone()).collect();
    assert_eq!(
        kinds,
        vec![
            Kind::Not,
            Kind::Word("Host"),
            Kind::LParen,
            Kind::Str("a".into()),
            Kind::RParen,
            Kind::And,
            Kind::Word("x"),
            Kind::Or,
            Kind::LParen,
            Kind::Word("y"),
            Kind::RParen,
            Kind::End,
        ]
    );
    let offsets: Vec<_> = tokens.iter().map(|t| t.offset).collect();
    assert_eq!(offsets, vec![0, 1, 5, 7, 11, 12, 14, 15, 17, 18, 19, 20]);
}

#[test]
fn lexer_decodes_go_escapes_in_double_quotes() {
    assert_eq!(strings(r#""a\"b""#), vec!["a\"b"]);
    assert_eq!(strings(r#""a\\b""#), vec!["a\\b"]);
    assert_eq!(
        strings(r#""\a\b\f\n\r\t\v""#),
        vec!["\x07\x08\x0c\n\r\t\x0b"]
    );
    assert_eq!(strings(r#""\x41\101\u00e9\U0001F600""#), vec!["AAé😀"]);
    // Byte escapes combine into one UTF-8 character, as in Go.
    assert_eq!(strings(r#""\xc3\xa9""#), vec!["é"]);
}

#[test]
fn lexer_keeps_backtick_strings_raw_except_carriage_returns() {
    assert_eq!(strings("`a\\n\"b`"), vec!["a\\n\"b"]);
    assert_eq!(strings("`a\r\nb`"), vec!["a\nb"]);
    assert_eq!(strings("``"), vec![""]);
}

#[test]
fn lexer_rejects_bad_escapes() {
    for src in [
        r#""\q""#,
        r#""\'""#,
        r#""\x4""#,
        r#""\400""#,
        r#""\08""#,
        r#""\uD800""#,
        r#""\U00110000""#,
    ] {
        let err = tokenize(src).unwrap_err();
        assert_eq!(err.message, "invalid escape sequence", "{src}");
        assert_eq!(err.column, 2, "{src}");
    }
}

#[test]
fn chains_are_flat_and_precedence_nests_and_under_or() {
    let expr = parser::parse("Method(`A`) || Method(`B`) && Method(`C`) || Method(`D`)").unwrap();
    let Expr::Or(items) = expr else {
        panic!("expected Or, got {expr:?}")
    };
    assert_eq!(items.len(), 3);
    assert!(matches!(&items[1], Expr::And(and) if and.len() == 2));

    let expr = parser::parse("!Method(`A`) && Method(`B`)").unwrap();
    let Expr::And(items) = expr else {
        panic!("expected And, got {expr:?}")
    };
    assert!(matches!(&items[0], Expr::Not(_)));
}

#[test]
fn parentheses_keep_their_grouping() {
    let expr = parser::parse("(Method(`A`) || Method(`B`)) && Method(`C`)").unwrap();
    let Expr::And(items) = expr else {
        panic!("expected And, got {expr:?}")
    };
    assert!(matches!(&items[0], Expr::Or(or) if or.len() == 2));
    // Redundant parentheses around a single matcher vanish.
    assert_eq!(
        Rule::parse("((Method(`A`)))").unwrap(),
        Rule::parse("Method(`A`)").unwrap()
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    assert_eq!(RuleError::at("éé x", 5, "m").column, 4);
    assert_eq!(RuleError::at("abc", 3, "m").column, 4);
    // An offset inside a character never panics.
    assert_eq!(RuleError::at("é", 1, "m").column, 2);
}

#[test]
fn query_unescape_follows_go() {
    assert_eq!(unescape("a+b%20c").unwrap().as_ref(), b"a b c");
    assert_eq!(unescape("%e9").unwrap().as_ref(), b"\xe9");
    assert!(matches!(
        unescape("plain").unwrap(),
        std::borrow::Cow::Borrowed(_)
    ));
    assert!(unescape("%").is_none());
    assert!(unescape("%4").is_none());
    assert!(unescape("%zz").is_none());
}

#[test]
fn query_lookup_skips_bad_pairs_only() {
    let eq = |v: &[u8]| v == b"1";
    assert!(any_value(Some("a=%zz&a=1"), "a", eq));
    assert!(!any_value(Some("a=1;b=2"), "a", eq));
    assert!(any_value(Some("x;y&a=1"), "a", eq));
    assert!(!any_value(Some("&&"), "a", eq));
    assert!(!any_value(None, "a", eq));
    assert!(any_value(Some("a%5Fb=1"), "a_b", eq));
}
