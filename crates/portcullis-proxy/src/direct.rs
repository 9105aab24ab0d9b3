//! Plain HTTP/1.1 upstream connections driven by the task of the client connection that uses
//! them.
//!
//! A pooled client with its own connection tasks hands each request to the connection's task
//! and the response back (two task switches, often across threads, per proxied request). Here a
//! request borrows an idle connection from its server's pool (or dials one), and the client
//! connection's task polls that connection itself: while waiting for the response head, and then
//! from the response body, until the body has been read. The connection goes back to the pool
//! when the response is complete, so an idle client holds no upstream connection.
//!
//! A pooled connection is not watched while idle: an upstream that closed it is noticed when the
//! next request borrows it, before anything is written, and that request moves to another
//! connection. A request is never sent twice once any of it may have reached the upstream.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::body::{Body, BoxError};

type Connection = http1::Connection<TokioIo<TcpStream>, Body>;

/// Why a request could not be sent; `Refused` and `TimedOut` give the request back untouched.
pub enum SendError {
    /// The connection could not be made (the request was not sent).
    Refused(std::io::Error, Request<Body>),
    /// The connection was not made within the dial timeout (the request was not sent).
    TimedOut(Request<Body>),
    /// The exchange failed after the request may have been sent.
    Failed(hyper::Error),
}

/// One upstream connection: the handle requests are sent through, and the connection itself,
/// polled by whoever holds the lease.
struct Lease {
    sender: http1::SendRequest<Body>,
    /// `None` once the connection has finished (closed or failed). Boxed: a lease moves in and
    /// out of the pool and into the response body on every request.
    conn: Option<Pin<Box<Connection>>>,
}

impl Lease {
    /// Drives the connection; false once it has ended.
    fn drive(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(conn) = self.conn.as_mut() else {
            return false;
        };
        match conn.as_mut().poll(cx) {
            Poll::Pending => true,
            Poll::Ready(result) => {
                if let Err(error) = result {
                    tracing::debug!(%error, "upstream connection ended");
                }
                self.conn = None;
                false
            }
        }
    }
}

struct Idle {
    lease: Lease,
    since: Instant,
}

/// The idle connections to one `http://` server.
pub struct DirectPool {
    address: String,
    idle: Mutex<Vec<Idle>>,
    max_idle: usize,
    idle_timeout: Duration,
    dial_timeout: Duration,
}

impl DirectPool {
    pub fn new(
        address: String,
        max_idle: usize,
        idle_timeout: Duration,
        dial_timeout: Duration,
    ) -> Self {
        Self {
            address,
            idle: Mutex::new(Vec::new()),
            max_idle,
            idle_timeout,
            dial_timeout,
        }
    }

    /// Number of idle connections in the pool.
    #[cfg(test)]
    pub fn idle_count(&self) -> usize {
        self.idle.lock().map_or(0, |idle| idle.len())
    }

    /// Sends `request` (origin-form URI, `Host` set) and returns the response head; its body
    /// drives the connection and returns it to the pool once read.
    pub async fn send(
        self: &std::sync::Arc<Self>,
        mut request: Request<Body>,
    ) -> Result<Response<Body>, SendError> {
        loop {
            let (mut lease, reused) = match self.take_idle() {
                Some(lease) => (lease, true),
                None => match self.dial().await {
                    Ok(lease) => (lease, false),
                    Err(DialError::Refused(error)) => {
                        return Err(SendError::Refused(error, request));
                    }
                    Err(DialError::TimedOut) => return Err(SendError::TimedOut(request)),
                },
            };
            // A pooled connection the upstream closed meanwhile ends here, before anything is
            // written; a fresh one is ready at once.
            let ready = std::future::poll_fn(|cx| {
                let alive = lease.drive(cx);
                match lease.sender.poll_ready(cx) {
                    Poll::Ready(result) => Poll::Ready(result.is_ok() && alive),
                    Poll::Pending if !alive => Poll::Ready(false),
                    Poll::Pending => Poll::Pending,
                }
            })
            .await;
            if !ready {
                if reused {
                    continue;
                }
                return Err(SendError::Refused(
                    std::io::Error::other("connection closed before the request was sent"),
                    request,
                ));
            }
            let mut sent = std::pin::pin!(lease.sender.try_send_request(request));
            let result = std::future::poll_fn(|cx| {
                if let Poll::Ready(result) = sent.as_mut().poll(cx) {
                    return Poll::Ready(result);
                }
                if lease.drive(cx) {
                    Poll::Pending
                } else {
                    // The connection ended: the response future now resolves with why.
                    sent.as_mut().poll(cx)
                }
            })
            .await;
            match result {
                Ok(response) => {
                    let pool = self.clone();
                    return Ok(response.map(|incoming| {
                        crate::body::stream(DirectBody {
                            incoming,
                            lease: Some(lease),
                            pool,
                        })
                    }));
                }
                Err(mut error) => match error.take_message() {
                    // Not written: safe to send on another connection.
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(SendError::Failed(error.into_error())),
                },
            }
        }
    }

