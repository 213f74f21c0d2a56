//! bff-web: the Backend-for-Frontend of the web clients.

use std::process::ExitCode;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match bff_web::from_env() {
        Ok(extension) => bff_core::cli::main("bff-web", "composition-specs/web", extension),
        Err(e) => {
            // As a folder with errors: nothing is served with settings it cannot apply.
            eprintln!("bff-web: {e}");
            ExitCode::from(bff_core::cli::EXIT_CONFIG)
        }
    }
}
