//! Demo upstream services for the `bff` framework: six small HTTP APIs of an
//! online shop (users, orders, catalog, reviews, recommendations, inventory)
//! and one gRPC API (pricing, with tonic) that the shipped composition
//! specs, the demo and the end-to-end tests run against. Their data is generated from a fixed seed, so every run serves
//! the same JSON; latency and failures can be injected on purpose.
//!
//! # Environment
//!
//! | variable                    | effect                                                    |
//! | --------------------------- | --------------------------------------------------------- |
//! | `DEMO_LATENCY_MS`           | base delay of every response, ms (default 0)              |
//! | `DEMO_JITTER_MS`            | up to this many ms more per response (default 0)          |
//! | `DEMO_LATENCY_<SERVICE>_MS` | base delay of one service, e.g. `DEMO_LATENCY_REVIEWS_MS=150` |
//! | `DEMO_JITTER_<SERVICE>_MS`  | jitter of one service                                     |
//!
//! `<SERVICE>` is `USERS`, `ORDERS`, `CATALOG`, `REVIEWS`, `RECOMMENDATIONS`,
//! `INVENTORY` or `PRICING`. Read them with [`Latency::from_env`].
//!
//! # Per request
//!
//! Every service route also honours `?delay_ms=N` (wait N ms more) and
//! `?fail=STATUS` (answer STATUS as problem+json), and `PUT /_demo/faults`
//! with `{"delay_ms": N, "fail": STATUS}` applies both to every request of
//! that service until `DELETE /_demo/faults` — handy for showing a BFF's
//! partial responses and deadlines.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use bff_demo::{DemoPorts, Latency, spawn_services};
//! let services = spawn_services([127, 0, 0, 1].into(), DemoPorts::EPHEMERAL, Latency::none()).await?;
//! for (name, addr) in &services {
//!     println!("{name}: http://{addr}");
//! }
//! # Ok(()) }
//! ```

// The demo services' records, ports and latency knobs: fields named for
// the JSON members they serve, documented by the service docs, not item
// by item.
#[allow(missing_docs)]
pub mod services;
pub mod session;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;

pub use services::{Delay, DemoPorts, Latency, LatencyError, Service};

use services::data::Dataset;

/// Starts the seven services on `host`, each on its own listener at the port
/// `ports` gives it (0: any free port), and returns each service's name and
/// bound address in [`Service::ALL`] order. All listeners are bound before
/// any service starts, so a port conflict fails the call as a whole. The
/// services run on the current tokio runtime until it shuts down.
pub async fn spawn_services(
    host: IpAddr,
    ports: DemoPorts,
    latency: Latency,
) -> std::io::Result<Vec<(&'static str, SocketAddr)>> {
    spawn_some(host, ports, latency, &Service::ALL).await
}

/// Starts every service on a free loopback port and returns the
/// environment that points a shipped BFF at them
/// (`USERS_URL=http://127.0.0.1:…`, one variable per service).
pub async fn spawn_for_env(latency: Latency) -> std::io::Result<Vec<(String, String)>> {
    let bound = spawn_services([127, 0, 0, 1].into(), DemoPorts::EPHEMERAL, latency).await?;
    Ok(bound
        .into_iter()
        .filter_map(|(name, addr)| {
            let service = Service::ALL.into_iter().find(|s| s.name() == name)?;
            Some((
                format!("{}_URL", service.env_key()),
                format!("http://{addr}"),
            ))
        })
        .collect())
}

/// Like [`spawn_services`], for the given services only (a container runs
/// one).
pub async fn spawn_some(
    host: IpAddr,
    ports: DemoPorts,
    latency: Latency,
    which: &[Service],
) -> std::io::Result<Vec<(&'static str, SocketAddr)>> {
    let mut listeners = Vec::with_capacity(which.len());
    for &service in which {
        let port = ports.port(service);
        let listener = TcpListener::bind((host, port)).await.map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("{service} service: cannot listen on {host}:{port}: {e}"),
            )
        })?;
        listeners.push((service, listener));
    }
    let data = Arc::new(Dataset::generate());
    let mut bound = Vec::with_capacity(listeners.len());
    for (service, listener) in listeners {
        let addr = listener.local_addr()?;
        let app = services::router(service, data.clone(), latency.for_service(service));
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%service, %error, "demo service stopped");
            }
        });
        tracing::info!(%service, %addr, "demo service listening");
        bound.push((service.name(), addr));
    }
    Ok(bound)
}

#[cfg(test)]
mod tests;
