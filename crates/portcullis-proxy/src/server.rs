//! Listeners: plain and TLS entry points serving HTTP/1.1 and HTTP/2 (ALPN on TLS, prior
//! knowledge on plain TCP), with upgrades, header limits, idle timeouts, a cap on open
//! connections, and graceful shutdown that lets in-flight requests finish.
//!
//! Slow and silent clients are the cheap attack on a gateway: every connection is bounded in
//! time (read timeout before its first request, idle timeout between requests, HTTP/2 pings that
//! find dead peers) and the number of connections is bounded per entry point, beyond which new
//! ones wait in the kernel's listen backlog instead of costing memory.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use tokio::time::Instant;

use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use portcullis_config::{EntryPoint, TlsFiles};
use prometheus_client::metrics::gauge::Gauge;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_rustls::{LazyConfigAcceptor, TlsAcceptor};

use crate::gate::Gated;
use crate::gateway::{EntryPointInfo, Gateway};
use crate::hygiene::RequestPolicy;
use crate::idle::{Activity, IdleLimits, TrackedBody};
use crate::metrics::EntryPointLabels;
use crate::middleware::Scheme;
use crate::parking::{ClientStream, PARK_AFTER, ServedUpgradeSlot, UpgradeSlot};
use crate::tls_server::TlsTable;

/// Errors while setting up a listener.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("entry point {name}: cannot listen on {address}: {source}")]
    Bind {
        name: String,
        address: SocketAddr,
        source: io::Error,
    },
    #[error("entry point {name}: TLS: {message}")]
    Tls { name: String, message: String },
}

/// A bound entry point, ready to serve.
pub struct EntryPointServer {
    info: Arc<EntryPointInfo>,
    /// For TLS connections on an entry point without its own certificate (routers with `tls`).
    tls_info: Arc<EntryPointInfo>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    read_timeout: Duration,
    idle_timeout: Duration,
    grace_timeout: Duration,
    max_header_bytes: usize,
    max_connections: usize,
    http2_keep_alive_interval: Duration,
    http2_keep_alive_timeout: Duration,
}

