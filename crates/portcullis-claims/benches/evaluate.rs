//! Cost of evaluating a compiled five-term expression against a typical ID token, the work done
//! for every request behind a `claims` rule.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_claims::{Claims, Expression};
use serde_json::json;

const FIVE_TERMS: &str = "Equals(`grp`, `admin`) && Prefix(`referrer`, `http://example.com`) \
    && Contains(`areas`, `home`) && SplitContains(`scope`, ` `, `writer`) \
    && OneOf(`user.role`, `dev`, `ops`)";

fn evaluate(criterion: &mut Criterion) {
    let expression = match Expression::parse(FIVE_TERMS) {
        Ok(expression) => expression,
        Err(error) => {
            eprintln!("benchmark expression does not parse: {error}");
            return;
        }
    };
    let id_token = json!({
        "active": true,
        "grp": "admin",
        "scope": "reader writer deploy",
        "referrer": "http://example.com/foo/bar",
        "areas": ["office", "home"],
        "user": {"name": "John Snow", "role": "ops"},
        "sub": "2f3c9a",
        "email": "john@example.com",
    });
    let claims = Claims {
        id_token: Some(&id_token),
        access_token: None,
    };
    if !expression.evaluate(&claims) {
        eprintln!("benchmark expression should be true for the benchmark claims");
        return;
    }
    criterion.bench_function("evaluate five terms (true)", |bencher| {
        bencher.iter(|| black_box(&expression).evaluate(black_box(&claims)))
    });
}

criterion_group!(benches, evaluate);
criterion_main!(benches);
