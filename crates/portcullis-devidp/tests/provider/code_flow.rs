//! Authorization endpoint, login form, code exchange, PKCE and userinfo.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE, WWW_AUTHENTICATE};
use serde_json::Value;

use crate::{
    CLIENT, REDIRECT, auth_url, builder, code, exchange, http, parts, pkce, query, start, token,
    token_as, tokens, verify,
};

async fn get(url: &str) -> reqwest::Response {
    http().get(url).send().await.unwrap()
}

fn location(response: &reqwest::Response) -> String {
    response.headers()[LOCATION].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn login_page_is_labelled_as_development_only() {
    let idp = start().await;
    let response = get(&auth_url(&idp, &[("login_hint", "<b>")])).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("development OpenID Provider"), "{html}");
    assert!(html.contains("never for production"));
    assert!(
        html.contains("value=\"alice\""),
        "configured users are offered"
    );
    assert!(
        html.contains("&lt;b&gt;") && !html.contains("<b>"),
        "hint is escaped"
    );
}

#[tokio::test]
async fn login_redirects_with_code_state_and_iss() {
    let idp = start().await;
    let location = idp
        .complete_login(&auth_url(&idp, &[]), "alice")
        .await
        .unwrap();
    let params = query(&location);
    assert!(location.starts_with(REDIRECT));
    assert!(params["code"].len() >= 32);
    assert_eq!(params["state"], "state-1");
    assert_eq!(params["iss"], idp.issuer());
}

#[tokio::test]
async fn code_exchange_returns_verifiable_id_and_access_tokens() {
    let idp = start().await;
    let body = tokens(&idp).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert!(body["refresh_token"].is_string());

    let id_token = body["id_token"].as_str().unwrap();
    let claims = verify(&idp, id_token).await.unwrap();
    assert_eq!(parts(id_token).0["alg"], "RS256");
    assert_eq!(claims["iss"], idp.issuer());
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], CLIENT);
    assert_eq!(claims["azp"], CLIENT);
    assert_eq!(claims["nonce"], "nonce-1");
    assert!(claims["sid"].is_string());
    assert!(claims["at_hash"].is_string());
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() == 300);
    assert_eq!(claims["grp"], "admin");
    assert_eq!(claims["user"]["name"], "Alice");
    let (_, username) = idp.sessions().into_iter().next().unwrap();
    assert_eq!(username, "alice");

    let access = body["access_token"].as_str().unwrap();
    let (header, _) = parts(access);
    assert_eq!(header["typ"], "at+jwt");
    let at = verify(&idp, access).await.unwrap();
    assert_eq!(at["iss"], idp.issuer());
    assert_eq!(at["sub"], "alice");
    assert_eq!(at["aud"], format!("{}/api", idp.issuer()));
    assert_eq!(at["client_id"], CLIENT);
    assert_eq!(at["scope"], "openid profile");
    assert!(at["jti"].is_string() && at["exp"].is_i64() && at["iat"].is_i64());
    assert_eq!(at["tier"], "gold", "client claims");
    assert_eq!(
        at["grp"], "client-grp",
        "client claims override user claims"
    );
    assert_eq!(at["user"]["level"], 9, "user claims");
    assert_eq!(at["sid"], claims["sid"]);
}

#[tokio::test]
async fn unknown_client_and_unregistered_redirect_are_not_redirected() {
    let idp = start().await;
    for extra in [
        vec![("client_id", "nobody")],
        vec![("client_id", "")],
        vec![("redirect_uri", "https://rp.test/callback/")],
        vec![("redirect_uri", "https://evil.test/callback")],
        vec![("redirect_uri", "")],
    ] {
        let response = get(&auth_url(&idp, &extra)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{extra:?}");
        assert!(response.headers().get(LOCATION).is_none(), "{extra:?}");
    }
}

#[tokio::test]
async fn invalid_requests_are_redirected_with_errors() {
    let idp = start().await;
    let cases = [
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("response_type", "")], "invalid_request"),
        (vec![("scope", "profile")], "invalid_scope"),
        (vec![("code_challenge", "short")], "invalid_request"),
        (vec![("code_challenge_method", "S256")], "invalid_request"),
        (vec![("prompt", "none login")], "invalid_request"),
    ];
    for (extra, error) in cases {
        let response = get(&auth_url(&idp, &extra)).await;
        assert_eq!(response.status(), StatusCode::FOUND, "{extra:?}");
        let params = query(&location(&response));
        assert_eq!(params["error"], error, "{extra:?}");
        assert_eq!(params["state"], "state-1");
    }
    let only_cc = portcullis_devidp::ClientSpec::new("m2m", "s")
        .redirect_uri(REDIRECT)
        .grant_types([portcullis_devidp::GrantType::ClientCredentials]);
    let idp = builder().client(only_cc).start().await.unwrap();
    let response = get(&auth_url(&idp, &[("client_id", "m2m")])).await;
    assert_eq!(query(&location(&response))["error"], "unauthorized_client");
}

