//! A custody event (`POST /v1/shipments/{id}/events`): checked against the shipment's chain as
//! the log holds it (rules S9-S11, `loopgate_policy::Custody::check`) at the custody record's own
//! time, under a per-shipment lock held across the check and the append, so two reports cannot
//! both take the same step. Accepted events and those the rules refuse are both logged: a
//! refusal is a `custody` record with its reason code, so regulators see what was attempted.
//! Discrepancies (rule S11) are accepted with flags on their record, never refused.
//!
//! A carrier that reports must still be whitelisted, approved and valid that day (rule S8 again,
//! `loopgate_policy::check_carrier`): one suspended after the declaration is refused with the S8
//! code, logged, before anything else is checked.
//!
//! Not logged: a caller that is no party of the shipment (403, as for reading it), an unknown
//! shipment (404), a chain with the most records one shipment may have (409).

use std::sync::Arc;

use loopgate_audit::Appended;
use loopgate_policy::{CustodyEvent, CustodyFlag, CustodyParty, ReasonCode, check_carrier};

use super::chain::Chain;
use super::records::{self, Event, Reported};
use crate::identity::Principal;
use crate::reply::ApiError;
use crate::state::{self, AppState};

/// Most custody records (accepted or refused) one shipment may have: with its declaration, its
/// whole chain stays within one index query.
pub(crate) const MAX_EVENTS: usize = super::chain::MAX_RECORDS - 10;

/// What became of an accepted report.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub(crate) appended: Appended,
    pub(crate) leaf: Vec<u8>,
    pub(crate) flags: Vec<CustodyFlag>,
}

/// Checks and logs `event` reported by `principal` on `shipment_id`; `Err` for a refusal
/// (logged or not, see the module documentation).
pub(crate) async fn report(
    state: &Arc<AppState>,
    principal: &Principal,
    shipment_id: &str,
    event: CustodyEvent,
    body: &Event,
) -> Result<Accepted, ApiError> {
    let _lock = state
        .transfer_locks
        .lock(&format!("shipment/{shipment_id}"))
        .await;
    let id = shipment_id.to_owned();
    let chain = state::blocking(state, move |state| {
        Chain::read(&state.log, &id)
            .map_err(|e| ApiError::audit_unavailable("the audit log cannot be read", e))
    })
    .await?;
    let Some(declaration) = chain.declaration() else {
        return Err(not_found(shipment_id));
    };
    let details = chain.details().ok_or_else(|| not_found(shipment_id))?;
    let Some(party) = records::party_of(
        &declaration.record,
        &details.carrier,
        principal.role,
        &principal.id,
    ) else {
        return Err(not_a_party(shipment_id));
    };
    if chain.logged_events() >= MAX_EVENTS {
        return Err(ApiError::new(ReasonCode::CustodyInvalidTransition)
            .message(format!(
                "shipment {shipment_id} has {MAX_EVENTS} custody records, the most one shipment may have"
            ))
            .shipment(shipment_id));
    }
    let custody = chain.custody();
    let snapshot = state.policy();
    let params = &snapshot.registry.parameters;
    let seals = body.seal_ids.clone().unwrap_or_default();
    let report = loopgate_policy::CustodyReport {
        event,
        at: body.at,
        by: party,
        seal_ids: body.seal_ids.as_ref().map(|_| seals.as_slice()),
        customs_declaration: body.customs_declaration.as_deref(),
        quantity: body.quantity,
        facility: body.facility.as_deref(),
        project: body.project.as_deref(),
        method: body.method.as_deref(),
        certificate_sha256: body.certificate_sha256.as_deref(),
    };
    let mut verdict = Err(ReasonCode::CustodyInvalidTransition);
    let (appended, leaf) = state
        .append_record(|now| {
            // A carrier must still be on the whitelist to report (S8 again).
            let standing = match party {
                CustodyParty::Carrier => check_carrier(&snapshot.registry, &principal.id, now),
                _ => Ok(()),
            };
            let (checked, held) = match (&custody, standing) {
                // A denied declaration starts no chain: nothing may follow it.
                (None, _) => (Err(ReasonCode::CustodyInvalidTransition), 0),
                (Some(custody), Err(code)) => (Err(code), custody.held()),
                (Some(custody), Ok(())) => match custody.check(&report, now, params) {
                    Ok(flags) => {
                        let mut after = custody.clone();
                        after.apply(&report, &flags);
                        let held = after.held();
                        (Ok(flags), held)
                    }
                    Err(code) => (Err(code), custody.held()),
                },
            };
            verdict = checked.clone();
            records::custody(
                &Reported {
                    declaration: &declaration.record,
                    carrier: &details.carrier,
                    hgr: details.hgr,
                    principal: principal.to_string(),
                    event,
                    body,
                    verdict: checked,
                    held,
                },
                now,
            )
        })
        .await
        .map_err(|e| {
            ApiError::audit_unavailable("custody event: the audit log cannot be written", e)
        })?;
    let refused = verdict.as_ref().err().map(|code| code.as_str());
    state.metrics.custody_step(event.as_str(), refused);
    match verdict {
        Ok(flags) => {
            tracing::info!(
                shipment_id,
                event = event.as_str(),
                log_index = appended.index,
                "custody event recorded"
            );
            Ok(Accepted {
                appended,
                leaf,
                flags,
            })
        }
        Err(code) => Err(ApiError::new(code)
            .message(refusal_message(code, event, custody.as_ref()))
            .logged(appended.index)
            .shipment(shipment_id)),
    }
}