    fn take_idle(&self) -> Option<Lease> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(entry) = idle.pop() {
            if entry.since.elapsed() < self.idle_timeout {
                return Some(entry.lease);
            }
            // The most recently used is on top: everything below is older still.
            idle.clear();
        }
        None
    }

    fn put_back(&self, lease: Lease) {
        if lease.conn.is_none() || !lease.sender.is_ready() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.max_idle
        {
            idle.push(Idle {
                lease,
                since: Instant::now(),
            });
        }
    }

    async fn dial(&self) -> Result<Lease, DialError> {
        let stream = match tokio::time::timeout(
            self.dial_timeout,
            TcpStream::connect(self.address.as_str()),
        )
        .await
        {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => return Err(DialError::Refused(error)),
            Err(_) => return Err(DialError::TimedOut),
        };
        let _ = stream.set_nodelay(true);
        let _ = socket2::SockRef::from(&stream)
            .set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(KEEPALIVE));
        let (sender, conn) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|error| DialError::Refused(std::io::Error::other(error)))?;
        Ok(Lease {
            sender,
            conn: Some(Box::pin(conn)),
        })
    }
}

/// TCP keep-alive probes on idle upstream connections, as the pooled client sets them.
const KEEPALIVE: Duration = Duration::from_secs(60);

enum DialError {
    Refused(std::io::Error),
    TimedOut,
}

/// A response body that drives its upstream connection and returns it to the pool once read.
struct DirectBody {
    incoming: Incoming,
    lease: Option<Lease>,
    pool: std::sync::Arc<DirectPool>,
}

impl DirectBody {
    /// The response is complete: one more turn lets the connection take the next request.
    fn finish(&mut self, cx: &mut Context<'_>) {
        if let Some(mut lease) = self.lease.take()
            && lease.drive(cx)
        {
            self.pool.put_back(lease);
        }
    }
}

