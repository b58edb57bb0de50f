//! `GET /v1/transfers?role=sender|recipient&after=&limit=`: the calling tenant's own transfers,
//! newest first, a page at a time. The tenant is both the principal and the filter: no
//! parameter names another tenant, so none can widen the list.
//!
//! A transfer is listed by its decision record (every request the gateway decided, denials
//! included, has exactly one), found through the log's index: `kind = decision` and `sender`
//! (or `recipient`) = the tenant, read newest first ([`loopgate_audit::Log::select_newest_first`]).
//! Without `role` both lists are merged. Each entry's status comes from its latest outcome
//! record, one more indexed lookup; nothing is scanned.

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use loopgate_audit::{Field, Kind, Log, Outcome, Record, Selection, Verdict};
use serde::Serialize;

use super::audit::query::{Params, malformed};
use super::receipt::to_vec;
use crate::record;
use crate::reply::{ApiError, Reply};
use crate::state::{self, AppState};
use crate::transfer::records::{CompletedDetails, DecisionDetails};

/// Transfers per page when `limit` is not given.
const DEFAULT_LIMIT: usize = 100;
/// The largest page; a larger `limit` is clamped to it (as the regulator's records are).
const MAX_LIMIT: usize = 1000;

/// Which side of its transfers a tenant lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Sender,
    Recipient,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Sender => "sender",
            Role::Recipient => "recipient",
        }
    }

    fn field(self) -> Field {
        match self {
            Role::Sender => Field::Sender,
            Role::Recipient => Field::Recipient,
        }
    }
}

/// What the query string asks for.
#[derive(Debug, PartialEq, Eq)]
struct Asked {
    /// The sides listed (both when `role` is not given).
    roles: Vec<Role>,
    /// The cursor: only transfers whose decision's log index is below it.
    after: Option<u64>,
    limit: usize,
}

fn asked(query: Option<&str>) -> Result<Asked, ApiError> {
    let params = Params::parse(query, &["role", "after", "limit"])?;
    let roles = match params.text("role") {
        None => vec![Role::Sender, Role::Recipient],
        Some("sender") => vec![Role::Sender],
        Some("recipient") => vec![Role::Recipient],
        Some(other) => {
            return Err(malformed(format!(
                "role={other:?} is not sender or recipient; leave it out to list both"
            )));
        }
    };
    let limit = match params.number("limit")? {
        None => DEFAULT_LIMIT,
        Some(0) => return Err(malformed("limit=0 asks for nothing; give 1 to 1000")),
        Some(n) => usize::try_from(n).unwrap_or(MAX_LIMIT).min(MAX_LIMIT),
    };
    Ok(Asked {
        roles,
        after: params.number("after")?,
        limit,
    })
}

/// One listed transfer (keys in alphabetical order).
#[derive(Serialize)]
struct Listed {
    /// `allow` or `deny`.
    decision: &'static str,
    item: Option<String>,
    /// The decision record's index (what `after` pages by).
    log_index: u64,
    /// The latest outcome record's index, once the transfer ended.
    outcome_log_index: Option<u64>,
    purpose: Option<String>,
    /// The reason code of a denial or of a failed transfer.
    reason: Option<String>,
    recipient: Option<String>,
    /// The calling tenant's side of it.
    role: &'static str,
    sender: Option<String>,
    /// Hex SHA-256 of the body delivered, once completed (what `sha256sum` prints).
    sha256_hex: Option<String>,
    /// Bytes delivered, once completed.
    size: Option<u64>,
    /// `denied`, `in_progress`, `completed`, `failed` or `interrupted`.
    status: &'static str,
    /// When the decision was made (the decision record's time).
    time: String,
    transfer_id: Option<String>,
}

#[derive(Serialize)]
struct PageBody {
    next: Option<u64>,
    transfers: Vec<Listed>,
}

/// Serves one page of `tenant`'s transfers. The reads run on a blocking thread.
pub(super) async fn list(
    state: &Arc<AppState>,
    tenant: &str,
    query: Option<&str>,
) -> Result<Reply, ApiError> {
    let asked = asked(query)?;
    let tenant = tenant.to_owned();
    state::blocking(state, move |state| {
        let body = page(&state.log, &tenant, &asked).map_err(unreadable)?;
        Ok((StatusCode::OK, Bytes::from(to_vec(&body))))
    })
    .await
}

fn unreadable(e: loopgate_audit::Error) -> ApiError {
    ApiError::audit_unavailable("the audit log cannot be read", e)
}

