//! Every parse error: message and column. Also the default priority.

#![cfg(test)]

mod common;

use common::error;
use portcullis_rules::{MAX_DEPTH, Rule, RuleError};

#[test]
fn error_display_is_message_at_column() {
    let err = Rule::parse("Hots(`a`)").unwrap_err();
    assert_eq!(
        err,
        RuleError {
            column: 1,
            message: "unknown matcher 'Hots'".into()
        }
    );
    assert_eq!(err.to_string(), "unknown matcher 'Hots' at column 1");
}

#[test]
fn empty_rules() {
    assert_eq!(error(""), "empty rule at column 1");
    assert_eq!(error(" \t\n "), "empty rule at column 1");
}

#[test]
fn unknown_matchers() {
    assert_eq!(
        error("Host(`a`) && Headers(`a`, `b`)"),
        "unknown matcher 'Headers' at column 14"
    );
    assert_eq!(
        error("HostSNI(`a`)"),
        "unknown matcher 'HostSNI' at column 1"
    );
    assert_eq!(error("hOST(`a`)"), "unknown matcher 'hOST' at column 1");
}

#[test]
fn wrong_arity() {
    assert_eq!(
        error("Header(`X`)"),
        "Header takes 2 arguments, got 1 at column 1"
    );
    assert_eq!(
        error("Path(`/`) && HeaderRegexp(`a`, `b`, `c`)"),
        "HeaderRegexp takes 2 arguments, got 3 at column 14"
    );
    assert_eq!(error("Host()"), "Host takes 1 argument, got 0 at column 1");
    assert_eq!(
        error("Path(`/a`, `/b`)"),
        "Path takes 1 argument, got 2 at column 1"
    );
    assert_eq!(
        error("Query(`a`, `b`, `c`)"),
        "Query takes 1 or 2 arguments, got 3 at column 1"
    );
    assert_eq!(
        error("QueryRegexp()"),
        "QueryRegexp takes 1 or 2 arguments, got 0 at column 1"
    );
    assert_eq!(
        error("ClientIP(`1.2.3.4`, `5.6.7.8`)"),
        "ClientIP takes 1 argument, got 2 at column 1"
    );
}

#[test]
fn invalid_regular_expressions_point_at_the_argument() {
    for (rule, column) in [
        ("PathRegexp(`(`)", 12),
        ("HostRegexp(`[a-`)", 12),
        ("HeaderRegexp(`a`, `*`)", 19),
        ("Path(`/`) || QueryRegexp(`a`, `x{2,1}`)", 31),
    ] {
        let err = Rule::parse(rule).unwrap_err();
        assert!(
            err.message.starts_with("invalid regular expression: "),
            "{rule}: {err}"
        );
        assert!(!err.message.contains('\n'), "{rule}: {err}");
        assert_eq!(err.column, column, "{rule}");
    }
    assert_eq!(
        error("PathRegexp(`(`)"),
        "invalid regular expression: missing closing ): `(` at column 12"
    );
}

#[test]
fn go_regexp_errors_use_go_wording() {
    assert_eq!(
        error("PathRegexp(`^/a{1001}$`)"),
        "invalid regular expression: invalid repeat count: `{1001}` at column 12"
    );
    assert_eq!(
        error("Path(`/`) && PathRegexp(`(a{100}){11}`)"),
        "invalid regular expression: invalid repeat count: `{11}` at column 25"
    );
    assert_eq!(
        error("PathRegexp(`a**`)"),
        "invalid regular expression: invalid nested repetition operator: `*` at column 12"
    );
    assert_eq!(
        error("PathRegexp(`*`)"),
        "invalid regular expression: missing argument to repetition operator: `*` at column 12"
    );
    assert_eq!(
        error(r"HeaderRegexp(`X`, `\C`)"),
        "invalid regular expression: invalid escape sequence: `\\C` at column 19"
    );
    assert_eq!(
        error("PathRegexp(`(?x)a`)"),
        "invalid regular expression: invalid or unsupported Perl syntax: `(?x` at column 12"
    );
    assert_eq!(
        error("PathRegexp(`[[:word:]`)"),
        "invalid regular expression: missing closing ]: `[[:word:]` at column 12"
    );
    assert_eq!(
        error(r"PathRegexp(`\p{Klingon}`)"),
        "invalid regular expression: Unicode property not found at column 12"
    );
}

#[test]
fn empty_arguments_are_refused_at_their_column() {
    assert_eq!(
        error("HostRegexp(``)"),
        "empty argument to HostRegexp at column 12"
    );
    assert_eq!(error("Host(``)"), "empty argument to Host at column 6");
    assert_eq!(
        error("Path(`/`) || PathRegexp(\"\")"),
        "empty argument to PathRegexp at column 25"
    );
    assert_eq!(
        error("Query(`q`, ``)"),
        "empty argument to Query at column 12"
    );
    assert_eq!(
        error("Header(``, `v`)"),
        "empty argument to Header at column 8"
    );
    assert_eq!(
        error("Header(`X`, ``, ``)"),
        "empty argument to Header at column 13"
    );
}

#[test]
fn argument_validation() {
    assert_eq!(error("Path(`api`)"), "Path must start with '/' at column 6");
    assert_eq!(
        error("PathPrefix(`api`)"),
        "PathPrefix must start with '/' at column 12"
    );
    assert_eq!(
        error("ClientIP(`10.0.0.300`)"),
        "invalid IP address or CIDR '10.0.0.300' at column 10"
    );
    assert_eq!(
        error("ClientIP(`10.0.0.0/33`)"),
        "invalid IP address or CIDR '10.0.0.0/33' at column 10"
    );
    assert_eq!(
        error("ClientIP(`fe80::1%eth0`)"),
        "invalid IP address or CIDR 'fe80::1%eth0' at column 10"
    );
    assert_eq!(
        error("Host(`bücher.de`)"),
        "Host must be ASCII (use the punycode form of the host) at column 6"
    );
    assert_eq!(
        error("HostRegexp(`bü`)"),
        "HostRegexp must be ASCII (use the punycode form of the host) at column 12"
    );
}

