//! `POST /v1/transfers`, the HTTP side: the `Idempotency-Key` (a retry gets the first
//! request's answer, rebuilt from its records, never a second transfer; another request under
//! the same key is refused), the pipeline run in a task of its own (a client
//! that goes away cannot leave an admitted transfer without its outcome record), and the answer:
//! `201` with the receipt, or the error with its log index. The pipeline itself is
//! `transfer::pipeline`.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode};
use loopgate_audit::Verdict;
use loopgate_policy::ReasonCode;

use super::receipt::receipt;
use super::{Logged, view};
use crate::api::RequestBody;
use crate::reply::{ApiError, Reply};
use crate::state::AppState;
use crate::transfer::headers::{self, HeaderProblem, TransferHeaders};
use crate::transfer::idempotency::{self, Claim};
use crate::transfer::pipeline::{self, Concluded};

/// Serves one transfer request from tenant `sender`.
pub(super) async fn post(
    state: &Arc<AppState>,
    sender: &str,
    request: Request<RequestBody>,
) -> (Reply, Logged) {
    let parsed = headers::parse(request.headers());
    let Some((key, asked)) = parsed.as_ref().ok().and_then(|h| {
        h.idempotency_key
            .clone()
            .map(|key| (key, idempotency::fingerprint(h)))
    }) else {
        return spawned(state, sender, parsed, request).await;
    };
    // Decided once the views hold every record acknowledged before (on a blocking thread: it
    // may read the log), so a retry never misses its first request's decision.
    let (who, lookup) = (sender.to_owned(), key.clone());
    let claim = crate::state::blocking(state, move |state| {
        state
            .claim_key(&who, &lookup, asked)
            .map_err(|e| ApiError::audit_unavailable("the idempotency keys cannot be read", e))
    })
    .await;
    match claim {
        Err(e) => (e.reply(), Logged::default()),
        Ok(Claim::First(running)) => {
            // The first request runs in a task of its own: a client that goes away mid-transfer
            // drops this future, and the key must still be found once the transfer ended, or a
            // retry would start a second transfer. The key stays marked running until the
            // views hold the transfer's decision (where a retry then finds it): the log's size
            // once the pipeline ended covers it. While the log is failed that can be long after
            // the answer; the key stays running meanwhile (a retry gets 409
            // request.in_progress), never forgotten.
            let state = state.clone();
            let sender = sender.to_owned();
            let task = tokio::spawn(async move {
                let answered = spawned(&state, &sender, parsed, request).await;
                let target = state.log.size();
                state.release_when_covered(target, running).await;
                answered
            });
            task.await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "idempotent transfer task failed");
                (
                    ApiError::new(ReasonCode::AuditUnavailable).reply(),
                    Logged::default(),
                )
            })
        }
        Ok(Claim::Running { same: true }) => (
            ApiError::new(ReasonCode::RequestInProgress).reply(),
            Logged::default(),
        ),
        Ok(Claim::Running { same: false } | Claim::Logged { same: false, .. }) => {
            conflict(state, sender, parsed.as_ref().ok()).await
        }
        Ok(Claim::Logged {
            transfer_id,
            same: true,
        }) => {
            let logged = Logged {
                replay: true,
                ..Logged::default()
            };
            (view::replay(state, &transfer_id).await, logged)
        }
    }
}

/// 422 `request.idempotency_conflict`: the key was first used for another request. The
/// refusal is logged as a denial of its own (its `log_index` and `transfer_id` in the answer);
/// nothing of the first request is shown.
async fn conflict(
    state: &Arc<AppState>,
    sender: &str,
    headers: Option<&TransferHeaders>,
) -> (Reply, Logged) {
    const MESSAGE: &str = "Idempotency-Key was first used for another request (another recipient, item, purpose, filing, subjects, Content-Length or Content-Digest); use a new key for a new transfer";
    let code = ReasonCode::RequestIdempotencyConflict;
    let refused = match headers {
        Some(headers) => pipeline::refuse_conflict(state, sender, headers, MESSAGE)
            .await
            .unwrap_or_else(|unlogged| unlogged),
        // A key is only read from headers that parsed.
        None => ApiError::new(code).message(MESSAGE),
    };
    let logged = Logged {
        verdict: refused.log_index.map(|_| Verdict::Deny),
        ..Logged::refused(&refused)
    };
    (refused.reply(), logged)
}

/// Runs the pipeline in its own task and waits for its answer.
async fn spawned(
    state: &Arc<AppState>,
    sender: &str,
    parsed: Result<TransferHeaders, HeaderProblem>,
    request: Request<RequestBody>,
) -> (Reply, Logged) {
    let state = state.clone();
    let sender = sender.to_owned();
    // Boxed: the pipeline's future is several KiB, and a task keeps its future inline, copying
    // it when spawned and again when its output replaces it; a box is one copy.
    let task = tokio::spawn(Box::pin(async move {
        let concluded = pipeline::run(&state, &sender, parsed, request).await;
        let witnessed = match &concluded {
            Ok(Concluded::Completed { appended, .. }) => {
                crate::cosign::witness(&state, appended).await
            }
            _ => crate::cosign::Witnessed::Off,
        };
        answer(concluded, &witnessed)
    }));
    match task.await {
        Ok(done) => done,
        Err(e) => {
            tracing::error!(error = %e, "transfer task failed");
            let error = ApiError::new(ReasonCode::AuditUnavailable).message(
                "the transfer task failed; its decision record, if any, has no outcome yet",
            );
            (error.reply(), Logged::default())
        }
    }
}

/// The answer to what the pipeline concluded, and what the request log says of it.
fn answer(
    concluded: Result<Concluded, ApiError>,
    witnessed: &crate::cosign::Witnessed,
) -> (Reply, Logged) {
    match concluded {
        Ok(Concluded::Completed {
            transfer_id,
            appended,
            leaf,
            details,
        }) => {
            let body = receipt(
                &transfer_id,
                appended.index,
                &leaf,
                Some(appended.leaf_hash),
                &appended.checkpoint,
                &appended.inclusion_proof,
                Some(details.upstream_status),
            )
            .witnessed(witnessed)
            .body_sha256(&details.sha256)
            .to_vec();
            let logged = Logged {
                verdict: Some(Verdict::Allow),
                reason: None,
                bytes: details.size,
                replay: false,
            };
            ((StatusCode::CREATED, Bytes::from(body)), logged)
        }
        Ok(Concluded::Failed {
            transfer_id,
            reason,
            log_index,
            size,
        }) => {
            let error = ApiError::new(reason)
                .message(format!(
                    "transfer {transfer_id} failed: {}",
                    reason.meaning()
                ))
                .logged(log_index)
                .transfer(&transfer_id);
            let logged = Logged {
                verdict: Some(Verdict::Allow),
                reason: Some(reason),
                bytes: size.unwrap_or(0),
                replay: false,
            };
            (error.reply(), logged)
        }
        Ok(Concluded::Denied(denial)) => {
            let logged = Logged {
                verdict: Some(Verdict::Deny),
                reason: Some(denial.code),
                bytes: 0,
                replay: false,
            };
            (denial.reply(), logged)
        }
        Err(error) => (error.reply(), Logged::refused(&error)),
    }
}
