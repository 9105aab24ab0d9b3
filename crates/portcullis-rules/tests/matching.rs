//! Matching behaviour of every matcher and operator.

#![cfg(test)]

mod common;

use common::{matches, req};
use portcullis_rules::Rule;

#[test]
fn host_is_exact_and_case_insensitive() {
    assert!(matches("Host(`example.com`)", &req().host("example.com")));
    assert!(matches("Host(`EXAMPLE.com`)", &req().host("example.com")));
    assert!(matches("Host(`example.com`)", &req().host("Example.COM")));
    assert!(!matches("Host(`example.com`)", &req().host("example.org")));
    assert!(!matches(
        "Host(`example.com`)",
        &req().host("api.example.com")
    ));
    assert!(!matches(
        "Host(`example.com`)",
        &req().host("example.com.evil")
    ));
    assert!(!matches("Host(`example.com`)", &req().host("")));
}

#[test]
fn host_tolerates_trailing_dots() {
    assert!(matches("Host(`example.com.`)", &req().host("example.com")));
    assert!(matches("Host(`example.com`)", &req().host("example.com.")));
    assert!(!matches(
        "Host(`example.com..`)",
        &req().host("example.com")
    ));
}

#[test]
fn host_wildcard_matches_exactly_one_label() {
    let rule = "Host(`*.example.com`)";
    assert!(matches(rule, &req().host("api.example.com")));
    assert!(matches(rule, &req().host("API.Example.com")));
    assert!(!matches(rule, &req().host("example.com")));
    // Traefik replaces the first label, even an empty one.
    assert!(matches(rule, &req().host(".example.com")));
    assert!(!matches(rule, &req().host("a.b.example.com")));
    assert!(!matches(rule, &req().host("apiexample.com")));
    assert!(!matches(rule, &req().host("api.example.org")));
}

#[test]
fn host_star_matches_every_request_even_without_a_host() {
    assert!(matches("Host(`*`)", &req().host("anything.test")));
    assert!(matches("Host(`*`)", &req().host("::1")));
    assert!(matches("Host(`*`)", &req().host("")));
}

#[test]
fn host_compares_ipv6_with_or_without_brackets() {
    assert!(matches("Host(`[::1]`)", &req().host("::1")));
    assert!(matches("Host(`::1`)", &req().host("::1")));
    assert!(matches("Host(`::1`)", &req().host("[::1]")));
    assert!(!matches("Host(`::2`)", &req().host("::1")));
}

#[test]
fn host_regexp_is_unanchored_on_the_canonical_host() {
    assert!(matches(
        "HostRegexp(`example`)",
        &req().host("api.example.com")
    ));
    assert!(matches(
        r"HostRegexp(`^[a-z]+\.example\.com$`)",
        &req().host("api.example.com")
    ));
    assert!(!matches(
        r"HostRegexp(`^[a-z]+\.example\.com$`)",
        &req().host("a.b.example.com")
    ));
    assert!(matches("HostRegexp(`^$`)", &req().host("")));
    assert!(!matches("HostRegexp(`.`)", &req().host("")));
    // Case-sensitive: the canonical host is lowercase, so upper-case patterns never match.
    assert!(!matches(
        "HostRegexp(`^API\\.example\\.com$`)",
        &req().host("api.example.com")
    ));
    assert!(matches(
        "HostRegexp(`(?i)^API\\.example\\.com$`)",
        &req().host("api.example.com")
    ));
}

