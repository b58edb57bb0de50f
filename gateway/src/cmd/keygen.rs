//! `loopgate keygen --out FILE --name ORIGIN`: a new Ed25519 log key.

use loopgate_audit::SigningKey;
use std::path::PathBuf;

use crate::exit::Exit;

/// Create a new Ed25519 log signing key (file mode 0600) and print its verifier key.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where to write the key; must not exist.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The key name: the log's checkpoint origin, e.g. `loopgate.example/audit`.
    #[arg(long, value_name = "ORIGIN")]
    name: String,
}

pub(crate) fn run(args: Args) -> Exit {
    if args.out.exists() {
        eprintln!(
            "loopgate keygen: {} exists; refusing to overwrite a key",
            args.out.display()
        );
        return Exit::Usage;
    }
    let key = match SigningKey::generate(&args.name) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("loopgate keygen: {e}");
            return Exit::Usage;
        }
    };
    if let Err(e) = key.create_file(&args.out) {
        eprintln!("loopgate keygen: {e}");
        return Exit::Usage;
    }
    println!("{}", key.verifier());
    Exit::Success
}
