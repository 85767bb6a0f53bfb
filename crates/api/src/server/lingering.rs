//! Lingering close: how a server refuses a request early without the client losing the
//! refusal.
//!
//! A server refusing a request from its headers (403, 413) answers before reading a
//! body it will never accept. It then closes the connection with the rest of the body still
//! arriving, and closing a socket with unread input makes the kernel send a reset: the
//! client, still writing, gets "broken pipe" or "connection reset" and often never reads
//! the 4xx that was already on its way. Web servers have long solved this by lingering:
//! after the last response they shut down their sending side, then read and discard what
//! the client still sends, within a byte and time budget, before closing.
//! [`LingeringListener`] adds exactly that to `axum::serve`; it never buffers what it
//! discards, so a hostile client costs at most the budget's bandwidth and time.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// The most a closing connection reads and discards: enough for any body a client may
/// legitimately start sending (the largest, an evaluation key, is under 64 MiB).
const LINGER_MAX_BYTES: u64 = 64 << 20;
/// The longest a closing connection waits for the client to stop sending.
const LINGER_MAX_TIME: Duration = Duration::from_secs(2);

/// A TCP listener for `axum::serve` whose connections linger on close (see the module
/// documentation).
#[derive(Debug)]
pub struct LingeringListener {
    inner: TcpListener,
}

impl LingeringListener {
    /// Wraps a bound listener; accepted connections linger on close.
    pub fn new(inner: TcpListener) -> Self {
        Self { inner }
    }
}

impl axum::serve::Listener for LingeringListener {
    type Io = LingeringClose<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // tokio's listener already retries transient accept errors with a back-off.
        let (stream, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        (LingeringClose::new(stream), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A stream whose `poll_shutdown` shuts down the sending side, then discards incoming
/// bytes until the peer closes or the budget runs out.
#[derive(Debug)]
pub struct LingeringClose<S> {
    stream: S,
    linger: Linger,
}

#[derive(Debug)]
enum Linger {
    Open,
    Draining {
        discarded: u64,
        deadline: Pin<Box<Sleep>>,
    },
    Done,
}

impl<S> LingeringClose<S> {
    /// Wraps an accepted connection, not yet closing.
    pub fn new(stream: S) -> Self {
        Self {
            stream,
            linger: Linger::Open,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for LingeringClose<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for LingeringClose<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
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

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            match &mut this.linger {
                Linger::Open => {
                    ready!(Pin::new(&mut this.stream).poll_shutdown(cx))?;
                    this.linger = Linger::Draining {
                        discarded: 0,
                        deadline: Box::pin(tokio::time::sleep(LINGER_MAX_TIME)),
                    };
                }
                Linger::Draining {
                    discarded,
                    deadline,
                } => {
                    if *discarded >= LINGER_MAX_BYTES || deadline.as_mut().poll(cx).is_ready() {
                        this.linger = Linger::Done;
                        continue;
                    }
                    let mut scratch = [0u8; 16 << 10];
                    let mut buf = ReadBuf::new(&mut scratch);
                    match ready!(Pin::new(&mut this.stream).poll_read(cx, &mut buf)) {
                        Ok(()) if !buf.filled().is_empty() => {
                            *discarded += buf.filled().len() as u64;
                        }
                        // End of input or a reset: the peer is gone, nothing to wait for.
                        _ => this.linger = Linger::Done,
                    }
                }
                Linger::Done => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn shutdown_discards_what_the_peer_still_sends_then_returns() {
        let (server, mut client) = tokio::io::duplex(1 << 10);
        let mut server = LingeringClose::new(server);
        let writer = tokio::spawn(async move {
            // Far more than the duplex buffer: the write completes only if the server
            // keeps reading after its shutdown.
            client.write_all(&vec![1u8; 1 << 20]).await.unwrap();
            client.shutdown().await.unwrap();
            let mut rest = Vec::new();
            client.read_to_end(&mut rest).await.unwrap();
            rest
        });
        server
            .write_all(b"HTTP/1.1 403 Forbidden\r\n\r\n")
            .await
            .unwrap();
        server.shutdown().await.unwrap();
        assert_eq!(writer.await.unwrap(), b"HTTP/1.1 403 Forbidden\r\n\r\n");
        assert!(matches!(server.linger, Linger::Done));
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_never_stops_sending_is_cut_off_by_the_time_budget() {
        let (server, mut client) = tokio::io::duplex(1 << 10);
        let mut server = LingeringClose::new(server);
        tokio::spawn(async move {
            while client.write_all(&[0u8; 512]).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        let started = tokio::time::Instant::now();
        server.shutdown().await.unwrap();
        let waited = started.elapsed();
        assert!(
            waited >= LINGER_MAX_TIME && waited < LINGER_MAX_TIME * 2,
            "{waited:?}"
        );
    }
}
