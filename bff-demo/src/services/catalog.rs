//! The catalog service: products and categories.
//!
//! - `GET /products?ids=p-2001,p-2002` — batch lookup, array in the order given
//! - `GET /products?category=audio&sort=rating&limit=20&offset=0` — listing,
//!   `{items, total, offset, limit}`; `sort` is `id` (default), `name`,
//!   `price_asc`, `price_desc` or `rating`; `brand` filters too
//! - `GET /products/{id}` — one product, 404 if unknown
//! - `GET /categories` — `[{id, name, product_count}]`

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::data::{Category, Dataset, Product};
use super::params::{Paging, Params, id_list};
use super::problem::Problem;

pub(crate) fn routes(data: Arc<Dataset>) -> Router {
    Router::new()
        .route("/products", get(products))
        .route("/products/{id}", get(product))
        .route("/categories", get(categories))
        .with_state(data)
}

async fn products(
    State(data): State<Arc<Dataset>>,
    Query(params): Query<Params>,
) -> Result<Response, Problem> {
    if let Some(ids) = id_list(&params, "ids")? {
        let found: Vec<Product> = ids
            .into_iter()
            .filter_map(|id| data.product(id))
            .cloned()
            .collect();
        return Ok(Json(found).into_response());
    }
    let paging = Paging::from_params(&params, 20, 100)?;
    let category = params.get("category").filter(|c| !c.is_empty());
    let brand = params.get("brand").filter(|b| !b.is_empty());
    let mut matching: Vec<&Product> = data
        .products
        .iter()
        .filter(|p| category.is_none_or(|c| p.category == *c))
        .filter(|p| brand.is_none_or(|b| p.brand.eq_ignore_ascii_case(b)))
        .collect();
    match params.get("sort").map(String::as_str).unwrap_or("id") {
        "id" | "" => {}
        "name" => matching.sort_by(|a, b| a.name.cmp(&b.name)),
        "price_asc" => matching.sort_by_key(|p| p.price_cents),
        "price_desc" => matching.sort_by_key(|p| std::cmp::Reverse(p.price_cents)),
        "rating" => {
            matching.sort_by(|a, b| b.rating.unwrap_or(0.0).total_cmp(&a.rating.unwrap_or(0.0)))
        }
        other => {
            return Err(Problem::bad_request(format!(
                "sort must be one of id, name, price_asc, price_desc, rating; got {other:?}"
            )));
        }
    }
    Ok(Json(paging.page(&matching)).into_response())
}

async fn product(
    State(data): State<Arc<Dataset>>,
    Path(id): Path<String>,
) -> Result<Json<Product>, Problem> {
    data.product(&id)
        .cloned()
        .map(Json)
        .ok_or_else(|| Problem::not_found(format!("product {id} not found")))
}

async fn categories(State(data): State<Arc<Dataset>>) -> Json<Vec<Category>> {
    Json(data.categories.clone())
}
