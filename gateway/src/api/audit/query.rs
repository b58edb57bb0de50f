//! The query strings of the regulator API and of the tenant's transfer list: `name=value` pairs, percent-decoded, each name known to
//! the endpoint and given at most once. An empty value counts as absent (so `?tenant=&limit=10`,
//! SPEC.md's template filled in part, works). Anything else is 400 `request.malformed_query`.

use std::collections::BTreeMap;

use loopgate_policy::ReasonCode;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::reply::ApiError;

/// A `request.malformed_query` error saying what to do.
pub(in crate::api) fn malformed(message: impl Into<String>) -> ApiError {
    ApiError::new(ReasonCode::RequestMalformedQuery).message(message)
}

/// The decoded parameters of one request.
#[derive(Debug, Default)]
pub(in crate::api) struct Params {
    values: BTreeMap<&'static str, String>,
}

impl Params {
    /// Parses `query` (the URI's query, without `?`), accepting only the names in `known`.
    pub(in crate::api) fn parse(
        query: Option<&str>,
        known: &[&'static str],
    ) -> Result<Self, ApiError> {
        let mut values = BTreeMap::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(name)?;
            let Some(&known_name) = known.iter().find(|k| **k == name) else {
                let expected = if known.is_empty() {
                    "this endpoint takes no parameters".to_owned()
                } else {
                    format!("use {}", known.join(", "))
                };
                return Err(malformed(format!(
                    "unknown query parameter {name:?}; {expected}"
                )));
            };
            let value = decode(value)?;
            if value.is_empty() {
                continue;
            }
            if values.insert(known_name, value).is_some() {
                return Err(malformed(format!(
                    "query parameter {name:?} is given twice; give it once"
                )));
            }
        }
        Ok(Self { values })
    }

    /// The text of `name`, when given.
    pub(in crate::api) fn text(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// `name` as a non-negative integer, when given.
    pub(in crate::api) fn number(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.text(name)
            .map(|text| {
                text.parse::<u64>().map_err(|_| {
                    malformed(format!(
                        "{name}={text:?} is not a non-negative integer; give a decimal number"
                    ))
                })
            })
            .transpose()
    }

    /// `name` as an RFC 3339 instant, when given.
    pub(super) fn instant(&self, name: &str) -> Result<Option<OffsetDateTime>, ApiError> {
        self.text(name).map(|text| instant(name, text)).transpose()
    }
}

/// `text` as an RFC 3339 instant (the error names the parameter `name`). A `+` sent unencoded
/// arrives as a space (query strings decode `+` so): when putting it back makes an instant,
/// the message says to send `%2B`.
pub(super) fn instant(name: &str, text: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        let plus = text.replace(' ', "+");
        if text.contains(' ') && OffsetDateTime::parse(&plus, &Rfc3339).is_ok() {
            return malformed(format!(
                "a '+' in a query must be sent as %2B; the time {text:?} is {plus:?} with its '+' decoded as a space: send {name}={}",
                plus.replace('+', "%2B")
            ));
        }
        malformed(format!(
            "{name}={text:?} is not an RFC 3339 instant; use e.g. 2026-11-25T08:00:00Z"
        ))
    })
}

/// Percent-decodes one component (`+` is a space, as in HTML forms); the result must be UTF-8.
fn decode(text: &str) -> Result<String, ApiError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        malformed(format!(
                            "{text:?} has a '%' not followed by two hex digits; percent-encode it as %25"
                        ))
                    })?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| malformed(format!("{text:?} does not decode to UTF-8 text")))
}
