//! What a caller of the API gets back: a [`Reply`] (a status and a whole JSON body, what an
//! `Idempotency-Key` retry replays) and the [`ApiError`] that makes one for every refusal
//! (SPEC.md section 2). The reason code decides the status; `log_index` names the record that
//! logged the refusal, when one did.

use bytes::Bytes;
use http::StatusCode;
use loopgate_policy::ReasonCode;
use serde_json::json;

/// A response kept whole: status and JSON body.
pub(crate) type Reply = (StatusCode, Bytes);

/// An error response: the code decides the status; `log_index` when a record was written.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    /// The reason code.
    pub(crate) code: ReasonCode,
    /// A sentence for the caller.
    pub(crate) message: String,
    /// The record that logged it, if any.
    pub(crate) log_index: Option<u64>,
    /// The shipment a refused declaration or custody event belongs to (`"shipment_id"` in the
    /// body), so its sender can look the logged denial up.
    pub(crate) shipment_id: Option<String>,
    /// The transfer a logged refusal belongs to (`"transfer_id"` in the body: a denial, a
    /// failed transfer), so its sender can look it up with `GET /v1/transfers/{transfer_id}`.
    pub(crate) transfer_id: Option<String>,
}

impl ApiError {
    /// An error with the code's own meaning as message.
    pub(crate) fn new(code: ReasonCode) -> Self {
        Self {
            code,
            message: code.meaning().to_owned(),
            log_index: None,
            shipment_id: None,
            transfer_id: None,
        }
    }

    /// With a more specific message.
    pub(crate) fn message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// With the index of the record that logged it.
    pub(crate) fn logged(mut self, index: u64) -> Self {
        self.log_index = Some(index);
        self
    }

    /// Naming the shipment it belongs to.
    pub(crate) fn shipment(mut self, shipment_id: &str) -> Self {
        self.shipment_id = Some(shipment_id.to_owned());
        self
    }

    /// Naming the transfer it belongs to.
    pub(crate) fn transfer(mut self, transfer_id: &str) -> Self {
        self.transfer_id = Some(transfer_id.to_owned());
        self
    }

    /// 503 `audit.unavailable`: the log cannot be written or read (`what` says which, and
    /// what that means for the caller).
    pub(crate) fn audit_unavailable(what: &str, e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "{what}");
        Self::new(ReasonCode::AuditUnavailable).message(format!("{what}: {e}"))
    }

    /// The JSON error body of SPEC.md section 2.
    pub(crate) fn reply(&self) -> Reply {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = json!({
            "error": self.code.as_str(),
            "message": self.message,
            "log_index": self.log_index,
        });
        if let Some(id) = &self.shipment_id {
            body["shipment_id"] = json!(id);
        }
        if let Some(id) = &self.transfer_id {
            body["transfer_id"] = json!(id);
        }
        (status, Bytes::from(body.to_string()))
    }
}
