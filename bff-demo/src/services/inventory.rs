//! The inventory service: stock per SKU (SKUs are product ids) and warehouse.
//!
//! - `GET /inventory?skus=p-2001,p-2002` — batch lookup, array in the order given
//! - `GET /inventory/{sku}` — one SKU, 404 if unknown

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};

use super::data::{Dataset, InventoryRecord};
use super::params::{Params, id_list};
use super::problem::Problem;

pub(crate) fn routes(data: Arc<Dataset>) -> Router {
    Router::new()
        .route("/inventory", get(batch))
        .route("/inventory/{sku}", get(one))
        .with_state(data)
}

async fn batch(
    State(data): State<Arc<Dataset>>,
    Query(params): Query<Params>,
) -> Result<Json<Vec<InventoryRecord>>, Problem> {
    let skus = id_list(&params, "skus")?
        .ok_or_else(|| Problem::bad_request("query parameter skus is required"))?;
    Ok(Json(
        skus.into_iter()
            .filter_map(|sku| data.stock(sku))
            .cloned()
            .collect(),
    ))
}

async fn one(
    State(data): State<Arc<Dataset>>,
    Path(sku): Path<String>,
) -> Result<Json<InventoryRecord>, Problem> {
    data.stock(&sku)
        .cloned()
        .map(Json)
        .ok_or_else(|| Problem::not_found(format!("sku {sku} not found")))
}
