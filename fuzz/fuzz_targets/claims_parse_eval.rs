//! Claims expressions come from configuration that may be written by many hands, and claims from
//! tokens that an attacker may shape: parsing any text and evaluating any expression against any
//! JSON must neither panic nor break the printing contract.
//!
//! Input: expression text, then optionally a NUL byte and a JSON document used as both tokens'
//! claims.

#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_claims::{ClaimPath, Claims, Expression};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let (source, document) = match data.iter().position(|&byte| byte == 0) {
        Some(split) => (&data[..split], &data[split + 1..]),
        None => (data, &[][..]),
    };
    let Ok(source) = std::str::from_utf8(source) else {
        return;
    };
    let document: Value = serde_json::from_slice(document).unwrap_or_else(|_| {
        serde_json::json!({
            "grp": "admin", "active": true, "age": 42, "areas": ["office", "home", 7],
            "scope": "reader writer", "user": {"name": "John", "a.b": "x"}, "n": null
        })
    });
    let claims = Claims {
        id_token: Some(&document),
        access_token: Some(&document),
    };

    match Expression::parse(source) {
        Ok(expression) => {
            let printed = expression.to_string();
            let reparsed = Expression::parse(&printed);
            assert_eq!(reparsed.as_ref(), Ok(&expression), "printed as {printed}");
            let holds = expression.evaluate(&claims);
            let explained = expression.explain_failure(&claims);
            assert_eq!(explained.is_none(), holds);
            if let Some(explained) = explained {
                assert!(Expression::parse(&explained).is_ok(), "explanation {explained}");
            }
            let _ = expression.uses_access_token();
        }
        Err(error) => {
            assert!(error.column >= 1 && error.column <= source.chars().count() + 1);
        }
    }

    if let Ok(path) = ClaimPath::parse(source) {
        assert_eq!(ClaimPath::parse(&path.to_string()).as_ref(), Ok(&path));
        let values = path.values(&claims);
        assert_eq!(values.join(","), path.text(&claims));
    }
});
