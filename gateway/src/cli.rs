//! The command line (SPEC.md section 7). Exit codes: see [`crate::exit::Exit`]; `--help` and
//! the man page list them from there.

use clap::{CommandFactory, Parser, Subcommand};

use crate::cmd;
use crate::exit::Exit;

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
    /// Suspend a tenant at once, or lift its suspension, through the admin API.
    #[command(subcommand)]
    Tenant(cmd::tenant::TenantCommand),
    /// Validate a gateway config and every file it names, without binding; exit 0, or 64 with
    /// one line per problem.
    CheckConfig(cmd::check_config::CheckConfigArgs),
    /// Print the shell completion script for SHELL on standard output (deploy/install.sh and
    /// the .deb install bash's, zsh's and fish's).
    Completions(cmd::docs::CompletionsArgs),
    /// Print the loopgate(1) man page (roff) on standard output, or write every page, one per
    /// command, into --dir.
    Man(cmd::docs::ManArgs),
}

/// The whole command line as clap sees it, with the exit statuses after `--help`.
pub(crate) fn command() -> clap::Command {
    Cli::command().after_long_help(exit_statuses())
}

/// The EXIT STATUS list: one line per [`Exit`].
fn exit_statuses() -> String {
    let mut out = String::from("Exit status:\n");
    for exit in Exit::ALL {
        out.push_str(&format!("  {:>3}  {}\n", exit.code(), exit.meaning()));
    }
    out
}
