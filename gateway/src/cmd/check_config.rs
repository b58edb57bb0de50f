//! `loopgate check-config --config FILE`: validates a config and everything it points at, without
//! binding a port. Exit 0, or 64 (EX_USAGE) with one line per problem on stdout.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use loopgate::config::Config;

/// sysexits.h EX_USAGE: the configuration is wrong.
pub(crate) const EX_USAGE: u8 = 64;

#[derive(Debug, Args)]
pub(crate) struct CheckConfigArgs {
    /// The gateway config (TOML).
    #[arg(long)]
    config: PathBuf,
}

pub(crate) fn run(args: &CheckConfigArgs) -> ExitCode {
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
        ExitCode::SUCCESS
    } else {
        for problem in problems {
            println!("{problem}");
        }
        ExitCode::from(EX_USAGE)
    }
}
