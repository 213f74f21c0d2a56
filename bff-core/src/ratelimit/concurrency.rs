//! Load shedding for the whole BFF: past its limit of requests in
//! progress, requests are refused at once with `503` and `Retry-After`,
//! instead of queueing until every one of them times out. (A service's own
//! limit is checked at its door, [`crate::upstream::enter`].)

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

pub(crate) use crate::upstream::Limit;

/// Middleware: the whole BFF's limit, held until the response head is ready.
pub(crate) async fn middleware(State(limit): State<Limit>, req: Request, next: Next) -> Response {
    let Some(_permit) = limit.try_admit() else {
        metrics::counter!("bff_shed_total", "scope" => "bff").increment(1);
        return super::unavailable(&format!(
            "the BFF is at its limit of {} requests in progress; retry shortly",
            limit.max()
        ));
    };
    next.run(req).await
}
