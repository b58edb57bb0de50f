//! `loopgate dev ...`: dev-mode helpers.

use std::path::PathBuf;

use clap::Subcommand;
use loopgate::Clock;
use loopgate::dev;

use crate::exit::Exit;

#[derive(Debug, Subcommand)]
pub(crate) enum DevCommand {
    /// Issue one more client certificate from the dev CA into pki/<role>-<id>.{pem,key}.
    Cert {
        /// tenant, carrier, regulator or admin.
        #[arg(long)]
        role: String,
        /// The id (a tenant id for tenants).
        #[arg(long)]
        id: String,
        /// The dev folder.
        #[arg(long, default_value = "loopgate-dev")]
        dir: PathBuf,
    },
    /// Make the dev folder (as `serve` without --config does) without serving.
    Init {
        /// The dev folder.
        #[arg(long, default_value = "loopgate-dev")]
        dir: PathBuf,
    },
}

pub(crate) fn run(command: &DevCommand) -> Exit {
    let now = Clock::system().now();
    match command {
        DevCommand::Cert { role, id, dir } => match dev::issue_cert(dir, role, id, now) {
            Ok(cert) => {
                println!("{}", cert.display());
                Exit::Success
            }
            Err(e) => {
                eprintln!("loopgate: {e}");
                Exit::Usage
            }
        },
        DevCommand::Init { dir } => match dev::ensure(dir, now, dev::write_log_key) {
            Ok(made) => {
                let verb = if made { "made" } else { "already there:" };
                println!("loopgate: {verb} {}", dir.display());
                Exit::Success
            }
            Err(e) => {
                eprintln!("loopgate: {e}");
                Exit::Failure
            }
        },
    }
}
