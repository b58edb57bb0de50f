//! The C2SP signed-note envelope: `<text>\n— <name> <base64(key id || signature)>\n...`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::key::{SigningKey, VerifierKey};
use crate::error::{Error, Result};

/// The signature line prefix: an em dash (U+2014) and a space.
pub(crate) const SIG_PREFIX: &str = "\u{2014} ";

/// The most signature lines a note may carry (C2SP `signed-note`: verifiers must accept at
/// least 16); more is refused, so a note cannot make a verifier hash without end.
pub(crate) const MAX_SIGNATURES: usize = 64;

/// One signature line of a note, parsed but not verified.
pub(crate) struct Signature<'a> {
    /// The key name.
    pub(crate) name: &'a str,
    /// The key id (the first 4 bytes).
    pub(crate) id: u32,
    /// The signature bytes after the key id.
    pub(crate) sig: Vec<u8>,
}

/// Signs `text` (UTF-8, ending in a newline) and returns the note.
pub(crate) fn sign(text: &str, key: &SigningKey) -> Result<String> {
    if !text.ends_with('\n') || text.contains("\n\n") {
        return Err(Error::invalid(
            "note text",
            "it must end with a newline and contain no blank line",
        ));
    }
    let sig = key.sign(text.as_bytes());
    Ok(format!(
        "{text}\n{}",
        signature_line(key.name(), key.id(), &sig)
    ))
}

/// A signature line, `— <name> <base64(id || sig)>\n`.
pub(crate) fn signature_line(name: &str, id: u32, sig: &[u8]) -> String {
    let mut data = Vec::with_capacity(4 + sig.len());
    data.extend_from_slice(&id.to_be_bytes());
    data.extend_from_slice(sig);
    format!("{SIG_PREFIX}{name} {}\n", B64.encode(data))
}

/// Splits a note into its text (with the final newline, without the blank line) and its
/// parsed signature lines. Malformed lines are errors; nothing is verified.
pub(crate) fn split(note: &str) -> Result<(&str, Vec<Signature<'_>>)> {
    let split = note.rfind("\n\n").ok_or_else(|| {
        Error::BadCheckpoint("not a signed note: no blank line before the signatures".into())
    })?;
    let (text, sigs) = (&note[..=split], &note[split + 2..]);
    if !sigs.ends_with('\n') {
        return Err(Error::BadCheckpoint(
            "signature block must end with a newline".into(),
        ));
    }
    let sigs = sigs
        .lines()
        .map(parse_signature_line)
        .collect::<Result<Vec<_>>>()?;
    if sigs.len() > MAX_SIGNATURES {
        return Err(Error::BadCheckpoint(format!(
            "{} signature lines, more than the {MAX_SIGNATURES} accepted",
            sigs.len()
        )));
    }
    Ok((text, sigs))
}

/// Parses one signature line (without its newline).
pub(crate) fn parse_signature_line(line: &str) -> Result<Signature<'_>> {
    let bad = |why: String| Error::BadCheckpoint(why);
    let rest = line
        .strip_prefix(SIG_PREFIX)
        .ok_or_else(|| bad(format!("malformed signature line {line:?}")))?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or_else(|| bad(format!("malformed signature line {line:?}")))?;
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(bad(format!(
            "malformed key name in signature line {line:?}"
        )));
    }
    let data = B64
        .decode(b64)
        .map_err(|_| bad(format!("signature of {name} is not base64")))?;
    let Some((id, sig)) = data.split_first_chunk::<4>() else {
        return Err(bad(format!("signature of {name} is too short")));
    };
    Ok(Signature {
        name,
        id: u32::from_be_bytes(*id),
        sig: sig.to_vec(),
    })
}

/// Opens a note: returns its text when it carries a valid signature by `key`. Signatures by
/// other keys are ignored; a signature that claims to be by `key` but does not verify is an
/// error (as in Go's `note.Open`).
pub(crate) fn open<'a>(note: &'a str, key: &VerifierKey) -> Result<&'a str> {
    let (text, sigs) = split(note)?;
    let mut verified = false;
    for sig in sigs {
        if sig.name != key.name() || sig.id != key.id() {
            continue;
        }
        if !key.verify(text.as_bytes(), &sig.sig) {
            return Err(Error::BadCheckpoint(format!(
                "signature by {} does not verify: the checkpoint was altered or forged",
                sig.name
            )));
        }
        verified = true;
    }
    if verified {
        Ok(text)
    } else {
        Err(Error::BadCheckpoint(format!(
            "no signature by the verifier key {}+{:08x}; check that you use this log's key",
            key.name(),
            key.id()
        )))
    }
}