#[test]
fn regexps_read_braces_as_go_does() {
    assert!(matches(
        "PathRegexp(`^/api/{id}$`)",
        &req().path("/api/{id}")
    ));
    assert!(!matches("PathRegexp(`^/api/{id}$`)", &req().path("/api/7")));
    assert!(matches("PathRegexp(`^/a{2}$`)", &req().path("/aa")));
    assert!(matches("PathRegexp(`^/a{2,}$`)", &req().path("/aaa")));
    assert!(matches("PathRegexp(`^/a{1,2}$`)", &req().path("/a")));
    assert!(matches("PathRegexp(`^/a{1,2}?$`)", &req().path("/aa")));
    assert!(matches("PathRegexp(`^/a{,2}$`)", &req().path("/a{,2}")));
    assert!(matches("PathRegexp(`^/a{x}$`)", &req().path("/a{x}")));
    assert!(matches("PathRegexp(`^/a{2$`)", &req().path("/a{2")));
    assert!(matches("PathRegexp(`^/}$`)", &req().path("/}")));
    assert!(matches("PathRegexp(`^/{$`)", &req().path("/{")));
}

#[test]
fn regexp_perl_classes_are_ascii() {
    for (rule, path, expected) in [
        (r"PathRegexp(`^/\d$`)", "/7", true),
        (r"PathRegexp(`^/\d$`)", "/٣", false),
        (r"PathRegexp(`^/\d$`)", "/７", false),
        (r"PathRegexp(`^/\D$`)", "/٣", true),
        (r"PathRegexp(`^/\w$`)", "/é", false),
        (r"PathRegexp(`^/[\w]$`)", "/é", false),
        (r"PathRegexp(`^/[^\w]$`)", "/é", true),
        (r"PathRegexp(`^/[\W]$`)", "/é", true),
        (r"PathRegexp(`^/\s$`)", "/\u{a0}", false),
        (r"PathRegexp(`^/\s$`)", "/\u{b}", false),
        (r"PathRegexp(`^/\S$`)", "/\u{b}", true),
        (r"PathRegexp(`é\b`)", "/é", false),
        (r"PathRegexp(`a\b`)", "/aé", true),
        (r"PathRegexp(`^/[[:^digit:]]$`)", "/٣", true),
        (r"PathRegexp(`(?i)^/\w$`)", "/\u{212a}", true),
    ] {
        assert_eq!(
            matches(rule, &req().path(path)),
            expected,
            "{rule} on {path:?}"
        );
    }
}

#[test]
fn regexp_dot_and_unicode_classes_match_code_points() {
    assert!(matches("PathRegexp(`^/.$`)", &req().path("/é")));
    assert!(matches("PathRegexp(`^/[^/]$`)", &req().path("/😀")));
    assert!(matches(r"PathRegexp(`^/\pL$`)", &req().path("/é")));
    assert!(matches(r"PathRegexp(`^/\PL$`)", &req().path("/7")));
    assert!(matches(r"PathRegexp(`^/\p{Greek}+$`)", &req().path("/αβ")));
    assert!(matches(r"PathRegexp(`^/[\p{^Greek}]$`)", &req().path("/a")));
}

#[test]
fn path_is_exact() {
    assert!(matches("Path(`/api`)", &req().path("/api")));
    assert!(!matches("Path(`/api`)", &req().path("/api/")));
    assert!(!matches("Path(`/api`)", &req().path("/apis")));
    assert!(!matches("Path(`/api`)", &req().path("/API")));
    assert!(matches("Path(`/a%2Fb`)", &req().path("/a%2Fb")));
}

#[test]
fn path_prefix_is_a_plain_string_prefix() {
    assert!(matches("PathPrefix(`/products`)", &req().path("/products")));
    assert!(matches(
        "PathPrefix(`/products`)",
        &req().path("/products/1")
    ));
    assert!(matches(
        "PathPrefix(`/products`)",
        &req().path("/products-for-sale")
    ));
    assert!(!matches("PathPrefix(`/products`)", &req().path("/product")));
    assert!(!matches(
        "PathPrefix(`/products`)",
        &req().path("/v1/products")
    ));
    assert!(matches("PathPrefix(`/`)", &req().path("/")));
}

