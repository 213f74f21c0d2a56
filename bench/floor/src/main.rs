//! bench-floor: serves the floor handlers until killed.

use std::process::ExitCode;

use clap::Parser;

/// The least a framework could do for the benchmark's aggregation scenarios.
#[derive(Parser, Debug)]
struct Args {
    /// Address to listen on, e.g. 127.0.0.1:9000.
    #[arg(long)]
    listen: String,
    /// Base URL of the origin, e.g. http://127.0.0.1:9001.
    #[arg(long)]
    upstream: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let listener = match tokio::net::TcpListener::bind(&args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bench-floor: cannot listen on {}: {e}", args.listen);
            return ExitCode::from(64);
        }
    };
    match axum::serve(listener, bench_floor::router(&args.upstream)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-floor: server failed: {e}");
            ExitCode::FAILURE
        }
    }
}
