//! Taking an HTTP/1 connection over once its request became something else
//! (a WebSocket). The listener drives connections itself so that it can
//! park idle ones, so hyper's own upgrade hand-off does not apply; this is
//! its replacement: the handler asks for the socket with [`Takeover`],
//! answers `101`, and receives the socket once that answer has been written.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

/// One connection's hand-off point, in the extensions of its HTTP/1.1
/// requests that ask for an `Upgrade`.
#[derive(Clone, Default)]
pub(crate) struct Takeover(Arc<Mutex<Option<oneshot::Sender<Upgraded>>>>);

impl Takeover {
    /// The connection's socket, sent once the answer to this request (which
    /// must be a `101`) has gone out. It fails when the connection ended
    /// first.
    pub(crate) fn claim(self) -> oneshot::Receiver<Upgraded> {
        let (to, from) = oneshot::channel();
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(to);
        }
        from
    }

    /// Where the socket goes, once a request has claimed it.
    pub(crate) fn claimed(&self) -> Option<oneshot::Sender<Upgraded>> {
        self.0.lock().ok()?.take()
    }
}

/// Any connection's byte stream.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// A connection taken over: the client's socket, with any bytes it sent
/// after its request read first.
pub(crate) struct Upgraded(Box<dyn Stream>);

impl Upgraded {
    pub(crate) fn new(stream: impl Stream + 'static) -> Self {
        Self(Box::new(stream))
    }
}

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
