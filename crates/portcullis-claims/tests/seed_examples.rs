//! Every example of the product documentation's claims tables holds for its example claims
//! document, and its negation does not.

#![cfg(test)]

use portcullis_claims::{Claims, Expression};
use serde_json::{Value, json};

/// The example document of the documentation, with the `user` object of its nested-claims part.
fn seed_document() -> Value {
    json!({
        "active": true,
        "grp": "admin",
        "scope": "reader writer deploy",
        "referrer": "http://example.com/foo/bar",
        "areas": ["office", "home"],
        "user": {"name": "John Snow", "status": "undead"}
    })
}

/// The functions table, the operators table and the token-prefix table.
const DOCUMENTED_EXAMPLES: &[&str] = &[
    "Equals(`grp`, `admin`)",
    "Prefix(`referrer`, `http://example.com`)",
    "Contains(`referrer`, `/foo/`)",
    "Contains(`areas`, `home`)",
    "SplitContains(`scope`, ` `, `writer`)",
    "OneOf(`areas`, `office`, `lab`)",
    "Equals(`grp`, `admin`) && Equals(`active`, `true`)",
    "Equals(`grp`, `admin`) || Equals(`active`, `true`)",
    "!Equals(`grp`, `testers`)",
    "Equals(`id_token.grp`, `admin`)",
    "Prefix(`access_token.referrer`, `http://example.com`)",
    "Equals(`user.name`, `John Snow`)",
];

fn evaluate(source: &str, document: &Value) -> bool {
    let expression = Expression::parse(source).unwrap_or_else(|error| panic!("{source}: {error}"));
    expression.evaluate(&Claims {
        id_token: Some(document),
        access_token: Some(document),
    })
}

#[test]
fn every_documented_example_is_true_for_the_documented_claims() {
    let document = seed_document();
    for source in DOCUMENTED_EXAMPLES {
        assert!(evaluate(source, &document), "{source} should be true");
    }
}

#[test]
fn the_negation_of_every_documented_example_is_false() {
    let document = seed_document();
    for source in DOCUMENTED_EXAMPLES {
        let negated = format!("!({source})");
        assert!(!evaluate(&negated, &document), "{negated} should be false");
    }
}

#[test]
fn documented_examples_are_false_when_the_claim_differs() {
    let mut document = seed_document();
    document["grp"] = json!("testers");
    document["active"] = json!(false);
    document["referrer"] = json!("https://other.example/");
    document["areas"] = json!(["garden"]);
    document["scope"] = json!("reader writers");
    document["user"]["name"] = json!("Arya");
    for source in DOCUMENTED_EXAMPLES {
        assert!(!evaluate(source, &document), "{source} should be false");
    }
}

#[test]
fn prefix_table_reads_the_token_it_names() {
    let id_token = json!({"grp": "admin", "areas": ["office"]});
    let access_token = json!({"grp": "robots", "referrer": "http://example.com/x"});
    let claims = Claims {
        id_token: Some(&id_token),
        access_token: Some(&access_token),
    };
    let holds = |source: &str| {
        Expression::parse(source)
            .unwrap_or_else(|error| panic!("{source}: {error}"))
            .evaluate(&claims)
    };
    assert!(holds("Equals(`id_token.grp`, `admin`)"));
    assert!(
        holds("Equals(`grp`, `admin`)"),
        "no prefix reads the ID token"
    );
    assert!(holds("Equals(`access_token.grp`, `robots`)"));
    assert!(!holds("Equals(`access_token.grp`, `admin`)"));
    assert!(holds(
        "Prefix(`access_token.referrer`, `http://example.com`)"
    ));
    assert!(!holds("Prefix(`referrer`, `http://example.com`)"));
    assert!(!holds("Prefix(`id_token.referrer`, `http://example.com`)"));
    assert!(holds("OneOf(`areas`, `office`, `lab`)"));
    assert!(!holds("OneOf(`access_token.areas`, `office`, `lab`)"));
}