#[test]
fn path_regexp_is_unanchored_and_may_omit_the_slash() {
    assert!(matches(
        r"PathRegexp(`\.css$`)",
        &req().path("/static/site.css")
    ));
    assert!(!matches(
        r"PathRegexp(`\.css$`)",
        &req().path("/site.css.map")
    ));
    assert!(matches("PathRegexp(`users`)", &req().path("/v1/users/7")));
    assert!(!matches(
        "PathRegexp(`^/users`)",
        &req().path("/v1/users/7")
    ));
}

#[test]
fn method_is_upper_cased_and_exact() {
    assert!(matches("Method(`GET`)", &req().method("GET")));
    assert!(matches("Method(`get`)", &req().method("GET")));
    assert!(!matches("Method(`GET`)", &req().method("POST")));
    // Methods are case-sensitive on the wire: a request method `get` is not GET.
    assert!(!matches("Method(`get`)", &req().method("get")));
    assert!(matches("Method(`purge`)", &req().method("PURGE")));
}

#[test]
fn header_matches_any_value_exactly() {
    let r = req().header("X-Env", b"staging").header("x-env", b"prod");
    assert!(matches("Header(`X-Env`, `prod`)", &r));
    assert!(matches("Header(`x-env`, `staging`)", &r));
    assert!(matches("Header(`X-ENV`, `staging`)", &r));
    assert!(!matches("Header(`X-Env`, `pro`)", &r));
    assert!(!matches("Header(`X-Env`, `Prod`)", &r));
    assert!(!matches("Header(`X-Other`, `prod`)", &r));
    // A comma-separated value is one value.
    let r = req().header("Accept", b"a, b");
    assert!(matches("Header(`Accept`, `a, b`)", &r));
    assert!(!matches("Header(`Accept`, `a`)", &r));
}

#[test]
fn header_with_an_invalid_name_parses_and_never_matches() {
    assert!(!matches(
        "Header(`bad name`, `x`)",
        &req().header("bad", b"x")
    ));
}

#[test]
fn header_regexp_matches_any_value() {
    let r = req()
        .header("User-Agent", b"curl/8.0")
        .header("User-Agent", b"Mozilla/5.0");
    assert!(matches("HeaderRegexp(`User-Agent`, `^Mozilla`)", &r));
    assert!(matches("HeaderRegexp(`user-agent`, `url`)", &r));
    assert!(!matches("HeaderRegexp(`User-Agent`, `^Wget`)", &r));
    assert!(!matches("HeaderRegexp(`X-Missing`, `.*`)", &r));
    // obs-text bytes in a value do not prevent matching the rest.
    let r = req().header("X-Name", b"caf\xe9 ok");
    assert!(matches("HeaderRegexp(`X-Name`, `ok$`)", &r));
}

#[test]
fn query_matches_a_decoded_value() {
    let r = req().query("q=hello+world&tag=a%2Fb&tag=c");
    assert!(matches("Query(`q`, `hello world`)", &r));
    assert!(matches("Query(`tag`, `a/b`)", &r));
    assert!(matches("Query(`tag`, `c`)", &r));
    assert!(!matches("Query(`tag`, `d`)", &r));
    assert!(!matches("Query(`q`, `hello+world`)", &r));
    assert!(!matches("Query(`missing`, `x`)", &r));
    assert!(!matches("Query(`q`, `hello world`)", &req()));
    assert!(matches("Query(`a b`, `1`)", &req().query("a+b=1")));
}

#[test]
fn query_with_one_argument_needs_an_empty_value() {
    assert!(matches("Query(`debug`)", &req().query("debug")));
    assert!(matches("Query(`debug`)", &req().query("x=1&debug=")));
    assert!(matches("Query(`debug`)", &req().query("debug=1&debug")));
    assert!(!matches("Query(`debug`)", &req().query("debug=1")));
    assert!(!matches("Query(`debug`)", &req().query("x=1")));
}

