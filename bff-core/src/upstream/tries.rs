//! A request sent with the service's retries and hedging: each try goes to
//! an instance the request has not tried yet when there is one; a failed
//! try is retried (within the attempts, the backoff, the retry budget and
//! the deadline) when its failure says that may help; a slow try is hedged
//! by a second one to another instance, and the first success wins (the
//! slower is dropped, which cancels its request). Only requests that may be
//! sent twice are retried or hedged; the caller says which those are, and
//! what one try is.

use std::time::Duration;

use tokio::time::Instant;

use super::{Attempt, Upstream};

/// What one try came to: its result, and the service's `Retry-After` when
/// it failed.
pub(crate) type Tried<T, E> = (Result<T, E>, Option<Duration>);

/// What the tries need to know of a failure.
pub(crate) trait TryFailure {
    /// A try that failed so may succeed on another go.
    fn is_retryable(&self) -> bool;
    /// How it failed, for the log.
    fn reason(&self) -> String;
    /// The failure when no instance of the service is known.
    fn no_instance() -> Self;
}

/// How a request is tried.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sending<'a> {
    /// The name logs give the request (the call's).
    pub name: &'a str,
    /// Whether it may be sent twice (retried or hedged).
    pub safe: bool,
    /// The value of the pool's `hash_header`, if any.
    pub key: Option<&'a [u8]>,
    /// When the whole request must be done.
    pub deadline: Instant,
}

impl Upstream {
    /// Tries a request, already through the service's door, with its
    /// retries and hedging; `try_on` is one try to the given instance.
    pub(crate) async fn tries<'a, T, E, F, Fut>(
        &'a self,
        sending: Sending<'_>,
        try_on: F,
    ) -> Result<T, E>
    where
        E: TryFailure,
        F: Fn(Attempt<'a>) -> Fut,
        Fut: Future<Output = Tried<T, E>>,
    {
        let pool = &*self.pool;
        let retry = pool.retry.as_ref().filter(|_| sending.safe);
        if let Some(retry) = retry {
            retry.record_call();
        }
        let mut tries = 0;
        // Instances tried so far: a retry goes to another one when there is one.
        let mut tried: Vec<String> = Vec::new();
        loop {
            let avoid: Vec<&str> = tried.iter().map(String::as_str).collect();
            let Some(attempt) = pool.start_avoiding(sending.key, &avoid) else {
                tracing::warn!(call = %sending.name, "no instance of the service is known yet");
                return Err(E::no_instance());
            };
            let this = attempt.instance().base_url.clone();
            let hedge = pool.hedge_delay().filter(|_| sending.safe);
            let (result, retry_after) = match hedge {
                None => try_on(attempt).await,
                Some(delay) => {
                    // Both tries boxed, as hedging is rare: inline, they
                    // would triple the size of every call's future (the
                    // first try, and both inside the race).
                    let second = async {
                        tokio::time::sleep(delay).await;
                        // To another instance than the slow one, when there is one.
                        let attempt = pool.start_avoiding(sending.key, &[this.as_str()])?;
                        tracing::debug!(call = %sending.name, ?delay, "hedging a slow call");
                        Some(try_on(attempt).await)
                    };
                    Box::pin(first_success(try_on(attempt), second)).await
                }
            };
            let Err(error) = result else {
                return result;
            };
            tried.push(this);
            let Some(retry) = retry.filter(|r| tries < r.attempts() && error.is_retryable()) else {
                return Err(error);
            };
            let Some(wait) = retry.backoff(tries, retry_after) else {
                return Err(error);
            };
            // A retry that could not finish before the deadline is not worth
            // a request, nor a share of the budget.
            if Instant::now() + wait >= sending.deadline || !retry.take() {
                return Err(error);
            }
            tracing::info!(call = %sending.name, error = %error.reason(), ?wait, "retrying");
            metrics::counter!("bff_retries_total", "service" => self.name.clone()).increment(1);
            tokio::time::sleep(wait).await;
            tries += 1;
        }
    }
}

/// The first successful answer of a try and its hedge; a failure only when
/// both failed (or there was no hedge). The slower one is dropped, which
/// cancels its request.
async fn first_success<T, E>(
    first: impl Future<Output = Tried<T, E>>,
    second: impl Future<Output = Option<Tried<T, E>>>,
) -> Tried<T, E> {
    tokio::pin!(first);
    tokio::pin!(second);
    tokio::select! {
        a = &mut first => {
            if a.0.is_ok() {
                return a;
            }
            match second.await {
                Some(b) if b.0.is_ok() => b,
                _ => a,
            }
        }
        b = &mut second => match b {
            Some(b) if b.0.is_ok() => b,
            _ => first.await,
        },
    }
}