/// The page: each role's decisions newest first (a page of `limit` each), merged by log index,
/// the first `limit` kept. Whatever a role's page left out lies below the last one kept, so
/// `next` (that last index) loses nothing.
fn page(log: &Log, tenant: &str, asked: &Asked) -> Result<PageBody, loopgate_audit::Error> {
    let mut found: Vec<(u64, Vec<u8>, Role)> = Vec::new();
    let mut more = false;
    for &role in &asked.roles {
        let selection = Selection {
            terms: vec![
                (Field::Kind, Kind::Decision.as_str().as_bytes().to_vec()),
                (role.field(), tenant.as_bytes().to_vec()),
            ],
            after: asked.after,
            limit: asked.limit,
            ..Selection::default()
        };
        let page = log.select_newest_first(&selection)?;
        more |= page.next.is_some();
        for (index, leaf) in page.records {
            // A tenant named on both sides is listed once, as the sender.
            if !found.iter().any(|(i, ..)| *i == index) {
                found.push((index, leaf, role));
            }
        }
    }
    found.sort_by_key(|(index, ..)| std::cmp::Reverse(*index));
    if found.len() > asked.limit {
        found.truncate(asked.limit);
        more = true;
    }
    let next = if more {
        found.last().map(|(index, ..)| *index)
    } else {
        None
    };
    let transfers = found
        .into_iter()
        .map(|(index, leaf, role)| listed(log, index, &leaf, role))
        .collect::<Result<_, _>>()?;
    Ok(PageBody { next, transfers })
}

/// One entry, from its decision record and its latest outcome.
fn listed(log: &Log, index: u64, leaf: &[u8], role: Role) -> Result<Listed, loopgate_audit::Error> {
    let decision = Record::from_leaf(leaf)?;
    let details = record::read::<DecisionDetails>(&decision);
    let outcome = match (&decision.transfer_id, decision.decision) {
        (Some(id), Some(Verdict::Allow)) => latest_outcome(log, id)?,
        _ => None,
    };
    let completed = outcome
        .as_ref()
        .and_then(|(_, r)| record::read::<CompletedDetails>(r));
    let status = match (
        decision.decision,
        outcome.as_ref().and_then(|(_, r)| r.outcome),
    ) {
        (Some(Verdict::Deny), _) => "denied",
        (_, Some(Outcome::Completed)) => "completed",
        (_, Some(Outcome::Failed)) => "failed",
        (_, Some(Outcome::Interrupted)) => "interrupted",
        (_, None) => "in_progress",
    };
    let reason = match &outcome {
        Some((_, r)) => r.reason.clone().flatten(),
        None => decision.reason.clone().flatten(),
    };
    Ok(Listed {
        decision: match decision.decision {
            Some(Verdict::Allow) => "allow",
            _ => "deny",
        },
        item: decision.item.clone(),
        log_index: index,
        outcome_log_index: outcome.as_ref().map(|(i, _)| *i),
        purpose: details.and_then(|d| d.purpose.map(|p| p.into_owned())),
        reason,
        recipient: decision.recipient.clone(),
        role: role.as_str(),
        sender: decision.sender.clone(),
        sha256_hex: completed.map(|c| crate::transfer::id::hex(&c.sha256)),
        size: completed.map(|c| c.size),
        status,
        time: decision.time.clone(),
        transfer_id: decision.transfer_id.clone(),
    })
}

/// The transfer's latest outcome record and its index, if it ended.
fn latest_outcome(
    log: &Log,
    transfer_id: &str,
) -> Result<Option<(u64, Record)>, loopgate_audit::Error> {
    let selection = Selection {
        terms: vec![
            (Field::Transfer, transfer_id.as_bytes().to_vec()),
            (Field::Kind, Kind::Outcome.as_str().as_bytes().to_vec()),
        ],
        limit: 1,
        ..Selection::default()
    };
    let page = log.select_newest_first(&selection)?;
    page.records
        .into_iter()
        .next()
        .map(|(index, leaf)| Ok((index, Record::from_leaf(&leaf)?)))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(query: &str) -> String {
        asked(Some(query)).unwrap_err().message
    }

    #[test]
    fn parameters_are_read_and_bad_ones_refused() {
        assert_eq!(
            asked(None).unwrap(),
            Asked {
                roles: vec![Role::Sender, Role::Recipient],
                after: None,
                limit: DEFAULT_LIMIT,
            }
        );
        assert_eq!(
            asked(Some("role=recipient&after=7&limit=5000")).unwrap(),
            Asked {
                roles: vec![Role::Recipient],
                after: Some(7),
                limit: MAX_LIMIT,
            }
        );
        assert!(refused("role=carrier").contains("sender or recipient"));
        assert!(refused("limit=0").contains("limit=0"));
        assert!(refused("after=-1").contains("non-negative"));
        // No parameter names a tenant: one that tries is unknown.
        assert!(refused("sender=hk-biolab").contains("unknown query parameter"));
        assert!(refused("tenant=sz-genomics").contains("unknown query parameter"));
    }
}
