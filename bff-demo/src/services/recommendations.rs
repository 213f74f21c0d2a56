//! The recommendations service.
//!
//! - `GET /recommendations?user=u-1001&limit=10` — for a user: products they
//!   have not bought, `[{product_id, reason, score}]`, best first; an unknown
//!   user gets the shop's best sellers, as a real recommender would
//! - `GET /recommendations?product=p-2001&limit=10` — next to a product:
//!   frequently bought together, then similar items; 404 if unknown

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};

use super::data::{Dataset, Recommendation};
use super::params::{Paging, Params};
use super::problem::Problem;

pub(crate) fn routes(data: Arc<Dataset>) -> Router {
    Router::new()
        .route("/recommendations", get(recommendations))
        .with_state(data)
}

async fn recommendations(
    State(data): State<Arc<Dataset>>,
    Query(params): Query<Params>,
) -> Result<Json<Vec<Recommendation>>, Problem> {
    let limit = Paging::from_params(&params, 10, 50)?.limit;
    let mut found = match (non_empty(&params, "user"), non_empty(&params, "product")) {
        (Some(user), None) => match data.recommendations_by_user.get(user) {
            Some(recommendations) => recommendations.clone(),
            None => best_sellers(&data),
        },
        (None, Some(product)) => data
            .recommendations_by_product
            .get(product)
            .cloned()
            .ok_or_else(|| Problem::not_found(format!("product {product} not found")))?,
        _ => {
            return Err(Problem::bad_request(
                "give exactly one of the query parameters user or product",
            ));
        }
    };
    found.truncate(limit);
    Ok(Json(found))
}

fn non_empty<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// Well-rated products with many reviews: the fallback for strangers.
fn best_sellers(data: &Dataset) -> Vec<Recommendation> {
    let mut scored: Vec<Recommendation> = data
        .products
        .iter()
        .map(|p| {
            let popularity =
                p.rating.unwrap_or(0.0) / 5.0 * 0.7 + (p.review_count.min(14) as f64 / 14.0) * 0.29;
            Recommendation {
                product_id: p.id.clone(),
                reason: "Popular right now".to_owned(),
                score: (popularity * 1000.0).round() / 1000.0,
            }
        })
        .collect();
    scored.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.product_id.cmp(&b.product_id))
    });
    scored
}
