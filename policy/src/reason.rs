//! Every reason code loopgate returns, with its HTTP status and, for policy codes, its rule: the
//! number of the data-transfer rule (1-20) and, for the codes that also decide shipments of
//! samples, the number of the shipment rule (S1-S10).
//!
//! This is the one table of codes: the engine returns them, the gateway maps them to responses,
//! the docs list them. Codes are stable, dotted and lower case (SPEC.md section 2).

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

macro_rules! reason_codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, status $status:literal, rule $rule:expr, shipment $shipment:expr, $message:literal; )*) => {
        /// A stable reason code (SPEC.md section 2, RULES.md).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ReasonCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ReasonCode {
            /// Every code: the data-transfer rules' in rule order, then the shipment rules' own in
            /// S-rule order, then the request-level codes.
            pub const ALL: &'static [ReasonCode] = &[$(ReasonCode::$variant,)*];

            /// The dotted code, e.g. `tenant.not_whitelisted`.
            pub fn as_str(self) -> &'static str {
                match self { $(ReasonCode::$variant => $code,)* }
            }

            /// The HTTP status a response with this code carries.
            pub fn http_status(self) -> u16 {
                match self { $(ReasonCode::$variant => $status,)* }
            }

            /// The number of the RULES.md data-transfer rule (1-20) that returns this code, if
            /// one does. The shipment codes have none: see [`ReasonCode::shipment_rule`].
            pub fn rule(self) -> Option<u8> {
                match self { $(ReasonCode::$variant => $rule,)* }
            }

            /// The number of the shipment rule (S1-S10, as 1-10) that returns this code when it
            /// decides a shipment declaration or a custody event, if one does: the codes of
            /// rules 1-3 (S1-S3 are those rules), the `sample.*`, `hgr.export_approval_missing`,
            /// `carrier.*` and `custody.*` codes. `auth.forbidden`, which S9 also returns for a
            /// custody event reported by the wrong party, is the gateway's too and has none.
            pub fn shipment_rule(self) -> Option<u8> {
                match self { $(ReasonCode::$variant => $shipment,)* }
            }

            /// What the code means, as a sentence fragment for error messages and docs.
            pub fn meaning(self) -> &'static str {
                match self { $(ReasonCode::$variant => $message,)* }
            }
        }
    };
}

