//! `GET /v1/audit/records`: the records matching every given filter, in log order, a page at a
//! time (`after` is the cursor the previous page returned as `next`).

use std::sync::Arc;

use loopgate_audit::{Field, Selection};
use serde::Serialize;

use super::query::{Params, malformed};
use super::{blocking, unreadable};
use crate::api::receipt::{Entry, entry, to_vec};
use crate::reply::ApiError;
use crate::state::AppState;

/// Records per page when `limit` is not given.
pub(crate) const DEFAULT_LIMIT: usize = 100;
/// The largest page; a larger `limit` is clamped to it.
pub(crate) const MAX_LIMIT: usize = 1000;

/// The query parameters and the indexed field each filter matches.
const FILTERS: [(&str, Field); 5] = [
    ("tenant", Field::Sender),
    ("recipient", Field::Recipient),
    ("inventory_item", Field::Item),
    ("decision", Field::Decision),
    ("reason", Field::Reason),
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
    let limit = match params.number("limit")? {
        None => DEFAULT_LIMIT,
        Some(0) => return Err(malformed("limit=0 asks for nothing; give 1 to 1000")),
        Some(n) => usize::try_from(n).unwrap_or(MAX_LIMIT).min(MAX_LIMIT),
    };
    Ok(Selection {
        terms,
        from: params.instant("from")?,
        to: params.instant("to")?,
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

/// Serves one page: `{"records": [{"log_index", "leaf", "leaf_hash", "record"}], "next"}`, as
/// JSON bytes.
pub(super) async fn select(
    state: &Arc<AppState>,
    query: Option<&str>,
) -> Result<Vec<u8>, ApiError> {
    let selection = selection(query)?;
    blocking(state, move |state| {
        let page = state.log.select(&selection).map_err(unreadable)?;
        let body = PageBody {
            next: page.next,
            records: page
                .records
                .iter()
                .map(|(index, leaf)| entry(*index, leaf))
                .collect(),
        };
        Ok(to_vec(&body))
    })
    .await
}
