use http::header::{COOKIE, HeaderMap};
use portcullis_config::plugin::common::SameSite;

use super::*;
use crate::shared::seal::Purpose;

fn cookies() -> StateCookies {
    StateCookies {
        base: "app-state".into(),
        attributes: CookieAttributes {
            path: "/".into(),
            domain: None,
            same_site: SameSite::Lax,
            http_only: true,
            secure: false,
        },
        max_age: 600,
        max_kept: 3,
        sealer: Sealer::derive("secret", "https://idp", Purpose::LoginState).unwrap(),
    }
}

fn login(created_at: i64) -> LoginState {
    LoginState {
        state: random_token().unwrap().into(),
        nonce: random_token().unwrap().into(),
        code_verifier: None,
        redirect_uri: "http://app.test/callback".into(),
        return_to: ReturnTo {
            https: false,
            authority: "app.test".into(),
            path_and_query: "/page?x=1".into(),
        },
        from_login_url: false,
        created_at,
    }
}

/// Applies Set-Cookie headers as a browser would, returning the new jar.
fn browser(jar: &CookieJar, set: &[HeaderValue]) -> CookieJar {
    let mut pairs: Vec<(String, String)> = jar.iter().map(|(n, v)| (n.into(), v.into())).collect();
    for header in set {
        let text = header.to_str().unwrap();
        let (pair, attrs) = text.split_once(';').unwrap();
        let (name, value) = pair.split_once('=').unwrap();
        pairs.retain(|(n, _)| n != name);
        if !attrs.contains("Max-Age=0") {
            pairs.push((name.into(), value.into()));
        }
    }
    let mut headers = HeaderMap::new();
    if !pairs.is_empty() {
        let text: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={v}")).collect();
        headers.insert(COOKIE, HeaderValue::from_str(&text.join("; ")).unwrap());
    }
    CookieJar::from_headers(&headers)
}

#[test]
fn each_flow_has_its_own_suffixed_cookie() {
    let cookies = cookies();
    let first = login(1);
    let second = login(2);
    let jar = browser(
        &CookieJar::default(),
        &cookies.write(&first, &CookieJar::default()).unwrap(),
    );
    let jar = browser(&jar, &cookies.write(&second, &jar).unwrap());
    let names: Vec<&str> = jar.names().collect();
    assert_eq!(names.len(), 2);
    assert_eq!(names[0], state_cookie_name("app-state", &first.state));
    assert_eq!(names[0].len(), "app-state-".len() + STATE_SUFFIX_LEN);
    // Both flows can complete, each from its own cookie.
    assert_eq!(cookies.find(&jar, &first.state).unwrap().1, first);
    assert_eq!(cookies.find(&jar, &second.state).unwrap().1, second);
}

#[test]
fn the_oldest_flows_are_evicted() {
    let cookies = cookies();
    let flows: Vec<LoginState> = (0..5).map(|i| login(100 + i)).collect();
    let mut jar = CookieJar::default();
    for flow in &flows {
        jar = browser(&jar, &cookies.write(flow, &jar).unwrap());
    }
    // max_kept = 3: the two oldest are gone, the three newest remain.
    assert_eq!(jar.names().count(), 3);
    assert!(cookies.find(&jar, &flows[0].state).is_none());
    assert!(cookies.find(&jar, &flows[1].state).is_none());
    for flow in &flows[2..] {
        assert!(cookies.find(&jar, &flow.state).is_some());
    }
}

#[test]
fn unreadable_state_cookies_are_deleted() {
    let cookies = cookies();
    let mut headers = HeaderMap::new();
    headers.insert(
        COOKIE,
        HeaderValue::from_static("app-state-AAAAAAAA=garbage; other=1"),
    );
    let jar = CookieJar::from_headers(&headers);
    let set = cookies.write(&login(1), &jar).unwrap();
    let jar = browser(&jar, &set);
    assert!(jar.get("app-state-AAAAAAAA").is_none());
    assert_eq!(jar.get("other"), Some("1"));
}

#[test]
fn a_state_must_match_its_cookie_exactly() {
    let cookies = cookies();
    let flow = login(1);
    let jar = browser(
        &CookieJar::default(),
        &cookies.write(&flow, &CookieJar::default()).unwrap(),
    );
    // Same first 8 characters (same cookie), different state.
    let forged = format!("{}{}", &flow.state[..8], "x".repeat(35));
    assert!(cookies.find(&jar, &forged).is_none());
    assert!(cookies.find(&jar, "").is_none());
}

#[test]
fn state_cookie_names_are_recognised() {
    assert!(is_state_cookie("app-state", "app-state-abcd_-12"));
    assert!(!is_state_cookie("app-state", "app-state"));
    assert!(!is_state_cookie("app-state", "app-state-abc"));
    assert!(!is_state_cookie("app-state", "app-session-abcdefgh"));
}

#[test]
fn authorization_url_has_every_parameter() {
    let endpoint = Url::parse("https://idp/authorize?tenant=t").unwrap();
    let scopes = vec!["openid".to_owned(), "email".to_owned()];
    let extra = vec![("audience".to_owned(), "api".to_owned())];
    let url = authorization_url(
        &endpoint,
        &AuthorizationRequest {
            client_id: "gw",
            redirect_uri: "http://app/cb",
            scopes: &scopes,
            state: "s",
            nonce: "n",
            code_challenge: Some("c"),
            extra: &extra,
        },
    );
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("tenant"), Some("t"));
    assert_eq!(get("response_type"), Some("code"));
    assert_eq!(get("scope"), Some("openid email"));
    assert_eq!(get("code_challenge_method"), Some("S256"));
    assert_eq!(get("audience"), Some("api"));
    assert_eq!(get("prompt"), None);
}

#[test]
fn pkce_matches_rfc_7636_appendix_b() {
    assert_eq!(
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

#[test]
fn return_urls_stay_on_their_origin() {
    let to = ReturnTo {
        https: true,
        authority: "app.test".into(),
        path_and_query: "//evil.example/x".into(),
    };
    assert_eq!(to.url(), "https://app.test//evil.example/x");
}
