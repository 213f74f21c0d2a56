//! `GET /orders/{id}/live` — a WebSocket of the order's status updates. The
//! order's tracking events are sent one text message at a time, oldest
//! first, every `interval_ms` (default 1000, 10 to 60000):
//!
//! ```json
//! {"type": "status", "order_id": "o-50061", "seq": 1, "of": 5,
//!  "status": "placed", "at": "…", "location": "Online", "description": "Order placed"}
//! ```
//!
//! A delivered order then closes the connection (`1000`, `order delivered`);
//! any other order stays open, pinged every interval, until the client
//! leaves. Messages from the client are ignored. An unknown order is a
//! `404` and a request that is not a WebSocket upgrade a `426`, both before
//! any upgrade.

use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::OrdersState;
use crate::services::data::{Order, OrderStatus};
use crate::services::params::{Params, number};
use crate::services::problem::Problem;

/// Time between two messages unless the client asks for another.
const DEFAULT_INTERVAL: Duration = Duration::from_millis(1000);

pub(super) async fn live(
    State(state): State<OrdersState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let order = match state.find_or_404(&id) {
        Ok(order) => order,
        Err(problem) => return problem.into_response(),
    };
    let every = match number(&params, "interval_ms") {
        Ok(None) => DEFAULT_INTERVAL,
        Ok(Some(ms @ 10..=60_000)) => Duration::from_millis(ms as u64),
        Ok(Some(_)) => {
            return Problem::bad_request("interval_ms must be between 10 and 60000")
                .into_response();
        }
        Err(problem) => return problem.into_response(),
    };
    let Ok(upgrade) = upgrade else {
        let mut r = Problem::new(
            StatusCode::UPGRADE_REQUIRED,
            "this is a WebSocket: connect with `Upgrade: websocket`",
        )
        .into_response();
        r.headers_mut()
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        return r;
    };
    upgrade.on_upgrade(move |socket| feed(socket, order, every))
}

/// Sends the order's updates until they end or the client leaves.
async fn feed(mut socket: WebSocket, order: Order, every: Duration) {
    let events = &order.tracking.events;
    let mut updates = events.iter().enumerate().map(|(i, e)| {
        json!({
            "type": "status",
            "order_id": order.id,
            "seq": i + 1,
            "of": events.len(),
            "status": e.status,
            "at": e.at,
            "location": e.location,
            "description": e.description,
        })
    });
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let message = match updates.next() {
                    Some(update) => Message::Text(update.to_string().into()),
                    None if order.status == OrderStatus::Delivered => {
                        let bye = CloseFrame { code: 1000, reason: "order delivered".into() };
                        let _ = socket.send(Message::Close(Some(bye))).await;
                        return;
                    }
                    // Nothing new, but proxies between here and the client
                    // close connections that stay silent.
                    None => Message::Ping(Default::default()),
                };
                if socket.send(message).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_) | Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