#[tokio::test]
async fn prompt_none_without_session_answers_login_required() {
    let idp = start().await;
    let response = get(&auth_url(&idp, &[("prompt", "none")])).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = location(&response);
    assert!(location.starts_with(REDIRECT));
    let params = query(&location);
    assert_eq!(params["error"], "login_required");
    assert_eq!(params["state"], "state-1");
    assert!(!params.contains_key("code"));
}

/// Logs in through the form by hand and returns the provider's session cookie.
async fn browser_login(idp: &portcullis_devidp::DevIdp) -> String {
    let html = get(&auth_url(idp, &[])).await.text().await.unwrap();
    let start = html.find("name=\"txn\" value=\"").unwrap() + 18;
    let txn = &html[start..start + html[start..].find('"').unwrap()];
    let response = http()
        .post(format!("{}/login", idp.issuer()))
        .form(&[("txn", txn), ("username", "alice")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap();
    assert!(set_cookie.contains("HttpOnly"));
    set_cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn provider_session_makes_the_second_authorization_silent() {
    let idp = start().await;
    let cookie = browser_login(&idp).await;
    for prompt in ["", "none"] {
        let response = http()
            .get(auth_url(&idp, &[("prompt", prompt), ("state", "again")]))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FOUND, "prompt={prompt}");
        let params = query(&location(&response));
        assert_eq!(params["state"], "again");
        let (status, body) = exchange(&idp, &params["code"], &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(parts(body["id_token"].as_str().unwrap()).1["sub"], "alice");
    }
    let forced = http()
        .get(auth_url(&idp, &[("prompt", "login")]))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        forced.status(),
        StatusCode::OK,
        "prompt=login shows the form"
    );
}

#[tokio::test]
async fn passwords_and_unknown_users() {
    let idp = start().await;
    let url = auth_url(&idp, &[]);
    let err = idp.complete_login(&url, "bob").await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    let location = idp
        .complete_login_with_password(&url, "bob", "bob-pw")
        .await
        .unwrap();
    let (_, body) = exchange(&idp, &query(&location)["code"], &[]).await;
    assert_eq!(
        parts(body["id_token"].as_str().unwrap()).1["sub"],
        "bob-sub"
    );

    let location = idp.complete_login(&url, "carol").await.unwrap();
    let (_, body) = exchange(&idp, &query(&location)["code"], &[]).await;
    let claims = parts(body["id_token"].as_str().unwrap()).1;
    assert_eq!(
        (
            claims["sub"].as_str(),
            claims["preferred_username"].as_str()
        ),
        (Some("carol"), Some("carol"))
    );

    let strict = builder().accept_any_username(false).start().await.unwrap();
    let err = strict
        .complete_login(&auth_url(&strict, &[]), "carol")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
}

#[tokio::test]
async fn client_authentication_failures() {
    let idp = start().await;
    let code = code(&idp, &[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let (status, body) = token_as(&idp, Some((CLIENT, "wrong")), &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let response = http()
        .post(idp.token_url())
        .basic_auth("nobody", Some("x"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );

    let mut post = form.to_vec();
    post.extend([("client_id", CLIENT), ("client_secret", "wrong")]);
    let (status, body) = token_as(&idp, None, &post).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (status, body) = token_as(&idp, None, &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );

    let mut both = form.to_vec();
    both.push(("client_secret", "gw-secret"));
    let (status, body) = token(&idp, &both).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );

    // None of the refused requests spent the code.
    let (status, _) = token(&idp, &form).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn client_secret_post_redeems_a_code() {
    let idp = start().await;
    let code = code(&idp, &[]).await;
    let (status, body) = token_as(
        &idp,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", CLIENT),
            ("client_secret", "gw-secret"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn code_redirect_uri_and_client_are_bound() {
    let idp = start().await;
    let code1 = code(&idp, &[]).await;
    let (status, body) = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code1),
            ("redirect_uri", "https://rp.test/other"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let code2 = code(&idp, &[]).await;
    let (status, body) = token_as(
        &idp,
        Some(("other", "other-secret")),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code2),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn codes_are_single_use_and_reuse_revokes_the_refresh_token() {
    let idp = start().await;
    let code = code(&idp, &[]).await;
    let (status, first) = exchange(&idp, &code, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = exchange(&idp, &code, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let refresh = first["refresh_token"].as_str().unwrap();
    let (status, body) = token(
        &idp,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn codes_expire() {
    let idp = start().await;
    let code = code(&idp, &[]).await;
    idp.advance_clock(Duration::from_secs(61));
    let (status, body) = exchange(&idp, &code, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    let short = builder()
        .code_ttl(Duration::from_secs(5))
        .start()
        .await
        .unwrap();
    let code = crate::code(&short, &[]).await;
    short.advance_clock(Duration::from_secs(4));
    assert_eq!(exchange(&short, &code, &[]).await.0, StatusCode::OK);
}

#[tokio::test]
async fn pkce_s256_and_plain_are_verified() {
    let idp = start().await;
    let (verifier, challenge) = pkce();
    let s256 = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let plain = [
        ("code_challenge", verifier.as_str()),
        ("code_challenge_method", "plain"),
    ];
    let implicit_plain = [("code_challenge", verifier.as_str())];

    for params in [&s256[..], &plain[..], &implicit_plain[..]] {
        let code = code(&idp, params).await;
        let (status, body) = exchange(&idp, &code, &[("code_verifier", &verifier)]).await;
        assert_eq!(status, StatusCode::OK, "{params:?}: {body}");
    }
    let wrong = "w".repeat(43);
    for (params, verifier) in [
        (&s256[..], None),
        (&s256[..], Some(wrong.as_str())),
        (&s256[..], Some(challenge.as_str())),
        (&plain[..], Some(wrong.as_str())),
        (&[][..], Some(verifier.as_str())),
    ] {
        let code = code(&idp, params).await;
        let extra: Vec<(&str, &str)> = verifier.map(|v| ("code_verifier", v)).into_iter().collect();
        let (status, body) = exchange(&idp, &code, &extra).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "{params:?} {verifier:?}"
        );
    }
}

#[tokio::test]
async fn userinfo_answers_valid_user_tokens_only() {
    let idp = start().await;
    let body = tokens(&idp).await;
    let access = body["access_token"].as_str().unwrap();
    let info: Value = http()
        .get(idp.userinfo_url())
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], "alice");
    assert_eq!(info["grp"], "admin");
    assert_eq!(info["user"]["name"], "Alice");

    let missing = http().get(idp.userinfo_url()).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let mut tampered = access.to_owned();
    tampered.push('x');
    let (_, cc) = token(&idp, &[("grant_type", "client_credentials")]).await;
    for bad in [
        tampered.as_str(),
        "garbage",
        cc["access_token"].as_str().unwrap(),
    ] {
        let response = http()
            .post(idp.userinfo_url())
            .bearer_auth(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response.headers()[WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.contains("invalid_token"), "{challenge}");
    }
    idp.advance_clock(Duration::from_secs(301));
    let expired = http()
        .get(idp.userinfo_url())
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(idp.userinfo_calls(), 6);
}

#[tokio::test]
async fn es256_clients_get_es256_id_tokens() {
    let client = crate::gw_client().id_token_signing_alg(portcullis_devidp::Alg::ES256);
    let idp = builder().client(client).start().await.unwrap();
    let id_token = tokens(&idp).await["id_token"].as_str().unwrap().to_owned();
    let (header, _) = parts(&id_token);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(
        header["kid"],
        idp.signing_kid(portcullis_devidp::Alg::ES256)
            .unwrap()
            .as_str()
    );
    let claims = verify(&idp, &id_token).await.unwrap();
    assert_eq!(claims["sub"], "alice");
}
