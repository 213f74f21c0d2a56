//! The reviews service.
//!
//! - `GET /reviews?product=p-2001&limit=10&offset=0` — newest first,
//!   `{items, total, offset, limit}` (an unknown product has no reviews)
//! - `GET /reviews/summary?product=p-2001` — `{product_id, average, count, distribution}`

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::data::{Dataset, Review};
use super::params::{Page, Paging, Params, required};
use super::problem::Problem;

/// Rating statistics of one product.
#[derive(Debug, Serialize)]
struct Summary {
    product_id: String,
    /// Mean rating to two decimals, `null` without reviews.
    average: Option<f64>,
    count: usize,
    /// Number of reviews per star rating, `"1"` to `"5"`.
    distribution: BTreeMap<u8, usize>,
}

pub(crate) fn routes(data: Arc<Dataset>) -> Router {
    Router::new()
        .route("/reviews", get(list))
        .route("/reviews/summary", get(summary))
        .with_state(data)
}

async fn list(
    State(data): State<Arc<Dataset>>,
    Query(params): Query<Params>,
) -> Result<Json<Page<Review>>, Problem> {
    let product = required(&params, "product")?;
    let paging = Paging::from_params(&params, 10, 50)?;
    Ok(Json(paging.page(data.reviews_of(product))))
}

async fn summary(
    State(data): State<Arc<Dataset>>,
    Query(params): Query<Params>,
) -> Result<Json<Summary>, Problem> {
    let product = required(&params, "product")?;
    let reviews = data.reviews_of(product);
    let mut distribution: BTreeMap<u8, usize> = (1..=5).map(|stars| (stars, 0)).collect();
    for review in reviews {
        *distribution.entry(review.rating).or_default() += 1;
    }
    let sum: u32 = reviews.iter().map(|r| u32::from(r.rating)).sum();
    let average = (!reviews.is_empty())
        .then(|| (f64::from(sum) / reviews.len() as f64 * 100.0).round() / 100.0);
    Ok(Json(Summary {
        product_id: product.to_owned(),
        average,
        count: reviews.len(),
        distribution,
    }))
}
