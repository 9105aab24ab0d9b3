//! End-to-end: `portcullis demo` (development provider, whoami upstream, gateway with OIDC on
//! `/` and client credentials on `/api`) works as the README says, in a real browser.

#![cfg(test)]

mod support;

use serde_json::json;
use support::client;
use support::real_provider::browse;

#[tokio::test]
async fn demo_logs_in_in_a_browser_and_serves_the_api_with_client_credentials() {
    let demo = portcullis::demo::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = demo.gateway_url.clone();

    // The README's walk-through: sign in as alice, sign out, sign in as bob.
    let steps = browse(json!([
        { "goto": format!("{url}/hello"), "login": "alice" },
        { "goto": format!("{url}/logout") },
        { "request": { "url": format!("{url}/hello") } },
        { "goto": format!("{url}/hello"), "login": "bob" },
    ]))
    .await;
    let page = steps[0]["body"].as_str().unwrap();
    assert_eq!(steps[0]["status"], 200, "{}", steps[0]);
    assert_eq!(steps[0]["url"], format!("{url}/hello"));
    assert!(page.contains("GET /hello"), "{page}");
    assert!(page.contains("X-Forwarded-User: alice"), "{page}");
    assert!(page.contains("X-Group: admin"), "{page}");
    assert!(page.contains("X-Department: it"), "{page}");
    assert!(page.contains("Authorization: Bearer "), "{page}");
    // Logout ends the provider's session too and lands on the public signed-out page, not on
    // an error page of the provider.
    assert_eq!(steps[1]["url"], format!("{url}/logged-out"), "{}", steps[1]);
    assert_eq!(steps[1]["status"], 200, "{}", steps[1]);
    assert_eq!(steps[2]["status"], 302, "logged out: {}", steps[2]);
    // The provider asks who signs in again, so another user can.
    let bob = &steps[3];
    assert_eq!(bob["loggedIn"], true, "{bob}");
    assert_eq!(bob["url"], format!("{url}/hello"), "{bob}");
    let page = bob["body"].as_str().unwrap();
    assert!(page.contains("X-Forwarded-User: bob"), "{page}");
    assert!(page.contains("X-Group: user"), "{page}");

    let c = client();
    let api = c
        .get(format!("{url}/api/items"))
        .basic_auth("svc", Some("svc-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200);
    let text = api.text().await.unwrap();
    assert!(text.contains("X-Client-Group: service"), "{text}");
    assert!(text.contains("Authorization: Bearer ey"), "{text}");
    let wrong = c
        .get(format!("{url}/api/items"))
        .basic_auth("svc", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(
        wrong.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_eq!(
        c.get(format!("{url}/api/items"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    demo.shutdown().await;
}
