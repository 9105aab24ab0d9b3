//! The upstream side: round-robin services with passive health, over plain HTTP/1.1
//! connections driven by the client connection's own task ([`crate::direct`]) for `http://`
//! servers, and a pooled client (HTTP/2 over ALPN, TLS) for `https://` servers and upgrades.
//!
//! A refused connection is tried on the next server. That is only safe when the request was
//! never sent: the direct path gets the request back untouched from a failed dial; the pooled
//! client gets the body through a [`ReplayableBody`] that can be taken back as long as nobody has
//! read from it. A request is retried only if its body is untouched.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::uri::{Authority, PathAndQuery, Scheme as UriScheme};
use http::{HeaderValue, Request, Response, Uri, Version, header};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use portcullis_config::ServersTransport;
use tokio::io::copy_bidirectional;

use crate::body::{self, Body, BoxError};
use crate::direct::{DirectPool, SendError};
use crate::error::{ErrorKind, GatewayError};
use crate::forwarding;
use crate::parking::{ServedUpgrade, ServedUpgradeSlot};
use crate::tls_client;

type Connector = HttpsConnector<HttpConnector>;

/// A pooled client for one servers transport (connections are pooled per upstream authority).
#[derive(Clone)]
pub struct UpstreamClient {
    client: Client<Connector, ReplayableBody>,
    response_header_timeout: Option<Duration>,
    /// Clients of named transports made through this one, kept while their settings and the
    /// PEM files they read are unchanged, so a reload keeps their connection pools.
    named: Arc<Mutex<Vec<(TransportKey, UpstreamClient)>>>,
    /// Connection pools of the `http://` servers, by address, kept across reloads.
    direct: Arc<Mutex<HashMap<String, Arc<DirectPool>>>>,
    max_idle: usize,
    idle_timeout: Duration,
    dial_timeout: Duration,
}

/// What makes two transports' clients interchangeable: their settings and the PEM they read.
#[derive(PartialEq)]
struct TransportKey {
    transport: ServersTransport,
    pem: Vec<Vec<u8>>,
}

impl TransportKey {
    fn of(transport: &ServersTransport) -> Result<Self, String> {
        let mut pem = Vec::new();
        for source in transport.root_cas.iter().chain(
            transport
                .certificates
                .iter()
                .flat_map(|c| [&c.cert, &c.key]),
        ) {
            pem.push(source.read()?);
        }
        Ok(Self {
            transport: transport.clone(),
            pem,
        })
    }
}

impl UpstreamClient {
    /// A client following `transport`: timeouts, pool size, and TLS towards HTTPS upstreams.
    pub fn new(transport: &ServersTransport) -> Result<Self, String> {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(transport.dial_timeout));
        http.set_nodelay(true);
        http.set_keepalive(Some(Duration::from_secs(60)));
        // The TLS layer above handles `https://`; this one dials both.
        http.enforce_http(false);
        let builder = HttpsConnectorBuilder::new()
            .with_tls_config(tls_client::client_config(transport)?)
            .https_or_http();
        let builder = match tls_client::server_name(transport)? {
            Some(name) => builder.with_server_name_resolver(FixedServerNameResolver::new(name)),
            None => builder,
        };
        // HTTP/2 when the upstream offers it over ALPN, HTTP/1.1 otherwise.
        let connector = if transport.disable_http2 {
            builder.enable_http1().wrap_connector(http)
        } else {
            builder.enable_all_versions().wrap_connector(http)
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(transport.idle_conn_timeout)
            .pool_max_idle_per_host(transport.max_idle_conns_per_host)
            .build(connector);
        Ok(Self {
            client,
            response_header_timeout: transport.response_header_timeout,
            named: Arc::default(),
            direct: Arc::default(),
            max_idle: transport.max_idle_conns_per_host,
            idle_timeout: transport.idle_conn_timeout,
            dial_timeout: transport.dial_timeout,
        })
    }

