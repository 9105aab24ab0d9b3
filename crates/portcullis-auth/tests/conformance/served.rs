//! A middleware served on a loopback port, so the provider can POST logout tokens to its
//! back-channel URL. Every request body it receives is kept, so a test can replay or alter a
//! logout token the provider really sent.

#![allow(dead_code)]

use std::sync::{Arc, Mutex, OnceLock};

use portcullis_auth::oidc::OidcMiddleware;

use crate::support::{Harness, Setup, send_request};

/// The back-channel path configured in the middleware.
pub const BACKCHANNEL_PATH: &str = "/backchannel-logout";

pub struct Served {
    /// The back-channel URL registered at the provider.
    pub url: String,
    slot: Arc<OnceLock<OidcMiddleware>>,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    http: reqwest::Client,
}

impl Served {
    /// Binds a loopback port; requests are answered 503 until [`Served::attach`].
    pub async fn start() -> Self {
        let slot: Arc<OnceLock<OidcMiddleware>> = Arc::new(OnceLock::new());
        let bodies: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (served, kept) = (Arc::clone(&slot), Arc::clone(&bodies));
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let served = Arc::clone(&served);
            let kept = Arc::clone(&kept);
            async move {
                let Some(middleware) = served.get() else {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                };
                let (mut parts, body) = request.into_parts();
                parts.headers.insert(
                    http::header::HOST,
                    http::HeaderValue::from_static(crate::support::HOST_NAME),
                );
                let bytes = http_body_util::BodyExt::collect(body)
                    .await
                    .unwrap()
                    .to_bytes();
                kept.lock().unwrap().push(bytes.to_vec());
                let body = portcullis_proxy::body::full(bytes);
                let outcome =
                    send_request(middleware, http::Request::from_parts(parts, body)).await;
                axum::http::StatusCode::from_u16(outcome.status()).unwrap()
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("http://{address}{BACKCHANNEL_PATH}"),
            slot,
            bodies,
            http: reqwest::Client::new(),
        }
    }

    /// A provider whose client has this back-channel URL, and a middleware configured with
    /// `backchannelLogoutUrl` and `extra`, served here.
    pub async fn harness(extra: &str, change: impl FnOnce(Setup) -> Setup) -> (Harness, Self) {
        let served = Self::start().await;
        let url = served.url.clone();
        let setup = Setup::new(&format!(
            "backchannelLogoutUrl: {BACKCHANNEL_PATH}\n{extra}"
        ));
        let h = change(setup)
            .client(move |c| c.backchannel_logout_uri(url))
            .start()
            .await;
        served.attach(h.middleware.clone());
        (h, served)
    }

    pub fn attach(&self, middleware: OidcMiddleware) {
        assert!(self.slot.set(middleware).is_ok(), "attached twice");
    }

    /// The `logout_token`s received so far, oldest first.
    pub fn logout_tokens(&self) -> Vec<String> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .filter_map(|body| {
                form_urlencoded::parse(body)
                    .find(|(key, _)| key == "logout_token")
                    .map(|(_, value)| value.into_owned())
            })
            .collect()
    }

    /// POSTs `logout_token=<token>` as the provider would; returns the status.
    pub async fn post_token(&self, token: &str) -> u16 {
        self.http
            .post(&self.url)
            .form(&[("logout_token", token)])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

/// The provider session (`sid`) of `user`'s latest login.
pub fn sid_of(h: &Harness, user: &str) -> String {
    h.idp
        .sessions()
        .into_iter()
        .find(|(_, name)| name == user)
        .map(|(sid, _)| sid)
        .expect("a provider session")
}

/// The status of an API call (no redirect to the provider) with the jar's cookies.
pub async fn api_status(h: &mut Harness) -> u16 {
    h.send(http::Method::GET, "/", &[("accept", "application/json")])
        .await
        .status()
}
