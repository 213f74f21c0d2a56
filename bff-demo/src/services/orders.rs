//! The orders service. Seeded orders are read-only; orders created with
//! `POST /orders` live in memory until the process ends.
//!
//! - `GET /orders?customer=u-1001&status=shipped&limit=20&offset=0` — newest
//!   first, `{items, total, offset, limit}`
//! - `GET /orders/{id}` — one order, 404 if unknown
//! - `GET /orders/{id}/tracking` — `{order_id, status, carrier, code, eta, events}`
//! - `POST /orders` — `{"customer_id": "u-1001", "items": [{"product_id":
//!   "p-2001", "quantity": 1, "unit_price_cents": 14899}]}` (price optional;
//!   if given it must match the catalog, else 409) → 201 with the order and a
//!   `Location`. An `Idempotency-Key` header makes retries return the first
//!   order instead of a second one.
//! - `GET /orders/{id}/live` — a WebSocket of the order's status updates
//!   (see `live.rs`)
//! - `POST /soap/tracking` — the tracking of an order over SOAP 1.1, for
//!   older integrations (see `soap.rs`)

mod live;
mod soap;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::data::{
    DAY, Dataset, Order, OrderItem, OrderStatus, Tracking, TrackingEvent, date, rfc3339,
    shipping_warehouse, wall_clock,
};
use super::params::{Page, Paging, Params};
use super::problem::Problem;

/// Most lines an order may have.
const MAX_LINES: usize = 20;

#[derive(Clone)]
struct OrdersState {
    data: Arc<Dataset>,
    book: Arc<RwLock<OrderBook>>,
}

/// Orders created at run time, and the idempotency keys that created them.
#[derive(Default)]
struct OrderBook {
    created: Vec<Order>,
    by_key: HashMap<String, usize>,
}

#[derive(Debug, Deserialize)]
struct NewOrder {
    customer_id: String,
    items: Vec<NewItem>,
}

#[derive(Debug, Deserialize)]
struct NewItem {
    product_id: String,
    quantity: u32,
    #[serde(default)]
    unit_price_cents: Option<u64>,
}

#[derive(Debug, Serialize)]
struct TrackingView {
    order_id: String,
    status: OrderStatus,
    #[serde(flatten)]
    tracking: Tracking,
}

pub(crate) fn routes(data: Arc<Dataset>) -> Router {
    let state = OrdersState {
        data,
        book: Arc::default(),
    };
    Router::new()
        .route("/orders", get(list).post(create))
        .route("/orders/{id}", get(one))
        .route("/orders/{id}/tracking", get(tracking))
        .route("/orders/{id}/live", get(live::live))
        .route("/soap/tracking", axum::routing::post(soap::track_parcel))
        .with_state(state)
}

impl OrdersState {
    fn find(&self, id: &str) -> Option<Order> {
        if let Some(order) = self.data.order(id) {
            return Some(order.clone());
        }
        let book = self.book.read().unwrap_or_else(|p| p.into_inner());
        book.created.iter().find(|o| o.id == id).cloned()
    }

    fn find_or_404(&self, id: &str) -> Result<Order, Problem> {
        self.find(id)
            .ok_or_else(|| Problem::not_found(format!("order {id} not found")))
    }
}

async fn list(
    State(state): State<OrdersState>,
    Query(params): Query<Params>,
) -> Result<Json<Page<Order>>, Problem> {
    let paging = Paging::from_params(&params, 20, 100)?;
    let customer = params.get("customer").filter(|c| !c.is_empty());
    let status = match params.get("status").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            serde_json::from_value::<OrderStatus>(serde_json::Value::String(s.clone())).map_err(
                |_| {
                    Problem::bad_request(format!(
                        "status must be placed, packed, shipped or delivered; got {s:?}"
                    ))
                },
            )?,
        ),
    };
    let book = state.book.read().unwrap_or_else(|p| p.into_inner());
    let matching: Vec<Order> = state
        .data
        .orders
        .iter()
        .chain(&book.created)
        .rev()
        .filter(|o| customer.is_none_or(|c| o.customer_id == *c))
        .filter(|o| status.is_none_or(|s| o.status == s))
        .cloned()
        .collect();
    // Created orders are newer than every seeded one, so `rev` of the chain is newest first.
    Ok(Json(paging.page(&matching)))
}