#[test]
fn string_errors() {
    assert_eq!(error("Path( `/abc"), "unterminated string at column 7");
    assert_eq!(error("Path(\"/abc)"), "unterminated string at column 6");
    assert_eq!(error("Path(\"/abc\\"), "unterminated string at column 6");
    assert_eq!(error("Path(\"/a\nb\")"), "newline in string at column 6");
    assert_eq!(
        error("Path(\"/\\q\")"),
        "invalid escape sequence at column 8"
    );
    assert_eq!(
        error("Path(\"/\\xff\")"),
        "string is not valid UTF-8 at column 6"
    );
    assert_eq!(
        error("Host('example.com')"),
        "single quotes are not allowed, use backticks or double quotes at column 6"
    );
}

#[test]
fn syntax_errors() {
    assert_eq!(error("Host(`a`"), "expected ')' at column 9");
    assert_eq!(
        error("(Host(`a`) && Path(`/`)"),
        "expected ')' at column 24"
    );
    assert_eq!(error("Host(`a`))"), "unexpected ')' at column 10");
    assert_eq!(error("Host"), "expected '(' after 'Host' at column 5");
    assert_eq!(error("Host `a`"), "expected '(' after 'Host' at column 6");
    assert_eq!(
        error("Host(a)"),
        "expected a string argument in backticks or double quotes at column 6"
    );
    assert_eq!(
        error("Host(`a`,,)"),
        "expected a string argument in backticks or double quotes at column 10"
    );
    assert_eq!(error("Host(`a` `b`)"), "expected ',' or ')' at column 10");
    assert_eq!(error("Host(`a`) && "), "expected a matcher at column 14");
    assert_eq!(
        error("Host(`a`) || && Path(`/`)"),
        "expected a matcher at column 14"
    );
    assert_eq!(error("!"), "expected a matcher at column 2");
    assert_eq!(error("()"), "expected a matcher at column 2");
    assert_eq!(error("`a`"), "expected a matcher at column 1");
    assert_eq!(error("Host(`a`) & Path(`/`)"), "expected '&&' at column 11");
    assert_eq!(error("Host(`a`) | Path(`/`)"), "expected '||' at column 11");
    assert_eq!(
        error("Host(`a`) Path(`/`)"),
        "expected '&&', '||' or the end of the rule at column 11"
    );
    assert_eq!(
        error("Host(`a`) && $"),
        "unexpected character '$' at column 14"
    );
    assert_eq!(
        error("Host(`a`) == 1"),
        "unexpected character '=' at column 11"
    );
}

#[test]
fn columns_count_characters() {
    // `ü` is two bytes; the column counts it once.
    assert_eq!(
        error("Path(`/ü`) && Hots(`a`)"),
        "unknown matcher 'Hots' at column 15"
    );
    assert_eq!(
        error("Path(`/ü`) é"),
        "unexpected character 'é' at column 12"
    );
}

#[test]
fn nesting_depth_is_bounded() {
    let nested = |n: usize| format!("{}Path(`/`){}", "(".repeat(n), ")".repeat(n));
    assert!(Rule::parse(&nested(MAX_DEPTH)).is_ok());
    assert_eq!(
        error(&nested(MAX_DEPTH + 1)),
        format!(
            "rule is nested too deeply (more than {MAX_DEPTH} levels) at column {}",
            MAX_DEPTH + 1
        )
    );
    let negated = |n: usize| format!("{}Path(`/`)", "!".repeat(n));
    assert!(Rule::parse(&negated(MAX_DEPTH)).is_ok());
    assert!(Rule::parse(&negated(MAX_DEPTH + 1)).is_err());
    // Depth is about nesting, not length: long flat chains are fine.
    let flat = vec!["Path(`/`)"; 10_000].join(" || ");
    assert!(Rule::parse(&flat).is_ok());
    let huge = "(".repeat(1_000_000);
    assert!(Rule::parse(&huge).is_err());
}

#[test]
fn regexp_nesting_is_bounded() {
    let groups = |n: usize| format!("PathRegexp(`{}a{}`)", "(".repeat(n), ")*".repeat(n));
    assert!(Rule::parse(&groups(100)).is_ok());
    // Deeper than the regex crate's stack-safe bound: refused with its reason.
    assert_eq!(
        error(&groups(200)),
        "invalid regular expression: exceed the maximum number of nested parentheses/brackets (250) at column 12"
    );
    // Go's own bound.
    assert_eq!(
        error(&groups(1001)),
        "invalid regular expression: expression nests too deeply: `".to_owned()
            + &"(".repeat(1001)
            + "a"
            + &")*".repeat(1001)
            + "` at column 12"
    );
}

#[test]
fn default_priority_is_the_rule_length_in_bytes() {
    assert_eq!(Rule::default_priority("Host(`foobar.traefik.com`)"), 26);
    assert_eq!(
        Rule::default_priority(r"HostRegexp(`[a-z]+\.traefik\.com`)"),
        34
    );
    assert_eq!(Rule::default_priority("Path(`/ü`)"), 11);
    assert_eq!(Rule::default_priority(""), 0);
}
