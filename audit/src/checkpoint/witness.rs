//! The messages of C2SP `tlog-witness`'s `add-checkpoint`: the request body a log sends
//! (`old <size>\n`, one base64 consistency proof hash per line, a blank line, the signed
//! checkpoint) and the answer a witness gives (its cosignature lines). Only the formats: the
//! witness's checks and state, and the HTTP around them, are the caller's.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::note;
use crate::error::{Error, Result};
use crate::tree::Hash;

/// The most consistency proof lines a request may carry (the spec: a client MUST NOT send
/// more than 63).
pub const MAX_PROOF_LINES: usize = 63;

/// The `Content-Type` of a witness's 409 answer, whose body is its latest cosigned size and a
/// newline.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// An `add-checkpoint` request: "here is my new checkpoint, and a proof that it extends the
/// one of size `old` you cosigned last".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the latest checkpoint the client believes the witness cosigned (0: none).
    pub old: u64,
    /// The RFC 6962 consistency proof from `old` to the checkpoint's size (empty when `old`
    /// is 0 or equal to the size).
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, as the log signed it (it may carry more signatures).
    pub checkpoint: String,
}

impl AddCheckpoint {
    /// The request body.
    pub fn to_body(&self) -> String {
        let mut body = format!("old {}\n", self.old);
        for hash in &self.proof {
            body.push_str(&B64.encode(hash));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&self.checkpoint);
        body
    }

    /// Parses a request body. Errors ([`Error::Invalid`], "add-checkpoint request") are the
    /// client's fault: a witness answers them 400. The checkpoint is not parsed or verified.
    pub fn parse(body: &str) -> Result<Self> {
        let bad = |why: String| Error::invalid("add-checkpoint request", why);
        let (old, mut rest) = body
            .split_once('\n')
            .ok_or_else(|| bad("no old size line; start with `old <size>`".into()))?;
        let old = old
            .strip_prefix("old ")
            .ok_or_else(|| bad(format!("first line {old:?} is not `old <size>`")))?;
        let old = parse_size(old).ok_or_else(|| {
            bad(format!(
                "old size {old:?} is not a decimal number without leading zeros"
            ))
        })?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = rest
                .split_once('\n')
                .ok_or_else(|| bad("no blank line before the checkpoint".into()))?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(bad(format!(
                    "more than {MAX_PROOF_LINES} consistency proof lines"
                )));
            }
            let hash: Hash = B64
                .decode(line)
                .ok()
                .and_then(|h| h.try_into().ok())
                .ok_or_else(|| bad(format!("proof line {line:?} is not 32 bytes of base64")))?;
            proof.push(hash);
        }
        if rest.is_empty() {
            return Err(bad("no checkpoint after the blank line".into()));
        }
        Ok(Self {
            old,
            proof,
            checkpoint: rest.to_owned(),
        })
    }
}

/// Parses a witness's 200 answer: one or more note signature lines, each ending in a newline.
/// Returns the lines with their newlines, ready to append to the checkpoint's note (then check
/// them with [`crate::open_cosigned`]: a line may be from a key the client does not trust).
pub fn parse_cosignature_lines(body: &str) -> Result<Vec<String>> {
    let bad = |why: &str| Error::BadCheckpoint(format!("witness answer: {why}"));
    if body.is_empty() || !body.ends_with('\n') {
        return Err(bad("expected signature lines, each ending in a newline"));
    }
    let lines: Vec<String> = body
        .lines()
        .map(|line| note::parse_signature_line(line).map(|_| format!("{line}\n")))
        .collect::<Result<_>>()?;
    if lines.len() > note::MAX_SIGNATURES {
        return Err(bad("too many signature lines"));
    }
    Ok(lines)
}

/// A tree size as the spec writes it: ASCII decimal, no leading zeros (`0` for zero).
fn parse_size(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}