impl HttpBody for DirectBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(lease) = this.lease.as_mut() {
            lease.drive(cx);
        }
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(None) => {
                this.finish(cx);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                if this.incoming.is_end_stream() {
                    this.finish(cx);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => {
                this.lease = None;
                Poll::Ready(Some(Err(error.into())))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

impl Drop for DirectBody {
    fn drop(&mut self) {
        // A body nobody reads to its end (a HEAD, 204 or 304 answer, whose body is empty) still
        // leaves a reusable connection; one dropped half-read does not, and closes.
        if self.lease.is_some() && self.incoming.is_end_stream() {
            self.finish(&mut Context::from_waker(Waker::noop()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// How the test upstream treats each connection.
    #[derive(Clone, Copy)]
    enum Upstream {
        /// Answers every request, keeping the connection open.
        KeepAlive,
        /// Answers one request, then closes the connection (without saying so).
        CloseAfterOne,
        /// Reads one request and closes without answering.
        CloseUnanswered,
    }

    struct Counts {
        connections: AtomicUsize,
        requests: AtomicUsize,
    }

    async fn upstream(mode: Upstream) -> (String, Arc<Counts>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let counts = Arc::new(Counts {
            connections: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
        });
        let seen = counts.clone();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                seen.connections.fetch_add(1, Ordering::SeqCst);
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let n = socket.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buffer.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buffer[..end]).to_string();
                            buffer.drain(..end + 4);
                            seen.requests.fetch_add(1, Ordering::SeqCst);
                            if matches!(mode, Upstream::CloseUnanswered) {
                                return;
                            }
                            let answer: &[u8] = if head.starts_with("HEAD") {
                                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"
                            } else {
                                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"
                            };
                            socket.write_all(answer).await.unwrap();
                            if matches!(mode, Upstream::CloseAfterOne) {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (address, counts)
    }

    fn pool(address: String) -> Arc<DirectPool> {
        Arc::new(DirectPool::new(
            address,
            10,
            Duration::from_secs(90),
            Duration::from_secs(5),
        ))
    }

    fn get(method: &str) -> Request<Body> {
        Request::builder()
            .method(method)
            .uri("/x")
            .header("host", "upstream")
            .body(crate::body::empty())
            .unwrap()
    }

    async fn send(pool: &Arc<DirectPool>, method: &str) -> Response<Body> {
        match pool.send(get(method)).await {
            Ok(response) => response,
            Err(_) => panic!("request failed"),
        }
    }

    #[tokio::test]
    async fn connections_are_given_back_once_the_response_is_read() {
        let (address, counts) = upstream(Upstream::KeepAlive).await;
        let pool = pool(address);
        for _ in 0..5 {
            let response = send(&pool, "GET").await;
            // While the response is being read, the connection is the request's.
            assert_eq!(pool.idle_count(), 0);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body, "hello");
            assert_eq!(pool.idle_count(), 1);
        }
        assert_eq!(counts.connections.load(Ordering::SeqCst), 1);
        assert_eq!(counts.requests.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn a_response_without_a_body_to_read_gives_its_connection_back_when_dropped() {
        let (address, counts) = upstream(Upstream::KeepAlive).await;
        let pool = pool(address);
        for _ in 0..3 {
            let response = send(&pool, "HEAD").await;
            assert!(response.body().is_end_stream());
            drop(response);
            assert_eq!(pool.idle_count(), 1);
        }
        assert_eq!(counts.connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_response_dropped_half_read_closes_its_connection() {
        let (address, counts) = upstream(Upstream::KeepAlive).await;
        let pool = pool(address);
        drop(send(&pool, "GET").await);
        assert_eq!(pool.idle_count(), 0);
        let body = send(&pool, "GET")
            .await
            .into_body()
            .collect()
            .await
            .unwrap();
        assert_eq!(body.to_bytes(), "hello");
        assert_eq!(counts.connections.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn concurrent_requests_each_get_a_connection_and_all_come_back() {
        let (address, counts) = upstream(Upstream::KeepAlive).await;
        let pool = pool(address);
        let responses = futures_util::future::join_all((0..4).map(|_| send(&pool, "GET"))).await;
        for response in responses {
            response.into_body().collect().await.unwrap();
        }
        assert_eq!(pool.idle_count(), 4);
        assert_eq!(counts.connections.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_pooled_connection_the_upstream_closed_is_replaced_before_sending() {
        let (address, counts) = upstream(Upstream::CloseAfterOne).await;
        let pool = pool(address);
        for _ in 0..3 {
            let body = send(&pool, "GET")
                .await
                .into_body()
                .collect()
                .await
                .unwrap();
            assert_eq!(body.to_bytes(), "hello");
            // Let the upstream's close reach the pooled connection's socket.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(counts.connections.load(Ordering::SeqCst), 3);
        assert_eq!(counts.requests.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_request_that_reached_the_upstream_is_not_sent_again() {
        let (address, counts) = upstream(Upstream::CloseUnanswered).await;
        let pool = pool(address);
        assert!(matches!(
            pool.send(get("GET")).await,
            Err(SendError::Failed(_))
        ));
        assert_eq!(counts.requests.load(Ordering::SeqCst), 1);
        assert_eq!(pool.idle_count(), 0);
    }

    #[tokio::test]
    async fn a_refused_connection_gives_the_request_back() {
        let unused = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = unused.local_addr().unwrap().to_string();
        drop(unused);
        let mut request = get("POST");
        request
            .headers_mut()
            .insert("x-mark", "kept".parse().unwrap());
        match pool(address).send(request).await {
            Err(SendError::Refused(_, back)) => assert_eq!(back.headers()["x-mark"], "kept"),
            _ => panic!("expected a refused connection"),
        }
    }
}
