//! The client credentials middleware against a scripted authorization server, for what the
//! development provider does not do: refusing `client_secret_basic`, opaque tokens, answers
//! without `expires_in`, and tokens whose signature or issuer is wrong.

#![cfg(test)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Request, StatusCode, header};
use portcullis_auth::client_credentials::ClientCredentialsMiddleware;
use portcullis_auth::clock::{Clock, ManualClock, SystemClock};
use portcullis_auth::test_support::TestKey;
use portcullis_auth::test_support::client_credentials as support;
use portcullis_proxy::body::Body;
use portcullis_proxy::error::GatewayError;
use portcullis_proxy::middleware::RequestContext;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request as the scripted server saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    authorization: Option<String>,
    body: String,
}

type Script = Arc<dyn Fn(&Seen, &str) -> (u16, String) + Send + Sync>;

/// A tiny HTTP/1.1 server answering each request with `script(request, own_origin)`.
struct Server {
    origin: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    async fn start(
        script: impl Fn(&Seen, &str) -> (u16, String) + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script: Script = Arc::new(script);
        let (task_seen, task_origin) = (Arc::clone(&seen), origin.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (seen, script, origin) = (
                    Arc::clone(&task_seen),
                    Arc::clone(&script),
                    task_origin.clone(),
                );
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut stream).await else {
                        return;
                    };
                    seen.lock().unwrap().push(request.clone());
                    let (status, body) = script(&request, &origin);
                    let head = format!(
                        "HTTP/1.1 {status} Scripted\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(body.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Server { origin, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    fn seen(&self, path: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Seen> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let mut length = 0;
    let mut authorization = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "authorization" => authorization = Some(value.trim().to_owned()),
                _ => {}
            }
        }
    }
    while buffer.len() < head_end + length {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    let body = String::from_utf8_lossy(&buffer[head_end..]).to_string();
    Some(Seen {
        path,
        authorization,
        body,
    })
}

/// An access token of `key` (typed `at+jwt`) carrying `claims`.
fn access_token(key: &TestKey, claims: &Value) -> String {
    key.sign_with_header(
        &json!({"alg": key.alg(), "kid": key.kid(), "typ": "at+jwt"}),
        claims,
    )
}

