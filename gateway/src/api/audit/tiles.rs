//! The log as C2SP `tlog-tiles` (SPEC.md section 5): `GET /v1/audit/tile/<L>/<N>[.p/<W>]`, hash
//! tiles, open to every regulator (they reveal only hashes), and
//! `GET /v1/audit/tile/entries/<N>[.p/<W>]`, entry bundles, only for a regulator that sees
//! `all` (a bundle holds every record of its range). The bytes come from the audit crate
//! (`Log::tile`, `Log::entry_bundle`: the index's tiles and the segments, nothing hashed here),
//! read on a blocking thread.
//!
//! A path that is not a tile path in the spec's one encoding (level 0-63 without leading zeros;
//! `N` in 3-digit groups, every group but the last prefixed `x`, no leading `x000`; `W` 1-255
//! without leading zeros) names no tile: 404 `request.not_found` saying why, as a static tile
//! server would answer. So does a tile past the tree. Full tiles never change: cached for a
//! year as immutable; partial tiles are `no-cache` (the spec lets a log drop them once the full
//! tile exists, and their width follows the growing tree).

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Response, header};
use http_body_util::{BodyExt, Full};
use loopgate_policy::ReasonCode;

use super::query::Params;
use super::reader::Reader;
use super::{blocking, unreadable};
use crate::api::Answer;
use crate::reply::ApiError;
use crate::state::AppState;

/// The width of a full tile.
const FULL: u64 = 256;

/// More 3-digit groups than a u64 tile index needs (20 digits) is no tile path.
const MAX_GROUPS: usize = 7;

/// What the caching headers of a full hash tile say: it never changes.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// A full entry bundle never changes either, but only some regulators may read it: no shared
/// cache may keep it for others.
const IMMUTABLE_PRIVATE: &str = "private, max-age=31536000, immutable";

/// A partial tile or bundle: asked again each time.
const PARTIAL: &str = "no-cache";

/// A tile's index within its level and its width (256: full, no `.p/` suffix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Coords {
    n: u64,
    width: u64,
}

impl Coords {
    fn path(self) -> String {
        let mut groups = vec![format!("{:03}", self.n % 1000)];
        let mut n = self.n / 1000;
        while n > 0 {
            groups.push(format!("x{:03}", n % 1000));
            n /= 1000;
        }
        groups.reverse();
        let mut path = groups.join("/");
        if self.width < FULL {
            path.push_str(&format!(".p/{}", self.width));
        }
        path
    }
}

/// The usage a bad path's answer repeats.
const USAGE: &str = "tiles are /v1/audit/tile/<L>/<N>[.p/<W>] and /v1/audit/tile/entries/<N>[.p/<W>] (C2SP tlog-tiles): L 0-63, N in 3-digit groups with all but the last prefixed x (1234067 is x001/x234/067), W 1-255 for a partial tile";

fn no_tile(path: &str, why: &str) -> ApiError {
    ApiError::new(ReasonCode::RequestNotFound)
        .message(format!("{path:?} is not a tile path: {why}; {USAGE}"))
}

/// A decimal number without leading zeros (`0` itself is fine).
fn decimal(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

/// `<N>[.p/<W>]`.
fn parse_coords(text: &str) -> Result<Coords, &'static str> {
    let (index, width) = match text.split_once(".p/") {
        Some((index, width)) => {
            let width = decimal(width)
                .filter(|w| (1..FULL).contains(w))
                .ok_or("a partial tile's width is 1 to 255 without leading zeros")?;
            (index, width)
        }
        None => (text, FULL),
    };
    let groups: Vec<&str> = index.split('/').collect();
    if groups.len() > MAX_GROUPS {
        return Err("the index has more 3-digit groups than a 64-bit index needs");
    }
    let mut n: u64 = 0;
    for (i, group) in groups.iter().enumerate() {
        let last = i + 1 == groups.len();
        let digits = if last {
            Some(*group)
        } else {
            group.strip_prefix('x')
        }
        .filter(|d| d.len() == 3 && d.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(if last {
            "the index's last group is 3 digits, without x"
        } else {
            "every group of the index but the last is x and 3 digits"
        })?;
        if i == 0 && !last && digits == "000" {
            return Err("the index has no leading x000 group (5 is 005)");
        }
        n = n
            .checked_mul(1000)
            .and_then(|n| n.checked_add(digits.parse::<u64>().ok()?))
            .ok_or("the index is past any 64-bit tile index")?;
    }
    Ok(Coords { n, width })
}

/// `<L>/<N>[.p/<W>]`.
fn parse_tile(text: &str) -> Result<(u8, Coords), &'static str> {
    let (level, rest) = text
        .split_once('/')
        .ok_or("a tile path is a level, then the index")?;
    let level = decimal(level)
        .filter(|l| *l <= 63)
        .and_then(|l| u8::try_from(l).ok())
        .ok_or("the level is 0 to 63 without leading zeros")?;
    Ok((level, parse_coords(rest)?))
}

