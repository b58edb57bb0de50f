//! Step 5 of the pipeline: the admitted body goes to the recipient's upstream as it arrives,
//! counted, hashed and checked against what was declared (`body::VerifyingBody` holds back the
//! last bytes until they are), and the way it ended becomes the outcome record's
//! [`Ending`]. The upstream is timed by progress, not by a total: a sender that stalls is
//! `request.stalled`, an upstream that stops taking the body or does not answer after its end
//! is `upstream.timeout` (`timed`).

use std::future::Future;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use loopgate_policy::ReasonCode;

use tokio::time::Instant;

use super::body::{BodyFault, Expected, Progress, VerifyingBody};
use super::headers::{
    LOOP_INVENTORY_ITEM, LOOP_PURPOSE, LOOP_SENDER, LOOP_TRANSFER_ID, TransferHeaders,
};
use super::records::{CompletedDetails, Ending, FailedDetails};
use super::upstream::UpstreamError;
use crate::api::RequestBody;
use crate::state::AppState;

/// Streams the body of `request` to the recipient's upstream and says how it ended.
pub(crate) async fn forward(
    state: &AppState,
    transfer_id: &str,
    sender: &str,
    headers: &TransferHeaders,
    max_bytes: u64,
    request: Request<RequestBody>,
) -> Ending {
    let upstreams = state.upstreams();
    if !upstreams.has(&headers.recipient) {
        tracing::error!(recipient = %headers.recipient, "no upstream configured for an allowed recipient");
        return failed(ReasonCode::UpstreamUnavailable);
    }
    let upstream_headers = upstream_headers(transfer_id, sender, headers, request.headers());
    let expected = Expected {
        length: headers.content_length,
        sha256: headers.sha256,
        max_bytes,
        idle_timeout: state.config().limits.body_idle_timeout,
    };
    let (body, report) = VerifyingBody::new(request.into_body(), expected);
    let progress = body.progress();
    let sending = upstreams.send_untimed(&headers.recipient, upstream_headers, body);
    let sent = timed(sending, &progress, upstreams.timeout()).await;
    let report = report.lock().map(|r| r.clone()).unwrap_or(None);
    match (report, sent) {
        (Some(Err(fault)), _) => failed(fault_code(&fault)),
        (Some(Ok(verified)), Ok(status)) if status.is_success() => {
            Ending::Completed(CompletedDetails {
                size: verified.size,
                sha256: verified.sha256,
                upstream_status: status.as_u16(),
                data_class: None,
                hgr: None,
            })
        }
        (verified, Ok(status)) => Ending::Failed {
            reason: ReasonCode::UpstreamUnavailable,
            details: FailedDetails {
                size: verified.and_then(Result::ok).map(|v| v.size),
                upstream_status: Some(status.as_u16()),
                ..FailedDetails::default()
            },
        },
        (_, Err(UpstreamError::Timeout(_))) => failed(ReasonCode::UpstreamTimeout),
        // The gateway's own shortage is never recorded as the recipient's failure.
        (_, Err(e @ UpstreamError::Local(_))) => {
            tracing::error!(error = %e, transfer_id, "the gateway ran out of a local resource");
            failed(ReasonCode::GatewayUnavailable)
        }
        (_, Err(e)) => {
            tracing::warn!(error = %e, transfer_id, "upstream failed");
            failed(ReasonCode::UpstreamUnavailable)
        }
    }
}

/// Awaits `sending` while the upstream makes progress: it fails with `upstream.timeout` once
/// the upstream has gone `timeout` without taking more of the body (its connection and
/// handshakes included), or without answering after the body's end. While the body waits for
/// the sender, the upstream is not timed: the sender's idle timeout applies (`VerifyingBody`,
/// `request.stalled`), so a slow upload that keeps coming is never cut.
async fn timed<F>(
    sending: F,
    progress: &Progress,
    timeout: Duration,
) -> Result<StatusCode, UpstreamError>
where
    F: Future<Output = Result<StatusCode, UpstreamError>>,
{
    let mut sending = std::pin::pin!(sending);
    loop {
        let wake = progress
            .upstream_deadline(timeout)
            .unwrap_or_else(|| Instant::now() + timeout);
        tokio::select! {
            biased;
            sent = &mut sending => return sent,
            () = tokio::time::sleep_until(wake) => {
                if progress
                    .upstream_deadline(timeout)
                    .is_some_and(|deadline| deadline <= Instant::now())
                {
                    return Err(UpstreamError::Timeout(timeout));
                }
            }
        }
    }
}

/// What the upstream is told besides the body: the transfer, its sender, item and purpose,
/// and the body's declared length and type. Nothing else of the sender's request is
/// forwarded.
fn upstream_headers(
    transfer_id: &str,
    sender: &str,
    headers: &TransferHeaders,
    sent: &HeaderMap,
) -> HeaderMap {
    let mut upstream = HeaderMap::with_capacity(8);
    let mut put = |name: HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            upstream.insert(name, value);
        }
    };
    put(LOOP_TRANSFER_ID, transfer_id);
    put(LOOP_SENDER, sender);
    put(LOOP_INVENTORY_ITEM, &headers.item);
    put(LOOP_PURPOSE, &headers.purpose);
    if let Some(length) = headers.content_length {
        upstream.insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    if let Some(content_type) = sent.get(http::header::CONTENT_TYPE) {
        upstream.insert(http::header::CONTENT_TYPE, content_type.clone());
    }
    upstream
}

/// A failure before the upstream answered: nothing known of the size or the upstream's
/// status.
fn failed(reason: ReasonCode) -> Ending {
    Ending::Failed {
        reason,
        details: FailedDetails::default(),
    }
}

fn fault_code(fault: &BodyFault) -> ReasonCode {
    match fault {
        BodyFault::TooLarge { .. } => ReasonCode::RequestBodyTooLarge,
        BodyFault::LengthMismatch { .. } => ReasonCode::RequestLengthMismatch,
        BodyFault::DigestMismatch => ReasonCode::RequestDigestMismatch,
        BodyFault::IdleTimeout(_) => ReasonCode::RequestStalled,
        BodyFault::Client(_) => ReasonCode::RequestBodyIncomplete,
    }
}
