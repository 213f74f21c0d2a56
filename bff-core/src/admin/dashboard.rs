//! `GET /dashboard`: one page a person can leave open beside a replica —
//! per endpoint and route the request rate, error shares and latency of
//! the last seconds (from [`crate::traffic`]), per service the circuit and
//! each instance's state. Rendered on the server, so it reads without
//! script; its script polls `GET /dashboard.json` every second and redraws
//! the numbers. No external assets: admin networks rarely reach a CDN.

use std::sync::OnceLock;

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use http::header;
use serde::Serialize;

use super::instances::{ServiceState, services};
use crate::dashboard_counts::{self, Summary};
use crate::reload::Live;

const TEMPLATE: &str = include_str!("dashboard.html");

/// What the page shows, as the page's script receives it too.
#[derive(Debug, Serialize)]
pub(super) struct Data {
    bff: String,
    generation: u64,
    loaded_at: String,
    ready: bool,
    notes: Vec<String>,
    window_s: u64,
    endpoints: Vec<Row>,
    services: Vec<ServiceState>,
}

/// One endpoint or pass-through route.
#[derive(Debug, Serialize)]
struct Row {
    name: String,
    /// `endpoint` or `route`.
    kind: &'static str,
    #[serde(flatten)]
    numbers: Summary,
    /// The same numbers as the page prints them.
    shown: Shown,
}

#[derive(Debug, Serialize)]
struct Shown {
    rate: String,
    client_errors: String,
    server_errors: String,
    p50: String,
    p99: String,
}

pub(super) async fn page(State(live): State<Live>) -> Response {
    let data = gather(&live);
    let rendered = tera::Context::from_serialize(&data)
        .map_err(|e| e.to_string())
        .and_then(|ctx| {
            templates()
                .render("dashboard.html", &ctx)
                .map_err(|e| e.to_string())
        });
    match rendered {
        Ok(html) => ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "dashboard not rendered");
            crate::error::Refusal::Internal.into_response()
        }
    }
}

pub(super) async fn data(State(live): State<Live>) -> Response {
    super::fresh_json(&gather(&live))
}

fn templates() -> &'static tera::Tera {
    static TERA: OnceLock<tera::Tera> = OnceLock::new();
    TERA.get_or_init(|| {
        let mut t = tera::Tera::default();
        t.autoescape_on(vec![".html"]);
        t.add_raw_template("dashboard.html", TEMPLATE)
            .expect("the embedded dashboard template parses");
        t
    })
}

fn gather(live: &Live) -> Data {
    let current = live.current();
    let plan = current.gateway.plan();
    let status = live.status();
    let notes = live.not_ready();
    let endpoints = plan
        .endpoints
        .iter()
        .map(|e| {
            let id = e.id();
            row(dashboard_counts::summary(&id), id, "endpoint")
        })
        .chain(plan.proxies.iter().map(|r| {
            row(
                dashboard_counts::summary(r.label()),
                format!("{}/* → {}", r.prefix, r.service.name),
                "route",
            )
        }))
        .collect();
    Data {
        bff: plan
            .dir
            .file_name()
            .map_or_else(|| "bff".to_owned(), |n| n.to_string_lossy().into_owned()),
        generation: current.number,
        loaded_at: status.loaded_at,
        ready: notes.is_empty(),
        notes,
        window_s: dashboard_counts::WINDOW,
        endpoints,
        services: services(&current.gateway),
    }
}

fn row(summary: Option<Summary>, name: String, kind: &'static str) -> Row {
    let numbers = summary.unwrap_or_else(|| Summary {
        rate: 0.0,
        client_errors: 0.0,
        server_errors: 0.0,
        mean_ms: None,
        p50_ms: None,
        p99_ms: None,
        total: 0,
        history: vec![0; usize::try_from(dashboard_counts::HISTORY).unwrap_or(60)],
    });
    // Formatted as the page's script formats them (`fmt` there).
    let ms = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.1} ms"));
    let shown = Shown {
        rate: format!("{:.1}", numbers.rate),
        client_errors: format!("{:.1} %", numbers.client_errors * 100.0),
        server_errors: format!("{:.1} %", numbers.server_errors * 100.0),
        p50: ms(numbers.p50_ms),
        p99: ms(numbers.p99_ms),
    };
    Row {
        name,
        kind,
        numbers,
        shown,
    }
}
