//! `GET /v1/audit/shipments[?status=open|overdue|discrepancy]`: the shipments under way and
//! those whose chain raised a discrepancy (rule S11), with their custody state as of the
//! gateway's clock (rule S12 decides `overdue`), from the list `crate::shipment::view` keeps
//! (every record acknowledged before the request applied). `status=open` and `status=overdue` select by the status shown;
//! `status=discrepancy` selects shipments with any flag, open or closed. Only regulators whose
//! scope covers `samples` (or `hgr`, for shipments of human genetic resources) see them.

use loopgate_policy::{ReasonCode, Scope};
use serde_json::{Value, json};

use super::query::{Params, malformed};
use super::reader::Reader;
use crate::api::shipment::tracked_json;
use crate::reply::ApiError;
use crate::state::AppState;

/// The list, filtered by `status=` and by what `reader` sees.
pub(super) fn list(
    state: &AppState,
    reader: &Reader,
    query: Option<&str>,
) -> Result<Value, ApiError> {
    let params = Params::parse(query, &["status"])?;
    let status = params.text("status");
    if let Some(status) = status {
        if !matches!(status, "open" | "overdue" | "discrepancy") {
            return Err(malformed(format!(
                "status={status:?} is not open, overdue or discrepancy"
            )));
        }
    }
    if !(reader.sees(Scope::Samples) || reader.sees(Scope::Hgr) || reader.sees_all()) {
        return Err(ApiError::new(ReasonCode::AuthForbidden).message(format!(
            "shipments are seen by regulators whose scope covers `samples`; regulator/{} does not",
            reader.id()
        )));
    }
    let now = state.clock.now();
    let params_in_force = state.policy().registry.parameters.clone();
    state.apply_handed_over(true);
    let shipments: Vec<Value> = state
        .shipments
        .list()
        .iter()
        .filter(|t| reader.sees_shipment(t.hgr, &t.sample_item))
        .filter(|t| match status {
            None => true,
            Some("discrepancy") => !t.custody.flags().is_empty(),
            Some(wanted) => t.custody.status(now, &params_in_force).as_str() == wanted,
        })
        .map(|t| tracked_json(t, now, &params_in_force))
        .collect();
    Ok(json!({ "as_of": super::retention::rfc3339(now), "shipments": shipments }))
}
