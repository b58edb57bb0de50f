//! What one principal may cost the gateway (probe item 5): any certificate from the park CA, even
//! one for a principal no bundle lists (`tenant/ghost`), reaches the API, and each of its
//! requests used to write a durable denial record (about 1,500 a second).
//!
//! - **Requests**: a token bucket per principal (`[limits] requests_per_second_per_principal`,
//!   `request_burst`), checked right after authentication, before any record is written or
//!   any body read: beyond it, `429 quota.exceeded` with `Retry-After`, logged nowhere but the
//!   request line. A bucket that has refilled is forgotten (a new one is the same), so memory
//!   holds only the principals active in the last few seconds.
//! - **Refusals in the log**: a 401 `auth.bad_identity` or 403 `auth.forbidden` that no record
//!   logged yet (a role calling another role's endpoint, a tenant reading another's transfer, a
//!   certificate without a usable identity) is logged as a `system` record (`"event":
//!   "refused"`), at most [`REFUSALS_PER_SECOND`] a second per principal after a burst of
//!   [`REFUSAL_BURST`] (all unauthenticated callers share one bucket): the next record says how
//!   many refusals were not logged before it (`suppressed`). A `system` record, not a
//!   `decision`: no transfer was decided, and decisions are what the rule engine returns.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, header};
use loopgate_audit::{Kind, Record};
use loopgate_policy::ReasonCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::{Answer, Logged};
use crate::identity::Principal;
use crate::record::{self, Details};
use crate::reply::ApiError;
use crate::state::AppState;

/// Refusal records per second per principal, on average.
pub(crate) const REFUSALS_PER_SECOND: f64 = 1.0;
/// Refusal records a principal may cause at once after a pause.
pub(crate) const REFUSAL_BURST: f64 = 10.0;
/// The bucket every caller without a principal shares.
const UNAUTHENTICATED: &str = "unauthenticated";
/// Longest path copied into a refusal record.
const MAX_PATH: usize = 256;

/// One principal's bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// Refusals not logged since the last refusal record (refusal buckets only).
    suppressed: u64,
}

/// Token buckets by principal, forgetting those that have refilled.
#[derive(Debug, Default)]
struct Buckets {
    map: HashMap<String, Bucket>,
    /// Sweep when the map reaches this size (then: twice what is left, at least 1024).
    sweep_at: usize,
}

impl Buckets {
    /// Takes one token from `key`'s bucket: `Ok(suppressed)` (refusals not logged before this
    /// one, now reset) or `Err(wait)` until a token is there.
    fn take(&mut self, key: &str, rate: f64, burst: f64, now: Instant) -> Result<u64, Duration> {
        if self.map.len() >= self.sweep_at.max(1024) {
            self.map.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst
            });
            self.sweep_at = (self.map.len() * 2).max(1024);
        }
        let bucket = self.map.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
            suppressed: 0,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(std::mem::take(&mut bucket.suppressed))
        } else {
            bucket.suppressed += 1;
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

/// The request quotas and the refusal records' rate limit, per principal.
#[derive(Debug, Default)]
pub(crate) struct Quotas {
    requests: Mutex<Buckets>,
    refusals: Mutex<Buckets>,
}

impl Quotas {
    /// Buckets held (for tests of the eviction).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.requests.lock().map_or(0, |b| b.map.len())
    }
}

/// 429 `quota.exceeded` when `principal` has used up its request quota.
pub(crate) fn check(state: &AppState, principal: &Principal) -> Result<(), ApiError> {
    let limits = &state.config().limits;
    let rate = f64::from(limits.requests_per_second);
    let burst = f64::from(limits.request_burst);
    let key = principal.to_string();
    let taken = match state.quotas.requests.lock() {
        Ok(mut buckets) => buckets.take(&key, rate, burst, Instant::now()),
        Err(poisoned) => poisoned
            .into_inner()
            .take(&key, rate, burst, Instant::now()),
    };
    match taken {
        Ok(_) => Ok(()),
        Err(wait) => Err(ApiError::new(ReasonCode::QuotaExceeded).message(format!(
            "{key} sent more than {} requests a second (bursts up to {}); retry in {} ms",
            limits.requests_per_second,
            limits.request_burst,
            wait.as_millis().max(1)
        ))),
    }
}

/// What a `system` record of a refusal says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RefusalDetails {
    /// `refused`.
    pub(crate) event: String,
    /// `<role>/<id>`, or `unauthenticated`.
    pub(crate) principal: String,
    /// The request's method.
    pub(crate) method: String,
    /// The request's path (at most 256 bytes, then its SHA-256; see `transfer::records::capped`).
    pub(crate) path: String,
    /// The answer's status (401 or 403).
    pub(crate) status: u16,
    /// The answer's message (why; capped like `path`).
    pub(crate) message: String,
    /// Refusals of this principal not logged since its previous refusal record (rate limit).
    pub(crate) suppressed: u64,
}

