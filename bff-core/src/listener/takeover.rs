//! Taking an HTTP/1 connection over once its request became something else
//! (a WebSocket). The listener drives connections itself so that it can
//! park idle ones, so hyper's own upgrade hand-off does not apply; this is
//! its replacement: the handler asks for the socket with [`Takeover`],
//! answers `101`, and receives the socket once that answer has been written.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

use super::tracked::State;

/// In the extensions of an HTTP/1.1 request that asks for an `Upgrade`.
#[derive(Clone)]
pub(crate) struct Takeover(pub(super) Arc<State>);

impl Takeover {
    /// The connection's socket, sent once the answer to this request (which
    /// must be a `101`) has gone out. It fails when the connection ended
    /// first.
    pub(crate) fn claim(self) -> oneshot::Receiver<Upgraded> {
        let (to, from) = oneshot::channel();
        self.0.want_takeover(to);
        from
    }
}

/// Any connection's byte stream.
pub(super) trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// A connection taken over: the client's socket, with any bytes it sent
/// after its request read first.
pub(crate) struct Upgraded(pub(super) Box<dyn Stream>);

impl AsyncRead for Upgraded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}
