//! Temporary: starts the demo services on their fixed ports (the lead owns
//! this file and will add starting the three BFFs).

use std::net::IpAddr;

use bff_demo::{DemoPorts, Latency, spawn_services};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let host: IpAddr = std::env::var("DEMO_HOST")
        .ok()
        .and_then(|h| h.parse().ok())
        .unwrap_or([127, 0, 0, 1].into());
    let latency = Latency::from_env()?;
    for (name, addr) in spawn_services(host, DemoPorts::FIXED, latency).await? {
        println!("{name:<16} http://{addr}");
    }
    tokio::signal::ctrl_c().await?;
    Ok(())
}
