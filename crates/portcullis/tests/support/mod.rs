//! Test support: an echo upstream on port 0 and a gateway started from YAML text.

#![allow(dead_code)]

pub mod binary;
pub mod nginx;
pub mod real_provider;
pub mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::Role;

pub type EchoBody = BoxBody<Bytes, hyper::Error>;

/// An upstream that answers:
/// - `/ws`: a WebSocket echo;
/// - `/stream`: the request body streamed back;
/// - `/slow`: after 3 s;
/// - anything else: JSON with the server's name, method, URI and headers.
pub struct Echo {
    pub address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Echo {
    pub async fn start(name: &'static str) -> Echo {
        Self::start_on(name, "127.0.0.1:0".parse().unwrap()).await
    }

    /// Starts on `address` (to come back on the same port after a stop).
    pub async fn start_on(name: &'static str, address: SocketAddr) -> Echo {
        let listener = TcpListener::bind(address).await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            // Connections live in this set, so stopping the server (aborting this task) also
            // closes every connection, as a killed process would.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                while connections.try_join_next().is_some() {}
                connections.spawn(async move {
                    let service = service_fn(move |request| handle(name, request));
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Echo { address, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

fn full(text: impl Into<Bytes>) -> EchoBody {
    Full::new(text.into())
        .map_err(|never| match never {})
        .boxed()
}

async fn handle(
    name: &'static str,
    mut request: Request<Incoming>,
) -> Result<Response<EchoBody>, Infallible> {
    match request.uri().path() {
        "/ws" => {
            let key = request.headers().get("sec-websocket-key").cloned().unwrap();
            let accept =
                tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
            let upgrade = hyper::upgrade::on(&mut request);
            tokio::spawn(async move {
                let upgraded = upgrade.await.unwrap();
                let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    None,
                )
                .await;
                while let Some(Ok(message)) = ws.next().await {
                    if message.is_close() {
                        break;
                    }
                    if ws.send(message).await.is_err() {
                        break;
                    }
                }
            });
            Ok(Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-accept", accept)
                .body(full(""))
                .unwrap())
        }
        "/stream" => Ok(Response::new(request.into_body().boxed())),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Ok(Response::new(full("slow")))
        }
        _ => {
            // Several values of one header are joined with ", ".
            let mut headers = serde_json::Map::new();
            for name in request.headers().keys() {
                let joined = request
                    .headers()
                    .get_all(name)
                    .iter()
                    .map(|v| v.to_str().unwrap_or(""))
                    .collect::<Vec<_>>()
                    .join(", ");
                headers.insert(name.as_str().to_owned(), serde_json::Value::String(joined));
            }
            let body = request
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes().len())
                .unwrap_or(0);
            let json = serde_json::json!({
                "server": name,
                "headers": headers,
                "body_len": body,
            });
            Ok(Response::builder()
                .header("content-type", "application/json")
                .header("connection", "keep-alive")
                .header("x-upstream", name)
                .body(full(json.to_string()))
                .unwrap())
        }
    }
}

/// The `name=value` pairs a response sets (cookies being deleted left out).
pub fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| !v.contains("Max-Age=0"))
        .filter_map(|v| v.split(';').next())
        .map(str::to_owned)
        .collect()
}

/// A client that never follows redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Starts a gateway from YAML text (entry points should use port 0).
pub async fn gateway(yaml: &str) -> portcullis::app::Running {
    let config = portcullis_config::load_str(yaml)
        .unwrap_or_else(|errors| panic!("invalid test configuration: {errors:?}"));
    portcullis::app::start(config, portcullis::app::Source::Fixed)
        .await
        .unwrap()
}

/// Waits until `check` holds, for up to six seconds; panics naming `what` otherwise.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Waits until the gateway's `/ping` answers 200 (its providers have delivered a first
/// configuration).
pub async fn until_ready(gateway: &portcullis::app::Running) {
    let ping = format!("http://{}/ping", gateway.ping_address().unwrap());
    eventually("the gateway is ready", || async {
        client()
            .get(&ping)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
}

/// A port on which nothing listens.
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}
