//! Everything a client or a provider can hand the authentication middlewares before any
//! signature is checked: Cookie headers (session chunks, state cookies), sealed session and
//! state values, JWTs (ID and logout tokens) and logout token claims. Nothing may panic, and a
//! value that was not sealed by the gateway must never open.

#![no_main]

use std::sync::OnceLock;

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use portcullis_auth::oidc::flows::logout_token;
use portcullis_auth::oidc::flows::login::StateCookies;
use portcullis_auth::oidc::CookieSessionStore;
use portcullis_auth::shared::cookies::{CookieAttributes, CookieJar};
use portcullis_auth::shared::jwt;
use portcullis_auth::shared::seal::{Purpose, Sealer};
use portcullis_config::plugin::common::SameSite;

struct Fixtures {
    sessions: CookieSessionStore,
    states: StateCookies,
}

fn attributes() -> CookieAttributes {
    CookieAttributes {
        path: "/".into(),
        domain: None,
        same_site: SameSite::Lax,
        http_only: true,
        secure: false,
    }
}

fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let sealer = |purpose| Sealer::derive("fuzz-secret", "https://idp.test", purpose).unwrap();
        Fixtures {
            sessions: CookieSessionStore::new("s".into(), attributes(), sealer(Purpose::Session)),
            states: StateCookies {
                base: "st".into(),
                attributes: attributes(),
                max_age: 600,
                max_kept: 4,
                sealer: sealer(Purpose::LoginState),
            },
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let f = fixtures();

    // A Cookie header as a browser (or an attacker) sends it.
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(text) {
        headers.insert(http::header::COOKIE, value);
    }
    let jar = CookieJar::from_headers(&headers);
    let _ = jar.reassemble("s");
    let _ = f.states.find(&jar, text);
    for (name, value) in jar.iter() {
        let _ = (name, f.sessions.open(value));
    }

    // A sealed value: nothing but what the gateway sealed opens.
    assert!(f.sessions.open(text).is_none(), "an unsealed value opened");

    // A token: decoding must not panic; its claims go through logout-token validation.
    if let Ok(token) = jwt::decode(text) {
        let _ = logout_token::validate(&token.claims, "https://idp.test", "gw", true, 1_700_000_000, 60);
    }
    if let Ok(serde_json::Value::Object(claims)) = serde_json::from_str::<serde_json::Value>(text) {
        let _ = logout_token::validate(&claims, "https://idp.test", "gw", false, 1_700_000_000, 60);
    }
    let _ = jwt::trusted_claims(text);
});
