//! Rule 21's overdue list and rule 19's year-to-date counters, served from the views in sled
//! (`crate::views`), as of the gateway's clock. Every record acknowledged before the request is
//! in them (`AppState::apply_handed_over`).

use loopgate_policy::{ReasonCode, Scope, retention_due};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::query::Params;
use super::reader::Reader;
use crate::reply::ApiError;
use crate::state::AppState;

fn unreadable(e: sled::Error) -> ApiError {
    ApiError::audit_unavailable("the views of the audit log cannot be read", e)
}

pub(super) fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// `GET /v1/audit/retention/overdue`: completed transfers whose retention period (received +
/// `retention_days`) ended before now and that have no `destroyed` event, in transfer id order,
/// of those the regulator's scope covers.
pub(super) fn overdue(
    state: &AppState,
    reader: &Reader,
    query: Option<&str>,
) -> Result<Value, ApiError> {
    Params::parse(query, &[])?;
    let now = state.clock.now();
    state.apply_handed_over(true);
    let transfers: Vec<Value> = state
        .views
        .overdue(now)
        .map_err(unreadable)?
        .into_iter()
        .filter(|open| reader.sees_transfer(open.scope, &open.item))
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

/// `GET /v1/audit/counters[?legal_entity=|?processor=]`: data subjects of admitted
/// personal-information transfers in the counting year that contains now, per legal entity and
/// route (`processor`, a tenant id, selects its legal entity). They count personal
/// information, so the regulator's scope must cover `personal`.
pub(super) fn counters(
    state: &AppState,
    reader: &Reader,
    query: Option<&str>,
) -> Result<Value, ApiError> {
    let params = Params::parse(query, &["legal_entity", "processor"])?;
    if !reader.sees(Scope::Personal) {
        return Err(ApiError::new(ReasonCode::AuthForbidden).message(format!(
            "the counters are of personal information; regulator/{} does not see `personal`",
            reader.id()
        )));
    }
    let now = state.clock.now();
    let registry = &state.policy().registry;
    let entity = match (params.text("legal_entity"), params.text("processor")) {
        (Some(entity), _) => Some(entity),
        (None, Some(tenant)) => Some(registry.legal_entity_of(tenant).unwrap_or(tenant)),
        (None, None) => None,
    };
    state.apply_handed_over(true);
    let counters: Vec<Value> = state
        .views
        .counters(now, registry, entity)
        .map_err(unreadable)?
        .into_iter()
        .map(|c| {
            json!({
                "legal_entity": c.legal_entity,
                "tenants": c.tenants,
                "year_start": c.year_start.to_string(),
                "route": c.route,
                "subjects": c.subjects,
                "sensitive_subjects": c.sensitive_subjects,
            })
        })
        .collect();
    let parameters = &registry.parameters;
    let (month, day) = parameters.volume_year_start;
    let thresholds = json!({
        "threshold_contract": parameters.threshold_contract,
        "threshold_assessment": parameters.threshold_assessment,
        "threshold_sensitive_assessment": parameters.threshold_sensitive_assessment,
        "volume_year_start": format!("{:02}-{day:02}", u8::from(month)),
    });
    Ok(json!({ "as_of": rfc3339(now), "counters": counters, "thresholds": thresholds }))
}
