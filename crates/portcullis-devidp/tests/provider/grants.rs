//! Refresh-token rotation, client credentials, grant-type rules and call counters.

use portcullis_devidp::{ClientSpec, GrantType};
use reqwest::StatusCode;
use serde_json::json;

use crate::{CLIENT, builder, parts, start, token, token_as, tokens, verify};

#[tokio::test]
async fn refresh_tokens_rotate_and_old_ones_are_refused() {
    let idp = start().await;
    let first = tokens(&idp).await;
    let original = parts(first["id_token"].as_str().unwrap()).1;
    let r1 = first["refresh_token"].as_str().unwrap();

    let (status, second) = token(
        &idp,
        &[("grant_type", "refresh_token"), ("refresh_token", r1)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2);
    let refreshed = verify(&idp, second["id_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(refreshed["sub"], original["sub"]);
    assert_eq!(refreshed["sid"], original["sid"]);
    assert_eq!(refreshed["auth_time"], original["auth_time"]);
    assert!(refreshed.get("nonce").is_none());
    assert_ne!(second["access_token"], first["access_token"]);

    let (status, body) = token(
        &idp,
        &[("grant_type", "refresh_token"), ("refresh_token", r1)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, third) = token(
        &idp,
        &[("grant_type", "refresh_token"), ("refresh_token", r2)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{third}");
    assert_eq!(idp.token_calls(GrantType::RefreshToken), 3);
}

#[tokio::test]
async fn refresh_tokens_are_bound_to_client_scope_and_lifetime() {
    let idp = start().await;
    let first = tokens(&idp).await;
    let r1 = first["refresh_token"].as_str().unwrap();
    let (status, body) = token_as(
        &idp,
        Some(("other", "other-secret")),
        &[("grant_type", "refresh_token"), ("refresh_token", r1)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, body) = token(
        &idp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", r1),
            ("scope", "openid admin"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    let (status, narrowed) = token(
        &idp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", r1),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{narrowed}");
    assert_eq!(narrowed["scope"], "openid");

    let expiring = builder()
        .refresh_token_ttl(std::time::Duration::from_secs(100))
        .start()
        .await
        .unwrap();
    let body = tokens(&expiring).await;
    expiring.advance_clock(std::time::Duration::from_secs(101));
    let (status, body) = token(
        &expiring,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", body["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn client_credentials_with_basic_and_post_authentication() {
    let idp = start().await;
    let (status, basic) = token(
        &idp,
        &[("grant_type", "client_credentials"), ("scope", "read")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{basic}");
    assert!(basic.get("id_token").is_none() && basic.get("refresh_token").is_none());
    assert_eq!(basic["token_type"], "Bearer");
    let (header, _) = parts(basic["access_token"].as_str().unwrap());
    assert_eq!(header["typ"], "at+jwt");
    let claims = verify(&idp, basic["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(claims["sub"], CLIENT);
    assert_eq!(claims["client_id"], CLIENT);
    assert_eq!(claims["aud"], format!("{}/api", idp.issuer()));
    assert_eq!(claims["scope"], "read");
    assert_eq!(claims["tier"], "gold");

    let (status, post) = token_as(
        &idp,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", "gw-secret"),
            ("audience", "https://orders.test"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{post}");
    let claims = verify(&idp, post["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(claims["aud"], "https://orders.test");

    let (status, body) = token_as(
        &idp,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", "nope"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );

    assert_eq!(idp.token_calls(GrantType::ClientCredentials), 3);
    assert_eq!(idp.token_calls_for(CLIENT, GrantType::ClientCredentials), 3);
    assert_eq!(
        idp.token_calls_for("other", GrantType::ClientCredentials),
        0
    );
    assert_eq!(idp.token_calls(GrantType::AuthorizationCode), 0);
}

#[tokio::test]
async fn configured_audience_and_client_claims_apply() {
    let client = ClientSpec::new("svc", "svc-secret")
        .grant_types([GrantType::ClientCredentials])
        .access_token_audience("https://api.test")
        .access_token_claims(json!({"grp": "service", "user": {"name": "robot"}}));
    let idp = builder().client(client).start().await.unwrap();
    let (status, body) = token_as(
        &idp,
        Some(("svc", "svc-secret")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let claims = verify(&idp, body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(claims["aud"], "https://api.test");
    assert_eq!(claims["grp"], "service");
    assert_eq!(claims["user"]["name"], "robot");
    assert!(claims.get("scope").is_none());
}

#[tokio::test]
async fn grant_type_rules() {
    let client = ClientSpec::new("svc", "svc-secret").grant_types([GrantType::ClientCredentials]);
    let idp = builder().client(client).start().await.unwrap();
    let svc = Some(("svc", "svc-secret"));
    let (status, body) = token_as(
        &idp,
        svc,
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
    let (status, body) = token_as(&idp, svc, &[("grant_type", "password")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );
    let (status, body) = token_as(&idp, svc, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (status, body) = token(
        &idp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "unknown"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, body) = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", "unknown"),
            ("redirect_uri", crate::REDIRECT),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn lifetimes_are_configurable() {
    let idp = builder()
        .id_token_ttl(std::time::Duration::from_secs(120))
        .access_token_ttl(std::time::Duration::from_secs(45))
        .start()
        .await
        .unwrap();
    let body = tokens(&idp).await;
    assert_eq!(body["expires_in"], 45);
    let at = parts(body["access_token"].as_str().unwrap()).1;
    assert_eq!(
        at["exp"].as_i64().unwrap() - at["iat"].as_i64().unwrap(),
        45
    );
    let id = parts(body["id_token"].as_str().unwrap()).1;
    assert_eq!(
        id["exp"].as_i64().unwrap() - id["iat"].as_i64().unwrap(),
        120
    );
}
