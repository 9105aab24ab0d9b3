//! What expressions mean: keys and escapes, token prefixes, precedence, whitespace, arrays,
//! scalar comparison by JSON text, missing claims, explanations and canonical printing.

#![cfg(test)]

use portcullis_claims::{Claims, Expression};
use serde_json::{Value, json};

fn holds_for(source: &str, id_token: &Value) -> bool {
    Expression::parse(source)
        .unwrap_or_else(|error| panic!("{source}: {error}"))
        .evaluate(&Claims {
            id_token: Some(id_token),
            access_token: None,
        })
}

/// Evaluates `source` with `a`, `b` and `c` standing for true or false terms.
fn truth(source: &str, a: bool, b: bool, c: bool) -> bool {
    let expanded = source
        .replace('a', "Equals(`a`, `true`)")
        .replace('b', "Equals(`b`, `true`)")
        .replace('c', "Equals(`c`, `true`)");
    holds_for(&expanded, &json!({"a": a, "b": b, "c": c}))
}

const BOOLEANS: [bool; 2] = [false, true];

#[test]
fn and_binds_tighter_than_or() {
    for a in BOOLEANS {
        for b in BOOLEANS {
            for c in BOOLEANS {
                assert_eq!(truth("a || b && c", a, b, c), a || (b && c), "{a} {b} {c}");
                assert_eq!(truth("a && b || c", a, b, c), (a && b) || c, "{a} {b} {c}");
                assert_eq!(
                    truth("(a || b) && c", a, b, c),
                    (a || b) && c,
                    "{a} {b} {c}"
                );
            }
        }
    }
}

#[test]
fn not_binds_tighter_than_and() {
    for a in BOOLEANS {
        for b in BOOLEANS {
            assert_eq!(truth("!a && b", a, b, false), !a && b, "{a} {b}");
            assert_eq!(truth("!(a && b)", a, b, false), !(a && b), "{a} {b}");
            assert_eq!(truth("!!a || b", a, b, false), a || b, "{a} {b}");
        }
    }
}

#[test]
fn whitespace_may_stand_between_any_tokens() {
    let claims = json!({"grp": "admin", "areas": ["office"]});
    let spaced = " \t( ! Equals ( `grp` ,\n`x` ) &&\r\nContains(`areas`,`office`,) )\t ";
    assert!(holds_for(spaced, &claims));
    let tight = "(!Equals(`grp`,`x`)&&Contains(`areas`,`office`))";
    assert_eq!(Expression::parse(spaced), Expression::parse(tight));
    // Spaces inside the quotes belong to the value.
    assert!(!holds_for("Equals(` grp`, `admin`)", &claims));
    assert!(!holds_for("Equals(`grp`, `admin `)", &claims));
}

#[test]
fn nested_keys_walk_objects() {
    let claims = json!({"user": {"name": "John Snow", "address": {"city": "Winterfell"}}});
    assert!(holds_for("Equals(`user.name`, `John Snow`)", &claims));
    assert!(holds_for(
        "Equals(`user.address.city`, `Winterfell`)",
        &claims
    ));
    assert!(!holds_for("Equals(`user.address`, `Winterfell`)", &claims));
    assert!(!holds_for("Equals(`user.name.first`, `John`)", &claims));
    assert!(!holds_for("Equals(`name`, `John Snow`)", &claims));
}

#[test]
fn arrays_are_never_indexed_by_keys() {
    let claims = json!({"areas": ["office", {"name": "lab"}]});
    assert!(!holds_for("Equals(`areas.0`, `office`)", &claims));
    assert!(!holds_for("Equals(`areas.1.name`, `lab`)", &claims));
}

