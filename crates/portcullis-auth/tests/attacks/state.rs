//! Login-state attacks: a callback used twice, and a callback carried into another browser
//! (login CSRF, code injection).

use portcullis_devidp::GrantType;

use crate::support::{Jar, Setup, query};

const STATE_PREFIX: &str = "oidc-test-state-";

fn state_cookie(jar: &Jar) -> (String, String) {
    jar.cookies
        .iter()
        .find(|(name, _)| name.starts_with(STATE_PREFIX))
        .map(|(n, v)| (n.clone(), v.clone()))
        .expect("a state cookie")
}

fn callback_path(location: &str) -> String {
    location.strip_prefix("http://app.test").unwrap().to_owned()
}

#[tokio::test]
async fn a_replayed_callback_is_refused() {
    let mut h = Setup::new("").start().await;
    let start = h.get("/page").await.location().unwrap();
    let flow_cookie = state_cookie(&h.jar);
    let callback = callback_path(&h.idp.complete_login(&start, "alice").await.unwrap());
    assert_eq!(h.get(&callback).await.status(), 302);
    assert!(h.has_session());

    // The same browser again: its flow cookie is gone, so the state belongs to no flow.
    let replay = h.get(&callback).await;
    assert_eq!(replay.status(), 400);
    assert_eq!(h.idp.token_calls(GrantType::AuthorizationCode), 1);

    // Someone who copied both the callback URL and the flow cookie: the provider refuses the
    // spent code, and no session is made.
    h.jar = Jar::default();
    h.jar.cookies.insert(flow_cookie.0, flow_cookie.1);
    let replay = h.get(&callback).await;
    assert_eq!(replay.status(), 401);
    assert!(!h.has_session());
    assert!(
        replay
            .set_cookies()
            .iter()
            .all(|c| !c.starts_with("oidc-test-session") || c.contains("Max-Age=0"))
    );
}

#[tokio::test]
async fn a_callback_carried_into_another_browser_is_refused() {
    let mut h = Setup::new("").start().await;
    // The victim (jar A) has a login of its own under way; the attacker (jar B) logs in as
    // bob and hands the victim its callback URL.
    let _victim_flow = h.get("/victim").await.location().unwrap();
    let victim = h.jar.clone();
    h.jar = Jar::default();
    let attacker_start = h.get("/attacker").await.location().unwrap();
    let attacker = h.jar.clone();
    let callback = callback_path(&h.idp.complete_login(&attacker_start, "bob").await.unwrap());
    let attacker_state = query(&format!("http://app.test{callback}"))["state"].clone();

    h.jar = victim.clone();
    let outcome = h.get(&callback).await;
    assert_eq!(outcome.status(), 400);
    assert!(!h.has_session());

    // The victim's own flow cookie renamed to the attacker's state: it opens, but it was
    // sealed for another state.
    let (_, victim_value) = state_cookie(&victim);
    h.jar = Jar::default();
    h.jar.cookies.insert(
        format!("{STATE_PREFIX}{}", &attacker_state[..8]),
        victim_value,
    );
    assert_eq!(h.get(&callback).await.status(), 400);
    assert!(!h.has_session());

    // A flow cookie with a byte changed does not open.
    let (name, value) = state_cookie(&attacker);
    let mut bytes = value.into_bytes();
    bytes[10] = if bytes[10] == b'A' { b'Q' } else { b'A' };
    h.jar = Jar::default();
    h.jar
        .cookies
        .insert(name, String::from_utf8(bytes).unwrap());
    assert_eq!(h.get(&callback).await.status(), 400);
    assert!(!h.has_session());

    // None of these reached the token endpoint: the code is unspent and still works for the
    // browser that started the flow.
    assert_eq!(h.idp.token_calls(GrantType::AuthorizationCode), 0);
    h.jar = attacker;
    assert_eq!(h.get(&callback).await.status(), 302);
    assert!(h.has_session());
}
