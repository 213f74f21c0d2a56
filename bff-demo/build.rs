//! Builds the pricing service's gRPC server code from the contract the web
//! BFF reads (`composition-specs/web/proto`), one source of truth for both.
//! protox compiles the `.proto`, so no `protoc` is needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest.join("../composition-specs/web/proto");
    let file = "shop/pricing/v1/pricing.proto";
    println!("cargo:rerun-if-changed={}", root.join(file).display());
    let descriptors = protox::compile([file], [&root])?;
    tonic_prost_build::configure()
        .build_client(false)
        .compile_fds(descriptors)?;
    Ok(())
}