#[test]
fn query_ignores_semicolon_and_malformed_pairs() {
    assert!(!matches("Query(`a`, `1`)", &req().query("a=1;b=2")));
    assert!(!matches("Query(`a`, `1`)", &req().query("a=1%zz")));
    assert!(matches("Query(`a`, `1`)", &req().query("a=%zz&a=1")));
}

#[test]
fn query_regexp_matches_some_value() {
    let r = req().query("id=abc&id=123");
    assert!(matches(r"QueryRegexp(`id`, `^\d+$`)", &r));
    assert!(!matches(r"QueryRegexp(`id`, `^x`)", &r));
    assert!(!matches(r"QueryRegexp(`other`, `.*`)", &r));
    // One argument: Traefik treats it as Query.
    assert!(matches("QueryRegexp(`flag`)", &req().query("flag")));
    assert!(!matches("QueryRegexp(`flag`)", &req().query("flag=1")));
}

#[test]
fn client_ip_matches_addresses_and_networks() {
    assert!(matches("ClientIP(`10.0.0.1`)", &req().ip("10.0.0.1")));
    assert!(!matches("ClientIP(`10.0.0.1`)", &req().ip("10.0.0.2")));
    assert!(matches("ClientIP(`10.0.0.0/8`)", &req().ip("10.200.3.4")));
    assert!(!matches("ClientIP(`10.0.0.0/8`)", &req().ip("11.0.0.1")));
    assert!(matches("ClientIP(`10.1.2.3/16`)", &req().ip("10.1.9.9")));
    assert!(matches(
        "ClientIP(`2001:db8::/32`)",
        &req().ip("2001:db8::1")
    ));
    assert!(!matches(
        "ClientIP(`2001:db8::/32`)",
        &req().ip("2001:db9::1")
    ));
    assert!(matches("ClientIP(`::1`)", &req().ip("::1")));
    assert!(!matches("ClientIP(`::1`)", &req().ip("127.0.0.1")));
}

#[test]
fn client_ip_folds_ipv4_mapped_addresses() {
    assert!(matches(
        "ClientIP(`10.0.0.0/8`)",
        &req().ip("::ffff:10.1.1.1")
    ));
    assert!(matches(
        "ClientIP(`::ffff:10.0.0.1`)",
        &req().ip("10.0.0.1")
    ));
    assert!(matches(
        "ClientIP(`::ffff:10.0.0.0/104`)",
        &req().ip("10.9.9.9")
    ));
    assert!(!matches(
        "ClientIP(`::ffff:10.0.0.0/104`)",
        &req().ip("11.0.0.1")
    ));
}

#[test]
fn and_or_not() {
    let r = req().host("a.test").path("/x");
    assert!(matches("Host(`a.test`) && Path(`/x`)", &r));
    assert!(!matches("Host(`a.test`) && Path(`/y`)", &r));
    assert!(matches("Host(`b.test`) || Path(`/x`)", &r));
    assert!(!matches("Host(`b.test`) || Path(`/y`)", &r));
    assert!(matches("!Host(`b.test`)", &r));
    assert!(!matches("!Host(`a.test`)", &r));
    assert!(matches("!!Host(`a.test`)", &r));
    assert!(matches("!(Host(`b.test`) || Path(`/y`))", &r));
}

#[test]
fn and_binds_tighter_than_or() {
    // Read left to right, (T || F) && F would be false.
    let r = req().method("GET");
    assert!(matches(
        "Method(`GET`) || Method(`PUT`) && Method(`PUT`)",
        &r
    ));
    assert!(matches(
        "Method(`PUT`) && Method(`PUT`) || Method(`GET`)",
        &r
    ));
    assert!(!matches(
        "(Method(`GET`) || Method(`PUT`)) && Method(`PUT`)",
        &r
    ));
}

