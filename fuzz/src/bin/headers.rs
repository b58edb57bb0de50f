//! AFL target for the transfer-header parser (`loopgate::parse_transfer_headers`): any set of
//! header lines must give validated headers or one `request.missing_header` /
//! `request.malformed_header` problem naming a header, never a panic. What it accepts holds what
//! SPEC.md section 3 promises: ids of 1 to 256 visible ASCII bytes, a count of at most ten
//! billion subjects.
//!
//! Input: lines `name:value` separated by `\n`; a line whose name or value http refuses is
//! skipped (hyper would refuse the request before the gateway saw it).

use http::{HeaderMap, HeaderName, HeaderValue};
use loopgate::parse_transfer_headers;
use loopgate_policy::ReasonCode;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let mut map = HeaderMap::new();
        for line in data.split(|b| *b == b'\n') {
            let Some(colon) = line.iter().position(|b| *b == b':') else {
                continue;
            };
            let (name, value) = (&line[..colon], &line[colon + 1..]);
            let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
            else {
                continue;
            };
            map.append(name, value);
        }
        match parse_transfer_headers(&map) {
            Ok(parsed) => {
                for id in [&parsed.item, &parsed.recipient, &parsed.purpose] {
                    assert!(!id.is_empty() && id.len() <= 256, "{id:?}");
                    assert!(id.bytes().all(|b| b.is_ascii_graphic()), "{id:?}");
                }
                assert!(parsed.data_subjects.is_none_or(|n| n <= 10_000_000_000));
            }
            Err(problem) => {
                assert!(matches!(
                    problem.code,
                    ReasonCode::RequestMissingHeader | ReasonCode::RequestMalformedHeader
                ));
                assert!(problem.message.contains(problem.header));
            }
        }
    });
}
