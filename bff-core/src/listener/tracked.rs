//! The byte stream of one HTTP/1 connection as hyper sees it, watched so
//! that the connection's driver knows when hyper has nothing to do: every
//! answer given, and its last read found no bytes. Then the driver can take
//! the socket back and park it (see [`super::http1`]). Bytes hyper read but
//! did not use come back with the socket and are read again first.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::takeover::Takeover;

/// What one connection's driver, its service and its stream share. Only the
/// connection's own task touches it, so relaxed loads and stores suffice.
#[derive(Default)]
pub(super) struct State {
    /// Requests handed to the service.
    called: AtomicU32,
    /// Requests whose answer (its head) the service has given.
    answered: AtomicU32,
    /// Reads that brought bytes and writes, counted, so that the driver
    /// sees whether anything moved since it last looked.
    moved: AtomicU32,
    /// Whether the last read found nothing to read.
    read_pending: AtomicBool,
    /// Set while the driver takes the socket back: hyper's closing of the
    /// stream must then leave the socket open.
    parking: AtomicBool,
    /// Where a request that became a WebSocket wants the socket sent.
    pub(super) takeover: Takeover,
}

impl State {
    pub(super) fn called(&self) {
        bump(&self.called);
    }

    pub(super) fn answered(&self) {
        bump(&self.answered);
    }

    pub(super) fn answers(&self) -> u32 {
        self.answered.load(Ordering::Relaxed)
    }

    pub(super) fn moved(&self) -> u32 {
        self.moved.load(Ordering::Relaxed)
    }

    /// Every request answered and nothing more to read.
    pub(super) fn idle(&self) -> bool {
        self.read_pending.load(Ordering::Relaxed)
            && self.called.load(Ordering::Relaxed) == self.answered.load(Ordering::Relaxed)
    }

    pub(super) fn set_parking(&self, parking: bool) {
        self.parking.store(parking, Ordering::Relaxed);
    }
}

/// A non-atomic increment: one task owns the counter.
fn bump(counter: &AtomicU32) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Relaxed,
    );
}

/// A socket with the bytes read ahead of it, reporting to a [`State`].
pub(super) struct Tracked<I> {
    io: I,
    ahead: Bytes,
    state: std::sync::Arc<State>,
}

impl<I> Tracked<I> {
    pub(super) fn new(io: I, ahead: Bytes, state: std::sync::Arc<State>) -> Self {
        Self { io, ahead, state }
    }

    /// The socket and the bytes read from it that nobody used yet.
    pub(super) fn into_parts(self) -> (I, Bytes) {
        (self.io, self.ahead)
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Tracked<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.ahead.is_empty() {
            let n = this.ahead.len().min(buf.remaining());
            buf.put_slice(&this.ahead[..n]);
            this.ahead.advance(n);
            this.state.read_pending.store(false, Ordering::Relaxed);
            bump(&this.state.moved);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        match &polled {
            Poll::Pending => this.state.read_pending.store(true, Ordering::Relaxed),
            Poll::Ready(_) => {
                this.state.read_pending.store(false, Ordering::Relaxed);
                if buf.filled().len() > before {
                    bump(&this.state.moved);
                }
            }
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Tracked<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        bump(&self.state.moved);
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        bump(&self.state.moved);
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.state.parking.load(Ordering::Relaxed) {
            // hyper closes what it believes is done; the socket stays open
            // and parked.
            return Pin::new(&mut self.io).poll_flush(cx);
        }
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