impl EntryPointServer {
    /// Binds the entry point's address and loads its certificate.
    pub async fn bind(ep: &EntryPoint) -> Result<Self, ListenError> {
        let tls = match &ep.tls {
            Some(files) => Some(load_tls(files).map_err(|message| ListenError::Tls {
                name: ep.name.clone(),
                message,
            })?),
            None => None,
        };
        let listener = TcpListener::bind(ep.address)
            .await
            .map_err(|source| ListenError::Bind {
                name: ep.name.clone(),
                address: ep.address,
                source,
            })?;
        let local_port = listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or(ep.address.port());
        Ok(Self {
            info: Arc::new(EntryPointInfo {
                name: ep.name.as_str().into(),
                scheme: if tls.is_some() {
                    Scheme::Https
                } else {
                    Scheme::Http
                },
                local_port,
                max_header_bytes: ep.max_header_bytes,
                policy: RequestPolicy::for_entry_point(ep),
            }),
            tls_info: Arc::new(EntryPointInfo {
                name: ep.name.as_str().into(),
                scheme: Scheme::Https,
                local_port,
                max_header_bytes: ep.max_header_bytes,
                policy: RequestPolicy::for_entry_point(ep),
            }),
            listener,
            tls,
            read_timeout: ep.read_timeout,
            idle_timeout: ep.idle_timeout,
            grace_timeout: ep.grace_timeout,
            max_header_bytes: ep.max_header_bytes,
            max_connections: ep.max_connections,
            http2_keep_alive_interval: ep.http2_keep_alive_interval,
            http2_keep_alive_timeout: ep.http2_keep_alive_timeout,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// Accepts connections until `shutdown` turns true, then waits up to the grace period for
    /// open connections to finish their requests.
    pub async fn run(self, gateway: Arc<Gateway>, mut shutdown: watch::Receiver<bool>) {
        let graceful = GracefulShutdown::new();
        let builder = Arc::new(self.protocols());
        let gauge = gateway
            .metrics()
            .open_connections
            .get_or_create(&EntryPointLabels {
                entrypoint: self.info.name.to_string(),
            })
            .clone();
        let slots = Arc::new(Semaphore::new(
            self.max_connections.min(Semaphore::MAX_PERMITS),
        ));
        loop {
            // A slot first: at the cap, new connections wait in the listen backlog.
            let slot = tokio::select! {
                slot = slots.clone().acquire_owned() => slot,
                _ = crate::stopped(&mut shutdown) => break,
            };
            let Ok(slot) = slot else { break };
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                _ = crate::stopped(&mut shutdown) => break,
            };
            let (stream, peer) = match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Running out of file descriptors must not end the accept loop.
                    tracing::warn!(entry_point = %self.info.name, %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let open = OpenConnection::new(gauge.clone(), graceful.watcher(), slot);
            // The connection's own future is the task: wrapping it in another would store its
            // arguments twice for the life of the connection.
            tokio::spawn(serve_connection(
                stream,
                peer,
                builder.clone(),
                gateway.clone(),
                [self.info.clone(), self.tls_info.clone()],
                shutdown.clone(),
                open,
            ));
        }
        tracing::info!(entry_point = %self.info.name, "stopped accepting; draining connections");
        if tokio::time::timeout(self.grace_timeout, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(entry_point = %self.info.name, "grace period over; closing remaining connections");
        }
    }

    fn protocols(&self) -> Protocols {
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(self.read_timeout)
            .max_buf_size(self.max_header_bytes.max(8192))
            // A client may shut its sending side once its request is out (RFC 9112 section
            // 9.6) and still read the answer, as nginx serves it; hyper would otherwise close
            // the connection unanswered.
            .half_close(true)
            .keep_alive(true);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .keep_alive_interval(self.http2_keep_alive_interval)
            .keep_alive_timeout(self.http2_keep_alive_timeout)
            .max_header_list_size(u32::try_from(self.max_header_bytes).unwrap_or(u32::MAX));
        Protocols {
            tls: self.tls.clone(),
            http1,
            http2,
            handshake_timeout: self.read_timeout,
            idle: IdleLimits {
                first_request: self.read_timeout,
                between_requests: self.idle_timeout,
            },
            grace_timeout: self.grace_timeout,
        }
    }
}

/// How connections are served once their protocol is known.
struct Protocols {
    /// The entry point's own certificate, when it has one: every connection starts with TLS.
    tls: Option<TlsAcceptor>,
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    /// Time a client has for its TLS handshake or its first bytes.
    handshake_timeout: Duration,
    idle: IdleLimits,
    /// Time a connection closed for idleness has to say goodbye.
    grace_timeout: Duration,
}

/// The HTTP/2 connection preface starts with the reserved method `PRI`.
const HTTP2_PREFACE_START: &[u8; 4] = b"PRI ";

/// A TLS record of type handshake: the first byte of every TLS client hello.
const TLS_HANDSHAKE: u8 = 0x16;

/// What a client on an entry point without its own certificate speaks.
enum Opening {
    Http1,
    Http2,
    Tls,
}

/// Whether a plain-TCP client speaks HTTP/2 with prior knowledge, judged from its first four
/// bytes without consuming them (`None`: it sent nothing usable in time, or closed). A TLS
/// hello is told apart by its first byte, which no HTTP method starts with.
///
/// Deciding before handing the socket to hyper keeps the per-connection state to the one
/// protocol in use, and nothing is allocated for a connection that has not sent a byte yet:
/// idle connections are what a gateway holds most of.
async fn opening(stream: &TcpStream, timeout: Duration) -> Option<Opening> {
    let sniff = async {
        let mut start = [0u8; 4];
        loop {
            let n = crate::parking::peek(stream, &mut start).await.ok()?;
            let seen = start.get(..n)?;
            if n == 0 {
                return None;
            }
            if seen.first() == Some(&TLS_HANDSHAKE) {
                return Some(Opening::Tls);
            }
            if !HTTP2_PREFACE_START.starts_with(seen) {
                return Some(Opening::Http1);
            }
            if n == HTTP2_PREFACE_START.len() {
                return Some(Opening::Http2);
            }
            // A few bytes of what may be the preface: peeking again at once would spin.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(timeout, sniff).await.ok().flatten()
}

/// What an accepted connection holds until it ends: its count in the open connections gauge,
/// the watcher the entry point's drain waits for, and its slot under `maxConnections`.
struct OpenConnection {
    gauge: Gauge<i64, AtomicI64>,
    _watcher: Watcher,
    _slot: OwnedSemaphorePermit,
}

impl OpenConnection {
    fn new(gauge: Gauge<i64, AtomicI64>, watcher: Watcher, slot: OwnedSemaphorePermit) -> Self {
        gauge.inc();
        Self {
            gauge,
            _watcher: watcher,
            _slot: slot,
        }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    protocols: Arc<Protocols>,
    gateway: Arc<Gateway>,
    [info, tls_info]: [Arc<EntryPointInfo>; 2],
    mut stop: watch::Receiver<bool>,
    _open: OpenConnection,
) {
    let timeout = protocols.handshake_timeout;
    let result = match protocols.tls.clone() {
        // Boxed, like HTTP/2 below: the far more common plain HTTP/1.1 connection's task stays
        // small.
        Some(acceptor) => {
            Box::pin(async move {
                let activity = Activity::new();
                let limits = Connection::new(&activity, &protocols);
                let service = request_service(activity.clone(), gateway, info, peer, None);
                let stream = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(error)) => {
                        tracing::debug!(%peer, %error, "TLS handshake failed");
                        return Ok(());
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return Ok(());
                    }
                };
                let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                serve_http(TokioIo::new(stream), h2, &protocols, service, &limits, stop).await
            })
            .await
        }
        None => match opening(&stream, timeout).await {
            None => return,
            Some(Opening::Tls) => Box::pin(async move {
                let activity = Activity::new();
                let limits = Connection::new(&activity, &protocols);
                let table = gateway.runtime().tls().cloned();
                let service = request_service(activity.clone(), gateway, tls_info, peer, None);
                let Some(table) = table else {
                    tracing::debug!(%peer, "TLS connection refused: no certificate is configured");
                    return Ok(());
                };
                let Some(stream) = accept_by_sni(stream, &table, timeout, peer).await else {
                    return Ok(());
                };
                let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                serve_http(TokioIo::new(stream), h2, &protocols, service, &limits, stop).await
            })
            .await,
            Some(Opening::Http2) => {
                Box::pin(async move {
                    let activity = Activity::new();
                    let limits = Connection::new(&activity, &protocols);
                    let service = request_service(activity.clone(), gateway, info, peer, None);
                    let connection = protocols
                        .http2
                        .serve_connection(TokioIo::new(stream), service);
                    limits.serve(std::pin::pin!(connection), stop).await
                })
                .await
            }
            // Served here rather than in a function of its own: a value moved into an async
            // call keeps its room in the caller's future too, and this future is most of what
            // an idle client costs. The connection is parked whenever it has had no request in
            // flight for [`PARK_AFTER`]: its hyper connection, with its buffers, is dropped
            // until the client sends something again. A socket taken away by an upgrade goes
            // to the request that asked.
            Some(Opening::Http1) => {
                let activity = Activity::new();
                let limits = Connection::new(&activity, &protocols);
                let upgrades = UpgradeSlot::default();
                let service = request_service(
                    activity.clone(),
                    gateway,
                    info,
                    peer,
                    Some(upgrades.clone()),
                );
                let mut stream = ClientStream::new(stream);
                loop {
                    #[cfg(test)]
                    tests::HYPER_CONNECTIONS.with(|count| count.set(count.get() + 1));
                    let mut connection = Parkable {
                        connection: Box::new(
                            protocols
                                .http1
                                .serve_connection(TokioIo::new(stream), service.clone()),
                        ),
                        ended_before: activity.ended(),
                        parked: false,
                        draining: false,
                    };
                    // Boxed, in a statement of its own (a temporary would keep its slot in this future
                    // until the statement ends): the task of a parked connection keeps only what
                    // waiting needs.
                    let serving = Box::pin(limits.serve(Pin::new(&mut connection), stop.clone()));
                    let result = serving.await;
                    // Taken apart in a block of its own: the box hyper was moved out of is freed
                    // only when its binding ends, and what is left of hyper (its copy of the
                    // service) must not stay alive across the waits below either.
                    let (http1::Parts { io, read_buf, .. }, parked) = {
                        let Parkable {
                            connection, parked, ..
                        } = connection;
                        ((*connection).into_parts(), parked)
                    };
                    let parked = parked && result.is_ok();
                    #[cfg(test)]
                    if parked {
                        tests::PARKED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    stream = io.into_inner();
                    stream.unread(read_buf);
                    stream = match upgrades.deliver(stream) {
                        Ok(()) => break result,
                        Err(stream) => stream,
                    };
                    if !parked {
                        // hyper ended the connection (the client closed it, asked for it to close, or
                        // broke the protocol): say goodbye as hyper would have.
                        let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
                        break result;
                    }
                    let Some(deadline) = activity.idle_deadline(protocols.idle) else {
                        continue;
                    };
                    let more = tokio::select! {
                        more = stream.wait_for_bytes() => more,
                        _ = crate::stopped(&mut stop) => false,
                        _ = tokio::time::sleep_until(deadline) => false,
                    };
                    if !more {
                        break Ok(());
                    }
                }
            }
        },
    };
    if let Err(error) = result {
        tracing::debug!(%peer, error = %error, "connection ended with an error");
    }
}

/// The response future of [`request_service`].
type Responding =
    Pin<Box<dyn Future<Output = Result<hyper::Response<TrackedBody>, Infallible>> + Send>>;

/// The per-request service of a connection.
///
/// hyper keeps a slot the size of the service's future for the whole life of a connection;
/// boxing the request's work leaves a pointer there, so an idle connection does not carry the
/// middleware chain's state. On a connection served with parking (`upgrades`), a request asking
/// for a protocol upgrade carries the [`crate::parking::ServedUpgrade`] its socket will come
/// through.
fn request_service(
    activity: Arc<Activity>,
    gateway: Arc<Gateway>,
    info: Arc<EntryPointInfo>,
    peer: SocketAddr,
    upgrades: Option<UpgradeSlot>,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = hyper::Response<TrackedBody>,
    Error = Infallible,
    Future = Responding,
> + Clone
+ Unpin {
    let tracked = activity;
    service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        let in_flight = tracked.start();
        if let Some(upgrades) = &upgrades
            && crate::forwarding::is_upgrade_request(request.headers())
        {
            request
                .extensions_mut()
                .insert(ServedUpgradeSlot::new(upgrades.expect()));
        }
        let gateway = gateway.clone();
        let info = info.clone();
        Box::pin(async move {
            let response = gateway.handle(&info, peer, request).await;
            Ok::<_, Infallible>(response.map(|body| crate::body::Keeping::new(body, in_flight)))
        }) as Responding
    })
}

/// Reads the client hello, picks the certificate and TLS options for its SNI, and finishes the
/// handshake (`None`: it failed or took too long).
async fn accept_by_sni(
    stream: TcpStream,
    table: &TlsTable,
    timeout: Duration,
    peer: SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let handshake = async {
        let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream).await?;
        let sni = start.client_hello().server_name().map(str::to_owned);
        let Some(config) = table.config_for(sni.as_deref()) else {
            return Err(io::Error::other("no TLS configuration"));
        };
        start.into_stream(config).await
    };
    match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            None
        }
    }
}

/// Serves HTTP/2 or HTTP/1.1 (with upgrades) on an established TLS stream.
async fn serve_http<I, S>(
    io: I,
    h2: bool,
    protocols: &Protocols,
    service: S,
    limits: &Connection<'_>,
    stop: watch::Receiver<bool>,
) -> Result<(), hyper::Error>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = TrackedBody>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    TokioExecutor: hyper::rt::bounds::Http2ServerConnExec<S::Future, TrackedBody>,
{
    if h2 {
        limits
            .serve(
                std::pin::pin!(protocols.http2.serve_connection(io, service)),
                stop,
            )
            .await
    } else {
        let connection = protocols.http1.serve_connection(io, service);
        limits
            .serve(std::pin::pin!(connection.with_upgrades()), stop)
            .await
    }
}

/// A hyper server connection that can finish its in-flight requests and then close.
trait Drainable: Future<Output = Result<(), hyper::Error>> {
    fn drain(self: Pin<&mut Self>);

