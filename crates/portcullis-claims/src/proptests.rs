//! Printing then parsing gives back the same tree, for generated trees of every shape, including
//! keys and values that need escaping or double quotes.

use proptest::prelude::*;

use crate::expression::{Call, Node};
use crate::{ClaimPath, Expression, TokenKind};

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_:/.\\\\` \"é-]{1,8}",
        Just("id_token".to_owned()),
        Just("access_token".to_owned()),
    ]
}

fn claim_path() -> impl Strategy<Value = ClaimPath> {
    (
        prop_oneof![Just(TokenKind::IdToken), Just(TokenKind::AccessToken)],
        prop::collection::vec(segment(), 1..4),
    )
        .prop_map(|(token, segments)| ClaimPath::from_parts(token, segments))
}

fn value() -> impl Strategy<Value = String> {
    "[a-z0-9 .,`\"\\\\\n\t\r()&|!é]{0,8}"
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        (claim_path(), value()).prop_map(|(path, value)| Call::Equals { path, value }),
        (claim_path(), value()).prop_map(|(path, prefix)| Call::Prefix { path, prefix }),
        (claim_path(), value()).prop_map(|(path, value)| Call::Contains { path, value }),
        (claim_path(), "[ ,;`\"a]{1,3}", value()).prop_map(|(path, separator, value)| {
            Call::SplitContains {
                path,
                separator,
                value,
            }
        }),
        (claim_path(), prop::collection::vec(value(), 1..4))
            .prop_map(|(path, values)| Call::OneOf { path, values }),
    ]
}

fn node() -> impl Strategy<Value = Node> {
    call()
        .prop_map(Node::Call)
        .prop_recursive(5, 48, 4, |inner| {
            prop_oneof![
                inner.clone().prop_map(|node| Node::Not(Box::new(node))),
                prop::collection::vec(inner.clone(), 2..4).prop_map(Node::All),
                prop::collection::vec(inner, 2..4).prop_map(Node::Any),
            ]
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn printing_then_parsing_gives_back_the_same_expression(root in node()) {
        let expression = Expression { root };
        let printed = expression.to_string();
        let reparsed = Expression::parse(&printed);
        prop_assert_eq!(reparsed.as_ref(), Ok(&expression), "printed as {}", printed);
    }

    #[test]
    fn printing_then_parsing_gives_back_the_same_key(path in claim_path()) {
        let printed = path.to_string();
        prop_assert_eq!(ClaimPath::parse(&printed), Ok(path), "printed as {}", printed);
    }
}
