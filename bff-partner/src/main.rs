//! bff-partner: the Backend-for-Frontend of the partner clients.

use std::process::ExitCode;

fn main() -> ExitCode {
    bff_core::cli::main(
        "bff-partner",
        "composition-specs/partner",
        bff_partner::extension(),
    )
}
