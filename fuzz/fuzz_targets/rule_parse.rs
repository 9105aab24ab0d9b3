//! Router rules come from configuration written by many hands (file providers, labels, CRDs):
//! parsing any text must return a rule or an error, never panic, and a parsed rule must print to
//! a form that parses back to the same rule and can be matched against a request.
//!
//! Input: rule text (UTF-8).

#![no_main]

use http::{HeaderMap, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;
use portcullis_rules::{RequestView, Rule};

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(rule) = Rule::parse(source) else {
        return;
    };
    let printed = rule.to_string();
    match Rule::parse(&printed) {
        Ok(reparsed) => assert_eq!(reparsed, rule, "{source:?} printed as {printed:?}"),
        Err(err) => panic!("{source:?} printed as {printed:?}, which fails: {err}"),
    }

    let mut headers = HeaderMap::new();
    headers.append("x-env", HeaderValue::from_static("prod"));
    headers.append("x-env", HeaderValue::from_static("staging"));
    headers.append("user-agent", HeaderValue::from_static("curl/8.0"));
    let view = RequestView {
        method: &Method::GET,
        host: "api.example.com",
        path: "/v1/users/%2F7",
        query: Some("q=hello+world&tag=a%2Fb&flag&bad=%zz"),
        headers: &headers,
        client_ip: std::net::Ipv4Addr::new(10, 1, 2, 3).into(),
    };
    let matched = rule.matches(&view);
    let reparsed_matched = Rule::parse(&printed).is_ok_and(|r| r.matches(&view));
    assert_eq!(matched, reparsed_matched, "{source:?}");
});
