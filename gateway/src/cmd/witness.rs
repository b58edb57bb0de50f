//! `loopgate witness keygen|serve`: a C2SP `tlog-witness` that cosigns a log's checkpoints
//! (`cosignature/v1`), for the regulators who check that the log only ever grows.

use std::path::PathBuf;

use loopgate::witness::{Bound, WitnessConfig, WitnessError};
use loopgate::{LogFormat, LogSinkGuard};
use loopgate_audit::WitnessSigningKey;

use crate::exit::Exit;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum WitnessCommand {
    /// Create a new witness signing key (file mode 0600) and print its cosignature/v1
    /// verifier key, `<name>+<hex id>+<base64(0x04 || public key)>`.
    Keygen(KeygenArgs),
    /// Run the witness: POST <prefix>/add-checkpoint cosigns each log's consistent checkpoints.
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct KeygenArgs {
    /// Where to write the key; must not exist.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The witness's name, a schema-less URL, e.g. `pcpd.example/witness`.
    #[arg(long, value_name = "NAME")]
    name: String,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// The witness config (TOML; see deploy/witness.toml).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

pub(crate) fn run(command: WitnessCommand) -> Exit {
    match command {
        WitnessCommand::Keygen(args) => keygen(&args),
        WitnessCommand::Serve(args) => serve(&args),
    }
}

fn keygen(args: &KeygenArgs) -> Exit {
    if args.out.exists() {
        eprintln!(
            "loopgate witness keygen: {} exists; refusing to overwrite a key",
            args.out.display()
        );
        return Exit::Usage;
    }
    let made = WitnessSigningKey::generate(&args.name).and_then(|key| {
        key.create_file(&args.out)?;
        Ok(key)
    });
    match made {
        Ok(key) => {
            println!("{}", key.verifier());
            Exit::Success
        }
        Err(e) => {
            eprintln!("loopgate witness keygen: {e}");
            Exit::Usage
        }
    }
}

fn serve(args: &ServeArgs) -> Exit {
    let config = match WitnessConfig::load(&args.config) {
        Ok(config) => config,
        Err(e) => {
            for line in e.lines() {
                eprintln!("{line}");
            }
            return Exit::Config;
        }
    };
    let log_writer: LogSinkGuard = super::serve::init_tracing(LogFormat::Text);
    let ended = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("loopgate-witness")
        .enable_all()
        .build()
        .map_err(|e| (Exit::Failure, format!("cannot start the runtime: {e}")))
        .and_then(|runtime| {
            let served = runtime.block_on(loopgate::witness::run(config, announce));
            runtime.shutdown_timeout(std::time::Duration::from_secs(2));
            served.map_err(|e| {
                // 73, as `serve` for its log folder: another process holds the state.
                let code = if matches!(e, WitnessError::Locked { .. }) {
                    Exit::Locked
                } else {
                    Exit::Failure
                };
                (code, e.to_string())
            })
        });
    drop(log_writer);
    match ended {
        Ok(()) => Exit::Success,
        Err((code, message)) => {
            eprintln!("loopgate witness: {message}");
            code
        }
    }
}

/// Prints where the witness listens and its verifier key (tests read these lines).
fn announce(bound: &Bound) {
    println!("loopgate: witness {}", bound.url());
    println!("loopgate: witness key {}", bound.verifier);
    use std::io::Write;
    let _ = std::io::stdout().flush();
}