/// The answer for a tile read as `what`: 404 past the tree or for a record too long for a
/// bundle, 503 when the log cannot be read.
fn read_error(state: &AppState, what: &str, e: loopgate_audit::Error) -> ApiError {
    match e {
        loopgate_audit::Error::OutOfRange { .. } => {
            ApiError::new(ReasonCode::RequestNotFound).message(format!(
                "no {what}: it reaches past the log's {} records (GET /v1/audit/checkpoint); at level L a tree of s records has floor(s / 256^L) / 256 full tiles and a partial one of floor(s / 256^L) mod 256",
                state.log.size()
            ))
        }
        e @ loopgate_audit::Error::EntryTooLarge { .. } => ApiError::new(ReasonCode::RequestNotFound)
            .message(format!("{what} cannot be served: {e}")),
        e => unreadable(e),
    }
}

/// The bytes as `application/octet-stream` with `cache` as `Cache-Control`.
fn octets(body: Vec<u8>, cache: &'static str) -> Answer {
    let mut response = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    Answer::Response(response)
}

/// `GET /v1/audit/tile/<L>/<N>[.p/<W>]`: `W` (256 for a full tile) 32-byte hashes.
pub(super) async fn tile(
    state: &Arc<AppState>,
    path: &str,
    query: Option<&str>,
) -> Result<Answer, ApiError> {
    Params::parse(query, &[])?;
    let (level, at) = parse_tile(path).map_err(|why| no_tile(path, why))?;
    let what = format!("tile {level}/{}", at.path());
    let body = blocking(state, move |state| {
        state
            .log
            .tile(level, at.n, at.width)
            .map_err(|e| read_error(state, &what, e))
    })
    .await?;
    Ok(octets(
        body,
        if at.width == FULL { IMMUTABLE } else { PARTIAL },
    ))
}

/// `GET /v1/audit/tile/entries/<N>[.p/<W>]`: `W` records, each a big-endian uint16 length and
/// its bytes; for a regulator that sees `all`.
pub(super) async fn entries(
    state: &Arc<AppState>,
    reader: Reader,
    path: &str,
    query: Option<&str>,
) -> Result<Answer, ApiError> {
    if !reader.sees_all() {
        return Err(ApiError::new(ReasonCode::AuthForbidden).message(format!(
            "entry bundles hold every record of their range, and regulator/{} does not see all records ([[regulator]] sees); read the records it sees with /v1/audit/records, and verify them with the hash tiles (/v1/audit/tile/<L>/<N>), open to every regulator",
            reader.id()
        )));
    }
    Params::parse(query, &[])?;
    let at = parse_coords(path).map_err(|why| no_tile(path, why))?;
    let what = format!("entry bundle {}", at.path());
    let body = blocking(state, move |state| {
        state
            .log
            .entry_bundle(at.n, at.width)
            .map_err(|e| read_error(state, &what, e))
    })
    .await?;
    Ok(octets(
        body,
        if at.width == FULL {
            IMMUTABLE_PRIVATE
        } else {
            PARTIAL
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coords(n: u64, width: u64) -> Coords {
        Coords { n, width }
    }

    #[test]
    fn tile_paths_parse_in_the_one_encoding_of_the_spec() {
        assert_eq!(parse_tile("0/000"), Ok((0, coords(0, 256))));
        assert_eq!(parse_tile("0/001.p/44"), Ok((0, coords(1, 44))));
        assert_eq!(parse_tile("1/000.p/1"), Ok((1, coords(0, 1))));
        assert_eq!(parse_tile("63/999"), Ok((63, coords(999, 256))));
        assert_eq!(
            parse_tile("2/x001/x234/067"),
            Ok((2, coords(1_234_067, 256)))
        );
        assert_eq!(parse_tile("0/x001/000.p/255"), Ok((0, coords(1000, 255))));
        assert_eq!(
            parse_coords("x018/x446/x744/x073/x709/x551/615"),
            Ok(coords(u64::MAX, 256))
        );
        for bad in [
            "",
            "0",
            "0/",
            "00/000",
            "01/000",
            "64/000",
            "-1/000",
            "a/000",
            "0/0",
            "0/0000",
            "0/x000",
            "0/x001",
            "0/001/002",
            "0/x000/001",
            "0/xx01/001",
            "0/x01/001",
            "0/X001/001",
            "0/00a",
            "0/+01",
            "0/000.p/0",
            "0/000.p/256",
            "0/000.p/300",
            "0/000.p/01",
            "0/000.p/",
            "0/000.p/a",
            "0/000.p/5/6",
            "0/000.p",
            "0/000.q/5",
            "0/x001.p/5/000",
            "0/x018/x446/x744/x073/x709/x551/616",
            "0/x999/x999/x999/x999/x999/x999/999",
            "0/x001/x001/x001/x001/x001/x001/x001/001",
        ] {
            assert!(parse_tile(bad).is_err(), "{bad:?}");
        }
        assert!(parse_coords("entries").is_err());
    }

    #[test]
    fn paths_are_written_back_as_parsed() {
        for path in [
            "000",
            "001.p/44",
            "x001/x234/067",
            "x018/x446/x744/x073/x709/x551/615",
        ] {
            assert_eq!(parse_coords(path).map(Coords::path).as_deref(), Ok(path));
        }
    }
}
