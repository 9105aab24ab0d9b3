//! A recording reverse proxy in front of the development provider: the provider's issuer is the
//! proxy's URL, so discovery, JWKS, token and userinfo calls of the middleware all pass through
//! it and can be inspected (how the client authenticated at the token endpoint, which
//! endpoints were called). Nothing is changed on the way.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use portcullis_devidp::{DevIdp, DevIdpConfig};

use crate::support::{Harness, Setup, client, users};

/// One request that went through the proxy.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: String,
}

pub struct Recorder {
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Recorder {
    pub fn to(&self, path: &str) -> Vec<Recorded> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

/// A provider behind a recording proxy, and a middleware configured with `extra`.
pub async fn harness(extra: &str) -> (Harness, Recorder) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let idp = users(DevIdp::builder().config(DevIdpConfig::default().with_issuer(&issuer)))
        .client(client())
        .start()
        .await
        .unwrap();
    let target: SocketAddr = idp.addr();
    let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
    let kept = Arc::clone(&requests);
    let upstream = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let kept = Arc::clone(&kept);
        let upstream = upstream.clone();
        async move {
            let (parts, body) = request.into_parts();
            let bytes = http_body_util::BodyExt::collect(body)
                .await
                .unwrap()
                .to_bytes();
            kept.lock().unwrap().push(Recorded {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                authorization: parts
                    .headers
                    .get(http::header::AUTHORIZATION)
                    .map(|v| v.to_str().unwrap().to_owned()),
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
            let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let url = format!("http://{}{path_and_query}", target);
            let mut forward = upstream.request(parts.method.clone(), url).body(bytes);
            for (name, value) in &parts.headers {
                if name != http::header::HOST && name != http::header::CONTENT_LENGTH {
                    forward = forward.header(name, value);
                }
            }
            let answer = forward.send().await.unwrap();
            let mut response = axum::http::Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                if name != http::header::CONTENT_LENGTH && name != http::header::TRANSFER_ENCODING {
                    response = response.header(name, value);
                }
            }
            response
                .body(axum::body::Body::from(answer.bytes().await.unwrap()))
                .unwrap()
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let h = Harness::with_provider(idp, extra, Setup::new("").options);
    (h, Recorder { requests })
}
