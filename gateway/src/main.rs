//! `loopgate`: the Loop green channel's compliance gateway (see README.md).
//!
//! `main` only parses the command line and dispatches; each command lives in `cmd/`.

#![forbid(unsafe_code)]

mod cli;
mod cmd;
mod exit;

use std::process::ExitCode;

use clap::FromArgMatches;

/// mimalloc instead of glibc's malloc: a small transfer allocates and frees many short-lived
/// buffers on several threads (tokio's workers, the audit log's), where glibc's malloc took
/// about a tenth of loopgate's CPU (see README, Performance).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let matches = cli::command().get_matches();
    let cli = match cli::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let exit = match cli.command {
        cli::Command::Serve(args) => cmd::serve::run(&args),
        cli::Command::Dev(command) => cmd::dev::run(&command),
        cli::Command::Keygen(args) => cmd::keygen::run(args),
        cli::Command::Audit(args) => cmd::audit::run(args),
        cli::Command::Policy(command) => cmd::policy::run(command),
        cli::Command::Tenant(command) => cmd::tenant::run(&command),
        cli::Command::CheckConfig(args) => cmd::check_config::run(&args),
        cli::Command::Witness(command) => cmd::witness::run(command),
        cli::Command::Completions(args) => cmd::docs::completions(&args),
        cli::Command::Man(args) => cmd::docs::man(&args),
    };
    exit.into()
}
