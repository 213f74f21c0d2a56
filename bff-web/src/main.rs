//! bff-web: the Backend-for-Frontend of the web clients.

use std::process::ExitCode;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    bff_core::cli::main("bff-web", "composition-specs/web", bff_web::extension())
}
