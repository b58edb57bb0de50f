//! The C2SP signed-note envelope: `<text>\n— <name> <base64(key id || signature)>\n...`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::key::{SigningKey, VerifierKey};
use crate::error::{Error, Result};

/// The signature line prefix: an em dash (U+2014) and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Signs `text` (UTF-8, ending in a newline) and returns the note.
pub(crate) fn sign(text: &str, key: &SigningKey) -> Result<String> {
    if !text.ends_with('\n') || text.contains("\n\n") {
        return Err(Error::invalid(
            "note text",
            "it must end with a newline and contain no blank line",
        ));
    }
    let sig = key.sign(text.as_bytes());
    let mut data = Vec::with_capacity(68);
    data.extend_from_slice(&key.id().to_be_bytes());
    data.extend_from_slice(&sig);
    Ok(format!(
        "{text}\n{SIG_PREFIX}{} {}\n",
        key.name(),
        B64.encode(data)
    ))
}

/// Opens a note: returns its text when it carries a valid signature by `key`. Signatures by
/// other keys are ignored; a signature that claims to be by `key` but does not verify is an
/// error (as in Go's `note.Open`).
pub(crate) fn open<'a>(note: &'a str, key: &VerifierKey) -> Result<&'a str> {
    let bad = |why: String| Error::BadCheckpoint(why);
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| bad("not a signed note: no blank line before the signatures".into()))?;
    let (text, sigs) = (&note[..=split], &note[split + 2..]);
    if !sigs.ends_with('\n') {
        return Err(bad("signature block must end with a newline".into()));
    }
    let mut verified = false;
    for line in sigs.lines() {
        let rest = line
            .strip_prefix(SIG_PREFIX)
            .ok_or_else(|| bad(format!("malformed signature line {line:?}")))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or_else(|| bad(format!("malformed signature line {line:?}")))?;
        let data = B64
            .decode(b64)
            .map_err(|_| bad(format!("signature of {name} is not base64")))?;
        if data.len() < 5 {
            return Err(bad(format!("signature of {name} is too short")));
        }
        let id = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
        if name != key.name() || id != key.id() {
            continue;
        }
        if !key.verify(text.as_bytes(), &data[4..]) {
            return Err(bad(format!(
                "signature by {name} does not verify: the checkpoint was altered or forged"
            )));
        }
        verified = true;
    }
    if verified {
        Ok(text)
    } else {
        Err(bad(format!(
            "no signature by the verifier key {}+{:08x}; check that you use this log's key",
            key.name(),
            key.id()
        )))
    }
}
