//! `loopgate`: the Loop green channel's compliance gateway (see README.md).

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

/// The Loop green channel's cross-boundary data-flow compliance gateway.
#[derive(Debug, Parser)]
#[command(name = "loopgate", version)]
struct Cli {}

fn main() -> ExitCode {
    let _cli = Cli::parse();
    ExitCode::SUCCESS
}
