//! `loopgate`: the Loop green channel's compliance gateway (see README.md).

#![forbid(unsafe_code)]

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The Loop green channel's cross-boundary data-flow compliance gateway.
#[derive(Debug, Parser)]
#[command(name = "loopgate", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new Ed25519 log signing key (file mode 0600) and print its verifier key.
    Keygen(cmd::keygen::Args),
    /// Verify the audit log or a receipt offline; benchmark the log.
    Audit(cmd::audit::Args),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Keygen(args) => cmd::keygen::run(args),
        Command::Audit(args) => cmd::audit::run(args),
    }
}
