//! The command line (SPEC.md section 7). Exit codes: see [`crate::exit::Exit`].

use clap::{Parser, Subcommand};

use crate::cmd;

/// The Loop green channel's cross-boundary data-flow compliance gateway.
#[derive(Debug, Parser)]
#[command(name = "loopgate", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the gateway. Without --config: dev mode in ./loopgate-dev/ (made once).
    Serve(cmd::serve::ServeArgs),
    /// Dev-mode helpers: more client certificates from the dev CA.
    #[command(subcommand)]
    Dev(cmd::dev::DevCommand),
    /// Create a new Ed25519 log signing key (file mode 0600) and print its verifier key.
    Keygen(cmd::keygen::Args),
    /// Verify the audit log or a receipt offline; benchmark the log.
    Audit(cmd::audit::Args),
    /// Validate policy bundles and evaluate transfers offline, exactly as the gateway would.
    #[command(subcommand)]
    Policy(cmd::policy::PolicyCommand),
    /// A C2SP tlog-witness: make its key, or run it to cosign a log's consistent checkpoints.
    #[command(subcommand)]
    Witness(cmd::witness::WitnessCommand),
    /// Validate a gateway config and every file it names, without binding; exit 0, or 64 with
    /// one line per problem.
    CheckConfig(cmd::check_config::CheckConfigArgs),
}
