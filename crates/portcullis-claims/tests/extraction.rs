//! Claim values rendered for `forwardHeaders` and `usernameClaim`.

#![cfg(test)]

use portcullis_claims::{ClaimPath, Claims, TokenKind};
use serde_json::{Value, json};

fn document() -> Value {
    json!({
        "sub": "2f3c9a",
        "age": 42,
        "ratio": 0.5,
        "active": true,
        "nothing": null,
        "groups": ["admins", "ops"],
        "mixed": ["a", 1, false, null, ["x", "y"], {"k": "v"}],
        "empty": [],
        "user": {"name": "John Snow", "roles": {"lead": true}},
        "a.b": "dotted",
        "a\\b": "backslashed"
    })
}

fn path(key: &str) -> ClaimPath {
    ClaimPath::parse(key).unwrap_or_else(|error| panic!("{key}: {error}"))
}

fn text_of(key: &str) -> String {
    let document = document();
    path(key).text(&Claims {
        id_token: Some(&document),
        access_token: None,
    })
}

fn values_of(key: &str) -> Vec<String> {
    let document = document();
    path(key).values(&Claims {
        id_token: Some(&document),
        access_token: None,
    })
}

#[test]
fn scalars_render_as_their_json_text() {
    assert_eq!(text_of("sub"), "2f3c9a");
    assert_eq!(text_of("age"), "42");
    assert_eq!(text_of("ratio"), "0.5");
    assert_eq!(text_of("active"), "true");
    assert_eq!(text_of("user.name"), "John Snow");
    assert_eq!(values_of("age"), ["42"]);
}

#[test]
fn absent_and_null_claims_render_empty() {
    assert_eq!(text_of("missing"), "");
    assert_eq!(text_of("user.missing"), "");
    assert_eq!(text_of("sub.deeper"), "");
    assert_eq!(text_of("nothing"), "");
    assert_eq!(values_of("missing"), [""]);
    assert_eq!(path("sub").text(&Claims::default()), "");
}

#[test]
fn arrays_join_with_commas_or_yield_one_value_per_element() {
    assert_eq!(text_of("groups"), "admins,ops");
    assert_eq!(values_of("groups"), ["admins", "ops"]);
    assert_eq!(text_of("mixed"), "a,1,false,,[\"x\",\"y\"],{\"k\":\"v\"}");
    assert_eq!(
        values_of("mixed"),
        ["a", "1", "false", "", "[\"x\",\"y\"]", "{\"k\":\"v\"}"]
    );
    assert_eq!(text_of("empty"), "");
    assert_eq!(values_of("empty"), [""]);
}

#[test]
fn objects_render_as_compact_json() {
    assert_eq!(text_of("user.roles"), "{\"lead\":true}");
    assert_eq!(values_of("user.roles"), ["{\"lead\":true}"]);
}

#[test]
fn values_joined_equal_text() {
    for key in [
        "sub", "age", "groups", "mixed", "empty", "missing", "user", "nothing",
    ] {
        assert_eq!(values_of(key).join(","), text_of(key), "{key}");
    }
}

#[test]
fn keys_use_the_expression_syntax() {
    assert_eq!(text_of("a\\.b"), "dotted");
    assert_eq!(text_of("a\\\\b"), "backslashed");
    assert_eq!(path("access_token.sub").token(), TokenKind::AccessToken);
    assert_eq!(path("id_token.sub").token(), TokenKind::IdToken);
    assert_eq!(path("sub").token(), TokenKind::IdToken);
    assert_eq!(path("id_token.sub"), path("sub"));
    assert_eq!(
        path("user.full\\.name").segments().collect::<Vec<_>>(),
        ["user", "full.name"]
    );
    assert_eq!(path("a\\\\b\\.c.d").to_string(), "a\\\\b\\.c.d");
    assert_eq!("user.name".parse::<ClaimPath>(), Ok(path("user.name")));
}

#[test]
fn lookup_reads_the_selected_token() {
    let id_token = json!({"sub": "person"});
    let access_token = json!({"sub": "client", "scope": "read"});
    let claims = Claims {
        id_token: Some(&id_token),
        access_token: Some(&access_token),
    };
    assert_eq!(path("sub").lookup(&claims), Some(&json!("person")));
    assert_eq!(
        path("access_token.sub").lookup(&claims),
        Some(&json!("client"))
    );
    assert_eq!(path("scope").lookup(&claims), None);
    assert_eq!(path("access_token.scope").text(&claims), "read");
    let only_id = Claims {
        id_token: Some(&id_token),
        access_token: None,
    };
    assert_eq!(path("access_token.sub").lookup(&only_id), None);
    assert_eq!(path("access_token.sub").values(&only_id), [""]);
    // lookup returns the raw value, objects and null included.
    let document = document();
    let claims = Claims {
        id_token: Some(&document),
        access_token: None,
    };
    assert_eq!(path("nothing").lookup(&claims), Some(&Value::Null));
    assert_eq!(
        path("user.roles").lookup(&claims),
        Some(&json!({"lead": true}))
    );
}