#[test]
fn escaped_dots_and_backslashes_name_literal_claims() {
    let claims = json!({
        "a.b": "dotted",
        "a": {"b": "nested"},
        "a\\b": "backslashed",
        "user": {"full.name": "John Snow"},
        "https://example.com/roles": ["admin"],
        "x\\": {"y": "trailing"}
    });
    assert!(holds_for("Equals(`a\\.b`, `dotted`)", &claims));
    assert!(holds_for("Equals(`a.b`, `nested`)", &claims));
    assert!(holds_for("Equals(`a\\\\b`, `backslashed`)", &claims));
    assert!(holds_for(
        "Equals(`user.full\\.name`, `John Snow`)",
        &claims
    ));
    assert!(holds_for(
        "Contains(`https://example\\.com/roles`, `admin`)",
        &claims
    ));
    assert!(holds_for("Equals(`x\\\\.y`, `trailing`)", &claims));
    // The same keys in double quotes, where the string's own escapes come first.
    assert!(holds_for("Equals(\"a\\\\.b\", \"dotted\")", &claims));
    assert!(holds_for(
        "Equals(\"a\\\\\\\\b\", \"backslashed\")",
        &claims
    ));
}

#[test]
fn prefixes_select_the_token() {
    let id_token = json!({"grp": "admin", "id_token": {"grp": "inner"}});
    let access_token = json!({"grp": "service", "scope": "read write"});
    let claims = Claims {
        id_token: Some(&id_token),
        access_token: Some(&access_token),
    };
    let holds = |source: &str| Expression::parse(source).map(|rule| rule.evaluate(&claims));
    assert_eq!(holds("Equals(`grp`, `admin`)"), Ok(true));
    assert_eq!(holds("Equals(`id_token.grp`, `admin`)"), Ok(true));
    assert_eq!(holds("Equals(`access_token.grp`, `service`)"), Ok(true));
    assert_eq!(
        holds("SplitContains(`access_token.scope`, ` `, `write`)"),
        Ok(true)
    );
    // A claim named like a prefix is still reachable through an explicit prefix.
    assert_eq!(holds("Equals(`id_token.id_token.grp`, `inner`)"), Ok(true));
    // Without a dot after it, `id_token` is just a claim name.
    assert_eq!(holds("Contains(`id_token`, `x`)"), Ok(false));
    // An absent token makes every key into it missing.
    let without_access = Claims {
        id_token: Some(&id_token),
        access_token: None,
    };
    let rule = Expression::parse("!Equals(`access_token.grp`, `service`)");
    assert_eq!(rule.map(|rule| rule.evaluate(&without_access)), Ok(true));
}

#[test]
fn uses_access_token_reports_any_access_token_key() {
    let uses = |source: &str| Expression::parse(source).map(|rule| rule.uses_access_token());
    assert_eq!(uses("Equals(`grp`, `a`)"), Ok(false));
    assert_eq!(uses("Equals(`id_token.grp`, `a`)"), Ok(false));
    assert_eq!(uses("Equals(`access_token`, `a`)"), Ok(false));
    assert_eq!(
        uses("Equals(`grp`, `a`) || !(Equals(`access_token.grp`, `a`))"),
        Ok(true)
    );
}

#[test]
fn equals_on_an_array_is_false() {
    let claims = json!({"areas": ["office"], "empty": [], "nested": [["office"]]});
    assert!(!holds_for("Equals(`areas`, `office`)", &claims));
    assert!(!holds_for("Equals(`areas`, `[\"office\"]`)", &claims));
    assert!(!holds_for("Equals(`empty`, ``)", &claims));
    assert!(holds_for("!Equals(`areas`, `office`)", &claims));
    assert!(!holds_for("Prefix(`areas`, `off`)", &claims));
    assert!(!holds_for("SplitContains(`areas`, `,`, `office`)", &claims));
}

#[test]
fn contains_and_one_of_look_at_array_elements() {
    let claims = json!({
        "areas": ["office", "home"],
        "codes": [500, 900, true],
        "nested": [["office"], {"office": 1}],
        "empty": []
    });
    assert!(holds_for("Contains(`areas`, `home`)", &claims));
    assert!(
        !holds_for("Contains(`areas`, `hom`)", &claims),
        "elements match whole"
    );
    assert!(holds_for("Contains(`codes`, `900`)", &claims));
    assert!(holds_for("Contains(`codes`, `true`)", &claims));
    assert!(!holds_for("Contains(`nested`, `office`)", &claims));
    assert!(!holds_for("Contains(`empty`, ``)", &claims));
    assert!(holds_for("OneOf(`areas`, `lab`, `home`)", &claims));
    assert!(!holds_for("OneOf(`areas`, `lab`, `garden`)", &claims));
    assert!(holds_for("OneOf(`codes`, `404`, `500`)", &claims));
    assert!(!holds_for("OneOf(`nested`, `office`)", &claims));
    assert!(!holds_for("OneOf(`empty`, ``)", &claims));
}

