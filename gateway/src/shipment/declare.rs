//! A shipment declaration (`POST /v1/shipments`), decided like a transfer: rules S1-S8 are
//! evaluated at the `shipment` record's own time, the record is made durable, and only then is
//! the sender answered: a receipt, or the logged denial with its code. With an
//! `idempotency_key`, a retry of the same declaration gets the first one's answer (never a second
//! shipment); the same key with another declaration is refused, `request.idempotency_conflict`,
//! and nothing is logged.

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use loopgate_policy::{ReasonCode, ShipmentDecision, ShipmentRequest, evaluate_shipment};

use super::chain::Chain;
use super::records::{self, Declaration};
use crate::api::receipt::Receipt;
use crate::api::view::Proven;
use crate::reply::{ApiError, Reply};
use crate::state::{self, AppState};
use crate::transfer::id::new_id;

/// Decides and logs `declared` from tenant `sender`; the reply is the receipt of its `shipment`
/// record (201) or the logged denial. The flag is whether the answer is a replay: the first
/// declaration's with this `idempotency_key`, sent again (the request log marks it).
pub(crate) async fn declare(
    state: &Arc<AppState>,
    sender: &str,
    declared: Declaration,
) -> (Result<Reply, ApiError>, bool) {
    let Some(key) = declared.idempotency_key.clone() else {
        return (decide(state, sender, &declared).await, false);
    };
    let _declaring = state.shipments.declaring.lock().await;
    let found = match key_of(state, sender, &key).await {
        Ok(found) => found,
        Err(e) => return (Err(e), false),
    };
    match found {
        Some(shipment_id) => replay(state, shipment_id, declared).await,
        None => (decide(state, sender, &declared).await, false),
    }
}

/// The shipment `sender`'s `key` declared, if any (within the retention window).
async fn key_of(
    state: &Arc<AppState>,
    sender: &str,
    key: &str,
) -> Result<Option<String>, ApiError> {
    // The views hold every declaration acknowledged before this one (the first with this key
    // among them).
    let (lookup, who) = (key.to_owned(), sender.to_owned());
    state::blocking(state, move |state| {
        state
            .views_current()
            .map_err(|e| ApiError::audit_unavailable("the audit log cannot be read", e))?;
        let retention = state.config().limits.idempotency_retention;
        state
            .shipments
            .key(&who, &lookup, state.clock.now(), retention)
            .map_err(|e| ApiError::audit_unavailable("the idempotency keys cannot be read", e))
    })
    .await
}

/// Evaluates S1-S8 at the record's time, appends the `shipment` record and waits until it is
/// durable.
async fn decide(
    state: &Arc<AppState>,
    sender: &str,
    declared: &Declaration,
) -> Result<Reply, ApiError> {
    let snapshot = state.policy();
    let request = ShipmentRequest {
        sender: sender.to_owned(),
        recipient: declared.recipient.clone(),
        sample_item: declared.sample_item.clone(),
        quantity: declared.quantity,
        purpose: declared.purpose.clone(),
        carrier: declared.carrier.clone(),
    };
    let shipment_id = new_id(state.clock.now());
    let mut decided: Option<ShipmentDecision> = None;
    let (appended, leaf) = state
        .append_record(|at| {
            let decision = evaluate_shipment(&snapshot.registry, &request, at);
            let record = records::shipment(
                &shipment_id,
                sender,
                declared,
                &decision,
                snapshot.version,
                at,
            );
            decided = Some(decision);
            record
        })
        .await
        .map_err(|e| ApiError::audit_unavailable("the audit log cannot be written", e))?;
    let decision = decided.ok_or_else(|| {
        ApiError::audit_unavailable("cannot build the audit record", "not evaluated")
    })?;
    state
        .metrics
        .shipment_decision(decision.reason.map(ReasonCode::as_str));
    if let Some(code) = decision.reason {
        let rule = decision
            .rule
            .map_or(String::new(), |r| format!(" (rule S{r})"));
        return Err(ApiError::new(code)
            .message(format!("denied{rule}: {}", code.meaning()))
            .logged(appended.index)
            .shipment(&shipment_id));
    }
    tracing::info!(shipment_id, log_index = appended.index, "shipment declared");
    let witnessed = crate::cosign::witness(state, &appended).await;
    let body = Receipt::proven(
        appended.index,
        &leaf,
        Some(appended.leaf_hash),
        &appended.checkpoint,
        &appended.inclusion_proof,
    )
    .witnessed(&witnessed)
    .shipment(&shipment_id)
    .to_vec();
    Ok((StatusCode::CREATED, Bytes::from(body)))
}

/// A retry of the declaration that made `shipment_id`: its first answer (a replay), or a
/// conflict when the retry asks for something else.
async fn replay(
    state: &Arc<AppState>,
    shipment_id: String,
    declared: Declaration,
) -> (Result<Reply, ApiError>, bool) {
    let answer = state::blocking(state, move |state| {
        let chain = Chain::read(&state.log, &shipment_id)
            .map_err(|e| ApiError::audit_unavailable("the audit log cannot be read", e))?;
        let (Some(found), Some(details)) = (chain.declaration(), chain.details()) else {
            return Err(ApiError::new(ReasonCode::RequestInProgress)
                .message("the first declaration with this idempotency_key has no record yet"));
        };
        if !details.same_request(&found.record, &declared) {
            return Err(ApiError::new(ReasonCode::RequestIdempotencyConflict).message(format!(
                "idempotency_key was first used for another declaration (shipment {shipment_id}); use a new key for a new declaration"
            )));
        }
        if let Some(code) = found.reason() {
            return Err(ApiError::new(code)
                .message(format!("denied: {}", code.meaning()))
                .logged(found.index)
                .shipment(&shipment_id));
        }
        let proven = Proven::latest(state, found)?;
        let body = proven.of(found).shipment(&shipment_id).to_vec();
        Ok((StatusCode::CREATED, Bytes::from(body)))
    })
    .await;
    // The first answer again: its receipt, or its logged denial (not a conflict, nor a first
    // declaration still without its record).
    let replayed = match &answer {
        Ok(_) => true,
        Err(e) => e.log_index.is_some(),
    };
    (answer, replayed)
}
