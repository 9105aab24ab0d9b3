//! The parser never panics, and whatever it accepts prints to a text that parses back to the same
//! expression, which evaluates the same way.

#![cfg(test)]

use portcullis_claims::{ClaimPath, Claims, Expression};
use proptest::prelude::*;
use serde_json::json;

/// Fragments that make random text look like expressions, so that deep paths get exercised.
fn token_soup() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("Equals".to_owned()),
        Just("Prefix".to_owned()),
        Just("Contains".to_owned()),
        Just("SplitContains".to_owned()),
        Just("OneOf".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just(",".to_owned()),
        Just("&&".to_owned()),
        Just("||".to_owned()),
        Just("!".to_owned()),
        Just("&".to_owned()),
        Just(" ".to_owned()),
        Just("`".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        "`[a-z.\\\\ _]{0,6}`",
        "\"[a-z.\\\\ `\"]{0,6}\"",
        "[a-z_.]{1,4}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(fragment, 0..24).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn parsing_arbitrary_text_never_panics(source in any::<String>()) {
        let _ = Expression::parse(&source);
        let _ = ClaimPath::parse(&source);
    }

    #[test]
    fn accepted_text_prints_to_an_equivalent_expression(source in token_soup()) {
        if let Ok(expression) = Expression::parse(&source) {
            let printed = expression.to_string();
            let reparsed = Expression::parse(&printed);
            prop_assert_eq!(reparsed.as_ref(), Ok(&expression), "printed as {}", printed);
            let document = json!({"a": "b", "x": ["y"], "z": {"w": 1}});
            let claims = Claims { id_token: Some(&document), access_token: Some(&document) };
            let explained = expression.explain_failure(&claims);
            prop_assert_eq!(explained.is_none(), expression.evaluate(&claims));
            if let Some(explained) = explained {
                prop_assert!(Expression::parse(&explained).is_ok(), "explanation {}", explained);
            }
        } else if let Err(error) = Expression::parse(&source) {
            prop_assert!(error.column >= 1);
            prop_assert!(error.column <= source.chars().count() + 1);
        }
    }
}