    /// The pool of plain HTTP/1.1 connections to `authority`, shared by every service of this
    /// transport that names it.
    fn direct_pool(&self, authority: &Authority) -> Arc<DirectPool> {
        let address = match authority.port_u16() {
            Some(_) => authority.as_str().to_owned(),
            None => format!("{}:80", authority.as_str()),
        };
        let make = || {
            Arc::new(DirectPool::new(
                address.clone(),
                self.max_idle,
                self.idle_timeout,
                self.dial_timeout,
            ))
        };
        match self.direct.lock() {
            Ok(mut pools) => pools.entry(address.clone()).or_insert_with(make).clone(),
            Err(_) => make(),
        }
    }

    /// The client of a named transport, reused from an earlier build when nothing changed.
    pub fn for_transport(&self, transport: &ServersTransport) -> Result<Self, String> {
        let key = TransportKey::of(transport)?;
        let mut named = self
            .named
            .lock()
            .map_err(|_| "transport cache poisoned".to_owned())?;
        if let Some((_, client)) = named.iter().find(|(k, _)| *k == key) {
            return Ok(client.clone());
        }
        let client = Self::new(transport)?;
        // Bounded: transports that disappeared age out as new ones arrive.
        if named.len() >= 64 {
            named.remove(0);
        }
        named.push((key, client.clone()));
        Ok(client)
    }
}

/// A load-balanced set of upstream servers.
pub struct Service {
    name: Arc<str>,
    servers: Vec<Upstream>,
    next: AtomicUsize,
    pass_host_header: bool,
    client: UpstreamClient,
    /// Every server is `http://`: requests take the direct path unless they ask for an upgrade.
    direct: bool,
}

struct Upstream {
    scheme: UriScheme,
    authority: Authority,
    /// Path prefix of the server URL (`http://host/base` forwards `/x` to `/base/x`).
    base_path: String,
    host_header: HeaderValue,
    /// The server's pool of plain HTTP/1.1 connections (`http://` servers).
    pool: Option<Arc<DirectPool>>,
}

