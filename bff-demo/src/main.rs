//! `cargo run --release -p bff-demo`: the whole shop on one machine. Starts
//! the seven demo services and the three BFFs on fixed local ports and prints
//! a ready-to-paste curl command for every aggregated endpoint.
//!
//! `bff-demo --services users --host 0.0.0.0` runs demo services alone (a
//! container runs one), and `bff-demo healthcheck URL` is the health check
//! of such a container.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use bff_core::{Extension, Gateway};
use bff_demo::session::{DEMO_ORDER, DEMO_USER};
use bff_demo::{DemoPorts, Latency, Service, spawn_some};
use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs the demo shop: upstream services and all three BFFs.
#[derive(Parser, Debug)]
#[command(args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    command: Option<DemoCommand>,
    /// Folder holding the mobile/, web/ and partner/ spec folders.
    #[arg(long, env = "BFF_SPECS_ROOT")]
    specs_root: Option<PathBuf>,
    /// Run only these demo services (comma-separated names, e.g. `users`),
    /// without the BFFs, each on its usual port.
    #[arg(long, value_delimiter = ',')]
    services: Vec<String>,
    /// Address the demo services listen on (`0.0.0.0` in a container).
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
}

#[derive(Subcommand, Debug)]
enum DemoCommand {
    /// GET a plain http:// URL; exit 0 on a 2xx answer, 1 otherwise.
    Healthcheck {
        /// E.g. http://127.0.0.1:9101/health.
        url: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    let args = Args::parse();
    if let Some(DemoCommand::Healthcheck { url }) = args.command {
        let timeout = std::time::Duration::from_secs(2);
        return Ok(match bff_core::healthcheck::probe(&url, timeout) {
            Ok(status) => {
                println!("{url}: {status}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("unhealthy: {e}");
                std::process::ExitCode::FAILURE
            }
        });
    }
    bff_core::cli::init_tracing();
    let latency = Latency::from_env()?;
    let selected = selected_services(&args.services)?;

    println!("Demo services (latency and faults: see README):");
    for (name, addr) in spawn_some(args.host, DemoPorts::FIXED, latency, &selected).await? {
        println!("  {name:<16} http://{addr}");
    }
    if !args.services.is_empty() {
        stopped().await;
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let root = specs_root(args.specs_root)?;

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
    Ok(std::process::ExitCode::SUCCESS)
}

/// The services named on the command line; all of them when none is.
fn selected_services(names: &[String]) -> anyhow::Result<Vec<Service>> {
    if names.is_empty() {
        return Ok(Service::ALL.to_vec());
    }
    names
        .iter()
        .map(|name| {
            Service::ALL
                .into_iter()
                .find(|s| s.name() == name.trim())
                .ok_or_else(|| {
                    let known: Vec<&str> = Service::ALL.iter().map(|s| s.name()).collect();
                    anyhow!("no demo service `{name}`; known: {}", known.join(", "))
                })
        })
        .collect()
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
    if let Some(admin) = &plan.config.admin {
        let addr =
            bff_core::config::expand_env(&admin.listen).map_err(|e| anyhow!("{name}: {e}"))?;
        lines.push(format!(
            "# admin listener: http://{addr}/healthz, /readyz, /metrics"
        ));
    }
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
    let gateway = Gateway::from_plan(plan, extension).map_err(|d| anyhow!("{name}: {d}"))?;
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
