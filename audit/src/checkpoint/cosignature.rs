//! Witness cosignatures: C2SP `tlog-cosignature`, `cosignature/v1` (timestamped Ed25519).
//!
//! A witness signs `cosignature/v1\ntime <t>\n` followed by the checkpoint's note text (its
//! body, with the final newline, without any signature line). The signature line is a normal
//! note signature, `— <witness name> base64(key id || timestamp || signature)`, with the key id
//! `SHA-256(name || 0x0A || 0x04 || public key)[:4]` and the 72-byte timestamped signature: the
//! timestamp as a big-endian u64, then the 64-byte Ed25519 signature. A cosigned checkpoint is
//! the log's signed note with one more signature line per witness.

use std::fmt;
use std::path::Path;

use super::Checkpoint;
use super::key::{ALG_COSIGNATURE_V1, SigningKey, VerifierKey};
use super::note;
use crate::error::{Error, Result};

/// The most a cosignature's timestamp may be (the spec: it MUST NOT exceed 2^63 - 1).
const MAX_TIME: u64 = i64::MAX as u64;

/// The message a `cosignature/v1` signs: the header line, the time line and the checkpoint's
/// note text (`body`, ending in a newline).
pub fn cosigned_message(body: &str, time: u64) -> String {
    format!("cosignature/v1\ntime {time}\n{body}")
}

/// A witness's Ed25519 signing key for `cosignature/v1`. Its file is a standard note signer
/// key, `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>` (what `loopgate witness keygen`
/// writes, and what transparency-dev's `note.NewSignerForCosignatureV1` reads); its verifier
/// key is the same public key with the cosignature type byte 0x04 and the id derived from it.
/// Use a key made for the witness only: never a log's key. `Debug` never shows the secret.
#[derive(Debug)]
pub struct WitnessSigningKey {
    key: SigningKey,
    verifier: WitnessVerifierKey,
}

impl WitnessSigningKey {
    /// A new random key named `name` (a schema-less URL is recommended, e.g.
    /// `pcpd.example/witness`).
    pub fn generate(name: &str) -> Result<Self> {
        Ok(Self::from_key(SigningKey::generate(name)?))
    }

    /// Parses the key text (see the type's documentation).
    pub fn parse(text: &str) -> Result<Self> {
        Ok(Self::from_key(SigningKey::parse(text)?))
    }

    /// Reads a key file; refused when group or others may read it.
    pub fn load(path: &Path) -> Result<Self> {
        Ok(Self::from_key(SigningKey::load(path)?))
    }

    /// Writes the key to a new file `path` (mode 0600; fails if the file exists), synced.
    pub fn create_file(&self, path: &Path) -> Result<()> {
        self.key.create_file(path)
    }

    fn from_key(key: SigningKey) -> Self {
        let verifier = WitnessVerifierKey(key.verifier_of_type(ALG_COSIGNATURE_V1));
        Self { key, verifier }
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        self.key.name()
    }

    /// The verifier key to give to those who check this witness's cosignatures.
    pub fn verifier(&self) -> &WitnessVerifierKey {
        &self.verifier
    }

    /// Cosigns `checkpoint` at `time` (POSIX seconds, neither 0 nor above 2^63 - 1). The caller
    /// has checked that the checkpoint is consistent with every one it cosigned before.
    pub fn cosign(&self, checkpoint: &Checkpoint, time: u64) -> Result<Cosignature> {
        if time == 0 || time > MAX_TIME {
            return Err(Error::invalid(
                "cosignature time",
                format!("{time}: use the current POSIX time in seconds"),
            ));
        }
        let msg = cosigned_message(checkpoint.body(), time);
        let sig = self.key.sign(msg.as_bytes());
        let mut timestamped = [0u8; 72];
        timestamped[..8].copy_from_slice(&time.to_be_bytes());
        timestamped[8..].copy_from_slice(&sig);
        Ok(Cosignature {
            witness: self.name().to_owned(),
            id: self.verifier.id(),
            time,
            line: note::signature_line(self.name(), self.verifier.id(), &timestamped),
        })
    }
}

/// A witness's verifier key, `<name>+<hex id>+<base64(0x04 || Ed25519 public key)>`.
#[derive(Clone, PartialEq, Eq)]
pub struct WitnessVerifierKey(VerifierKey);

impl WitnessVerifierKey {
    /// Parses the text form (surrounding white space ignored); a log's key (type 0x01) is
    /// refused.
    pub fn parse(text: &str) -> Result<Self> {
        VerifierKey::parse_typed(text, ALG_COSIGNATURE_V1, "witness verifier key").map(Self)
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// The key id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Checks a signature line's bytes after the key id: `Some(time)` when it is a valid
    /// timestamped cosignature of `body`.
    fn verify(&self, body: &str, timestamped: &[u8]) -> Option<u64> {
        let (time, sig) = timestamped.split_first_chunk::<8>()?;
        let time = u64::from_be_bytes(*time);
        if sig.len() != 64 || time > MAX_TIME {
            return None;
        }
        self.0
            .verify(cosigned_message(body, time).as_bytes(), sig)
            .then_some(time)
    }
}

impl fmt::Display for WitnessVerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for WitnessVerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WitnessVerifierKey({self})")
    }
}

