//! `GET /v1/audit/records`: the records matching every given filter, in log order, a page at a
//! time (`after` is the cursor the previous page returned as `next`).

use std::sync::Arc;

use loopgate_audit::{Field, Kind, Selection};
use serde::Serialize;

use super::query::{Params, malformed};
use super::reader::Reader;
use super::{blocking, unreadable};
use crate::api::receipt::{Entry, entry, to_vec};
use crate::reply::ApiError;
use crate::state::AppState;

/// Records per page when `limit` is not given.
pub(crate) const DEFAULT_LIMIT: usize = 100;
/// The largest page; a larger `limit` is clamped to it.
pub(crate) const MAX_LIMIT: usize = 1000;

/// The query parameters and the indexed field each filter matches.
const FILTERS: [(&str, Field); 9] = [
    ("tenant", Field::Sender),
    ("recipient", Field::Recipient),
    ("inventory_item", Field::Item),
    ("sample_item", Field::SampleItem),
    ("shipment", Field::Shipment),
    ("decision", Field::Decision),
    ("reason", Field::Reason),
    ("kind", Field::Kind),
    ("transfer_id", Field::Transfer),
];

/// The selection a query string asks for.
fn selection(query: Option<&str>) -> Result<Selection, ApiError> {
    let mut known: Vec<&'static str> = FILTERS.iter().map(|(name, _)| *name).collect();
    known.extend(["from", "to", "after", "limit"]);
    let params = Params::parse(query, &known)?;
    let mut terms = Vec::new();
    for (name, field) in FILTERS {
        if let Some(value) = params.text(name) {
            terms.push((field, value.as_bytes().to_vec()));
        }
    }
    if let Some(decision) = params.text("decision") {
        if decision != "allow" && decision != "deny" {
            return Err(malformed(format!(
                "decision={decision:?} is not allow or deny"
            )));
        }
    }
    if let Some(kind) = params.text("kind") {
        if Kind::parse(kind).is_none() {
            let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
            return Err(malformed(format!(
                "kind={kind:?} is not a record kind; use one of {}",
                kinds.join(", ")
            )));
        }
    }
    let limit = match params.number("limit")? {
        None => DEFAULT_LIMIT,
        Some(0) => return Err(malformed("limit=0 asks for nothing; give 1 to 1000")),
        Some(n) => usize::try_from(n).unwrap_or(MAX_LIMIT).min(MAX_LIMIT),
    };
    let (from, to) = (params.instant("from")?, params.instant("to")?);
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            return Err(malformed(
                "from is after to; give the earlier instant first",
            ));
        }
    }
    Ok(Selection {
        terms,
        from,
        to,
        after: params.number("after")?,
        limit,
    })
}

/// One page as JSON (keys in alphabetical order, as a `Value` map had them).
#[derive(Serialize)]
struct PageBody<'a> {
    next: Option<u64>,
    records: Vec<Entry<'a>>,
}

/// Most pages of the index one request reads for a regulator who sees part of the log: past
/// them it answers with the records found so far and `next` where it stopped, so a narrow scope
/// over a long log costs each request a bounded amount.
const MAX_PAGES_READ: usize = 10;

/// Serves one page of the records the regulator sees: `{"records": [{"log_index", "leaf",
/// "leaf_hash", "record"}], "next"}`, as JSON bytes. A page may hold fewer than `limit` records
/// (even none) with a `next`: the cursor is where the reading stopped.
pub(super) async fn select(
    state: &Arc<AppState>,
    reader: Reader,
    query: Option<&str>,
) -> Result<Vec<u8>, ApiError> {
    let selection = selection(query)?;
    blocking(state, move |state| {
        let (records, next) = visible(state, &reader, selection)?;
        let body = PageBody {
            next,
            records: records
                .iter()
                .map(|(index, leaf)| entry(*index, leaf))
                .collect(),
        };
        Ok(to_vec(&body))
    })
    .await
}

/// The records of `selection` that `reader` sees, and the cursor after them.
#[allow(clippy::type_complexity)]
fn visible(
    state: &AppState,
    reader: &Reader,
    mut selection: Selection,
) -> Result<(Vec<(u64, Vec<u8>)>, Option<u64>), ApiError> {
    if reader.sees_all() {
        let page = state.log.select(&selection).map_err(unreadable)?;
        return Ok((page.records, page.next));
    }
    let limit = selection.limit;
    let mut found = Vec::new();
    for _ in 0..MAX_PAGES_READ {
        let page = state.log.select(&selection).map_err(unreadable)?;
        let mut rows = page.records.into_iter().peekable();
        while let Some((index, leaf)) = rows.next() {
            if reader.sees_leaf(&leaf) {
                found.push((index, leaf));
                if found.len() == limit {
                    let more = rows.peek().is_some() || page.next.is_some();
                    return Ok((found, more.then_some(index)));
                }
            }
        }
        match page.next {
            Some(last) => selection.after = Some(last),
            None => return Ok((found, None)),
        }
    }
    Ok((found, selection.after))
}