impl Details for RefusalDetails {
    const KIND: Kind = Kind::System;
}

/// After a request is answered: logs a 401/403 refusal that no record logged yet (rate-limited
/// per principal; the answer then carries its `log_index`), and adds `Retry-After` to a 429.
pub(crate) async fn after(
    state: &AppState,
    who: &str,
    request: (&http::Method, &str),
    answer: Answer,
    logged: &Logged,
) -> Answer {
    match logged.reason {
        Some(ReasonCode::QuotaExceeded) => retry_after(state, answer),
        Some(ReasonCode::AuthBadIdentity | ReasonCode::AuthForbidden) => {
            log_refusal(state, who, request, answer).await
        }
        _ => answer,
    }
}

fn retry_after(state: &AppState, answer: Answer) -> Answer {
    let rate = state.config().limits.requests_per_second.max(1);
    let secs = 1_u32.div_ceil(rate).max(1);
    let mut response = answer.into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    Answer::Response(response)
}

async fn log_refusal(
    state: &AppState,
    who: &str,
    (method, path): (&http::Method, &str),
    answer: Answer,
) -> Answer {
    let Answer::Whole((status, body)) = &answer else {
        return answer;
    };
    let Ok(mut error) = serde_json::from_slice::<Value>(body) else {
        return answer;
    };
    if !error["log_index"].is_null() {
        return answer;
    }
    let key = if who.contains('/') {
        who
    } else {
        UNAUTHENTICATED
    };
    let taken = match state.quotas.refusals.lock() {
        Ok(mut buckets) => buckets.take(key, REFUSALS_PER_SECOND, REFUSAL_BURST, Instant::now()),
        Err(poisoned) => {
            poisoned
                .into_inner()
                .take(key, REFUSALS_PER_SECOND, REFUSAL_BURST, Instant::now())
        }
    };
    let Ok(suppressed) = taken else {
        return answer;
    };
    let reason = error["error"].as_str().unwrap_or_default().to_owned();
    let details = RefusalDetails {
        event: "refused".to_owned(),
        principal: key.to_owned(),
        method: method.to_string(),
        path: crate::transfer::records::capped(path, MAX_PATH).into_owned(),
        status: status.as_u16(),
        message: crate::transfer::records::capped(
            error["message"].as_str().unwrap_or_default(),
            MAX_PATH,
        )
        .into_owned(),
        suppressed,
    };
    let appended = state
        .append_record(|at| refusal(at, &reason, &details))
        .await;
    match appended {
        Ok((appended, _)) => {
            error["log_index"] = Value::from(appended.index);
            Answer::Whole((*status, Bytes::from(error.to_string())))
        }
        // The refusal stands; only its record is missing (the log says why elsewhere).
        Err(e) => {
            tracing::warn!(error = %e, principal = key, "a refusal could not be logged");
            answer
        }
    }
}

fn refusal(
    at: OffsetDateTime,
    reason: &str,
    details: &RefusalDetails,
) -> Result<Record, loopgate_audit::Error> {
    let mut record = Record::new(Kind::System, at)?;
    record.reason = Some(Some(reason.to_owned()));
    record::write(&mut record, details)?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate_and_forgets_refilled_principals() {
        let mut buckets = Buckets::default();
        let t0 = Instant::now();
        for _ in 0..4 {
            assert!(buckets.take("tenant/ghost", 2.0, 4.0, t0).is_ok());
        }
        let wait = buckets.take("tenant/ghost", 2.0, 4.0, t0).unwrap_err();
        assert!(wait <= Duration::from_millis(500), "{wait:?}");
        // Half a second later: one more (and the refusal before it is counted).
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(buckets.take("tenant/ghost", 2.0, 4.0, t1), Ok(1));
        assert!(buckets.take("tenant/ghost", 2.0, 4.0, t1).is_err());
        // Another principal has its own bucket.
        assert!(buckets.take("tenant/sz-genomics", 2.0, 4.0, t1).is_ok());

        // Many principals, each refilled by the time the map is swept: memory stays bounded.
        let quotas = Quotas::default();
        let mut at = t1;
        for i in 0..100_000 {
            at += Duration::from_millis(1);
            let mut b = quotas.requests.lock().unwrap();
            b.take(&format!("tenant/t{i}"), 1000.0, 1.0, at).unwrap();
        }
        assert!(quotas.held() <= 2048, "{} buckets held", quotas.held());
    }
}
