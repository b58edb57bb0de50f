//! `loopgate audit verify`: a data directory (`--data-dir DIR [--key KEY] [--checkpoint FILE]`),
//! and offline, with the log's verifier key, what the regulator API hands out: a receipt or a
//! record answer (`--receipt`), a signed checkpoint (`--checkpoint`), two checkpoints and the
//! consistency proof between them (`--consistency OLD NEW --proof`), an export against a
//! checkpoint (`--export FILE --checkpoint FILE`). With `--witness-key KEY... [--quorum N]`,
//! every checkpoint (a receipt's too) must also carry valid `cosignature/v1` cosignatures by N
//! of those witnesses.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use loopgate_audit::{
    Checkpoint, Error, Hash, Receipt, VerifierKey, WitnessVerifierKey,
    verify_checkpoints_consistent, verify_cosigned, verify_dir, verify_dir_against, verify_export,
    verify_receipt,
};

use crate::exit::Exit;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args([
    "data_dir",
    "receipt",
    "checkpoint",
    "consistency",
    "export",
])))]
pub(crate) struct Args {
    /// A log data directory to check completely.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["receipt", "consistency", "export"])]
    data_dir: Option<PathBuf>,
    /// A transfer's or shipment's receipt, or a `GET /v1/audit/records/{i}` answer (JSON), to
    /// check offline: leaf hash, record, checkpoint signature, inclusion proof.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["checkpoint", "consistency", "export"])]
    receipt: Option<PathBuf>,
    /// The log's verifier key, as text (`name+id+key`) or a file holding it. Without it,
    /// `--data-dir` uses the directory's own `log.pub`, which only proves self-consistency;
    /// every other check needs it.
    #[arg(long, value_name = "VERIFIER_KEY_FILE_OR_TEXT")]
    key: Option<String>,
    /// A signed checkpoint (`GET /v1/audit/checkpoint`, or a receipt's). Alone: its signature
    /// is checked. With `--data-dir`: the log must still hold every record it covers, with the
    /// same root (only this finds records cut from the end of a log whose stored checkpoint and
    /// index were removed too). With `--export`: the export must hold exactly its records.
    #[arg(long, value_name = "FILE", conflicts_with = "consistency")]
    checkpoint: Option<PathBuf>,
    /// Two signed checkpoints of the log, older first: the newer must extend the older, by the
    /// consistency proof `--proof`.
    #[arg(long, num_args = 2, value_names = ["OLD", "NEW"], requires = "proof",
          conflicts_with = "export")]
    consistency: Option<Vec<PathBuf>>,
    /// The consistency proof between the `--consistency` checkpoints: a
    /// `GET /v1/audit/proof/consistency?from=OLD_SIZE&to=NEW_SIZE` answer, or its base64 hashes
    /// one per line.
    #[arg(long, value_name = "FILE", requires = "consistency")]
    proof: Option<PathBuf>,
    /// An export (`GET /v1/audit/export?to=SIZE`, JSON Lines) to rebuild the tree from; its
    /// root must be the `--checkpoint`'s, so it must hold exactly records 0..SIZE.
    #[arg(long, value_name = "FILE", requires = "checkpoint")]
    export: Option<PathBuf>,
    /// A witness's cosignature/v1 verifier key, as text or a file of keys one per line (a dev
    /// folder's `witnesses.pub`); repeat for more. Every checkpoint checked (a receipt's too)
    /// must then carry valid cosignatures by `--quorum` of them.
    #[arg(long = "witness-key", value_name = "KEY_OR_FILE", num_args = 1..)]
    witness_keys: Vec<String>,
    /// How many of the `--witness-key` witnesses must have cosigned (default: all of them).
    #[arg(long, value_name = "N", requires = "witness_keys")]
    quorum: Option<usize>,
}

/// What a checkpoint must be signed by: the log's key, and `quorum` of `witnesses`.
struct Trust {
    key: VerifierKey,
    witnesses: Vec<WitnessVerifierKey>,
    quorum: usize,
}

impl Trust {
    /// Opens a checkpoint's text: the log's signature, and the witnesses' quorum when asked.
    /// Every checkpoint the command line gives (a receipt's too) goes through here.
    fn open(&self, text: &str) -> Result<Checkpoint, Error> {
        if self.witnesses.is_empty() {
            return Checkpoint::open(text, &self.key);
        }
        verify_cosigned(text, &self.key, &self.witnesses, self.quorum).map(|(cp, _)| cp)
    }

    /// ` and cosigned by ...`, for the ok line.
    fn cosigned(&self) -> String {
        if self.witnesses.is_empty() {
            return String::new();
        }
        format!(
            ", cosigned by at least {} of the {} witnesses given",
            self.quorum,
            self.witnesses.len()
        )
    }
}

