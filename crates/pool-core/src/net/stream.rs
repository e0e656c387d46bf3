//! A byte stream that is plain TCP or TLS on either side of the proxy.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub enum Stream {
    Plain(TcpStream),
    /// sluice is the TLS server (app connections).
    Accepted(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// sluice is the TLS client (server connections).
    Connected(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    pub fn is_tls(&self) -> bool {
        !matches!(self, Stream::Plain(_))
    }

    /// Waits until a read would make progress, without holding a buffer meanwhile. TLS
    /// streams may have decrypted bytes buffered already, so they return at once.
    pub async fn readable(&self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.readable().await,
            Stream::Accepted(_) | Stream::Connected(_) => Ok(()),
        }
    }

    /// Whether an idle connection still looks usable: nothing arrived on it since it
    /// was last used (a server that went away has closed it or sent an error). The
    /// look is one non-blocking read, which costs less than a failed client query.
    /// Under TLS the socket is peeked beneath the TLS session, which consumes nothing:
    /// on an idle connection any record (an error, a close_notify) or the end of the
    /// stream means the server is done with it.
    pub fn is_quiet(&self) -> bool {
        match self {
            Stream::Plain(tcp) => {
                let mut byte = [0u8; 1];
                match tcp.try_read(&mut byte) {
                    Err(e) => e.kind() == io::ErrorKind::WouldBlock,
                    Ok(_) => false,
                }
            }
            Stream::Accepted(_) | Stream::Connected(_) => nothing_to_read(self.tcp()),
        }
    }

    /// Writes as much of `buf` as a plain TCP socket takes without waiting, and says
    /// how much that was (0 under TLS, which is left to the waiting write). Spares the
    /// timer a waiting write arms when the reply fits the socket's buffer, as most do.
    pub fn write_now(&self, buf: &[u8]) -> io::Result<usize> {
        let Stream::Plain(tcp) = self else {
            return Ok(0);
        };
        let mut written = 0;
        while written < buf.len() {
            match tcp.try_write(&buf[written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(written)
    }

    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Accepted(s) => s.get_ref().0,
            Stream::Connected(s) => s.get_ref().0,
        }
    }
}

/// Whether the socket has nothing to read (no byte, no end of stream), by a peek that
/// leaves what there is in place.
fn nothing_to_read(tcp: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    let mut buf = ReadBuf::new(&mut byte);
    // Nobody waits on an idle connection: a waker that does nothing will do.
    let mut cx = Context::from_waker(std::task::Waker::noop());
    matches!(tcp.poll_peek(&mut cx, &mut buf), Poll::Pending)
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Accepted(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Connected(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Accepted(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Connected(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Accepted(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Connected(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Accepted(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Connected(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
