//! bff-web: the Backend-for-Frontend of the web clients.

use std::process::ExitCode;

fn main() -> ExitCode {
    bff_core::cli::main("bff-web", "composition-specs/web", bff_web::extension())
}
