//! Logout-token replay.

use portcullis_devidp::LogoutTarget;

use crate::served::{Served, api_status, sid_of};

#[tokio::test]
async fn a_replayed_logout_token_is_refused() {
    let (mut h, served) = Served::harness("", |s| s).await;
    h.login_as("/", "alice").await;
    let deliveries = h
        .idp
        .backchannel_logout(LogoutTarget::session(sid_of(&h, "alice")))
        .await;
    assert_eq!(deliveries[0].status, Some(200), "{deliveries:?}");
    let token = served.logout_tokens().pop().unwrap();
    // The user logs in again; a replay of the old token must not end the new session.
    h.login_as("/", "alice").await;
    assert_eq!(api_status(&mut h).await, 200);
    for _ in 0..3 {
        assert_eq!(served.post_token(&token).await, 400);
    }
    assert_eq!(api_status(&mut h).await, 200);
}
