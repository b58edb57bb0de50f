//! Checkpoints: the C2SP `tlog-checkpoint` body (`<origin>\n<size>\n<base64 root>\n`) in a
//! C2SP signed note with an Ed25519 signature. Sign, open (parse and verify) and publish (store
//! the latest one atomically).

mod key;
mod note;

#[cfg(test)]
mod tests;

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

pub use key::{SigningKey, VerifierKey, check_key_name, key_id};

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

    /// The signed note, exactly as published.
    pub fn text(&self) -> &str {
        &self.text
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
