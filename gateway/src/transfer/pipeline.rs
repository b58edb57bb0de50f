//! The transfer pipeline of DESIGN.md, for one `POST /v1/transfers` (its HTTP side, the
//! idempotency key and the answer, is `api::transfer`):
//!
//! 1. the client certificate named the sender (`identity`, before this runs);
//! 2. the headers were parsed (`headers`); malformed ones are a logged denial, 400;
//! 3. **decide**: `loopgate_policy::evaluate` with the sender's rule-19 counters (`volume`), at
//!    the decision record's own time;
//! 4. **make the decision durable**: the decision record is appended and fsync'd; a denial ends
//!    here with its code and log index. No byte of the body is read before this;
//! 5. **forward** the body to the recipient's upstream (`forward`), held back until it is
//!    verified;
//! 6. **conclude**: the outcome record, durable, and what the receipt needs.

use std::sync::Arc;

use http::{HeaderMap, HeaderName, Request};
use loopgate_audit::{Appended, Record};
use loopgate_policy::{Decision, ReasonCode, TransferRequest, VolumeCounters};
use time::OffsetDateTime;

use super::forward::forward;
use super::headers::{
    HeaderProblem, LOOP_INVENTORY_ITEM, LOOP_PURPOSE, LOOP_RECIPIENT, TransferHeaders,
};
use super::id::new_id;
use super::records::{self, CompletedDetails, DataScope, DecisionFacts, Ending};
use crate::api::RequestBody;
use crate::reply::ApiError;
use crate::state::{AppState, PolicySnapshot};

/// How a transfer request ended.
#[derive(Debug)]
pub(crate) enum Concluded {
    /// Refused, by a rule or for malformed headers; the denial is logged.
    Denied(ApiError),
    /// Delivered: the `completed` outcome record, durable, with its proof.
    Completed {
        transfer_id: String,
        appended: Appended,
        leaf: Vec<u8>,
        details: CompletedDetails,
    },
    /// Admitted but not delivered: the `failed` outcome record's index, the reason, and the
    /// bytes received before it failed.
    Failed {
        transfer_id: String,
        reason: ReasonCode,
        log_index: u64,
        size: Option<u64>,
    },
}

/// Runs the pipeline for `request` from `sender`, whose headers parsed as `parsed`. `Err` only
/// when the log cannot be written: before the decision is durable nothing was forwarded; when
/// only the outcome fails, the body may have been (the message says so, with the transfer id).
pub(crate) async fn run(
    state: &AppState,
    sender: &str,
    parsed: Result<TransferHeaders, HeaderProblem>,
    request: Request<RequestBody>,
) -> Result<Concluded, ApiError> {
    let transfer = Transfer::start(state, sender);
    // From before its decision is appended (a refused append may still reach the log) until
    // its outcome is: the concluding task leaves it alone meanwhile (see `state::conclude`).
    let _running = state.running(&transfer.id);
    let headers = match parsed {
        Ok(headers) => headers,
        Err(problem) => return transfer.refuse(problem, request.headers()).await,
    };
    let (max_bytes, scope) = match transfer.decide(&headers).await? {
        Decided::Admitted { max_bytes, scope } => (max_bytes, scope),
        Decided::Denied(denial) => return Ok(Concluded::Denied(denial)),
    };
    let in_flight = state.metrics.transfer_started();
    let ending = forward(state, &transfer.id, sender, &headers, max_bytes, request).await;
    drop(in_flight);
    transfer.conclude(&headers, ending.in_scope(scope)).await
}

/// Refuses a request whose `Idempotency-Key` was first used for another request, as a logged
/// denial: a decision record with `request.idempotency_conflict`, the headers as sent (the key
/// among them) and a transfer id of its own, which the answer names. The record is never what
/// the key answers for (`idempotency` passes over it), and nothing of the first request is
/// shown. `Err` only when the log cannot be written.
pub(crate) async fn refuse_conflict(
    state: &AppState,
    sender: &str,
    headers: &TransferHeaders,
    message: &str,
) -> Result<ApiError, ApiError> {
    let code = ReasonCode::RequestIdempotencyConflict;
    let transfer = Transfer::start(state, sender);
    let (appended, _) = append(state, |at| {
        records::decision(&transfer.facts(Some(headers), at), Err(code))
    })
    .await?;
    Ok(ApiError::new(code)
        .message(message)
        .logged(appended.index)
        .transfer(&transfer.id))
}

/// What step 4 left to do.
enum Decided {
    /// Forward the body, at most `max_bytes` (the item's limit); the data's class goes on the
    /// outcome record.
    Admitted { max_bytes: u64, scope: DataScope },
    /// Answer the logged denial.
    Denied(ApiError),
}

/// One request on its way: its id and the policy snapshot it is decided under.
struct Transfer<'a> {
    state: &'a AppState,
    id: String,
    sender: &'a str,
    snapshot: Arc<PolicySnapshot>,
}

impl<'a> Transfer<'a> {
    fn start(state: &'a AppState, sender: &'a str) -> Self {
        Self {
            state,
            id: new_id(state.clock.now()),
            sender,
            snapshot: state.policy(),
        }
    }

