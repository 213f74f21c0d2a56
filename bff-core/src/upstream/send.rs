//! One request to one instance of a service, written once for every
//! sender: a composed call's tries (and their retries and hedges),
//! pass-through requests plain or cached, and background renewals. It
//! makes the URI from the instance and the target, picks the service's
//! client for the protocol, sends the body whole (so an idempotent request
//! can go again on a fresh connection when a kept-alive one closed under
//! it) or streamed, and waits for the answer's head no longer than the
//! request's time, counted from when its body has gone out (a long upload
//! is not a slow service). How the exchange went is the caller's to record
//! on the attempt: only it knows what it reads of the answer.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures::StreamExt;
use http::Request;
use hyper::body::Incoming;

use super::{Attempt, Client, Upstream};

/// Which of the service's clients a request takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// Its client for HTTP calls and pass-through requests.
    Http,
    /// HTTP/2, for gRPC.
    Grpc,
    /// HTTP/1.1 only, for WebSocket upgrades.
    Http1,
}

/// A request's body.
pub(crate) enum Payload {
    /// In memory (or none): it can be sent again.
    Whole(Option<Bytes>),
    /// Streamed from the client as it arrives.
    Streamed(Body),
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// The target does not make a URI with the instance's base URL.
    #[error("`{0}` is not a valid path")]
    BadTarget(String),
    /// The connection failed, or closed before an answer.
    #[error(transparent)]
    Failed(#[from] super::Error),
    /// No answer within the request's time.
    #[error("no answer in time")]
    TimedOut,
}

impl Upstream {
    /// Sends `head` (its method and headers; the URI is made here) with
    /// `payload` to the instance of `attempt`, and waits up to `timeout`
    /// after the body went out for the answer's head; without one, the
    /// caller bounds the whole exchange itself (a composed call's try
    /// reads the body under the same clock).
    pub(crate) async fn send(
        &self,
        attempt: &Attempt<'_>,
        via: Via,
        mut head: http::request::Parts,
        target: &str,
        payload: Payload,
        timeout: Option<Duration>,
    ) -> Result<http::Response<Incoming>, SendError> {
        head.uri = attempt
            .instance()
            .uri(target)
            .map_err(|_| SendError::BadTarget(target.to_owned()))?;
        let client = self.client_for(via);
        match (payload, timeout) {
            (Payload::Whole(body), None) => Ok(client.send_replayable(head, body).await?),
            (Payload::Whole(body), Some(t)) => {
                tokio::time::timeout(t, client.send_replayable(head, body))
                    .await
                    .map_err(|_| SendError::TimedOut)?
                    .map_err(SendError::Failed)
            }
            (Payload::Streamed(body), t) => streamed(client, head, body, t).await,
        }
    }

    fn client_for(&self, via: Via) -> &Client {
        match via {
            Via::Http => &self.client,
            Via::Grpc => &self.grpc_client,
            // Started for every service a WebSocket route relays to.
            Via::Http1 => self.http1_client.as_ref().unwrap_or(&self.client),
        }
    }
}

/// Sends a request whose body streams from the client; the clock for the
/// answer starts once the body has been sent.
async fn streamed(
    client: &Client,
    head: http::request::Parts,
    body: Body,
    timeout: Option<Duration>,
) -> Result<http::Response<Incoming>, SendError> {
    let (body_sent, mut body_done) = tokio::sync::oneshot::channel::<()>();
    let mut body_sent = Some(body_sent);
    let body = body
        .into_data_stream()
        .chain(futures::stream::poll_fn(move |_| {
            if let Some(tx) = body_sent.take() {
                let _ = tx.send(());
            }
            std::task::Poll::Ready(None)
        }));
    let upstream = client.send(Request::from_parts(head, Body::from_stream(body)));
    tokio::pin!(upstream);
    let answer = tokio::select! {
        answer = &mut upstream => answer,
        // Sent, or dropped unsent because the request failed early.
        _ = &mut body_done => match timeout {
            Some(t) => tokio::time::timeout(t, &mut upstream)
                .await
                .map_err(|_| SendError::TimedOut)?,
            None => upstream.await,
        },
    };
    answer.map_err(SendError::Failed)
}
