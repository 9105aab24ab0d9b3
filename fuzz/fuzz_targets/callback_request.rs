//! The OIDC middleware's answer to any request at its callback: arbitrary query parameters
//! (`code`, `state`, `error`, repeated, encoded or not) with arbitrary cookies. Only a state
//! cookie sealed by the gateway can lead further than a refusal, so every input must end in a
//! clean 4xx answer, never a panic and never a forwarded request.
//!
//! Input: the query string, then optionally a NUL byte and a Cookie header.

#![no_main]

use std::sync::OnceLock;

use http::{HeaderValue, Request};
use libfuzzer_sys::fuzz_target;
use portcullis_auth::oidc::{OidcMiddleware, OidcOptions, OidcSecrets};
use portcullis_config::plugin::oidc::{self, RawOidc};
use portcullis_config::{Errors, LocalResolver, Path};
use portcullis_proxy::middleware::{Decision, Middleware, RequestContext, Scheme};

struct Fixture {
    runtime: tokio::runtime::Runtime,
    middleware: OidcMiddleware,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let raw: RawOidc = serde_json::from_value(serde_json::json!({
            "issuer": "http://127.0.0.1:9",
            "clientID": "gw",
            "clientSecret": "gw-secret",
            "redirectUrl": "/callback",
            "csrf": {},
        }))
        .unwrap();
        let mut errors = Errors::new();
        let config = oidc::validate(&raw, "fuzz", &Path::root(), &mut errors).unwrap();
        let secrets = OidcSecrets::resolve(&config, None, &LocalResolver::new()).unwrap();
        let middleware = runtime
            .block_on(async { OidcMiddleware::new(config, secrets, OidcOptions::default()) })
            .unwrap();
        Fixture {
            runtime,
            middleware,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let (query, cookie) = match data.iter().position(|&byte| byte == 0) {
        Some(split) => (&data[..split], Some(&data[split + 1..])),
        None => (data, None),
    };
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    let Ok(request) = Request::builder()
        .uri(format!("/callback?{query}"))
        .header("host", "app.test")
        .body(portcullis_proxy::body::empty())
    else {
        return;
    };
    let mut request = request;
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_bytes(c).ok()) {
        request.headers_mut().insert(http::header::COOKIE, value);
    }
    let f = fixture();
    let mut ctx = RequestContext::new(
        "127.0.0.1:40000".parse().unwrap(),
        Scheme::Http,
        "web".into(),
        "app".into(),
    );
    let outcome = f.runtime.block_on(f.middleware.handle(request, &mut ctx));
    match outcome {
        Ok(Decision::Forward(_)) => panic!("a callback was forwarded upstream"),
        Ok(Decision::Respond(response)) => assert!(
            response.status().is_client_error(),
            "status {}",
            response.status()
        ),
        Err(error) => assert!(
            error.status().is_client_error(),
            "status {}",
            error.status()
        ),
    }
});
