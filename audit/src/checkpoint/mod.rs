//! Checkpoints: the C2SP `tlog-checkpoint` body (`<origin>\n<size>\n<base64 root>\n`) in a
//! C2SP signed note with an Ed25519 signature. Sign, open (parse and verify) and publish (store
//! the latest one atomically); witnesses' `cosignature/v1` cosignatures of them (`cosignature`)
//! and the `add-checkpoint` messages that ask a witness for one (`witness`).

mod cosignature;
mod key;
mod note;
mod witness;

#[cfg(test)]
mod tests;

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

pub use cosignature::{
    Cosignature, WitnessSigningKey, WitnessVerifierKey, cosigned_message, open_cosigned,
    verify_cosignature_lines, verify_cosigned,
};
pub use key::{SigningKey, VerifierKey, check_key_name, key_id};
pub use witness::{AddCheckpoint, MAX_PROOF_LINES, SIZE_CONTENT_TYPE, parse_cosignature_lines};

use crate::error::{Error, Result};
use crate::store::fsio;
use crate::tree::Hash;

/// A signed checkpoint: the log's size and root, signed by its key.
#[derive(Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    text: String,
}

impl Checkpoint {
    /// Signs the checkpoint of the tree of `size` leaves with root `root`.
    pub fn sign(origin: &str, size: u64, root: Hash, key: &SigningKey) -> Result<Self> {
        check_origin(origin)?;
        let body = format!("{origin}\n{size}\n{}\n", B64.encode(root));
        let text = note::sign(&body, key)?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            text,
        })
    }

    /// Parses a signed checkpoint and verifies its signature by `key`.
    pub fn open(text: &str, key: &VerifierKey) -> Result<Self> {
        let body = note::open(text, key)?;
        let (origin, size, root) = parse_body(body)?;
        Ok(Self {
            origin,
            size,
            root,
            text: text.to_owned(),
        })
    }

    /// Parses a checkpoint *without* checking any signature: only for sizing decisions that
    /// are safe whoever signed it (recovery refusing to cut records below it).
    pub(crate) fn parse_unverified(text: &str) -> Result<(String, u64, Hash)> {
        let split = text
            .rfind("\n\n")
            .ok_or_else(|| Error::BadCheckpoint("not a signed note".into()))?;
        parse_body(&text[..=split])
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash.
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The signed note, exactly as published (or as given to [`Checkpoint::open`], with every
    /// signature line it had).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The note text: `<origin>\n<size>\n<base64 root>\n` (the signed part, without the
    /// blank line and the signatures). A `cosignature/v1` signs this after its two header
    /// lines.
    pub fn body(&self) -> &str {
        self.text
            .rfind("\n\n")
            .map_or(self.text.as_str(), |split| &self.text[..=split])
    }

    /// The note with `cosignatures` appended as more signature lines: the cosigned checkpoint
    /// a client verifies with [`crate::verify_cosigned`]. Lines already in the note are not
    /// repeated.
    pub fn with_cosignatures(&self, cosignatures: &[Cosignature]) -> String {
        let mut text = self.text.clone();
        for c in cosignatures {
            let sigs = &text[self.body().len() + 1..];
            if !sigs.lines().any(|l| format!("{l}\n") == c.line()) {
                text.push_str(c.line());
            }
        }
        text
    }

    /// The note with only the signature lines of `key` (the log's): what a witness keeps of a
    /// checkpoint it was sent, leaving out lines it did not verify. `key` must be the key this
    /// checkpoint was opened with.
    pub fn only_signed_by(&self, key: &VerifierKey) -> Result<Checkpoint> {
        let (body, sigs) = note::split(&self.text)?;
        let start = body.len() + 1;
        let mut text = format!("{body}\n");
        for (sig, line) in sigs.iter().zip(self.text[start..].lines()) {
            if sig.name == key.name() && sig.id == key.id() {
                text.push_str(line);
                text.push('\n');
            }
        }
        // This checkpoint was opened with `key`: its lines are verified already (a second
        // check cost a witness two Ed25519 verifications per request).
        Ok(Checkpoint {
            text,
            ..self.clone()
        })
    }

    /// This checkpoint with `cosignatures` appended to its note ([`Checkpoint::with_cosignatures`])
    /// as a checkpoint: for cosignatures already verified, or made, by the caller (a witness
    /// keeping its own).
    pub fn cosigned(&self, cosignatures: &[Cosignature]) -> Checkpoint {
        Checkpoint {
            text: self.with_cosignatures(cosignatures),
            ..self.clone()
        }
    }

    /// The origin of a signed checkpoint, *without* checking any signature (a witness picks
    /// the log's key by it). Errors when the note's body is not a checkpoint.
    pub fn unverified_origin(text: &str) -> Result<String> {
        Self::parse_unverified(text).map(|(origin, _, _)| origin)
    }

    /// Stores this checkpoint as `path` atomically (replace: temp file, fsync, rename, fsync
    /// the directory).
    pub fn publish(&self, path: &Path) -> Result<()> {
        fsio::replace(path, self.text.as_bytes())
    }
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("origin", &self.origin)
            .field("size", &self.size)
            .field("root", &B64.encode(self.root))
            .finish()
    }
}

/// An origin is one non-empty line.
pub(crate) fn check_origin(origin: &str) -> Result<()> {
    if origin.is_empty() || origin.contains('\n') || origin.trim() != origin {
        return Err(Error::invalid(
            "origin",
            format!("{origin:?}: use one non-empty line, e.g. loopgate.example/audit"),
        ));
    }
    Ok(())
}

fn parse_body(body: &str) -> Result<(String, u64, Hash)> {
    let bad = |why: &str| Error::BadCheckpoint(why.to_owned());
    let mut lines = body.split('\n');
    let origin = lines
        .next()
        .filter(|o| !o.is_empty())
        .ok_or_else(|| bad("no origin line"))?;
    let size = lines.next().ok_or_else(|| bad("no tree size line"))?;
    if size.is_empty()
        || !size.bytes().all(|b| b.is_ascii_digit())
        || (size.len() > 1 && size.starts_with('0'))
    {
        return Err(bad("tree size is not a decimal number"));
    }
    let size: u64 = size.parse().map_err(|_| bad("tree size is too large"))?;
    let root = lines.next().ok_or_else(|| bad("no root hash line"))?;
    let root: Hash = B64
        .decode(root)
        .ok()
        .and_then(|r| r.try_into().ok())
        .ok_or_else(|| bad("root hash is not 32 bytes of base64"))?;
    Ok((origin.to_owned(), size, root))
}
