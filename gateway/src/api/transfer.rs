//! `POST /v1/transfers`, the HTTP side: the `Idempotency-Key` (a retry gets the first
//! request's answer, never a second transfer), the pipeline run in a task of its own (a client
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
use crate::transfer::idempotency::Remembered;
use crate::transfer::pipeline::{self, Concluded};

/// Serves one transfer request from tenant `sender`.
pub(super) async fn post(
    state: &Arc<AppState>,
    sender: &str,
    request: Request<RequestBody>,
) -> (Reply, Logged) {
    let parsed = headers::parse(request.headers());
    let key = parsed.as_ref().ok().and_then(|h| h.idempotency_key.clone());
    let Some(key) = key else {
        return spawned(state, sender, parsed, request).await;
    };
    match state.idempotency.remember(sender, &key) {
        (Remembered::Logged(transfer_id), _) => {
            (view::replay(state, &transfer_id).await, Logged::default())
        }
        (Remembered::Live(cell), true) => {
            // The first request's reply is kept by a task of its own: a client that goes away
            // mid-transfer drops this future, and the key must still get the reply, or a
            // retry would start a second transfer.
            let state = state.clone();
            let sender = sender.to_owned();
            let task = tokio::spawn(async move {
                let (reply, logged) = spawned(&state, &sender, parsed, request).await;
                let _ = cell.set(reply.clone());
                (reply, logged)
            });
            task.await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "idempotent transfer task failed");
                (
                    ApiError::new(ReasonCode::AuditUnavailable).reply(),
                    Logged::default(),
                )
            })
        }
        (Remembered::Live(cell), false) => match cell.get() {
            Some(reply) => (reply.clone(), Logged::default()),
            None => (
                ApiError::new(ReasonCode::RequestInProgress).reply(),
                Logged::default(),
            ),
        },
    }
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
        answer(concluded)
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
fn answer(concluded: Result<Concluded, ApiError>) -> (Reply, Logged) {
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
            .to_vec();
            let logged = Logged {
                verdict: Some(Verdict::Allow),
                reason: None,
                bytes: details.size,
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
                .logged(log_index);
            let logged = Logged {
                verdict: Some(Verdict::Allow),
                reason: Some(reason),
                bytes: size.unwrap_or(0),
            };
            (error.reply(), logged)
        }
        Ok(Concluded::Denied(denial)) => {
            let logged = Logged {
                verdict: Some(Verdict::Deny),
                reason: Some(denial.code),
                bytes: 0,
            };
            (denial.reply(), logged)
        }
        Err(error) => (error.reply(), Logged::refused(&error)),
    }
}
