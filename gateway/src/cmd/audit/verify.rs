//! `loopgate audit verify --data-dir DIR [--key KEY] [--checkpoint FILE]` and
//! `loopgate audit verify --receipt FILE --key KEY`.

use std::path::PathBuf;

use loopgate_audit::{Error, Receipt, VerifierKey, verify_dir, verify_dir_against, verify_receipt};

use crate::exit::Exit;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["data_dir", "receipt"])))]
pub(crate) struct Args {
    /// A log data directory to check completely.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// A transfer receipt (JSON) to check offline.
    #[arg(long, value_name = "FILE", requires = "key")]
    receipt: Option<PathBuf>,
    /// The log's verifier key, as text (`name+id+key`) or a file holding it. Without it,
    /// `--data-dir` uses the directory's own `log.pub`, which only proves self-consistency.
    #[arg(long, value_name = "VERIFIER_KEY_FILE_OR_TEXT")]
    key: Option<String>,
    /// A signed checkpoint kept outside the data directory (a regulator's copy of
    /// `GET /v1/audit/checkpoint`, or a receipt's): the log must still hold every record it
    /// covers, with the same root. Only this finds records cut from the end of a log whose
    /// stored checkpoint and index were removed too.
    #[arg(long, value_name = "FILE", requires_all = ["key", "data_dir"])]
    checkpoint: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> Exit {
    let key = match args.key.as_deref().map(load_key).transpose() {
        Ok(k) => k,
        Err(e) => return fail(Exit::Usage, &e),
    };
    if let Some(path) = args.receipt {
        let Some(key) = key else {
            return fail(Exit::Usage, "--receipt needs --key");
        };
        return receipt(&path, &key);
    }
    let Some(dir) = args.data_dir else {
        return fail(Exit::Usage, "give --data-dir or --receipt");
    };
    let verified = match (&args.checkpoint, &key) {
        (Some(path), Some(key)) => match std::fs::read_to_string(path) {
            Ok(text) => verify_dir_against(&dir, key, &text),
            Err(e) => {
                return fail(
                    Exit::Usage,
                    &format!("cannot read the checkpoint {}: {e}", path.display()),
                );
            }
        },
        _ => verify_dir(&dir, key.as_ref()),
    };
    match verified {
        Ok(r) => {
            println!(
                "ok: {} records in {} segments, root {}",
                r.size,
                r.segments,
                b64(&r.root)
            );
            match &r.checkpoint {
                Some(cp) => println!(
                    "checkpoint of size {} verified{}",
                    cp.size(),
                    if r.key_from_data_dir {
                        " with the data directory's own log.pub (pass --key for an independent check)"
                    } else {
                        ""
                    }
                ),
                None => {
                    println!("warning: no checkpoint signature checked (no checkpoint, or no key)")
                }
            }
            if let Some(path) = &args.checkpoint {
                println!(
                    "the log holds the records of the checkpoint {} and extends it",
                    path.display()
                );
            }
            if let Some(t) = &r.torn_tail {
                println!("note: {t}");
            }
            Exit::Success
        }
        Err(e) => fail(code(&e), &e.to_string()),
    }
}

fn receipt(path: &std::path::Path, key: &VerifierKey) -> Exit {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return fail(Exit::Usage, &format!("cannot read {}: {e}", path.display())),
    };
    let receipt: Receipt = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => {
            return fail(
                Exit::Usage,
                &format!("{} is not a receipt: {e}", path.display()),
            );
        }
    };
    match verify_receipt(&receipt, key) {
        Ok(cp) => {
            let of = match (&receipt.transfer_id, &receipt.shipment_id) {
                (Some(id), _) => format!(" of transfer {id}"),
                (None, Some(id)) => format!(" of shipment {id}"),
                (None, None) => String::new(),
            };
            println!(
                "ok: record {}{of} is in the log of size {} signed by {}",
                receipt.log_index,
                cp.size(),
                key.name()
            );
            Exit::Success
        }
        Err(e) => fail(Exit::Failure, &e.to_string()),
    }
}

fn load_key(arg: &str) -> Result<VerifierKey, String> {
    if let Ok(k) = VerifierKey::parse(arg) {
        return Ok(k);
    }
    let text = std::fs::read_to_string(arg)
        .map_err(|e| format!("--key is neither a verifier key nor a readable file ({arg}): {e}"))?;
    VerifierKey::parse(&text).map_err(|e| e.to_string())
}

/// Damage and forgery are verification failures; the rest is unreadable input.
fn code(e: &Error) -> Exit {
    match e {
        Error::Corrupt { .. }
        | Error::CheckpointMismatch(_)
        | Error::BadCheckpoint(_)
        | Error::BadProof(_)
        | Error::BadBlob { .. } => Exit::Failure,
        _ => Exit::Usage,
    }
}

fn fail(code: Exit, msg: &str) -> Exit {
    let what = if code == Exit::Failure {
        "verification failed"
    } else {
        "error"
    };
    eprintln!("loopgate audit verify: {what}: {msg}");
    code
}

fn b64(h: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(h)
}