#[test]
fn one_of_on_a_scalar_compares_its_text() {
    let claims = json!({"grp": "admin", "level": 3, "active": true});
    assert!(holds_for("OneOf(`grp`, `users`, `admin`)", &claims));
    assert!(!holds_for("OneOf(`grp`, `users`, `admins`)", &claims));
    assert!(holds_for("OneOf(`level`, `2`, `3`)", &claims));
    assert!(holds_for("OneOf(`active`, `true`)", &claims));
}

#[test]
fn scalars_compare_by_their_json_text() {
    let claims = json!({
        "active": true, "disabled": false, "age": 42, "negative": -7,
        "ratio": 1.5, "iat": 1512435789u64, "nothing": null, "object": {"a": 1}
    });
    assert!(holds_for("Equals(`active`, `true`)", &claims));
    assert!(!holds_for("Equals(`active`, `True`)", &claims));
    assert!(holds_for("Equals(`disabled`, `false`)", &claims));
    assert!(holds_for("Equals(`age`, `42`)", &claims));
    assert!(!holds_for("Equals(`age`, `42.0`)", &claims));
    assert!(!holds_for("Equals(`age`, `4`)", &claims));
    assert!(holds_for("Equals(`negative`, `-7`)", &claims));
    assert!(holds_for("Equals(`ratio`, `1.5`)", &claims));
    assert!(holds_for("Equals(`iat`, `1512435789`)", &claims));
    assert!(!holds_for("Equals(`nothing`, `null`)", &claims));
    assert!(!holds_for("Equals(`nothing`, ``)", &claims));
    assert!(!holds_for("Equals(`object`, `{\"a\":1}`)", &claims));
    // Substring functions need a string claim.
    assert!(!holds_for("Prefix(`age`, `4`)", &claims));
    assert!(!holds_for("Contains(`age`, `2`)", &claims));
    assert!(!holds_for("SplitContains(`age`, `2`, `4`)", &claims));
}

#[test]
fn string_functions() {
    let claims = json!({"scope": " reader ,writer;; deploy ", "url": "http://example.com/foo"});
    assert!(
        holds_for("SplitContains(`scope`, `,`, `reader`)", &claims),
        "parts are trimmed"
    );
    assert!(holds_for("SplitContains(`scope`, `;;`, `deploy`)", &claims));
    assert!(!holds_for("SplitContains(`scope`, `,`, `writer`)", &claims));
    assert!(!holds_for(
        "SplitContains(`scope`, `,`, ` reader`)",
        &claims
    ));
    assert!(holds_for("Prefix(`url`, `http://`)", &claims));
    assert!(holds_for("Prefix(`url`, ``)", &claims));
    assert!(!holds_for("Prefix(`url`, `https://`)", &claims));
    assert!(holds_for("Contains(`url`, `example`)", &claims));
    assert!(!holds_for("Contains(`url`, `Example`)", &claims));
}

#[test]
fn missing_claims_make_functions_false() {
    let claims = json!({"grp": "admin"});
    for call in [
        "Equals(`missing`, ``)",
        "Prefix(`missing`, ``)",
        "Contains(`missing`, ``)",
        "SplitContains(`missing`, ` `, ``)",
        "OneOf(`missing`, ``, `x`)",
        "Equals(`grp.sub`, `admin`)",
    ] {
        assert!(!holds_for(call, &claims), "{call}");
        assert!(holds_for(&format!("!{call}"), &claims), "!{call}");
    }
    let rule = Expression::parse("!Equals(`grp`, `admin`)");
    assert_eq!(rule.map(|rule| rule.evaluate(&Claims::default())), Ok(true));
}