impl Service {
    pub fn new(
        name: &str,
        servers: &[Uri],
        pass_host_header: bool,
        client: UpstreamClient,
    ) -> Result<Self, String> {
        let mut upstreams = Vec::new();
        for uri in servers {
            let authority = uri
                .authority()
                .cloned()
                .ok_or_else(|| format!("server {uri} has no host"))?;
            let host_header = HeaderValue::from_str(authority.as_str())
                .map_err(|_| format!("server {uri} has an invalid host"))?;
            let base_path = uri.path().trim_end_matches('/').to_owned();
            let scheme = uri.scheme().cloned().unwrap_or(UriScheme::HTTP);
            let pool = (scheme == UriScheme::HTTP).then(|| client.direct_pool(&authority));
            upstreams.push(Upstream {
                scheme,
                authority,
                base_path,
                host_header,
                pool,
            });
        }
        let direct = !upstreams.is_empty() && upstreams.iter().all(|u| u.pool.is_some());
        Ok(Self {
            name: name.into(),
            servers: upstreams,
            next: AtomicUsize::new(0),
            pass_host_header,
            client,
            direct,
        })
    }

    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Sends `request` (already cleaned of hop-by-hop headers, `X-Forwarded-*` set) to one of the
    /// servers, trying the next one when a connection is refused before anything was sent.
    ///
    /// Boxed here, by path: the request's future is only as large as the path it takes (the
    /// plain HTTP/1.1 one is the smaller), and that is what every request allocates and moves.
    pub fn forward(
        &self,
        request: Request<Body>,
    ) -> BoxFuture<'_, Result<Response<Body>, GatewayError>> {
        if self.direct
            && !self.servers.is_empty()
            && !forwarding::is_upgrade_request(request.headers())
        {
            Box::pin(self.forward_direct(request))
        } else {
            Box::pin(self.forward_pooled(request))
        }
    }

    /// [`Self::forward`] through the shared client (HTTPS and HTTP/2 upstreams, upgrades).
    async fn forward_pooled(
        &self,
        mut request: Request<Body>,
    ) -> Result<Response<Body>, GatewayError> {
        if self.servers.is_empty() {
            // A Kubernetes Service whose pods are not ready yet, or a route held closed because
            // one of its resources is broken.
            return Err(GatewayError::new(
                ErrorKind::ServiceUnavailable,
                format!("service {}: no ready server", self.name),
            ));
        }
        let asks_upgrade = forwarding::is_upgrade_request(request.headers());
        let upgrade = asks_upgrade.then(|| ClientUpgrade::take(&mut request));
        let (mut parts, body) = request.into_parts();
        let slot = Arc::new(Mutex::new(Some(body)));
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut last_error = String::new();
        for attempt in 0..self.servers.len() {
            let Some(server) = self.servers.get((start + attempt) % self.servers.len()) else {
                break;
            };
            parts.uri = server.target(&parts.uri)?;
            // The pooled client decides the upstream protocol; it must not inherit HTTP/2 from
            // the client side.
            parts.version = Version::HTTP_11;
            if !self.pass_host_header {
                parts
                    .headers
                    .insert(header::HOST, server.host_header.clone());
            }
            let mut upstream_request =
                Request::from_parts(clone_parts(&parts), ReplayableBody::new(slot.clone()));
            *upstream_request.extensions_mut() = http::Extensions::new();
            let result = self
                .response_within_timeout(server, self.client.client.request(upstream_request))
                .await?;
            match result {
                Ok(response) => return self.finish(response, upgrade).await,
                Err(error) if error.is_connect() => {
                    let body_untouched = slot.lock().map(|s| s.is_some()).unwrap_or(false);
                    last_error = format!("{}: {}", server.authority, source_chain(&error));
                    tracing::warn!(service = %self.name, server = %server.authority, error = %source_chain(&error), "upstream connection failed");
                    if !body_untouched {
                        break;
                    }
                    if is_timeout(&error) && attempt + 1 == self.servers.len() {
                        return Err(self.connect_timeout(&last_error));
                    }
                }
                Err(error) => return Err(self.server_failed(server, &error)),
            }
        }
        Err(self.unreachable(&last_error))
    }

    /// [`Self::forward`] over the servers' own connection pools: the request is sent as it is,
    /// without a copy, and comes back untouched when a connection cannot be made.
    async fn forward_direct(&self, request: Request<Body>) -> Result<Response<Body>, GatewayError> {
        let (mut parts, body) = request.into_parts();
        let original = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        parts.version = Version::HTTP_11;
        parts.extensions = http::Extensions::new();
        let mut request = Request::from_parts(parts, body);
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut last_error = String::new();
        let count = self.servers.len();
        for attempt in 0..count {
            let Some(server) = self.servers.get((start + attempt) % count) else {
                break;
            };
            let Some(pool) = server.pool.as_ref() else {
                break;
            };
            *request.uri_mut() = server.origin_target(&original)?;
            if !self.pass_host_header || !request.headers().contains_key(header::HOST) {
                request
                    .headers_mut()
                    .insert(header::HOST, server.host_header.clone());
            }
            let result = self
                .response_within_timeout(server, pool.send(request))
                .await?;
            request = match result {
                Ok(response) => return self.finish_direct(response),
                Err(SendError::Refused(error, unsent)) => {
                    last_error = format!("{}: {}", server.authority, source_chain(&error));
                    tracing::warn!(service = %self.name, server = %server.authority, error = %source_chain(&error), "upstream connection failed");
                    unsent
                }
                Err(SendError::TimedOut(unsent)) => {
                    last_error = format!("{}: connect timed out", server.authority);
                    tracing::warn!(service = %self.name, server = %server.authority, "upstream connection timed out");
                    if attempt + 1 == count {
                        return Err(self.connect_timeout(&last_error));
                    }
                    unsent
                }
                Err(SendError::Failed(error)) => return Err(self.server_failed(server, &error)),
            };
        }
        Err(self.unreachable(&last_error))
    }

    /// Waits for `sent`'s response head, for at most `responseHeaderTimeout` when set.
    async fn response_within_timeout<T>(
        &self,
        server: &Upstream,
        sent: impl Future<Output = T>,
    ) -> Result<T, GatewayError> {
        match self.client.response_header_timeout {
            Some(limit) => tokio::time::timeout(limit, sent).await.map_err(|_| {
                GatewayError::timeout(format!(
                    "service {}: no response from {} within {limit:?}",
                    self.name, server.authority
                ))
            }),
            None => Ok(sent.await),
        }
    }

    /// The last server could not be connected to in time.
    fn connect_timeout(&self, last_error: &str) -> GatewayError {
        GatewayError::timeout(format!(
            "service {}: connect timeout: {last_error}",
            self.name
        ))
    }

    /// `server` took the request and then failed it: not retried.
    fn server_failed(
        &self,
        server: &Upstream,
        error: &(dyn std::error::Error + 'static),
    ) -> GatewayError {
        GatewayError::bad_gateway(format!(
            "service {}: {}: {}",
            self.name,
            server.authority,
            source_chain(error)
        ))
    }

    /// No server could be connected to.
    fn unreachable(&self, last_error: &str) -> GatewayError {
        GatewayError::bad_gateway(format!(
            "service {}: no server reachable ({last_error})",
            self.name
        ))
    }

    fn finish_direct(&self, response: Response<Body>) -> Result<Response<Body>, GatewayError> {
        if response.status() == http::StatusCode::SWITCHING_PROTOCOLS {
            return Err(GatewayError::bad_gateway(format!(
                "service {}: upstream switched protocols without being asked",
                self.name
            )));
        }
        let (mut parts, body) = response.into_parts();
        forwarding::remove_hop_by_hop(&mut parts.headers, false);
        parts.version = Version::HTTP_11;
        Ok(Response::from_parts(parts, body))
    }

    async fn finish(
        &self,
        mut response: Response<hyper::body::Incoming>,
        client_upgrade: Option<ClientUpgrade>,
    ) -> Result<Response<Body>, GatewayError> {
        if response.status() == http::StatusCode::SWITCHING_PROTOCOLS {
            let Some(client_upgrade) = client_upgrade else {
                return Err(GatewayError::bad_gateway(format!(
                    "service {}: upstream switched protocols without being asked",
                    self.name
                )));
            };
            let upstream_upgrade = hyper::upgrade::on(&mut response);
            let name = self.name.clone();
            tokio::spawn(async move {
                let joined = match client_upgrade {
                    ClientUpgrade::Hyper(client_upgrade) => {
                        match tokio::try_join!(client_upgrade, upstream_upgrade) {
                            Ok((client, upstream)) => Ok((
                                Splice::Hyper(hyper_util::rt::TokioIo::new(client)),
                                upstream,
                            )),
                            Err(error) => Err(error.to_string()),
                        }
                    }
                    ClientUpgrade::Served(client_upgrade) => {
                        let client =
                            async { client_upgrade.socket().await.map_err(|e| e.to_string()) };
                        let upstream = async { upstream_upgrade.await.map_err(|e| e.to_string()) };
                        tokio::try_join!(client, upstream)
                            .map(|(client, upstream)| (Splice::Served(client), upstream))
                    }
                };
                let result = match joined {
                    Ok((Splice::Hyper(client), upstream)) => {
                        splice(client, upstream, &name).await;
                        Ok(())
                    }
                    Ok((Splice::Served(client), upstream)) => {
                        splice(client, upstream, &name).await;
                        Ok(())
                    }
                    Err(error) => Err(error),
                };
                if let Err(error) = result {
                    tracing::warn!(service = %name, %error, "protocol upgrade failed");
                }
            });
            let (mut parts, _) = response.into_parts();
            forwarding::remove_hop_by_hop(&mut parts.headers, true);
            return Ok(Response::from_parts(parts, body::empty()));
        }
        let (mut parts, incoming) = response.into_parts();
        forwarding::remove_hop_by_hop(&mut parts.headers, false);
        // The gateway answers in its own protocol: an HTTP/1.0 upstream must not turn the
        // client's HTTP/1.1 connection into an HTTP/1.0 one (HTTP/2 clients ignore this).
        parts.version = Version::HTTP_11;
        Ok(Response::from_parts(parts, body::stream(incoming)))
    }
}

