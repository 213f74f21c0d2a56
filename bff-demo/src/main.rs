//! `cargo run --release -p bff-demo`: the whole shop on one machine. Starts
//! the seven demo services and the three BFFs on fixed local ports and prints
//! a ready-to-paste curl command for every aggregated endpoint.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use bff_core::{Extension, Gateway};
use bff_demo::session::{DEMO_ORDER, DEMO_USER};
use bff_demo::{DemoPorts, Latency, spawn_services};
use clap::Parser;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs the demo shop: upstream services and all three BFFs.
#[derive(Parser, Debug)]
struct Args {
    /// Folder holding the mobile/, web/ and partner/ spec folders.
    #[arg(long, env = "BFF_SPECS_ROOT")]
    specs_root: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    bff_core::cli::init_tracing();
    let root = specs_root(args.specs_root)?;
    let host: IpAddr = [127, 0, 0, 1].into();
    let latency = Latency::from_env()?;

    println!("Demo services (latency and faults: see README):");
    for (name, addr) in spawn_services(host, DemoPorts::FIXED, latency).await? {
        println!("  {name:<16} http://{addr}");
    }

    let mut bffs = Vec::new();
    bffs.push(start("bff-mobile", &root.join("mobile"), bff_mobile::extension()).await?);
    bffs.push(start("bff-web", &root.join("web"), bff_web::extension()).await?);
    bffs.push(
        start(
            "bff-partner",
            &root.join("partner"),
            bff_partner::extension(),
        )
        .await?,
    );

    for b in &bffs {
        println!("\n{} on {}", b.name, b.base);
        for line in &b.lines {
            println!("  {line}");
        }
    }
    if let Some(web) = bffs.iter().find(|b| b.name == "bff-web")
        && let Some(cookie) = &web.session
    {
        let ws = web.base.replacen("http://", "ws://", 1);
        println!(
            "\nWatch an order's status live over a WebSocket, signed in as {DEMO_USER} \
             (websocat: `cargo install websocat`):\n  \
             websocat -H 'Cookie: {cookie}' {ws}/live/orders/{DEMO_ORDER}/live"
        );
    }
    println!(
        "\nShow a partial response: make reviews fail, then call a product page again:\n  \
         curl -s -X PUT -H 'content-type: application/json' -d '{{\"fail\": 503}}' http://127.0.0.1:9104/_demo/faults\n  \
         curl -s -X DELETE http://127.0.0.1:9104/_demo/faults"
    );
    println!("\nPress Ctrl-C to stop.");
    stopped().await;
    Ok(())
}

/// Ctrl-C or SIGTERM (`docker stop`, `kill`).
async fn stopped() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
    }
}

/// A BFF of the demo, serving.
struct Started {
    name: &'static str,
    /// Base URL.
    base: String,
    /// What to try, as comments and commands.
    lines: Vec<String>,
    /// A session cookie of the demo user, when the BFF signs users in by one.
    session: Option<String>,
}

/// Loads one BFF's specs and serves it on the address its bff.yaml names.
async fn start(
    name: &'static str,
    dir: &Path,
    extension: impl Extension,
) -> anyhow::Result<Started> {
    let plan = bff_core::plan::load(dir).map_err(|d| anyhow!("{name}: {d}"))?;
    let listen = plan.listen.clone().unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("{name}: cannot listen on {listen}"))?;
    let base = format!("http://{}", listener.local_addr()?);
    let mut lines = Vec::new();
    for ep in &plan.endpoints {
        lines.push(format!("# {}", ep.id()));
        lines.push(
            ep.curl(&base)
                .unwrap_or_else(|| format!("curl -s -X {} '{base}{}'", ep.method, ep.path)),
        );
    }
    for p in &plan.proxies {
        let kind = if p.websocket.is_some() {
            "pass-through (WebSocket too)"
        } else {
            "pass-through"
        };
        lines.push(format!("# {kind} {}/* -> {}", p.prefix, p.service.name));
    }
    let session = bff_demo::session::session_cookie(&plan.config, DEMO_USER);
    let gateway = Gateway::from_plan(plan, extension);
    tokio::spawn(async move {
        if let Err(e) = gateway.serve(listener).await {
            tracing::error!(bff = name, error = %e, "server stopped");
        }
    });
    Ok(Started {
        name,
        base,
        lines,
        session,
    })
}

/// The spec root: as given, else `composition-specs` in the current folder,
/// else the one beside this crate in the source tree.
fn specs_root(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let candidates = given.into_iter().chain([
        PathBuf::from("composition-specs"),
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../composition-specs"),
    ]);
    for c in candidates {
        if c.join("web").join("bff.yaml").is_file() {
            return Ok(c);
        }
    }
    Err(anyhow!(
        "cannot find the composition-specs folder; pass --specs-root DIR"
    ))
}