#[test]
fn not_binds_tighter_than_and() {
    // As !(F && T) this would be true.
    let r = req().method("GET").path("/a");
    assert!(!matches("!Method(`PUT`) && Path(`/b`)", &r));
    assert!(matches("!(Method(`PUT`) && Path(`/b`))", &r));
    assert!(matches("!Method(`PUT`) || Path(`/b`)", &r));
}

#[test]
fn whitespace_is_allowed_anywhere() {
    let r = req().host("a.test").path("/x");
    assert!(matches("Host(`a.test`)&&Path(`/x`)", &r));
    assert!(matches(
        " \t\n Host ( `a.test` ) \r\n&&\t! ( Path(\n`/y`\n) ) ",
        &r
    ));
    assert!(matches("Header( `A` ,\t`b` )", &req().header("a", b"b")));
}

#[test]
fn matcher_names_accept_traefik_casings() {
    let r = req().path("/api/x");
    for name in ["PathPrefix", "pathprefix", "PATHPREFIX", "Pathprefix"] {
        assert!(matches(&format!("{name}(`/api`)"), &r), "{name}");
    }
    for name in ["ClientIP", "clientip", "CLIENTIP", "Clientip"] {
        assert!(matches(&format!("{name}(`10.0.0.1`)"), &req()), "{name}");
    }
    for name in ["pathPrefix", "PAthprefix", "PathPREFIX", "ClientIp"] {
        let err = Rule::parse(&format!("{name}(`/api`)")).unwrap_err();
        assert_eq!(err.message, format!("unknown matcher '{name}'"));
    }
}

#[test]
fn double_quoted_arguments_use_go_escapes() {
    assert!(matches(r#"Host("example.com")"#, &req()));
    assert!(matches(r#"Path("/a\"b")"#, &req().path("/a\"b")));
    assert!(matches(r#"Path("/a\\b")"#, &req().path("/a\\b")));
    assert!(matches(r#"Path("/\x41\u00e9")"#, &req().path("/Aé")));
    assert!(matches(r#"PathRegexp("\\.css$")"#, &req().path("/a.css")));
    assert!(!matches(r#"PathRegexp("\\.css$")"#, &req().path("/acss")));
    // Inside backticks a backslash is literal.
    assert!(matches(r"Path(`/a\b`)", &req().path("/a\\b")));
}

#[test]
fn trailing_comma_is_accepted_as_in_go() {
    assert!(matches("Header(`a`, `b`,)", &req().header("a", b"b")));
}

#[test]
fn printing_is_canonical_and_reparses() {
    let cases = [
        ("host(`Example.COM`)", "Host(`example.com`)"),
        ("method(\"get\")", "Method(`GET`)"),
        (
            "PATH(`/a`) || Path(`/b`) && !(Path(`/c`) || Path(`/d`))",
            "Path(`/a`) || Path(`/b`) && !(Path(`/c`) || Path(`/d`))",
        ),
        (
            "(Path(`/a`) || Path(`/b`)) && Path(`/c`)",
            "(Path(`/a`) || Path(`/b`)) && Path(`/c`)",
        ),
        (
            "(Path(`/a`) && Path(`/b`)) && Path(`/c`)",
            "(Path(`/a`) && Path(`/b`)) && Path(`/c`)",
        ),
        ("Path(\"/a`b\")", "Path(\"/a`b\")"),
        ("Path(\"/a\\r\")", "Path(\"/a\\r\")"),
        ("QueryRegexp(`k`)", "Query(`k`)"),
        ("ClientIP(`::ffff:10.0.0.1`)", "ClientIP(`::ffff:10.0.0.1`)"),
    ];
    for (src, printed) in cases {
        let rule = Rule::parse(src).unwrap();
        assert_eq!(rule.to_string(), printed, "{src}");
        assert_eq!(Rule::parse(printed).unwrap(), rule, "{src}");
    }
}

#[test]
fn rules_are_shareable_across_threads() {
    fn assert_traits<T: Clone + std::fmt::Debug + Send + Sync + 'static>() {}
    assert_traits::<Rule>();
}