    /// Whether the connection can be parked at all.
    fn parks(&self) -> bool {
        false
    }

    /// Whether [`Self::park`] may be called now.
    fn can_park(&self, activity: &Activity) -> bool {
        let _ = activity;
        false
    }

    /// Ends the connection once it has no request in flight, keeping the client's socket.
    fn park(self: Pin<&mut Self>) {}
}

type Http1Connection<S> = http1::Connection<TokioIo<ClientStream>, S>;

/// A plain HTTP/1.1 connection that can be parked ([`crate::parking`]): polled without
/// shutting its socket down, so that the socket can be taken back once it ends.
struct Parkable<S>
where
    S: hyper::service::HttpService<hyper::body::Incoming>,
{
    connection: Box<Http1Connection<S>>,
    /// Requests the connection's earlier hyper connections had ended.
    ended_before: u64,
    parked: bool,
    draining: bool,
}

impl<S> Future for Parkable<S>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = TrackedBody> + Unpin,
    S::Future: Unpin,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Output = Result<(), hyper::Error>;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.connection.poll_without_shutdown(cx)
    }
}

impl<S> Drainable for Parkable<S>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = TrackedBody> + Unpin,
    S::Future: Unpin,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn drain(mut self: Pin<&mut Self>) {
        self.parked = false;
        self.draining = true;
        Pin::new(&mut *self.connection).graceful_shutdown();
    }

    fn parks(&self) -> bool {
        true
    }

    /// Only once this hyper connection has finished a request: before that it is not idle in
    /// hyper's eyes, and would answer the request it is reading with `Connection: close`.
    fn can_park(&self, activity: &Activity) -> bool {
        !self.parked && !self.draining && activity.ended() > self.ended_before
    }

    fn park(mut self: Pin<&mut Self>) {
        self.parked = true;
        Pin::new(&mut *self.connection).graceful_shutdown();
    }
}