/// What the refused reporter should do.
fn refusal_message(
    code: ReasonCode,
    event: CustodyEvent,
    custody: Option<&loopgate_policy::Custody>,
) -> String {
    let party = event.party().as_str();
    let event = event.as_str();
    match code {
        ReasonCode::AuthForbidden => {
            format!("{event} is reported by the {party} of a shipment, not by you (rule S9)")
        }
        ReasonCode::CustodyBadTime => "`at` is earlier than the shipment's last step (or its declaration) by more than clock_skew_secs, or ahead of the gateway's clock by more than that; give when it really happened (rule S10)".to_owned(),
        ReasonCode::CarrierNotWhitelisted | ReasonCode::CarrierNotValid => format!(
            "the carrier is no longer whitelisted, approved and valid today: {} (rule S8)",
            code.meaning()
        ),
        ReasonCode::CustodyMissingEvidence => format!(
            "{event} needs `at` and {} (rule S10)",
            evidence(event)
        ),
        _ => match custody {
            None => "the declaration was denied, so no custody event can follow it (rule S9)"
                .to_owned(),
            Some(custody) if custody.is_closed() => {
                "the shipment is closed: no event can follow (rule S9)".to_owned()
            }
            Some(custody) => {
                let next: Vec<&str> = custody.next_events().iter().map(|e| e.as_str()).collect();
                format!(
                    "{event} cannot come now; the next step is {} (rule S9)",
                    next.join(" or ")
                )
            }
        },
    }
}

/// The evidence `event` needs, as a phrase.
fn evidence(event: &str) -> &'static str {
    match event {
        "sealed" | "picked_up" => "`seal_ids` (a non-empty list of seal ids)",
        "border_cleared" => "`customs_declaration`",
        "received" => "`seal_ids` and `quantity` (units received, 0 or more)",
        "stored" => "`facility`",
        "checked_out" | "used" => "`quantity` (1 or more) and `project`",
        "returned" => "`quantity` (1 or more)",
        "destroyed" => "`quantity` (1 or more), `method` and `certificate_sha256` (64 hex digits)",
        _ => "nothing more",
    }
}

/// `request.not_found` for a shipment the log does not hold.
pub(crate) fn not_found(shipment_id: &str) -> ApiError {
    ApiError::new(ReasonCode::RequestNotFound).message(format!("no shipment {shipment_id:?}"))
}

/// 403 for a caller that is none of the shipment's parties.
pub(crate) fn not_a_party(shipment_id: &str) -> ApiError {
    ApiError::new(ReasonCode::AuthForbidden).message(format!(
        "only the sender, the recipient and the named carrier of shipment {shipment_id} may see it or report its events"
    ))
}