/// One witness's cosignature of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    witness: String,
    id: u32,
    time: u64,
    line: String,
}

impl Cosignature {
    /// The witness's name.
    pub fn witness(&self) -> &str {
        &self.witness
    }

    /// The witness key's id.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// When the witness cosigned, in POSIX seconds.
    pub fn time(&self) -> u64 {
        self.time
    }

    /// The note signature line, `— <name> <base64>` and a newline: what a witness answers to
    /// `add-checkpoint`, and what is appended to the log's note to cosign it.
    pub fn line(&self) -> &str {
        &self.line
    }
}

/// Opens a cosigned checkpoint: checks the log's signature by `log_key` (as
/// [`Checkpoint::open`]) and returns the checkpoint with the cosignatures by `witnesses` that
/// verify, one per witness key. Signature lines of unknown keys are ignored; a line whose name
/// and key id are a known witness's but whose signature does not verify makes the whole note
/// an error (C2SP `signed-note`: such a note is malformed).
pub fn open_cosigned(
    text: &str,
    log_key: &VerifierKey,
    witnesses: &[WitnessVerifierKey],
) -> Result<(Checkpoint, Vec<Cosignature>)> {
    let checkpoint = Checkpoint::open(text, log_key)?;
    let (body, sigs) = note::split(text)?;
    let mut found: Vec<Cosignature> = Vec::new();
    for (sig, line) in sigs.iter().zip(signature_lines(text)) {
        let Some(key) = witnesses
            .iter()
            .find(|k| k.name() == sig.name && k.id() == sig.id)
        else {
            continue;
        };
        let time = key.verify(body, &sig.sig).ok_or_else(|| {
            Error::BadCheckpoint(format!(
                "the cosignature by witness {} does not verify: the checkpoint or the \
                 cosignature was altered, or the witness key is not this one",
                sig.name
            ))
        })?;
        if found
            .iter()
            .any(|c| c.witness == sig.name && c.id == sig.id)
        {
            continue;
        }
        found.push(Cosignature {
            witness: sig.name.to_owned(),
            id: sig.id,
            time,
            line: format!("{line}\n"),
        });
    }
    Ok((checkpoint, found))
}

/// The cosignatures by `witness` among signature `lines` (each `— <name> <base64>`, as a
/// witness answers `add-checkpoint`) over `checkpoint`, which the caller already trusts (a log
/// that signed it itself): only the cosignatures are checked, not the log's signature again.
/// Lines of other keys are ignored; a line with the witness's name and key id that does not
/// verify is an error, as in [`open_cosigned`].
pub fn verify_cosignature_lines(
    checkpoint: &Checkpoint,
    lines: &[String],
    witness: &WitnessVerifierKey,
) -> Result<Vec<Cosignature>> {
    let text = checkpoint.body().to_owned() + "\n" + &lines.concat();
    let (body, sigs) = note::split(&text)?;
    let mut found = Vec::new();
    for (sig, line) in sigs.iter().zip(signature_lines(&text)) {
        if sig.name != witness.name() || sig.id != witness.id() {
            continue;
        }
        let time = witness.verify(body, &sig.sig).ok_or_else(|| {
            Error::BadCheckpoint(format!(
                "the cosignature by witness {} does not verify: the checkpoint or the \
                 cosignature was altered, or the witness key is not this one",
                sig.name
            ))
        })?;
        if found.is_empty() {
            found.push(Cosignature {
                witness: sig.name.to_owned(),
                id: sig.id,
                time,
                line: format!("{line}\n"),
            });
        }
    }
    Ok(found)
}

/// Like [`open_cosigned`], and the note must carry valid cosignatures by at least `quorum` of
/// `witnesses` (distinct keys): [`Error::NotEnoughCosignatures`] otherwise.
pub fn verify_cosigned(
    text: &str,
    log_key: &VerifierKey,
    witnesses: &[WitnessVerifierKey],
    quorum: usize,
) -> Result<(Checkpoint, Vec<Cosignature>)> {
    let (checkpoint, cosignatures) = open_cosigned(text, log_key, witnesses)?;
    if cosignatures.len() < quorum {
        return Err(Error::NotEnoughCosignatures {
            valid: cosignatures.len(),
            needed: quorum,
        });
    }
    Ok((checkpoint, cosignatures))
}

/// The signature lines of a note (after its last blank line), without their newlines.
fn signature_lines(note: &str) -> impl Iterator<Item = &str> {
    let start = note.rfind("\n\n").map_or(note.len(), |i| i + 2);
    note[start..].lines()
}