impl<I, S, B> Drainable for http1::UpgradeableConnection<I, S>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn drain(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, B> Drainable for http2::Connection<I, S, TokioExecutor>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    TokioExecutor: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    fn drain(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// How long an idle connection being closed may take to say goodbye.
const IDLE_GOODBYE: Duration = Duration::from_secs(1);

/// When a connection without a request in flight is parked.
const PARK_LIMITS: IdleLimits = IdleLimits {
    first_request: PARK_AFTER,
    between_requests: PARK_AFTER,
};

/// The limits one connection is served under.
struct Connection<'a> {
    activity: &'a Activity,
    /// Where the idle limits and the grace period are read: two references are what a parked
    /// connection's task keeps, not a copy of each limit.
    protocols: &'a Protocols,
}

impl<'a> Connection<'a> {
    fn new(activity: &'a Activity, protocols: &'a Protocols) -> Self {
        Self {
            activity,
            protocols,
        }
    }

    fn idle(&self) -> IdleLimits {
        self.protocols.idle
    }
    /// Serves `connection` until it ends. Once `stop` turns true, lets its in-flight requests
    /// finish and closes it; once it has been idle for its limit, closes it the same way.
    async fn serve<C: Drainable>(
        &self,
        mut connection: Pin<&mut C>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), hyper::Error> {
        // Requests start and end without waking this loop, so it looks again at least this
        // often; a connection closes at most one tick late.
        let idle = self.idle();
        let mut tick = idle.first_request.min(idle.between_requests);
        if connection.parks() {
            // Also when a request ends, the connection is to be parked soon after.
            tick = tick.min(PARK_AFTER);
        }
        let idle = loop {
            let next_look = tokio::time::Instant::now() + tick;
            let park_at = if connection.can_park(self.activity) {
                self.activity.idle_deadline(PARK_LIMITS)
            } else {
                None
            };
            let deadline = [self.activity.idle_deadline(idle), park_at]
                .into_iter()
                .flatten()
                .fold(next_look, Instant::min);
            // Polled only when they fire, not on each of the connection's wake-ups.
            let stopping = std::pin::pin!(crate::stopped(&mut stop));
            let timer = std::pin::pin!(tokio::time::sleep_until(deadline));
            tokio::select! {
                result = connection.as_mut() => return result,
                _ = Gated::new(stopping) => break false,
                _ = Gated::new(timer) => {
                    let now = Instant::now();
                    if self
                        .activity
                        .idle_deadline(idle)
                        .is_some_and(|d| d <= now)
                    {
                        break true;
                    }
                    if connection.can_park(self.activity)
                        && self.activity.idle_deadline(PARK_LIMITS).is_some_and(|d| d <= now)
                    {
                        connection.as_mut().park();
                    }
                }
            }
        };
        connection.as_mut().drain();
        if !idle {
            return connection.await;
        }
        // A peer that ignores the goodbye of an idle connection (an HTTP/2 client that never
        // answers the closing ping) does not keep it open; one that started a request meanwhile
        // gets to finish it.
        match tokio::time::timeout(
            self.protocols.grace_timeout.min(IDLE_GOODBYE),
            connection.as_mut(),
        )
        .await
        {
            Ok(result) => result,
            Err(_) if self.activity.is_idle() => Ok(()),
            Err(_) => connection.await,
        }
    }
}

/// Loads a certificate chain and key into a TLS acceptor offering HTTP/2 and HTTP/1.1.
pub fn load_tls(files: &TlsFiles) -> Result<TlsAcceptor, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert_file)
        .map_err(|e| format!("cannot read {}: {e}", files.cert_file.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("invalid certificate in {}: {e}", files.cert_file.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", files.cert_file.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key_file).map_err(|e| {
        format!(
            "cannot read a private key from {}: {e}",
            files.key_file.display()
        )
    })?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| format!("certificate and key do not fit: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::runtime::{PluginBuilder, build_runtime};
    use crate::upstream::UpstreamClient;
    use portcullis_config::plugin::PluginConfig;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    struct NoPlugins;

    impl PluginBuilder for NoPlugins {
        fn build(
            &self,
            name: &str,
            _: &PluginConfig,
            _: Option<&str>,
        ) -> Result<Arc<dyn crate::middleware::Middleware>, portcullis_config::MiddlewareError>
        {
            Err(portcullis_config::MiddlewareError::at(
                "plugin",
                format!("no plugin {name}"),
            ))
        }
    }

    /// An upstream that answers every request with its request count on the connection, and
    /// switches `GET /ws` to an echo of whatever follows.
    async fn upstream() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut count = 0;
                    loop {
                        let mut chunk = [0u8; 4096];
                        let n = stream.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&chunk[..n]);
                        while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&seen[..end]).to_string();
                            seen.drain(..end + 4);
                            count += 1;
                            if head.starts_with("GET /ws ") {
                                stream
                                    .write_all(
                                        b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
                                    )
                                    .await
                                    .unwrap();
                                stream.write_all(&seen).await.unwrap();
                                let (mut read, mut write) = stream.split();
                                let _ = tokio::io::copy(&mut read, &mut write).await;
                                return;
                            }
                            let body = format!("request {count}");
                            let answer = format!(
                                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            stream.write_all(answer.as_bytes()).await.unwrap();
                        }
                    }
                });
            }
        });
        address
    }

    async fn gateway(upstream: SocketAddr) -> (SocketAddr, watch::Sender<bool>) {
        let yaml = format!(
            "entryPoints:\n  web: {{ address: \"127.0.0.1:0\" }}\nhttp:\n  routers:\n    all: {{ rule: \"PathPrefix(`/`)\", service: app }}\n  services:\n    app: {{ loadBalancer: {{ servers: [ {{ url: \"http://{upstream}\" }} ] }} }}\n"
        );
        let config = portcullis_config::load_str(&yaml).unwrap();
        let client = UpstreamClient::new(&config.static_config.servers_transport).unwrap();
        let runtime = build_runtime(
            &config.dynamic,
            &config.static_config.entry_points,
            &client,
            &NoPlugins,
        )
        .unwrap();
        let gateway = Arc::new(Gateway::new(runtime, None, Arc::new(Metrics::new())));
        let server = EntryPointServer::bind(&config.static_config.entry_points[0])
            .await
            .unwrap();
        let address = server.local_addr().unwrap();
        let (stop, stop_rx) = watch::channel(false);
        tokio::spawn(server.run(gateway, stop_rx));
        (address, stop)
    }

    /// Reads one response with a `content-length` body; returns its status line and body.
    async fn response(stream: &mut TcpStream) -> (String, String) {
        let mut seen = Vec::new();
        loop {
            if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&seen[..end]).to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(str::to_owned)
                    })
                    .map_or(0, |v| v.trim().parse().unwrap());
                while seen.len() < end + 4 + length {
                    let mut chunk = [0u8; 4096];
                    let n = stream.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "closed mid-body");
                    seen.extend_from_slice(&chunk[..n]);
                }
                let body = String::from_utf8_lossy(&seen[end + 4..end + 4 + length]).to_string();
                return (head.lines().next().unwrap().to_owned(), body);
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before a response");
            seen.extend_from_slice(&chunk[..n]);
        }
    }

    const GET: &[u8] = b"GET /x HTTP/1.1\r\nHost: gw\r\n\r\n";

    /// Connections parked so far, by every test of this process.
    pub(super) static PARKED: std::sync::atomic::AtomicUsize =
        std::sync::atomic::AtomicUsize::new(0);

    fn parked() -> usize {
        PARKED.load(std::sync::atomic::Ordering::SeqCst)
    }

    thread_local! {
        /// hyper connections made for client connections, by the tests of this thread (each
        /// test's gateway runs on its test's thread).
        pub(super) static HYPER_CONNECTIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// A parked connection holds no hyper connection until its client sends again: waiting
    /// makes none.
    #[tokio::test]
    async fn a_parked_connection_stays_without_hyper_until_the_client_sends() {
        let (address, _stop) = gateway(upstream().await).await;
        let mut client = TcpStream::connect(address).await.unwrap();
        client.write_all(GET).await.unwrap();
        assert_eq!(response(&mut client).await.0, "HTTP/1.1 200 OK");
        tokio::time::sleep(PARK_AFTER + Duration::from_millis(600)).await;
        let made = HYPER_CONNECTIONS.with(std::cell::Cell::get);
        assert_eq!(made, 1);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(HYPER_CONNECTIONS.with(std::cell::Cell::get), made);
        client.write_all(GET).await.unwrap();
        assert_eq!(response(&mut client).await.0, "HTTP/1.1 200 OK");
        assert_eq!(HYPER_CONNECTIONS.with(std::cell::Cell::get), made + 1);
    }

    #[tokio::test]
    async fn a_parked_connection_serves_its_next_request_on_the_same_upstream_order() {
        let (address, _stop) = gateway(upstream().await).await;
        let mut client = TcpStream::connect(address).await.unwrap();
        client.write_all(GET).await.unwrap();
        assert_eq!(response(&mut client).await.0, "HTTP/1.1 200 OK");
        // Parked meanwhile; half of the next request, a pause, then the rest.
        let before = parked();
        tokio::time::sleep(PARK_AFTER + Duration::from_millis(600)).await;
        assert!(parked() > before, "not parked");
        client.write_all(&GET[..7]).await.unwrap();
        tokio::time::sleep(PARK_AFTER + Duration::from_millis(600)).await;
        client.write_all(&GET[7..]).await.unwrap();
        let (status, body) = response(&mut client).await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        // The direct path reuses the pooled upstream connection.
        assert_eq!(body, "request 2");
        // Two pipelined requests after parking are both answered.
        tokio::time::sleep(PARK_AFTER + Duration::from_millis(600)).await;
        client.write_all(&[GET, GET].concat()).await.unwrap();
        assert_eq!(response(&mut client).await.1, "request 3");
        assert_eq!(response(&mut client).await.1, "request 4");
    }

    /// A client that shuts its sending side after its request still gets the answer, then the
    /// connection closes; so does one that does it after a parked pause.
    #[tokio::test]
    async fn a_client_that_half_closes_after_its_request_is_answered() {
        let (address, _stop) = gateway(upstream().await).await;
        for pause in [Duration::ZERO, PARK_AFTER + Duration::from_millis(600)] {
            let mut client = TcpStream::connect(address).await.unwrap();
            if !pause.is_zero() {
                client.write_all(GET).await.unwrap();
                response(&mut client).await;
                tokio::time::sleep(pause).await;
            }
            client.write_all(GET).await.unwrap();
            client.shutdown().await.unwrap();
            let (status, _) = response(&mut client).await;
            assert_eq!(status, "HTTP/1.1 200 OK", "after a pause of {pause:?}");
            let mut rest = Vec::new();
            let read =
                tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut rest)).await;
            assert!(matches!(read, Ok(Ok(0))), "{read:?}");
        }
    }

    #[tokio::test]
    async fn an_upgrade_after_parking_gets_the_client_socket() {
        let (address, _stop) = gateway(upstream().await).await;
        let mut client = TcpStream::connect(address).await.unwrap();
        client.write_all(GET).await.unwrap();
        response(&mut client).await;
        tokio::time::sleep(PARK_AFTER + Duration::from_millis(600)).await;
        client
            .write_all(b"GET /ws HTTP/1.1\r\nHost: gw\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n")
            .await
            .unwrap();
        let (status, body) = response(&mut client).await;
        assert_eq!(status, "HTTP/1.1 101 Switching Protocols", "{body}");
        client.write_all(b"ping").await.unwrap();
        let mut echoed = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(5), client.read_exact(&mut echoed))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&echoed, b"ping");
    }

    #[tokio::test]
    async fn a_parked_connection_closes_when_the_gateway_stops() {
        let (address, stop) = gateway(upstream().await).await;
        let mut client = TcpStream::connect(address).await.unwrap();
        client.write_all(GET).await.unwrap();
        response(&mut client).await;
        tokio::time::sleep(PARK_AFTER + Duration::from_millis(600)).await;
        stop.send(true).unwrap();
        let mut rest = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut rest)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    }
}
