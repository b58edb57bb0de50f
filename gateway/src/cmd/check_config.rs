//! `loopgate check-config --config FILE`: validates a config and everything it points at, without
//! binding a port. Exit 0, or 64 (EX_USAGE) with one line per problem on stdout.

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
    let problems = match Config::load(&args.config) {
        Err(e) => e.lines(),
        Ok(config) => config
            .check_files()
            .into_iter()
            .map(|problem| format!("{shown}: {problem}"))
            .collect(),
    };
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
