//! Answers for requests hyper refuses before the BFF sees them (a request
//! line it cannot parse, a head past its buffer): hyper writes a bare
//! `400`/`431` with an empty body. This wrapper of the connection's byte
//! stream recognises such an answer — a `4xx` head without the
//! `x-request-id` every answer of the BFF carries — and writes an RFC 9457
//! problem with the security headers in its place, then lets the
//! connection close as hyper intended.

use crate::error::Refusal;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection's stream, with hyper's bare refusals rewritten.
pub(super) struct Rejections<S> {
    inner: S,
    /// Bytes of a rewritten answer not yet written.
    pending: Vec<u8>,
    written: usize,
}

impl<S> Rejections<S> {
    pub(super) fn new(inner: S) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            written: 0,
        }
    }

    pub(super) fn into_inner(self) -> S {
        self.inner
    }
}

/// The problem that replaces a bare refusal, or `None` when `head` is not one.
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    let rest = head
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| head.strip_prefix(b"HTTP/1.0 "))?;
    let status = std::str::from_utf8(rest.get(..3)?).ok()?;
    if !status.starts_with('4') {
        return None;
    }
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    let lower = head[..end].to_ascii_lowercase();
    // hyper's own refusals have an empty body and no other headers than
    // these; every answer made by the BFF carries a request id and more.
    let mut lines = lower.split(|b| *b == b'\n').skip(1);
    let only_hypers = lines.all(|l| {
        l.starts_with(b"content-length: 0\r")
            || l.starts_with(b"date:")
            || l.starts_with(b"connection: close")
    });
    if !only_hypers || !lower.windows(17).any(|w| w == b"content-length: 0") {
        return None;
    }
    let refusal = match status {
        "431" => Refusal::HeadTooLarge,
        "400" => Refusal::Unparsable,
        "408" => Refusal::HeadTimeout,
        _ => return None,
    };
    let problem = refusal.problem();
    let (code, title) = (problem.status, &problem.title);
    let body = serde_json::to_string(&problem).unwrap_or_default();
    Some(
        format!(
            "HTTP/1.1 {code} {title}\r\ncontent-type: {}\r\ncontent-length: {}\r\n\
             x-content-type-options: nosniff\r\nx-frame-options: DENY\r\n\
             referrer-policy: no-referrer\r\nconnection: close\r\n\r\n{body}",
            crate::error::PROBLEM_JSON,
            body.len()
        )
        .into_bytes(),
    )
}

impl<S: AsyncWrite + Unpin> Rejections<S> {
    /// Writes what is left of a rewritten answer.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = std::task::ready!(
                Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..])
            )?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> Rejections<S> {
    /// Writes `answer` in place of the `taken` bytes hyper wrote, which
    /// count as written in full.
    fn take_over(
        &mut self,
        cx: &mut Context<'_>,
        answer: Vec<u8>,
        taken: usize,
    ) -> Poll<io::Result<usize>> {
        self.pending = answer;
        self.written = 0;
        // What is not written now goes out before anything else.
        let _ = self.drain(cx)?;
        Poll::Ready(Ok(taken))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rejections<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rejections<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.drain(cx))?;
        if let Some(answer) = replacement(buf) {
            return self.take_over(cx, answer, buf.len());
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.drain(cx))?;
        // A head hyper writes alone is the first slice; answers of the BFF
        // keep going out as they are, vectored.
        if let Some(first) = bufs.iter().find(|b| !b.is_empty())
            && let Some(answer) = replacement(first)
        {
            return self.take_over(cx, answer, bufs.iter().map(|b| b.len()).sum());
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bare_refusals_are_rewritten() {
        let bare =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let answer = String::from_utf8(replacement(bare).unwrap()).unwrap();
        assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
        assert!(answer.contains("application/problem+json"));
        assert!(answer.contains("\"status\":431"));
        let ours = b"HTTP/1.1 400 Bad Request\r\nx-request-id: 1\r\ncontent-length: 0\r\n\r\n";
        assert!(replacement(ours).is_none());
        assert!(replacement(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(replacement(b"{\"json\": \"HTTP/1.1 400 \"}").is_none());
    }
}