/// `--witness-key` values: each a key, or a file with one key per line.
fn load_witness_keys(args: &[String]) -> Result<Vec<WitnessVerifierKey>, String> {
    let mut keys = Vec::new();
    for arg in args {
        if let Ok(k) = WitnessVerifierKey::parse(arg) {
            keys.push(k);
            continue;
        }
        let text = std::fs::read_to_string(arg).map_err(|e| {
            format!(
                "--witness-key is neither a witness verifier key nor a readable file ({arg}): {e}"
            )
        })?;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            keys.push(
                WitnessVerifierKey::parse(line).map_err(|e| format!("--witness-key {arg}: {e}"))?,
            );
        }
    }
    Ok(keys)
}

pub(crate) fn run(args: Args) -> Exit {
    let key = match args.key.as_deref().map(load_key).transpose() {
        Ok(k) => k,
        Err(e) => return fail(Exit::Usage, &e),
    };
    let Some(dir) = args.data_dir.clone() else {
        // Every offline check needs the log's key: without it nothing is proven.
        let Some(key) = key else {
            return fail(
                Exit::Usage,
                "give --key: the log's verifier key (the text `loopgate keygen` printed, or its log.pub)",
            );
        };
        let witnesses = match load_witness_keys(&args.witness_keys) {
            Ok(w) => w,
            Err(e) => return fail(Exit::Usage, &e),
        };
        let quorum = args.quorum.unwrap_or(witnesses.len());
        if !witnesses.is_empty() && !(1..=witnesses.len()).contains(&quorum) {
            return fail(
                Exit::Usage,
                &format!(
                    "--quorum {quorum}: use 1 to {} (the number of witness keys given)",
                    witnesses.len()
                ),
            );
        }
        let trust = Trust {
            key,
            witnesses,
            quorum,
        };
        return offline(&args, &trust);
    };
    if !args.witness_keys.is_empty() {
        return fail(
            Exit::Usage,
            "--witness-key checks a checkpoint or a receipt offline; it does not go with --data-dir",
        );
    }
    if args.checkpoint.is_some() && key.is_none() {
        return fail(
            Exit::Usage,
            "--checkpoint needs --key: a checkpoint proves nothing without the log's key",
        );
    }
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

/// The checks that need only `key` and the files given (no data directory).
fn offline(args: &Args, key: &Trust) -> Exit {
    let result = if let Some(path) = &args.receipt {
        receipt(path, key)
    } else if let (Some(files), Some(proof)) = (&args.consistency, &args.proof) {
        match files.as_slice() {
            [old, new] => consistency(old, new, proof, key),
            _ => Err(fail(Exit::Usage, "--consistency takes two files: OLD NEW")),
        }
    } else if let (Some(export_file), Some(cp)) = (&args.export, &args.checkpoint) {
        export(export_file, cp, key)
    } else if let Some(cp) = &args.checkpoint {
        checkpoint(cp, key)
    } else {
        Err(fail(
            Exit::Usage,
            "give --data-dir, --receipt, --checkpoint, --consistency or --export",
        ))
    };
    result.unwrap_or_else(|exit| exit)
}

/// The text of `path`, or the usage failure naming it (`what` it should have been).
fn read(path: &Path, what: &str) -> Result<String, Exit> {
    std::fs::read_to_string(path).map_err(|e| {
        fail(
            Exit::Usage,
            &format!("cannot read the {what} {}: {e}", path.display()),
        )
    })
}

/// Opens the signed checkpoint in `path` (`which`: how to name it) with `trust`: every
/// checkpoint given on the command line is opened here (a receipt's in [`receipt`], by the same
/// [`Trust::open`]).
fn open_checkpoint(path: &Path, trust: &Trust, which: &str) -> Result<Checkpoint, Exit> {
    let text = read(path, "checkpoint")?;
    trust
        .open(&text)
        .map_err(|e| failed(&e, &format!("{which} {}: ", path.display())))
}

/// `--receipt FILE`: a transfer's or shipment's receipt, or a record answer.
fn receipt(path: &Path, trust: &Trust) -> Result<Exit, Exit> {
    let key = &trust.key;
    let text = read(path, "receipt")?;
    let receipt: Receipt = serde_json::from_str(&text).map_err(|e| {
        fail(
            Exit::Usage,
            &format!(
                "{} is neither a receipt nor a record answer: {e}",
                path.display()
            ),
        )
    })?;
    let cp = verify_receipt(&receipt, key).map_err(|e| failed(&e, ""))?;
    trust
        .open(&receipt.checkpoint)
        .map_err(|e| failed(&e, "the receipt's checkpoint: "))?;
    let of = match (&receipt.transfer_id, &receipt.shipment_id) {
        (Some(id), _) => format!(" of transfer {id}"),
        (None, Some(id)) => format!(" of shipment {id}"),
        (None, None) => match receipt.record.get("kind").and_then(|k| k.as_str()) {
            Some(kind) => format!(" ({kind})"),
            None => String::new(),
        },
    };
    println!(
        "ok: record {}{of} is in the log of size {} signed by {}{}",
        receipt.log_index,
        cp.size(),
        key.name(),
        trust.cosigned()
    );
    Ok(Exit::Success)
}

/// `--checkpoint FILE` alone: its signature.
fn checkpoint(path: &Path, trust: &Trust) -> Result<Exit, Exit> {
    let cp = open_checkpoint(path, trust, "the checkpoint")?;
    println!(
        "ok: checkpoint of {} records, root {}, of the log {:?} signed by {}{}",
        cp.size(),
        B64.encode(cp.root()),
        cp.origin(),
        trust.key.name(),
        trust.cosigned()
    );
    Ok(Exit::Success)
}

/// `--consistency OLD NEW --proof FILE`.
fn consistency(old: &Path, new: &Path, proof: &Path, trust: &Trust) -> Result<Exit, Exit> {
    let key = &trust.key;
    let old_cp = open_checkpoint(old, trust, "the old checkpoint")?;
    let new_cp = open_checkpoint(new, trust, "the new checkpoint")?;
    let proof_text = read(proof, "consistency proof")?;
    let (sizes, hashes) = parse_proof(&proof_text)
        .map_err(|e| fail(Exit::Usage, &format!("{}: {e}", proof.display())))?;
    let hashes = hashes
        .iter()
        .enumerate()
        .map(|(i, h)| {
            B64.decode(h)
                .ok()
                .and_then(|h| Hash::try_from(h).ok())
                .ok_or_else(|| {
                    fail(
                        Exit::Failure,
                        &format!(
                            "{}: hash {i} of the proof is not 32 bytes of base64",
                            proof.display()
                        ),
                    )
                })
        })
        .collect::<Result<Vec<Hash>, Exit>>()?;
    verify_checkpoints_consistent(&old_cp, &new_cp, &hashes).map_err(|e| failed(&e, ""))?;
    // A proof answer names the sizes it was asked for: a proof between other sizes would not
    // verify anyway, but this says why.
    if let Some((from, to)) = sizes {
        if (from, to) != (old_cp.size(), new_cp.size()) {
            return Err(fail(
                Exit::Failure,
                &format!(
                    "the proof is from size {from} to {to}, the checkpoints are of sizes {} and {}",
                    old_cp.size(),
                    new_cp.size()
                ),
            ));
        }
    }
    println!(
        "ok: the log of size {} extends the log of size {} (root {}), both signed by {}",
        new_cp.size(),
        old_cp.size(),
        B64.encode(old_cp.root()),
        key.name()
    );
    Ok(Exit::Success)
}

/// A consistency proof as the API answers it (`{"from", "to", "hashes"}`: the sizes and the
/// hashes), or its base64 hashes one per line (no sizes).
#[allow(clippy::type_complexity)]
fn parse_proof(text: &str) -> Result<(Option<(u64, u64)>, Vec<String>), String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        from: u64,
        to: u64,
        hashes: Vec<String>,
    }
    if text.trim_start().starts_with('{') {
        let answer: Answer = serde_json::from_str(text).map_err(|e| {
            format!("not a consistency proof answer ({{\"from\", \"to\", \"hashes\"}}): {e}")
        })?;
        return Ok((Some((answer.from, answer.to)), answer.hashes));
    }
    let hashes = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    Ok((None, hashes))
}

/// `--export FILE --checkpoint FILE`.
fn export(path: &Path, checkpoint: &Path, trust: &Trust) -> Result<Exit, Exit> {
    let key = &trust.key;
    let cp = open_checkpoint(checkpoint, trust, "the checkpoint")?;
    verify_export(path, &cp).map_err(|e| failed(&e, ""))?;
    println!(
        "ok: the export's {} records hash to the root {} of the checkpoint signed by {}",
        cp.size(),
        B64.encode(cp.root()),
        key.name()
    );
    Ok(Exit::Success)
}

/// Reports `e` (after `context`) with the exit code its kind calls for.
fn failed(e: &Error, context: &str) -> Exit {
    fail(code(e), &format!("{context}{e}"))
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
        | Error::BadExport(_)
        | Error::BadBlob { .. }
        | Error::NotEnoughCosignatures { .. } => Exit::Failure,
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
    B64.encode(h)
}