/// The client's side of a protocol upgrade: hyper's, or the socket of a connection the
/// gateway serves with parking ([`crate::parking`]).
enum ClientUpgrade {
    Hyper(hyper::upgrade::OnUpgrade),
    Served(ServedUpgrade),
}

impl ClientUpgrade {
    fn take<B>(request: &mut Request<B>) -> Self {
        match request
            .extensions_mut()
            .remove::<ServedUpgradeSlot>()
            .and_then(|slot| slot.take())
        {
            Some(served) => Self::Served(served),
            None => Self::Hyper(hyper::upgrade::on(request)),
        }
    }
}

/// The client's side of an upgraded connection.
enum Splice {
    Hyper(hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>),
    Served(crate::parking::Upgraded),
}

/// Copies both ways between the client's and the upstream's upgraded connections until both
/// are done.
async fn splice<C>(mut client: C, upstream: hyper::upgrade::Upgraded, service: &str)
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut upstream = hyper_util::rt::TokioIo::new(upstream);
    if let Err(error) = copy_bidirectional(&mut client, &mut upstream).await {
        tracing::debug!(service, %error, "upgraded connection ended");
    }
}

impl Upstream {
    /// The origin-form target (`/base/path?query`) of a request on the direct path.
    fn origin_target(&self, original: &PathAndQuery) -> Result<Uri, GatewayError> {
        if self.base_path.is_empty() {
            return Ok(Uri::from(original.clone()));
        }
        let full =
            PathAndQuery::from_str_checked(&format!("{}{}", self.base_path, original.as_str()))?;
        Ok(Uri::from(full))
    }