fn unsigned(claims: &Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none"}).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

fn token_answer(token: &str, expires_in: Option<i64>) -> (u16, String) {
    let mut answer = json!({"access_token": token, "token_type": "Bearer"});
    if let Some(seconds) = expires_in {
        answer["expires_in"] = json!(seconds);
    }
    (200, answer.to_string())
}

fn discovery(origin: &str) -> (u16, String) {
    let document = json!({
        "issuer": origin,
        "authorization_endpoint": format!("{origin}/authorize"),
        "token_endpoint": format!("{origin}/token"),
        "jwks_uri": format!("{origin}/jwks"),
    });
    (200, document.to_string())
}

fn middleware(options: Value, clock: Arc<dyn Clock>) -> ClientCredentialsMiddleware {
    support::middleware(&support::config(options), clock)
}

async fn run(
    middleware: &ClientCredentialsMiddleware,
) -> Result<(Request<Body>, RequestContext), GatewayError> {
    support::run(middleware, support::request("/api", &[])).await
}

fn authorization(request: &Request<Body>) -> &str {
    request.headers()[header::AUTHORIZATION].to_str().unwrap()
}

#[tokio::test]
async fn client_secret_post_is_used_when_basic_is_refused_and_then_remembered() {
    let server = Server::start(|seen, _| {
        if seen.authorization.is_some() {
            return (401, json!({"error": "invalid_client"}).to_string());
        }
        if seen.body.contains("client_id=svc") && seen.body.contains("client_secret=p%40ss") {
            // Lifetime 0: never cached, so every request asks again.
            return token_answer("opaque-post-token", Some(0));
        }
        (400, json!({"error": "invalid_request"}).to_string())
    })
    .await;
    let options = json!({"url": server.url("/token"), "clientID": "svc", "clientSecret": "p@ss", "audience": "api"});
    let middleware = middleware(options, Arc::new(SystemClock));
    let (upstream, _) = run(&middleware).await.unwrap();
    assert_eq!(authorization(&upstream), "Bearer opaque-post-token");
    assert_eq!(server.seen("/token").len(), 2, "basic, then post");
    assert!(server.seen("/token")[1].body.contains("audience=api"));
    assert!(
        server.seen("/token")[1]
            .body
            .contains("grant_type=client_credentials")
    );
    run(&middleware).await.unwrap();
    assert_eq!(
        server.seen("/token").len(),
        3,
        "post directly the second time"
    );
}

#[tokio::test]
async fn opaque_tokens_are_forwarded_but_cannot_feed_claims() {
    let server = Server::start(|_, _| token_answer("opaque.token", Some(300))).await;
    let url = server.url("/token");
    let plain = middleware(
        json!({"url": url, "clientID": "svc", "clientSecret": "s"}),
        Arc::new(SystemClock),
    );
    assert_eq!(
        authorization(&run(&plain).await.unwrap().0),
        "Bearer opaque.token"
    );

    for extra in [
        json!({"claims": "Equals(`grp`, `admin`)"}),
        json!({"forwardHeaders": {"X-Group": "grp"}}),
    ] {
        let mut options = json!({"url": url, "clientID": "svc", "clientSecret": "s"});
        options
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let error = run(&middleware(options, Arc::new(SystemClock)))
            .await
            .err()
            .unwrap();
        assert_eq!(error.status(), StatusCode::FORBIDDEN);
        assert!(error.cause().contains("opaque"), "{}", error.cause());
    }

    let username_only = middleware(
        json!({"url": url, "clientID": "svc", "clientSecret": "s", "usernameClaim": "sub"}),
        Arc::new(SystemClock),
    );
    let (upstream, ctx) = run(&username_only).await.unwrap();
    assert_eq!(authorization(&upstream), "Bearer opaque.token");
    assert_eq!(ctx.username, None);
    // An opaque token needs no discovery.
    assert!(server.seen("/.well-known/openid-configuration").is_empty());
}

/// An authorization server at one origin: discovery, JWKS and a token endpoint that answers
/// `token(origin)`.
async fn issuer(
    published: Vec<Value>,
    token: impl Fn(&str) -> String + Send + Sync + 'static,
    expires_in: Option<i64>,
) -> Server {
    Server::start(move |seen, origin| match seen.path.as_str() {
        "/.well-known/openid-configuration" => discovery(origin),
        "/jwks" => (200, json!({"keys": published}).to_string()),
        "/token" => token_answer(&token(origin), expires_in),
        _ => (404, "{}".into()),
    })
    .await
}

fn claims_options(server: &Server) -> Value {
    json!({
        "url": server.url("/token"), "clientID": "svc", "clientSecret": "s",
        "claims": "Equals(`grp`, `admin`)", "usernameClaim": "sub",
    })
}

#[tokio::test]
async fn tokens_of_a_trusted_issuer_are_verified_with_its_keys() {
    let key = Arc::new(TestKey::ec("k1"));
    let signer = Arc::clone(&key);
    let server = issuer(
        vec![key.jwk_json()],
        move |origin| {
            access_token(
                &signer,
                &json!({"iss": origin, "sub": "svc", "grp": "admin"}),
            )
        },
        Some(300),
    )
    .await;
    let (_, ctx) = run(&middleware(claims_options(&server), Arc::new(SystemClock)))
        .await
        .unwrap();
    assert_eq!(ctx.username.as_deref(), Some("svc"));
    assert_eq!(server.seen("/.well-known/openid-configuration").len(), 1);
    assert_eq!(server.seen("/jwks").len(), 1);
}

#[tokio::test]
async fn a_trusted_issuers_token_with_a_bad_signature_is_refused() {
    let published = TestKey::ec("k1");
    let impostor = Arc::new(TestKey::ec("k1"));
    let server = issuer(
        vec![published.jwk_json()],
        move |origin| access_token(&impostor, &json!({"iss": origin, "grp": "admin"})),
        Some(300),
    )
    .await;
    let error = run(&middleware(claims_options(&server), Arc::new(SystemClock)))
        .await
        .err()
        .unwrap();
    assert_eq!(error.status(), StatusCode::BAD_GATEWAY);
    assert!(
        error.cause().contains("cannot be trusted"),
        "{}",
        error.cause()
    );

    let unsigned_server = issuer(
        vec![published.jwk_json()],
        |origin| unsigned(&json!({"iss": origin, "grp": "admin"})),
        Some(300),
    )
    .await;
    let error = run(&middleware(
        claims_options(&unsigned_server),
        Arc::new(SystemClock),
    ))
    .await
    .err()
    .unwrap();
    assert_eq!(error.status(), StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn tokens_of_an_issuer_elsewhere_are_taken_as_the_token_endpoint_answered_them() {
    let key = Arc::new(TestKey::ec("k1"));
    let foreign = issuer(vec![], |_| String::new(), None).await;
    let foreign_origin = foreign.origin.clone();
    let signer = Arc::clone(&key);
    // Signed with a key nobody publishes, by an issuer at another origin whose discovery does
    // not name this token endpoint: its keys are not used, the answer is trusted.
    let server = issuer(
        vec![],
        move |_| {
            access_token(
                &signer,
                &json!({"iss": foreign_origin, "sub": "svc", "grp": "admin"}),
            )
        },
        Some(300),
    )
    .await;
    let (_, ctx) = run(&middleware(claims_options(&server), Arc::new(SystemClock)))
        .await
        .unwrap();
    assert_eq!(ctx.username.as_deref(), Some("svc"));
    assert_eq!(foreign.seen("/.well-known/openid-configuration").len(), 1);
    assert!(foreign.seen("/jwks").is_empty());
}

#[tokio::test]
async fn without_expires_in_the_jwt_exp_sets_the_cache_lifetime() {
    let clock = Arc::new(ManualClock::new());
    let now = clock.now();
    let key = Arc::new(TestKey::ec("k1"));
    let signer = Arc::clone(&key);
    let server = issuer(
        vec![key.jwk_json()],
        move |origin| {
            access_token(
                &signer,
                &json!({"iss": origin, "exp": now + 100, "grp": "admin"}),
            )
        },
        None,
    )
    .await;
    let middleware = middleware(claims_options(&server), clock.clone());
    run(&middleware).await.unwrap();
    clock.advance(Duration::from_secs(89));
    run(&middleware).await.unwrap();
    assert_eq!(server.seen("/token").len(), 1);
    // Past exp minus the margin (10 s): renewed.
    clock.advance(Duration::from_secs(11));
    run(&middleware).await.unwrap();
    assert_eq!(server.seen("/token").len(), 2);
}