reason_codes! {
    /// Rule 1: the sender is not on the whitelist.
    TenantNotWhitelisted = "tenant.not_whitelisted", status 403, rule Some(1), shipment Some(1), "the sender is not on the whitelist";
    /// Rule 1: the sender's whitelist entry is suspended.
    TenantSuspended = "tenant.suspended", status 403, rule Some(1), shipment Some(1), "the sender's entry is suspended";
    /// Rule 1: the sender's whitelist entry is revoked.
    TenantRevoked = "tenant.revoked", status 403, rule Some(1), shipment Some(1), "the sender's entry is revoked";
    /// Rule 1: today is outside the sender's validity window.
    TenantNotValid = "tenant.not_valid", status 403, rule Some(1), shipment Some(1), "today is outside the sender's validity window";
    /// Rule 2: the sender is not on the Mainland side in a GBA city.
    TenantOutsideGba = "tenant.outside_gba", status 403, rule Some(2), shipment Some(2), "the sender is not on the Mainland side in a GBA city";
    /// Rule 2: the sender is not in one of the `sender_parks`.
    TenantNotInSenderPark = "tenant.not_in_sender_park", status 403, rule Some(2), shipment Some(2), "the sender is not in a park the green channel starts from";
    /// Rule 3: the recipient is not on the whitelist.
    RecipientNotWhitelisted = "recipient.not_whitelisted", status 403, rule Some(3), shipment Some(3), "the recipient is not on the whitelist";
    /// Rule 3: the recipient's whitelist entry is suspended.
    RecipientSuspended = "recipient.suspended", status 403, rule Some(3), shipment Some(3), "the recipient's entry is suspended";
    /// Rule 3: the recipient's whitelist entry is revoked.
    RecipientRevoked = "recipient.revoked", status 403, rule Some(3), shipment Some(3), "the recipient's entry is revoked";
    /// Rule 3: today is outside the recipient's validity window.
    RecipientNotValid = "recipient.not_valid", status 403, rule Some(3), shipment Some(3), "today is outside the recipient's validity window";
    /// Rule 3: the recipient is not a Hong Kong Park tenant.
    RecipientNotInHkPark = "recipient.not_in_hk_park", status 403, rule Some(3), shipment Some(3), "the recipient is not a Hong Kong Park tenant";
    /// Rule 4: no inventory item has this id.
    InventoryUnknownItem = "inventory.unknown_item", status 403, rule Some(4), shipment None, "no inventory item has this id";
    /// Rule 4: the item belongs to another tenant.
    InventoryNotOwner = "inventory.not_owner", status 403, rule Some(4), shipment None, "the item belongs to another tenant";
    /// Rule 4: the item is not approved or today is outside its validity window.
    InventoryNotValid = "inventory.not_valid", status 403, rule Some(4), shipment None, "the item is not approved, or today is outside its window";
    /// Rule 5: the recipient is not listed on the item.
    InventoryRecipientNotAllowed = "inventory.recipient_not_allowed", status 403, rule Some(5), shipment None, "the recipient is not listed on the item";
    /// Rule 6: the purpose is not listed on the item.
    InventoryPurposeNotAllowed = "inventory.purpose_not_allowed", status 403, rule Some(6), shipment None, "the purpose is not listed on the item";
    /// Rule 7: one of the item's categories is not in the pilot catalogue.
    InventoryCategoryNotInCatalogue = "inventory.category_not_in_catalogue", status 403, rule Some(7), shipment None, "one of the item's categories is not in the catalogue";
    /// Rule 8: important data without a security assessment that covers it.
    DataImportantData = "data.important_data", status 403, rule Some(8), shipment None, "important data needs Loop-Contract-Filing naming an effective, valid security assessment of these parties that covers it";
    /// Rule 9: HGR information without an effective information filing covering it.
    HgrFilingMissing = "hgr.filing_missing", status 403, rule Some(9), shipment None, "human genetic resources information without an effective HGR information filing held by the sender and covering the item";
    /// Rule 9: HGR information without an effective information backup covering it.
    HgrBackupMissing = "hgr.backup_missing", status 403, rule Some(9), shipment None, "human genetic resources information without an effective HGR information backup held by the sender and covering the item";
    /// Rule 10 (and while streaming): the body is larger than the item allows.
    RequestBodyTooLarge = "request.body_too_large", status 413, rule Some(10), shipment None, "declared or actual size above the item's max_transfer_bytes";
    /// Rule 11 (and any required header): a required header is missing.
    RequestMissingHeader = "request.missing_header", status 400, rule Some(11), shipment None, "a required header is missing (for personal data: filing and subjects)";
    /// Rule 12: no filing has this reference.
    ContractUnknown = "contract.unknown", status 403, rule Some(12), shipment None, "no filing has this reference";
    /// Rule 12: the filing's processor or recipient is not this sender or recipient.
    ContractPartiesMismatch = "contract.parties_mismatch", status 403, rule Some(12), shipment None, "the filing names another processor or recipient";
    /// Rule 12: on the GBA route, a party is outside the GBA, or both are on the same side.
    ContractPartyOutsideGba = "contract.party_outside_gba", status 403, rule Some(12), shipment None, "on the GBA Standard Contract a party is outside the GBA, or both are on one side";
    /// Rule 13: the contract is not yet effective.
    ContractNotEffective = "contract.not_effective", status 403, rule Some(13), shipment None, "the contract is not in effect yet";
    /// Rule 13: the contract is terminated.
    ContractTerminated = "contract.terminated", status 403, rule Some(13), shipment None, "the contract is terminated";
    /// Rule 13: the contract is suspended.
    ContractSuspended = "contract.suspended", status 403, rule Some(13), shipment None, "the contract is suspended";
    /// Rule 14: a party the route needs has not filed and its due date has passed.
    ContractFilingOverdue = "contract.filing_overdue", status 403, rule Some(14), shipment None, "a party has not filed the contract and its filing deadline has passed";
    /// Rule 15: no impact assessment completed by today.
    ContractPiaMissing = "contract.pia_missing", status 403, rule Some(15), shipment None, "no impact assessment completed by today";
    /// Rule 15: the impact assessment predates the last change of scope.
    ContractPiaStale = "contract.pia_stale", status 403, rule Some(15), shipment None, "the impact assessment was completed before the last change of scope";
    /// Rule 16: the item's categories or methods, or the purpose, are outside the filed scope.
    ContractScopeExceeded = "contract.scope_exceeded", status 403, rule Some(16), shipment None, "the item's categories or methods, or the purpose, are outside the filing";
    /// Rule 17: consent-based personal information without separate consent.
    ContractConsentMissing = "contract.consent_missing", status 403, rule Some(17), shipment None, "consent-based personal information needs separate consent for the transfer";
    /// Rule 17: sensitive data on a filing that does not cover it.
    ContractSensitiveNotCovered = "contract.sensitive_not_covered", status 403, rule Some(17), shipment None, "sensitive data on a filing without covers_sensitive";
    /// Rule 17a (recorded as rule 17): the filing's `valid_until` has passed.
    ContractExpired = "contract.expired", status 403, rule Some(17), shipment None, "the filing is past its valid_until";
    /// Rule 18: a CIIO sender needs a security assessment.
    ContractCiioRequiresAssessment = "contract.ciio_requires_assessment", status 403, rule Some(18), shipment None, "a CIIO sender needs a security assessment";
    /// Rule 19: the year's volume needs a stronger route than the filing's.
    VolumeRouteInsufficient = "volume.route_insufficient", status 403, rule Some(19), shipment None, "the year's volume needs a security assessment";
    /// Rule 20: a lifecycle event that the transfer's history does not allow.
    LifecycleInvalidTransition = "lifecycle.invalid_transition", status 409, rule Some(20), shipment None, "the transfer's history does not allow this event";
    /// Rule 20: a lifecycle event dated before the transfer completed or ahead of the clock.
    LifecycleBadTime = "lifecycle.bad_time", status 422, rule Some(20), shipment None, "the event's time is before the transfer completed or too far ahead of the gateway's clock";
    /// Rule 20: a lifecycle event without the evidence it needs.
    LifecycleMissingEvidence = "lifecycle.missing_evidence", status 422, rule Some(20), shipment None, "accessed needs a project; destroyed needs a method and a certificate_sha256 of 64 hex digits";
    /// Rule S4: no sample item has this id.
    SampleUnknownItem = "sample.unknown_item", status 403, rule None, shipment Some(4), "no sample item has this id";
    /// Rule S4: the sample item belongs to another tenant.
    SampleNotOwner = "sample.not_owner", status 403, rule None, shipment Some(4), "the sample item belongs to another tenant";
    /// Rule S4: the sample item is not approved or today is outside its validity window.
    SampleNotValid = "sample.not_valid", status 403, rule None, shipment Some(4), "the sample item is not approved, or today is outside its window";
    /// Rule S4: the recipient is not listed on the sample item.
    SampleRecipientNotAllowed = "sample.recipient_not_allowed", status 403, rule None, shipment Some(4), "the recipient is not listed on the sample item";
    /// Rule S4: the purpose is not listed on the sample item.
    SamplePurposeNotAllowed = "sample.purpose_not_allowed", status 403, rule None, shipment Some(4), "the purpose is not listed on the sample item";
    /// Rule S5: the quantity is not a whole number from 1 to the item's `max_quantity`.
    SampleQuantityExceeded = "sample.quantity_exceeded", status 403, rule None, shipment Some(5), "the quantity is not a whole number from 1 to the sample item's max_quantity";
    /// Rule S6: the sample item's biosafety level is above `max_biosafety_level`.
    SampleBiosafetyLevel = "sample.biosafety_level", status 403, rule None, shipment Some(6), "the sample item's biosafety level is above what the channel takes";
    /// Rule S7: HGR material without an effective export approval covering it.
    HgrExportApprovalMissing = "hgr.export_approval_missing", status 403, rule None, shipment Some(7), "human genetic resources material without an effective HGR export approval held by the sender and covering the sample item";
    /// Rule S8: the carrier is not on the whitelist.
    CarrierNotWhitelisted = "carrier.not_whitelisted", status 403, rule None, shipment Some(8), "the carrier is not on the whitelist";
    /// Rule S8: the carrier is suspended or revoked, or today is outside its validity window.
    CarrierNotValid = "carrier.not_valid", status 403, rule None, shipment Some(8), "the carrier is suspended or revoked, or today is outside its window";
    /// Rule S9: a custody event out of order, or after the shipment closed.
    CustodyInvalidTransition = "custody.invalid_transition", status 409, rule None, shipment Some(9), "the shipment's custody chain does not allow this event now";
    /// Rule S10: a custody event dated before the chain's last handover or ahead of the clock.
    CustodyBadTime = "custody.bad_time", status 422, rule None, shipment Some(10), "the event's time is before the chain's last event or too far ahead of the gateway's clock";
    /// Rule S10: a custody event without the evidence it needs (or without its time).
    CustodyMissingEvidence = "custody.missing_evidence", status 422, rule None, shipment Some(10), "the event lacks its time or the evidence it needs (seal ids, customs declaration, quantity, facility, project, method, certificate_sha256)";
    /// A header is present but cannot be parsed.
    RequestMalformedHeader = "request.malformed_header", status 400, rule None, shipment None, "a header is present but cannot be parsed";
    /// The body's SHA-256 differs from its `Content-Digest`.
    RequestDigestMismatch = "request.digest_mismatch", status 400, rule None, shipment None, "the body does not match its Content-Digest";
    /// The body's length differs from its `Content-Length`.
    RequestLengthMismatch = "request.length_mismatch", status 400, rule None, shipment None, "the body does not match its Content-Length";
    /// The client certificate has no single SPIFFE identity in the trust domain.
    AuthBadIdentity = "auth.bad_identity", status 401, rule None, shipment None, "no single SPIFFE identity in the trust domain";
    /// The principal's role may not call this endpoint (or see this transfer).
    AuthForbidden = "auth.forbidden", status 403, rule None, shipment None, "this role may not call this endpoint or see this transfer";
    /// The audit log cannot be written: nothing is forwarded.
    AuditUnavailable = "audit.unavailable", status 503, rule None, shipment None, "the log cannot be written; nothing was forwarded";
    /// The recipient's upstream refused the connection or failed.
    UpstreamUnavailable = "upstream.unavailable", status 502, rule None, shipment None, "the recipient's upstream refused or failed";
    /// The recipient's upstream did not answer in time.
    UpstreamTimeout = "upstream.timeout", status 504, rule None, shipment None, "the recipient's upstream did not answer in time";
    /// The caller exceeded a rate or concurrency quota.
    QuotaExceeded = "quota.exceeded", status 429, rule None, shipment None, "a rate or concurrency quota was exceeded";
    /// No such endpoint, transfer or record.
    RequestNotFound = "request.not_found", status 404, rule None, shipment None, "no such endpoint, transfer or record";
    /// The endpoint exists but not with this method.
    RequestMethodNotAllowed = "request.method_not_allowed", status 405, rule None, shipment None, "the endpoint does not take this method";
    /// The sender's body stopped making progress (no bytes for `[limits] body_idle_timeout_secs`).
    /// Logs written before 0.1 call it `request.stalled`; that spelling still parses.
    RequestStalled = "request.stalled", status 408, rule None, shipment None, "the sender's body stopped making progress";
    /// The sender's connection failed before the body was complete.
    RequestBodyIncomplete = "request.body_incomplete", status 400, rule None, shipment None, "the body ended before it was complete";
    /// The request line and headers are larger than `[limits] max_header_bytes`.
    RequestHeadersTooLarge = "request.headers_too_large", status 431, rule None, shipment None, "the request line and headers are larger than the gateway accepts";
    /// A query parameter is unknown, repeated or cannot be parsed (regulator API).
    RequestMalformedQuery = "request.malformed_query", status 400, rule None, shipment None, "a query parameter is unknown, repeated or cannot be parsed";
    /// A retry of a transfer whose decision is logged but whose delivery is unknown: the gateway
    /// stopped (crash, drain timeout, full disk) before its outcome, and recovery recorded it as
    /// `interrupted`. Never delivered a second time: send it again under a new key.
    TransferInterrupted = "transfer.interrupted", status 409, rule None, shipment None, "the first request with this Idempotency-Key was admitted but its delivery is unknown (interrupted)";
    /// The gateway itself failed (out of file descriptors or another local resource), not the
    /// recipient: nothing more was forwarded.
    GatewayUnavailable = "gateway.unavailable", status 503, rule None, shipment None, "the gateway ran out of a local resource (file descriptors, memory); the recipient is not at fault";
    /// A retry whose first request has no outcome yet.
    RequestInProgress = "request.in_progress", status 409, rule None, shipment None, "the first request with this Idempotency-Key has no outcome yet";
    /// An `Idempotency-Key` reused with a request other than the first one it came with.
    RequestIdempotencyConflict = "request.idempotency_conflict", status 422, rule None, shipment None, "an Idempotency-Key was reused with another request";
    /// A request body that is not what the endpoint takes (JSON of the wrong shape).
    RequestMalformedBody = "request.malformed_body", status 400, rule None, shipment None, "the request body is not what the endpoint takes";
    /// A policy bundle failed validation.
    PolicyInvalid = "policy.invalid", status 422, rule None, shipment None, "a policy bundle failed validation";
    /// An unsuspension of a tenant that is not suspended (approved, or revoked: a revocation is
    /// lifted only by a new bundle); nothing was changed or logged.
    PolicyNotSuspended = "policy.not_suspended", status 409, rule None, shipment None, "the tenant is not suspended; there is no suspension to lift";
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ReasonCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The text is not a known reason code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown reason code {0:?}; see the reason code table in README.md")]
pub struct UnknownReasonCode(pub String);

impl FromStr for ReasonCode {
    type Err = UnknownReasonCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // The spelling of `request.stalled` in logs written before it was renamed.
        if s == "request.stalled" {
            return Ok(ReasonCode::RequestStalled);
        }
        Self::ALL
            .iter()
            .copied()
            .find(|code| code.as_str() == s)
            .ok_or_else(|| UnknownReasonCode(s.to_owned()))
    }
}
