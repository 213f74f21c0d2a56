//! The service hyper calls for each request of a connection: the gateway's,
//! with what the connection knows added to the request (the client's
//! address, its TLS certificate, a way to take the connection over), and
//! each request and answer counted for the connection's driver.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::ConnectInfo;
use axum::response::Response;
use http::{Version, header};
use hyper::body::Incoming;
use tower::Service;
use tower::util::Oneshot;

use super::tracked::State;
use crate::tls::TlsConnection;

/// The gateway's service, for one connection.
#[derive(Clone)]
pub(super) struct Served<S> {
    pub(super) inner: S,
    pub(super) peer: SocketAddr,
    pub(super) tls: Option<TlsConnection>,
    pub(super) state: Arc<State>,
}

impl<S> hyper::service::Service<http::Request<Incoming>> for Served<S>
where
    S: Service<http::Request<Incoming>, Response = Response, Error = Infallible> + Clone,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Counted<Oneshot<S, http::Request<Incoming>>>;

    fn call(&self, mut req: http::Request<Incoming>) -> Self::Future {
        let extensions = req.extensions_mut();
        extensions.insert(ConnectInfo(self.peer));
        if let Some(tls) = &self.tls {
            extensions.insert(tls.clone());
        }
        if req.version() == Version::HTTP_11 && req.headers().contains_key(header::UPGRADE) {
            req.extensions_mut().insert(self.state.takeover.clone());
        }
        self.state.called();
        Counted {
            answer: Oneshot::new(self.inner.clone(), req),
            state: self.state.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// An answer being made, counted when it is ready.
    pub(super) struct Counted<F> {
        #[pin]
        answer: F,
        state: Arc<State>,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Counted<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answer = std::task::ready!(this.answer.poll(cx));
        this.state.answered();
        Poll::Ready(answer)
    }
}
