//! The transfer headers of SPEC.md section 3, parsed into what the policy engine and the body
//! check need. A missing required header is `request.missing_header`; a header that is present
//! but unusable (twice, not visible ASCII, not a number, an unsupported digest) is
//! `request.malformed_header`. Both are logged denials with status 400.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName};
use loopgate_policy::ReasonCode;

// The headers the pipeline reads raw (a malformed request's) and sets on the upstream request,
// named once: a `&str` name is parsed (and lowercased) again at every lookup or insert.
pub(crate) const LOOP_RECIPIENT: HeaderName = HeaderName::from_static("loop-recipient");
pub(crate) const LOOP_INVENTORY_ITEM: HeaderName = HeaderName::from_static("loop-inventory-item");
pub(crate) const LOOP_PURPOSE: HeaderName = HeaderName::from_static("loop-purpose");
pub(crate) const LOOP_TRANSFER_ID: HeaderName = HeaderName::from_static("loop-transfer-id");
pub(crate) const LOOP_SENDER: HeaderName = HeaderName::from_static("loop-sender");

/// Largest `Loop-Data-Subjects` accepted: more people than live on Earth is a typo.
const MAX_SUBJECTS: u64 = 10_000_000_000;
/// Longest id, purpose or key accepted in a header.
const MAX_VALUE_LEN: usize = 256;

/// The transfer headers, validated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransferHeaders {
    /// `Loop-Inventory-Item`.
    pub item: String,
    /// `Loop-Recipient`.
    pub recipient: String,
    /// `Loop-Purpose`.
    pub purpose: String,
    /// `Loop-Contract-Filing`.
    pub filing: Option<String>,
    /// `Loop-Data-Subjects`.
    pub data_subjects: Option<u64>,
    /// `Content-Length`.
    pub content_length: Option<u64>,
    /// The `sha-256` member of `Content-Digest`.
    pub sha256: Option<[u8; 32]>,
    /// `Idempotency-Key`.
    pub idempotency_key: Option<String>,
}

/// Why the headers cannot make a transfer request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HeaderProblem {
    /// `request.missing_header` or `request.malformed_header`.
    pub code: ReasonCode,
    /// The header at fault.
    pub header: &'static str,
    /// A sentence for the sender.
    pub message: String,
}

impl HeaderProblem {
    fn missing(header: &'static str) -> Self {
        Self {
            code: ReasonCode::RequestMissingHeader,
            header,
            message: format!("the {header} header is required"),
        }
    }

    fn malformed(header: &'static str, why: &str) -> Self {
        Self {
            code: ReasonCode::RequestMalformedHeader,
            header,
            message: format!("the {header} header {why}"),
        }
    }
}

/// Parses the transfer headers. The first problem found, in the order of SPEC.md's table, wins.
pub fn parse(headers: &HeaderMap) -> Result<TransferHeaders, HeaderProblem> {
    let required = |name: &'static str| text(headers, name)?.ok_or(HeaderProblem::missing(name));
    Ok(TransferHeaders {
        item: required("Loop-Inventory-Item")?,
        recipient: required("Loop-Recipient")?,
        purpose: required("Loop-Purpose")?,
        filing: text(headers, "Loop-Contract-Filing")?,
        data_subjects: number(headers, "Loop-Data-Subjects", MAX_SUBJECTS)?,
        content_length: number(headers, "Content-Length", u64::MAX)?,
        sha256: content_digest(headers)?,
        idempotency_key: text(headers, "Idempotency-Key")?,
    })
}

/// One visible-ASCII value, at most 256 characters; `None` when absent.
fn text(headers: &HeaderMap, name: &'static str) -> Result<Option<String>, HeaderProblem> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(HeaderProblem::malformed(
            name,
            "is sent more than once; send it once",
        ));
    }
    let value = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|v| {
            !v.is_empty() && v.len() <= MAX_VALUE_LEN && v.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| {
            HeaderProblem::malformed(
                name,
                "must be 1 to 256 visible ASCII characters without spaces",
            )
        })?;
    Ok(Some(value.to_owned()))
}

/// A decimal count (digits only, no sign) up to `max`.
fn number(headers: &HeaderMap, name: &'static str, max: u64) -> Result<Option<u64>, HeaderProblem> {
    let Some(value) = text(headers, name)? else {
        return Ok(None);
    };
    let parsed = value
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| value.parse::<u64>().ok())
        .flatten()
        .filter(|n| *n <= max);
    parsed.map(Some).ok_or_else(|| {
        HeaderProblem::malformed(name, &format!("must be a whole number from 0 to {max}"))
    })
}

/// RFC 9530 `Content-Digest`: a dictionary whose `sha-256` member is a byte sequence
/// (`sha-256=:<base64>:`). Other algorithms may be listed too, but `sha-256` must be there: it is
/// the digest the gateway checks and logs.
fn content_digest(headers: &HeaderMap) -> Result<Option<[u8; 32]>, HeaderProblem> {
    const NAME: &str = "Content-Digest";
    let mut values = headers.get_all(NAME).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(HeaderProblem::malformed(
            NAME,
            "is sent more than once; send it once",
        ));
    }
    let bad =
        || HeaderProblem::malformed(NAME, "must be sha-256=:<base64 of the 32-byte SHA-256>:");
    let value = value.to_str().map_err(|_| bad())?;
    let mut sha256 = None;
    for member in value.split(',') {
        let (algorithm, bytes) = member.trim().split_once('=').ok_or_else(bad)?;
        if algorithm.trim() != "sha-256" {
            continue;
        }
        let encoded = bytes
            .trim()
            .strip_prefix(':')
            .and_then(|b| b.strip_suffix(':'))
            .ok_or_else(bad)?;
        let decoded = STANDARD.decode(encoded).map_err(|_| bad())?;
        let digest: [u8; 32] = decoded.try_into().map_err(|_| bad())?;
        if sha256.replace(digest).is_some() {
            return Err(bad());
        }
    }
    sha256.map(Some).ok_or_else(bad)
}

#[cfg(test)]
mod tests;
