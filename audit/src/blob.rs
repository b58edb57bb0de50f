//! Content-addressed blobs beside the log, for what a record must name but cannot hold: records
//! stay small (at most 65 535 bytes, because the C2SP `tlog-tiles` entry bundles give each
//! record a uint16 length), while a policy bundle of a few hundred tenants is larger. Such a record names
//! its blobs by SHA-256 and size under its `blobs` key (`{"<name>": {"sha256": "<hex>",
//! "size": <bytes>}}`); the bytes live in `<log dir>/blobs/sha256/<hex>`, written and fsync'd
//! (file and directories) before the record that names them is appended, so a durable record
//! never names a blob that a power loss could take back. The record's leaf hash covers the
//! digest, so an altered or missing blob is found by `audit verify` ([`crate::verify_dir`]
//! checks every blob a record names) and by whoever reads it back ([`get_blob`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::fsio;

/// The blobs' folder inside the log's data directory.
pub const BLOBS: &str = "blobs";
/// The subfolder of SHA-256-named blobs.
const SHA256: &str = "sha256";

/// A record's reference to one blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobRef {
    /// SHA-256 of the blob's bytes, 64 lower-case hex digits (also its file name).
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

impl BlobRef {
    /// The reference to `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self {
            sha256: hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref()),
            size: bytes.len() as u64,
        }
    }

    /// Its file in the log's data directory `dir` (`None` when `sha256` is not 64 hex digits,
    /// so a reference read from a record never names a path outside the folder).
    pub fn path(&self, dir: &Path) -> Option<PathBuf> {
        let well_formed = self.sha256.len() == 64
            && self
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        well_formed.then(|| dir.join(BLOBS).join(SHA256).join(&self.sha256))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Stores `bytes` as a blob of the log in `dir` (blocking): written to a temporary file,
/// fsync'd, renamed, its folder fsync'd. A blob already there with the right content is kept.
pub fn put_blob(dir: &Path, bytes: &[u8]) -> Result<BlobRef> {
    let blob = BlobRef::of(bytes);
    let blobs = dir.join(BLOBS);
    fsio::create_dir(&blobs)?;
    fsio::create_dir(&blobs.join(SHA256))?;
    let path = blobs.join(SHA256).join(&blob.sha256);
    if get_blob(dir, &blob).is_err() {
        fsio::replace(&path, bytes)?;
    }
    Ok(blob)
}

/// The bytes of `blob` of the log in `dir`, checked against its size and SHA-256 (blocking).
pub fn get_blob(dir: &Path, blob: &BlobRef) -> Result<Vec<u8>> {
    let path = blob.path(dir).ok_or_else(|| {
        Error::invalid(
            "blob reference",
            format!("{:?} is not 64 lower-case hex digits", blob.sha256),
        )
    })?;
    let bytes = std::fs::read(&path).map_err(|source| Error::BadBlob {
        path: path.clone(),
        what: format!("cannot be read ({source})"),
    })?;
    let found = BlobRef::of(&bytes);
    if found != *blob {
        return Err(Error::BadBlob {
            path,
            what: format!(
                "holds {} bytes with SHA-256 {}, not the {} bytes with SHA-256 {} its record names",
                found.size, found.sha256, blob.size, blob.sha256
            ),
        });
    }
    Ok(bytes)
}

/// The blobs a leaf names under its `blobs` key (none for most records: those without the key
/// are not parsed).
pub(crate) fn named(leaf: &[u8]) -> Result<Vec<BlobRef>> {
    if !leaf.windows(8).any(|w| w == b"\"blobs\":") {
        return Ok(Vec::new());
    }
    let value: serde_json::Value =
        serde_json::from_slice(leaf).map_err(|e| Error::InvalidRecord(format!("not JSON: {e}")))?;
    let Some(blobs) = value.get("blobs") else {
        return Ok(Vec::new());
    };
    let named: std::collections::BTreeMap<String, BlobRef> = serde_json::from_value(blobs.clone())
        .map_err(|e| {
            Error::InvalidRecord(format!(
                "its blobs are not {{\"<name>\": {{\"sha256\", \"size\"}}}}: {e}"
            ))
        })?;
    Ok(named.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_is_read_back_checked_and_a_changed_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = vec![7u8; 100_000];
        let blob = put_blob(dir.path(), &bytes).unwrap();
        assert_eq!(blob.size, 100_000);
        assert_eq!(get_blob(dir.path(), &blob).unwrap(), bytes);
        // Stored twice: one file.
        assert_eq!(put_blob(dir.path(), &bytes).unwrap(), blob);
        let path = blob.path(dir.path()).unwrap();
        std::fs::write(&path, b"changed").unwrap();
        let err = get_blob(dir.path(), &blob).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        // put_blob repairs a damaged copy.
        put_blob(dir.path(), &bytes).unwrap();
        std::fs::remove_file(&path).unwrap();
        let err = get_blob(dir.path(), &blob).unwrap_err().to_string();
        assert!(err.contains("cannot be read"), "{err}");
        let outside = BlobRef {
            sha256: "../../etc/passwd".into(),
            size: 1,
        };
        assert!(outside.path(dir.path()).is_none());
    }

    #[test]
    fn blobs_are_found_in_leaves_that_name_them() {
        let blob = BlobRef::of(b"x");
        let leaf = format!(
            r#"{{"v":1,"kind":"policy_change","time":"2026-11-25T13:00:00Z","blobs":{{"bundle":{{"sha256":"{}","size":1}}}}}}"#,
            blob.sha256
        );
        assert_eq!(named(leaf.as_bytes()).unwrap(), vec![blob]);
        assert!(named(br#"{"v":1}"#).unwrap().is_empty());
    }
}