    fn target(&self, original: &Uri) -> Result<Uri, GatewayError> {
        let path_and_query = original
            .path_and_query()
            .map(PathAndQuery::as_str)
            .unwrap_or("/");
        let full = if self.base_path.is_empty() {
            PathAndQuery::from_str_checked(path_and_query)
        } else {
            PathAndQuery::from_str_checked(&format!("{}{}", self.base_path, path_and_query))
        }?;
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(full)
            .build()
            .map_err(|e| GatewayError::bad_request(format!("cannot build upstream URI: {e}")))
    }
}

trait FromStrChecked: Sized {
    fn from_str_checked(text: &str) -> Result<Self, GatewayError>;
}

impl FromStrChecked for PathAndQuery {
    fn from_str_checked(text: &str) -> Result<Self, GatewayError> {
        text.parse()
            .map_err(|e| GatewayError::bad_request(format!("invalid request path: {e}")))
    }
}

fn clone_parts(parts: &http::request::Parts) -> http::request::Parts {
    let mut builder = Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.clone())
        .version(parts.version);
    if let Some(headers) = builder.headers_mut() {
        *headers = parts.headers.clone();
    }
    match builder.body(()) {
        Ok(request) => request.into_parts().0,
        Err(_) => Request::new(()).into_parts().0,
    }
}

fn is_timeout(error: &hyper_util::client::legacy::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        if e.to_string().contains("timed out") {
            return true;
        }
        source = e.source();
    }
    false
}

fn source_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// A body that stays in a shared slot until first polled, so a request whose connection failed
/// before sending can be retried with the same body.
pub struct ReplayableBody {
    slot: Arc<Mutex<Option<Body>>>,
    taken: Option<Body>,
    hint: SizeHint,
    end: bool,
}

impl ReplayableBody {
    fn new(slot: Arc<Mutex<Option<Body>>>) -> Self {
        let (hint, end) = slot
            .lock()
            .ok()
            .and_then(|s| s.as_ref().map(|b| (b.size_hint(), b.is_end_stream())))
            .unwrap_or((SizeHint::with_exact(0), true));
        Self {
            slot,
            taken: None,
            hint,
            end,
        }
    }
}

impl HttpBody for ReplayableBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.taken.is_none() {
            let body = self.slot.lock().ok().and_then(|mut s| s.take());
            match body {
                Some(body) => self.taken = Some(body),
                None => return Poll::Ready(None),
            }
        }
        match self.taken.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.taken {
            Some(body) => body.is_end_stream(),
            None => self.end,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.taken {
            Some(body) => body.size_hint(),
            None => self.hint,
        }
    }
}