    /// The decision record's facts, at `at`.
    fn facts<'b>(
        &'b self,
        headers: Option<&'b TransferHeaders>,
        at: OffsetDateTime,
    ) -> DecisionFacts<'b> {
        let registry = &self.snapshot.registry;
        let filing = headers.and_then(|h| h.filing.as_ref());
        DecisionFacts {
            transfer_id: &self.id,
            sender: self.sender,
            headers,
            raw: [None; 3],
            policy_version: self.snapshot.version,
            at,
            route: filing.and_then(|f| registry.filings.get(f).map(|f| f.route)),
        }
    }

    /// Step 2's refusal: malformed or missing headers, logged with what was sent, 400.
    async fn refuse(
        &self,
        problem: HeaderProblem,
        sent: &HeaderMap,
    ) -> Result<Concluded, ApiError> {
        let raw = |name: HeaderName| sent.get(name).and_then(|v| v.to_str().ok());
        let raw = [
            raw(LOOP_RECIPIENT),
            raw(LOOP_INVENTORY_ITEM),
            raw(LOOP_PURPOSE),
        ];
        let (appended, _) = append(self.state, |at| {
            let facts = DecisionFacts {
                raw,
                ..self.facts(None, at)
            };
            records::decision(&facts, Err(problem.code))
        })
        .await?;
        let denial = ApiError::new(problem.code)
            .message(problem.message)
            .logged(appended.index)
            .transfer(&self.id);
        Ok(Concluded::Denied(denial))
    }

    /// Steps 3 and 4: evaluates the request at the decision record's own time (under the
    /// stamp lock, see `record::stamp`) and waits until the record is durable.
    async fn decide(&self, headers: &TransferHeaders) -> Result<Decided, ApiError> {
        let registry = &self.snapshot.registry;
        let request = TransferRequest {
            sender: self.sender.to_owned(),
            recipient: headers.recipient.clone(),
            item: headers.item.clone(),
            purpose: headers.purpose.clone(),
            filing: headers.filing.clone(),
            data_subjects: headers.data_subjects,
            declared_size: headers.content_length,
            volume: VolumeCounters::default(),
        };
        let mut decided: Option<Decision> = None;
        let (appended, _) = append(self.state, |at| {
            let decision = self.state.volumes.evaluate(registry, request, at);
            let record = records::decision(&self.facts(Some(headers), at), Ok(&decision));
            decided = Some(decision);
            record
        })
        .await?;
        let decision = decided.ok_or_else(|| internal("the decision was not evaluated"))?;
        if let Some(code) = decision.reason {
            let rule = decision
                .rule
                .map_or(String::new(), |r| format!(" (rule {r})"));
            let denial = ApiError::new(code)
                .message(format!("denied{rule}: {}", code.meaning()))
                .logged(appended.index)
                .transfer(&self.id);
            return Ok(Decided::Denied(denial));
        }
        let item = registry
            .items
            .get(&headers.item)
            .ok_or_else(|| internal("an allowed item is missing from its registry"))?;
        Ok(Decided::Admitted {
            max_bytes: item.max_transfer_bytes,
            scope: DataScope {
                data_class: decision.data_class,
                hgr: decision.hgr,
            },
        })
    }

    /// Step 6: the outcome record, durable.
    async fn conclude(
        self,
        headers: &TransferHeaders,
        ending: Ending,
    ) -> Result<Concluded, ApiError> {
        let parties = [
            self.sender,
            headers.recipient.as_str(),
            headers.item.as_str(),
        ];
        let appended = self
            .state
            .append_record(|at| records::outcome(&self.id, parties, &ending, at))
            .await;
        // Admitted and forwarded, but its outcome is not in the log: the concluding task
        // writes `interrupted` once the log takes writes (unless the refused record reached
        // the log after all). The body may have reached the upstream, so the client must not
        // resend it blindly.
        let (appended, leaf) = appended.map_err(|e| outcome_unlogged(&self.id, e))?;
        Ok(match ending {
            Ending::Completed(details) => Concluded::Completed {
                transfer_id: self.id,
                appended,
                leaf,
                details,
            },
            Ending::Failed { reason, details } => Concluded::Failed {
                transfer_id: self.id,
                reason,
                log_index: appended.index,
                size: details.size,
            },
        })
    }
}

/// Builds a record at its log time with `build`, appends it and waits until it is durable.
async fn append<F>(state: &AppState, build: F) -> Result<(Appended, Vec<u8>), ApiError>
where
    F: FnOnce(OffsetDateTime) -> Result<Record, loopgate_audit::Error>,
{
    state.append_record(build).await.map_err(|e| {
        ApiError::audit_unavailable(
            "the audit log cannot be written, so nothing was forwarded",
            e,
        )
    })
}

/// 503 `audit.unavailable` for a transfer whose outcome append failed after its body was
/// forwarded: unlike every other `audit.unavailable`, something may have been delivered. The
/// log's own error (which advises a retry) goes to the gateway's log only.
fn outcome_unlogged(transfer_id: &str, e: loopgate_audit::Error) -> ApiError {
    tracing::error!(transfer_id, error = %e, "the outcome of a forwarded transfer cannot be logged");
    ApiError::new(ReasonCode::AuditUnavailable)
        .message(format!(
            "transfer {transfer_id}: its decision is logged and its body was forwarded, but its outcome cannot be written to the audit log, so delivery is unknown (the upstream may have it); do not resend before checking GET /v1/transfers/{transfer_id}, where its outcome will be recorded (as interrupted unless the log kept the outcome)"
        ))
        .transfer(transfer_id)
}

fn internal(e: &str) -> ApiError {
    ApiError::audit_unavailable("cannot build the audit record", e)
}