#[test]
fn explain_failure_names_the_smallest_false_part() {
    let id_token = json!({"grp": "admin", "areas": ["office"], "secret": "s3cr3t"});
    let claims = Claims {
        id_token: Some(&id_token),
        access_token: None,
    };
    let explain = |source: &str| {
        Expression::parse(source)
            .unwrap_or_else(|error| panic!("{source}: {error}"))
            .explain_failure(&claims)
    };
    assert_eq!(explain("Equals(`grp`, `admin`)"), None);
    assert_eq!(
        explain("Equals(`grp`, `admin`) && (Contains(`areas`, `lab`) || Prefix(`secret`, `x`))"),
        Some("Contains(`areas`, `lab`) || Prefix(`secret`, `x`)".to_owned())
    );
    assert_eq!(
        explain("Equals(`grp`, `admin`) && (Contains(`areas`, `office`) && OneOf(`grp`, `a`))"),
        Some("OneOf(`grp`, `a`)".to_owned())
    );
    assert_eq!(
        explain("Equals(`grp`, `admin`) && !Equals(`id_token.secret`, `s3cr3t`)"),
        Some("!Equals(`secret`, `s3cr3t`)".to_owned())
    );
    assert_eq!(
        explain("Equals(`access_token.grp`, `admin`)"),
        Some("Equals(`access_token.grp`, `admin`)".to_owned())
    );
    // Claim values never appear: the text is built from the expression alone.
    let explained = explain("Equals(`secret`, `guess`)");
    assert_eq!(explained, Some("Equals(`secret`, `guess`)".to_owned()));
}

#[test]
fn printing_is_canonical_and_parses_back() {
    let cases = [
        ("Equals( `grp` ,`admin` ,)", "Equals(`grp`, `admin`)"),
        ("{a} || ({b} && {c})", "{a} || {b} && {c}"),
        ("({a} || {b}) && {c}", "({a} || {b}) && {c}"),
        ("{a} && ({b} && {c})", "{a} && ({b} && {c})"),
        ("({a} && {b}) && {c}", "({a} && {b}) && {c}"),
        ("(({a}))", "{a}"),
        ("!(!{a})", "!!{a}"),
        ("!({a} || {b})", "!({a} || {b})"),
        ("Equals(`id_token.grp`, `x`)", "Equals(`grp`, `x`)"),
        (
            "Equals(`id_token.id_token.x`, `y`)",
            "Equals(`id_token.id_token.x`, `y`)",
        ),
        ("Equals(\"a\\\\.b\", \"x\")", "Equals(`a\\.b`, `x`)"),
        (
            "Equals(`k`, \"say \\\"`hi`\\\"\")",
            "Equals(`k`, \"say \\\"`hi`\\\"\")",
        ),
        (
            "OneOf(`areas`,`a`,`b`,`c`)",
            "OneOf(`areas`, `a`, `b`, `c`)",
        ),
        ("SplitContains(`s`,` `,`w`)", "SplitContains(`s`, ` `, `w`)"),
    ];
    let expand = |text: &str| {
        text.replace("{a}", "Equals(`a`, `1`)")
            .replace("{b}", "Prefix(`b`, `1`)")
            .replace("{c}", "Contains(`c`, `1`)")
    };
    for (source, printed) in cases {
        let (source, printed) = (expand(source), expand(printed));
        let expression = Expression::parse(&source).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(expression.to_string(), printed, "for {source}");
        assert_eq!(printed.parse::<Expression>(), Ok(expression));
    }
}

#[test]
fn expressions_can_be_shared_between_threads() {
    fn assert_shareable<T: Send + Sync + Clone + std::fmt::Debug + 'static>() {}
    assert_shareable::<Expression>();
    assert_shareable::<portcullis_claims::ClaimPath>();
}

#[test]
fn absent_claims_of_the_failing_part_are_named() {
    let id_token = json!({"grp": "admin", "areas": ["office"]});
    let claims = Claims {
        id_token: Some(&id_token),
        access_token: None,
    };
    let absent = |source: &str| {
        Expression::parse(source)
            .unwrap_or_else(|error| panic!("{source}: {error}"))
            .absent_claims_in_failure(&claims)
    };
    assert!(absent("Equals(`grp`, `admin`)").is_empty());
    assert!(absent("Equals(`grp`, `user`)").is_empty());
    assert_eq!(
        absent("Equals(`grp`, `admin`) && (Equals(`dept`, `it`) || Equals(`team`, `a`))"),
        ["dept", "team"]
    );
    assert_eq!(
        absent("Equals(`access_token.grp`, `admin`)"),
        ["access_token.grp"]
    );
}
