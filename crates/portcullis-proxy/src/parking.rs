//! Plain HTTP/1.1 client connections that hold no buffers while idle.
//!
//! hyper keeps an 8 KB read buffer and an 8 KB write buffer for the whole life of a connection,
//! and a keep-alive connection spends most of its life waiting for its next request: with
//! thousands of idle clients, those buffers are most of the gateway's memory. Here a connection
//! that has had no request in flight for [`PARK_AFTER`] is *parked*: hyper is told to stop after
//! the request it is on (there is none), gives the socket back with whatever it had read of a
//! next request, and is dropped with its buffers. The parked connection waits for the client's
//! next bytes without a buffer, then gets a new hyper connection that reads those bytes first.
//!
//! Protocol upgrades (WebSocket) take the socket away from hyper the same way: a request asking
//! for one carries a [`ServedUpgrade`] that receives the socket once the `101` response has been
//! written.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// How long a connection without a request in flight keeps its hyper connection, once it has
/// served a request. Short, so that the buffers dropped by parked connections are reused by the
/// connections still being served instead of piling up; long enough that a client sending its
/// requests back to back never pays for a new hyper connection.
pub const PARK_AFTER: Duration = Duration::from_millis(250);

/// Peeks at what the client sent, waiting until it sent something (0: it closed).
///
/// Unlike [`TcpStream::peek`], the wait keeps its waker in the socket's registration instead
/// of in the future: an idle connection's task, which waits here, stays a few hundred bytes
/// smaller.
pub async fn peek(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    std::future::poll_fn(|cx| stream.poll_peek(cx, &mut ReadBuf::new(buf))).await
}

/// A client socket and the bytes already read from it that hyper has not consumed.
#[derive(Debug)]
pub struct ClientStream {
    prefix: Bytes,
    stream: TcpStream,
}

impl ClientStream {
    pub fn new(stream: TcpStream) -> Self {
        Self {
            prefix: Bytes::new(),
            stream,
        }
    }

    /// Puts `read` (read from this stream but not consumed) in front of what is left to read.
    pub fn unread(&mut self, read: Bytes) {
        if read.is_empty() {
            return;
        }
        if self.prefix.is_empty() {
            self.prefix = read;
        } else {
            let mut joined = BytesMut::with_capacity(read.len() + self.prefix.len());
            joined.extend_from_slice(&read);
            joined.extend_from_slice(&self.prefix);
            self.prefix = joined.freeze();
        }
    }

    /// Waits until the client sent something; false when it closed the connection (or it
    /// failed) instead.
    pub async fn wait_for_bytes(&self) -> bool {
        if !self.prefix.is_empty() {
            return true;
        }
        let mut probe = [0u8; 1];
        matches!(peek(&self.stream, &mut probe).await, Ok(n) if n > 0)
    }
}

impl AsyncRead for ClientStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            if let Some(head) = self.prefix.get(..n) {
                buf.put_slice(head);
            }
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The socket of an upgraded request, as its `101` response left it.
pub type Upgraded = ClientStream;

/// Where a connection sends its socket once an upgrade has been answered with `101`.
#[derive(Debug, Default, Clone)]
pub struct UpgradeSlot(Arc<Mutex<Option<oneshot::Sender<Upgraded>>>>);

impl UpgradeSlot {
    /// The receiving end for a request asking for an upgrade.
    pub fn expect(&self) -> ServedUpgrade {
        let (sender, receiver) = oneshot::channel();
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(sender);
        }
        ServedUpgrade(receiver)
    }

    /// Hands `stream` to the request waiting for it; gives it back when none is (the upgrade
    /// was not answered with `101`, and the connection ended for another reason).
    pub fn deliver(&self, stream: Upgraded) -> Result<(), Upgraded> {
        let sender = self.0.lock().ok().and_then(|mut slot| slot.take());
        match sender {
            Some(sender) if !sender.is_closed() => sender.send(stream),
            _ => Err(stream),
        }
    }
}

/// The client's socket after a `101` response on a connection served with parking, in the
/// request's extensions in place of hyper's `OnUpgrade`.
#[derive(Debug)]
pub struct ServedUpgrade(oneshot::Receiver<Upgraded>);

impl ServedUpgrade {
    pub async fn socket(self) -> io::Result<Upgraded> {
        self.0
            .await
            .map_err(|_| io::Error::other("the client connection ended before the upgrade"))
    }
}

/// A request's extension slot for [`ServedUpgrade`] must be cloneable to live in
/// `http::Extensions`; it is taken out once, by the upstream call.
#[derive(Debug, Clone)]
pub struct ServedUpgradeSlot(pub Arc<Mutex<Option<ServedUpgrade>>>);

impl ServedUpgradeSlot {
    pub fn new(upgrade: ServedUpgrade) -> Self {
        Self(Arc::new(Mutex::new(Some(upgrade))))
    }

    pub fn take(&self) -> Option<ServedUpgrade> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (client, server) = tokio::join!(TcpStream::connect(address), listener.accept());
        (client.unwrap(), server.unwrap().0)
    }

    #[tokio::test]
    async fn bytes_given_back_are_read_before_the_socket() {
        let (mut client, server) = pair().await;
        let mut stream = ClientStream::new(server);
        client.write_all(b" world").await.unwrap();
        stream.unread(Bytes::from_static(b"lo"));
        stream.unread(Bytes::from_static(b"hel"));
        assert!(stream.wait_for_bytes().await);
        let mut text = vec![0u8; 11];
        stream.read_exact(&mut text).await.unwrap();
        assert_eq!(text, b"hello world");
    }

    #[tokio::test]
    async fn waiting_ends_with_the_first_byte_or_the_close() {
        let (mut client, server) = pair().await;
        let stream = ClientStream::new(server);
        client.write_all(b"G").await.unwrap();
        assert!(stream.wait_for_bytes().await);
        let (client, server) = pair().await;
        let stream = ClientStream::new(server);
        drop(client);
        assert!(!stream.wait_for_bytes().await);
    }

    #[tokio::test]
    async fn an_upgrade_nobody_waits_for_gives_the_socket_back() {
        let (_client, server) = pair().await;
        let slot = UpgradeSlot::default();
        assert!(slot.deliver(ClientStream::new(server)).is_err());
        let (_client, server) = pair().await;
        let upgrade = slot.expect();
        drop(upgrade);
        assert!(slot.deliver(ClientStream::new(server)).is_err());
        let (_client, server) = pair().await;
        let upgrade = slot.expect();
        assert!(slot.deliver(ClientStream::new(server)).is_ok());
        assert!(upgrade.socket().await.is_ok());
    }
}
