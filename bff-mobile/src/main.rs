//! bff-mobile: the Backend-for-Frontend of the mobile clients.

use std::process::ExitCode;

fn main() -> ExitCode {
    bff_core::cli::main(
        "bff-mobile",
        "composition-specs/mobile",
        bff_mobile::extension(),
    )
}