async fn one(
    State(state): State<OrdersState>,
    Path(id): Path<String>,
) -> Result<Json<Order>, Problem> {
    state.find_or_404(&id).map(Json)
}

async fn tracking(
    State(state): State<OrdersState>,
    Path(id): Path<String>,
) -> Result<Json<TrackingView>, Problem> {
    let order = state.find_or_404(&id)?;
    Ok(Json(TrackingView {
        order_id: order.id,
        status: order.status,
        tracking: order.tracking,
    }))
}

async fn create(
    State(state): State<OrdersState>,
    headers: HeaderMap,
    body: Result<Json<NewOrder>, JsonRejection>,
) -> Result<Response, Problem> {
    let Json(new) =
        body.map_err(|rejection| Problem::new(rejection.status(), rejection.body_text()))?;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(|k| format!("{}:{k}", new.customer_id));
    let mut book = state.book.write().unwrap_or_else(|p| p.into_inner());
    if let Some(&i) = key.as_ref().and_then(|k| book.by_key.get(k)) {
        let mut response = created(book.created[i].clone());
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        return Ok(response);
    }
    let order = validate(&state.data, new)?;
    let order = Order {
        id: format!("o-{}", 50001 + state.data.orders.len() + book.created.len()),
        ..order
    };
    book.created.push(order.clone());
    if let Some(key) = key {
        let position = book.created.len() - 1;
        book.by_key.insert(key, position);
    }
    tracing::info!(order = %order.id, customer = %order.customer_id, total_cents = order.total_cents, "order created");
    Ok(created(order))
}

fn created(order: Order) -> Response {
    let location = format!("/orders/{}", order.id);
    let mut response = (StatusCode::CREATED, Json(order)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Checks a new order against users and catalog and prices it.
fn validate(data: &Dataset, new: NewOrder) -> Result<Order, Problem> {
    let customer = data
        .user(&new.customer_id)
        .ok_or_else(|| Problem::unprocessable(format!("customer {} not found", new.customer_id)))?;
    if new.items.is_empty() || new.items.len() > MAX_LINES {
        return Err(Problem::unprocessable(format!(
            "an order has 1 to {MAX_LINES} items"
        )));
    }
    let mut items = Vec::with_capacity(new.items.len());
    for item in new.items {
        let product = data.product(&item.product_id).ok_or_else(|| {
            Problem::unprocessable(format!("product {} not found", item.product_id))
        })?;
        if !(1..=99).contains(&item.quantity) {
            return Err(Problem::unprocessable(format!(
                "quantity of {} must be 1..=99",
                item.product_id
            )));
        }
        if item
            .unit_price_cents
            .is_some_and(|price| price != product.price_cents)
        {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                format!(
                    "price of {} is now {} cents",
                    product.id, product.price_cents
                ),
            ));
        }
        items.push(OrderItem {
            product_id: product.id.clone(),
            quantity: item.quantity,
            unit_price_cents: product.price_cents,
        });
    }
    let now = wall_clock();
    Ok(Order {
        id: String::new(),
        customer_id: customer.id.clone(),
        status: OrderStatus::Placed,
        total_cents: items
            .iter()
            .map(|i| i.unit_price_cents * u64::from(i.quantity))
            .sum(),
        items,
        currency: "EUR".to_owned(),
        created_at: rfc3339(now),
        warehouse: shipping_warehouse(&customer.country).to_owned(),
        tracking: Tracking {
            carrier: None,
            code: None,
            eta: date(now + 3 * DAY),
            events: vec![TrackingEvent {
                at: rfc3339(now),
                status: "placed".to_owned(),
                location: "Online".to_owned(),
                description: "Order placed".to_owned(),
            }],
        },
    })
}
