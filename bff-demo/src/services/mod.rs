//! The demo upstream services of a small online shop — users, orders,
//! catalog, reviews, recommendations and inventory over HTTP/JSON, pricing
//! over gRPC — each an axum router over the shared, generated
//! [`data::Dataset`], behind the fault-injection layer (`knobs.rs`).
//!
//! Conventions shared by all services:
//! - JSON bodies with `snake_case` keys; errors are `application/problem+json`.
//! - Listings take `limit` and `offset` (or a 1-based `page` instead of
//!   `offset`) and return `{items, total, offset, limit}`.
//! - Batch lookups take a comma-separated list (`?ids=a,b,c`, at most 100),
//!   return a JSON array in the order given and skip unknown ids.
//! - `GET /health` answers `{"status": "ok", "service": NAME}`.
//! - Every other route honours `?delay_ms=N` and `?fail=STATUS`, and the
//!   `/_demo/faults` switch (see `knobs.rs`); gRPC calls fail with a gRPC
//!   status instead.

mod catalog;
pub mod data;
mod inventory;
mod knobs;
mod latency;
mod orders;
mod params;
mod pricing;
mod problem;
mod recommendations;
mod reviews;
mod users;

use std::fmt;
use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router, middleware};
use serde_json::{Value, json};

pub use latency::{Delay, Latency, LatencyError};

use self::data::Dataset;

/// One of the demo services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    Users,
    Orders,
    Catalog,
    Reviews,
    Recommendations,
    Inventory,
    Pricing,
}

impl Service {
    /// All services, in the order they are started and reported.
    pub const ALL: [Service; 7] = [
        Self::Users,
        Self::Orders,
        Self::Catalog,
        Self::Reviews,
        Self::Recommendations,
        Self::Inventory,
        Self::Pricing,
    ];

    /// The name used in specs, logs and responses (`users`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Orders => "orders",
            Self::Catalog => "catalog",
            Self::Reviews => "reviews",
            Self::Recommendations => "recommendations",
            Self::Inventory => "inventory",
            Self::Pricing => "pricing",
        }
    }

    /// The port the service listens on by default (9101..=9107).
    pub fn default_port(self) -> u16 {
        match self {
            Self::Users => 9101,
            Self::Orders => 9102,
            Self::Catalog => 9103,
            Self::Reviews => 9104,
            Self::Recommendations => 9105,
            Self::Inventory => 9106,
            Self::Pricing => 9107,
        }
    }

    /// The name's form in environment variables (`USERS`, ...).
    pub fn env_key(self) -> &'static str {
        match self {
            Self::Users => "USERS",
            Self::Orders => "ORDERS",
            Self::Catalog => "CATALOG",
            Self::Reviews => "REVIEWS",
            Self::Recommendations => "RECOMMENDATIONS",
            Self::Inventory => "INVENTORY",
            Self::Pricing => "PRICING",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The ports the services listen on; 0 picks a free port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DemoPorts {
    pub users: u16,
    pub orders: u16,
    pub catalog: u16,
    pub reviews: u16,
    pub recommendations: u16,
    pub inventory: u16,
    pub pricing: u16,
}

impl DemoPorts {
    /// The fixed ports the shipped composition specs expect: 9101..=9107.
    pub const FIXED: Self = Self {
        users: 9101,
        orders: 9102,
        catalog: 9103,
        reviews: 9104,
        recommendations: 9105,
        inventory: 9106,
        pricing: 9107,
    };

    /// Port 0 everywhere: each service gets a free port (for tests).
    pub const EPHEMERAL: Self = Self {
        users: 0,
        orders: 0,
        catalog: 0,
        reviews: 0,
        recommendations: 0,
        inventory: 0,
        pricing: 0,
    };

    /// Consecutive ports from `first`, in [`Service::ALL`] order.
    pub fn consecutive(first: u16) -> Self {
        let at = |i: u16| if first == 0 { 0 } else { first + i };
        Self {
            users: at(0),
            orders: at(1),
            catalog: at(2),
            reviews: at(3),
            recommendations: at(4),
            inventory: at(5),
            pricing: at(6),
        }
    }

    pub fn port(&self, service: Service) -> u16 {
        match service {
            Service::Users => self.users,
            Service::Orders => self.orders,
            Service::Catalog => self.catalog,
            Service::Reviews => self.reviews,
            Service::Recommendations => self.recommendations,
            Service::Inventory => self.inventory,
            Service::Pricing => self.pricing,
        }
    }
}

impl Default for DemoPorts {
    fn default() -> Self {
        Self::FIXED
    }
}

/// The complete router of one service: its routes, `/health`, the
/// `/_demo/faults` switch and the fault-injection layer.
pub fn router(service: Service, data: Arc<Dataset>, delay: Delay) -> Router {
    let routes = match service {
        Service::Users => users::routes(data),
        Service::Orders => orders::routes(data),
        Service::Catalog => catalog::routes(data),
        Service::Reviews => reviews::routes(data),
        Service::Recommendations => recommendations::routes(data),
        Service::Inventory => inventory::routes(data),
        Service::Pricing => pricing::routes(data),
    };
    let knobs = knobs::Knobs::new(service, delay);
    let faults = Router::new()
        .route(
            "/_demo/faults",
            get(knobs::show).put(knobs::set).delete(knobs::clear),
        )
        .with_state(knobs.clone());
    let routes = routes
        .route("/health", get(move || health(service)))
        .merge(faults);
    // The gRPC routes bring their own fallback: `UNIMPLEMENTED`.
    let routes = match service {
        Service::Pricing => routes,
        _ => routes.fallback(problem::no_route),
    };
    routes.layer(middleware::from_fn_with_state(knobs, knobs::apply))
}

async fn health(service: Service) -> Json<Value> {
    Json(json!({ "status": "ok", "service": service.name() }))
}
