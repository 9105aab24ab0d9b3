use super::*;
use crate::middleware::Scheme;
use http::HeaderName;

const TEST_USER: &str = "test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/";

fn config(users: &[&str]) -> BasicAuthConfig {
    BasicAuthConfig {
        users: users.iter().map(|u| (*u).to_owned()).collect(),
        users_file: None,
        secret: None,
        realm: "traefik".into(),
        header_field: None,
        remove_header: false,
    }
}

fn ctx() -> RequestContext {
    RequestContext::for_test(Scheme::Http)
}

fn request(authorization: Option<&str>) -> Request<Body> {
    let mut builder = Request::get("/");
    if let Some(value) = authorization {
        builder = builder.header("authorization", value);
    }
    builder.body(body::empty()).unwrap()
}

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

async fn run(m: &Arc<dyn Middleware>, authorization: Option<&str>) -> (Decision, RequestContext) {
    let mut c = ctx();
    let decision = m.handle(request(authorization), &mut c).await.unwrap();
    (decision, c)
}

fn assert_refused(decision: &Decision, realm: &str) {
    match decision {
        Decision::Respond(response) => {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(
                response.headers()["www-authenticate"],
                format!("Basic realm=\"{realm}\"").as_str()
            );
        }
        Decision::Forward(_) => panic!("expected a refusal"),
    }
}

#[tokio::test]
async fn a_listed_user_with_the_right_password_is_forwarded_and_logged() {
    let m = build(&config(&[TEST_USER]), None).unwrap();
    let (decision, c) = run(&m, Some(&basic("test", "test"))).await;
    let Decision::Forward(forwarded) = decision else {
        panic!("expected forward")
    };
    assert!(forwarded.headers().contains_key("authorization"));
    assert_eq!(c.username.as_deref(), Some("test"));
}

#[tokio::test]
async fn wrong_passwords_unknown_users_and_missing_credentials_get_401_with_the_realm() {
    let m = build(&config(&[TEST_USER]), None).unwrap();
    for authorization in [
        Some(basic("test", "wrong")),
        Some(basic("nobody", "test")),
        Some("Bearer abc".to_owned()),
        Some("Basic !!!".to_owned()),
        None,
    ] {
        let (decision, _) = run(&m, authorization.as_deref()).await;
        assert_refused(&decision, "traefik");
    }
    let mut custom = config(&[TEST_USER]);
    custom.realm = "staff only".into();
    let m = build(&custom, None).unwrap();
    let (decision, c) = run(&m, Some(&basic("test", "nope"))).await;
    assert_refused(&decision, "staff only");
    // As Traefik, the claimed user is logged even when refused.
    assert_eq!(c.username.as_deref(), Some("test"));
}

#[tokio::test]
async fn header_field_carries_the_user_and_remove_header_drops_authorization() {
    let mut cfg = config(&[TEST_USER]);
    cfg.header_field = Some(HeaderName::from_static("x-webauth-user"));
    cfg.remove_header = true;
    let m = build(&cfg, None).unwrap();
    let mut c = ctx();
    let mut req = request(Some(&basic("test", "test")));
    req.headers_mut()
        .insert("x-webauth-user", HeaderValue::from_static("admin"));
    let Decision::Forward(forwarded) = m.handle(req, &mut c).await.unwrap() else {
        panic!("expected forward")
    };
    assert_eq!(forwarded.headers()["x-webauth-user"], "test");
    assert!(!forwarded.headers().contains_key("authorization"));
}

#[tokio::test]
async fn users_file_is_read_and_users_take_precedence_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users");
    // `test` in the file has another password; `users` overrides it.
    std::fs::write(
        &file,
        "# comment\n\nfile:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\ntest:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n",
    )
    .unwrap();
    let mut cfg = config(&[TEST_USER]);
    cfg.users_file = Some(file);
    let m = build(&cfg, None).unwrap();
    let (decision, _) = run(&m, Some(&basic("file", "password"))).await;
    assert!(matches!(decision, Decision::Forward(_)));
    let (decision, _) = run(&m, Some(&basic("test", "test"))).await;
    assert!(matches!(decision, Decision::Forward(_)));
    let (decision, _) = run(&m, Some(&basic("test", "password"))).await;
    assert_refused(&decision, "traefik");
}

#[tokio::test]
async fn bcrypt_users_verify() {
    let line = format!("bob:{}", bcrypt::hash("hunter2", 4).unwrap());
    let m = build(&config(&[&line]), None).unwrap();
    let (decision, _) = run(&m, Some(&basic("bob", "hunter2"))).await;
    assert!(matches!(decision, Decision::Forward(_)));
    let (decision, _) = run(&m, Some(&basic("bob", "hunter3"))).await;
    assert_refused(&decision, "traefik");
}

#[test]
fn a_missing_users_file_or_a_secret_outside_kubernetes_fails_the_build() {
    let mut cfg = config(&[]);
    cfg.users_file = Some("/nonexistent/users".into());
    let error = build(&cfg, None).err().unwrap();
    assert!(
        error.starts_with("usersFile /nonexistent/users:"),
        "{error}"
    );
    let mut cfg = config(&[]);
    cfg.secret = Some("users".into());
    assert!(build(&cfg, None).is_err());
    let built = build(&cfg, Some(vec![TEST_USER.to_owned()]));
    assert!(built.is_ok());
}

fn secret(secret_type: Option<&str>, pairs: &[(&str, &str)]) -> KubernetesSecret {
    KubernetesSecret {
        secret_type: secret_type.map(str::to_owned),
        data: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect(),
    }
}

#[test]
fn secrets_are_read_as_traefik_reads_them() {
    let lines = users_from_secret(
        "s",
        &secret(
            Some("kubernetes.io/basic-auth"),
            &[("username", "user"), ("password", "password")],
        ),
    )
    .unwrap();
    assert_eq!(lines, ["user:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="]);
    let lines = users_from_secret(
        "s",
        &secret(None, &[("users", &format!("{TEST_USER}\n\n"))]),
    )
    .unwrap();
    assert_eq!(lines, [TEST_USER]);

    let refusals = [
        secret(Some("kubernetes.io/basic-auth"), &[("username", "user")]),
        secret(None, &[("a", TEST_USER), ("b", TEST_USER)]),
        secret(None, &[]),
        secret(None, &[("users", "\n\n")]),
    ];
    for refused in refusals {
        assert!(users_from_secret("s", &refused).is_err(), "{refused:?}");
    }
}
