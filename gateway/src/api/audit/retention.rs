//! Rule 21's overdue list and rule 19's year-to-date counters, served from the in-memory views
//! (`crate::views`), as of the gateway's clock.

use loopgate_policy::retention_due;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::query::Params;
use crate::reply::ApiError;
use crate::state::AppState;

fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// `GET /v1/audit/retention/overdue`: completed transfers whose retention period (received +
/// `retention_days`) ended before now and that have no `destroyed` event, in transfer id order.
pub(super) fn overdue(state: &AppState, query: Option<&str>) -> Result<Value, ApiError> {
    Params::parse(query, &[])?;
    let now = state.clock.now();
    let transfers: Vec<Value> = state
        .views
        .overdue(now)
        .into_iter()
        .map(|open| {
            json!({
                "transfer_id": open.transfer_id,
                "sender": open.sender,
                "recipient": open.recipient,
                "inventory_item": open.item,
                "received": rfc3339(open.received),
                "due": rfc3339(retention_due(open.received, open.retention_days)),
                "retention_days": open.retention_days,
                "outcome_log_index": open.outcome_log_index,
            })
        })
        .collect();
    Ok(json!({ "as_of": rfc3339(now), "transfers": transfers }))
}

/// `GET /v1/audit/counters[?processor=]`: data subjects of admitted personal-information
/// transfers in the counting year that contains now, per processor and route.
pub(super) fn counters(state: &AppState, query: Option<&str>) -> Result<Value, ApiError> {
    let params = Params::parse(query, &["processor"])?;
    let now = state.clock.now();
    let registry = &state.policy().registry;
    let counters: Vec<Value> = state
        .views
        .counters(now, registry, params.text("processor"))
        .into_iter()
        .map(|c| {
            json!({
                "processor": c.processor,
                "year_start": c.year_start.to_string(),
                "route": c.route,
                "subjects": c.subjects,
                "sensitive_subjects": c.sensitive_subjects,
            })
        })
        .collect();
    Ok(json!({ "as_of": rfc3339(now), "counters": counters }))
}
