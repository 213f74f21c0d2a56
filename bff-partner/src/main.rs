//! bff-partner: the Backend-for-Frontend of the partner clients.

use std::process::ExitCode;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    bff_core::cli::main(
        "bff-partner",
        "composition-specs/partner",
        bff_partner::extension(),
    )
}
