//! The users service: profiles and preferences.
//!
//! - `GET /users/{id}` — a profile, 404 if unknown
//! - `GET /users/{id}/preferences` — language, favourite categories, notifications
//! - `GET /users?ids=u-1001,u-1002` — batch lookup, array in the order given

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};

use super::data::{Dataset, Preferences, User};
use super::params::{Params, id_list};
use super::problem::Problem;

pub(crate) fn routes(data: Arc<Dataset>) -> Router {
    Router::new()
        .route("/users", get(batch))
        .route("/users/{id}", get(profile))
        .route("/users/{id}/preferences", get(preferences))
        .with_state(data)
}

async fn profile(
    State(data): State<Arc<Dataset>>,
    Path(id): Path<String>,
) -> Result<Json<User>, Problem> {
    data.user(&id)
        .cloned()
        .map(Json)
        .ok_or_else(|| Problem::not_found(format!("user {id} not found")))
}

async fn preferences(
    State(data): State<Arc<Dataset>>,
    Path(id): Path<String>,
) -> Result<Json<Preferences>, Problem> {
    data.preferences(&id)
        .cloned()
        .map(Json)
        .ok_or_else(|| Problem::not_found(format!("user {id} not found")))
}

async fn batch(
    State(data): State<Arc<Dataset>>,
    Query(params): Query<Params>,
) -> Result<Json<Vec<User>>, Problem> {
    let ids = id_list(&params, "ids")?
        .ok_or_else(|| Problem::bad_request("query parameter ids is required"))?;
    Ok(Json(
        ids.into_iter()
            .filter_map(|id| data.user(id))
            .cloned()
            .collect(),
    ))
}
