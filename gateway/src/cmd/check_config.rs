//! `loopgate check-config --config FILE`: validates a config and everything it points at, without
//! binding a port. Exit 0, or 64 (EX_USAGE) with one line per problem on stdout; what is
//! allowed but unwise is a `FILE: warning: ...` line and changes nothing in the exit status.

use std::path::PathBuf;

use clap::Args;
use loopgate::Config;

use crate::exit::Exit;

#[derive(Debug, Args)]
pub(crate) struct CheckConfigArgs {
    /// The gateway config (TOML).
    #[arg(long)]
    config: PathBuf,
}

pub(crate) fn run(args: &CheckConfigArgs) -> Exit {
    let shown = args.config.display();
    let (problems, warnings) = match Config::load(&args.config) {
        Err(e) => (e.lines(), Vec::new()),
        Ok(config) => (
            config
                .check_files()
                .into_iter()
                .map(|problem| format!("{shown}: {problem}"))
                .collect(),
            config.warnings(),
        ),
    };
    for warning in &warnings {
        println!("{shown}: warning: {warning}");
    }
    if problems.is_empty() {
        println!("{shown}: ok");
        Exit::Success
    } else {
        for problem in problems {
            println!("{problem}");
        }
        Exit::Config
    }
}
