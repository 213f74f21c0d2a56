//! bff-mobile: the Backend-for-Frontend of the mobile clients.

use std::process::ExitCode;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    bff_core::cli::main(
        "bff-mobile",
        "composition-specs/mobile",
        bff_mobile::extension(),
    )
}
