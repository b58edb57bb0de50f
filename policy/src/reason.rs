//! Every reason code loopgate returns, with its HTTP status and, for policy codes, its rule.
//!
//! This is the one table of codes: the engine returns them, the gateway maps them to responses,
//! the docs list them. Codes are stable, dotted and lower case (SPEC.md section 2).

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

macro_rules! reason_codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, status $status:literal, rule $rule:expr, $message:literal; )*) => {
        /// A stable reason code (SPEC.md section 2, RULES.md).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ReasonCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ReasonCode {
            /// Every code, in rule order then request-level order.
            pub const ALL: &'static [ReasonCode] = &[$(ReasonCode::$variant,)*];

            /// The dotted code, e.g. `tenant.not_whitelisted`.
            pub fn as_str(self) -> &'static str {
                match self { $(ReasonCode::$variant => $code,)* }
            }

            /// The HTTP status a response with this code carries.
            pub fn http_status(self) -> u16 {
                match self { $(ReasonCode::$variant => $status,)* }
            }

            /// The number of the RULES.md rule that returns this code, if a rule does.
            pub fn rule(self) -> Option<u8> {
                match self { $(ReasonCode::$variant => $rule,)* }
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
    TenantNotWhitelisted = "tenant.not_whitelisted", status 403, rule Some(1), "the sender is not on the whitelist";
    /// Rule 1: the sender's whitelist entry is suspended.
    TenantSuspended = "tenant.suspended", status 403, rule Some(1), "the sender's entry is suspended";
    /// Rule 1: the sender's whitelist entry is revoked.
    TenantRevoked = "tenant.revoked", status 403, rule Some(1), "the sender's entry is revoked";
    /// Rule 1: today is outside the sender's validity window.
    TenantNotValid = "tenant.not_valid", status 403, rule Some(1), "today is outside the sender's validity window";
    /// Rule 2: the sender is not on the Mainland side in a GBA city.
    TenantOutsideGba = "tenant.outside_gba", status 403, rule Some(2), "the sender is not on the Mainland side in a GBA city";
    /// Rule 2: the sender is not in one of the `sender_parks`.
    TenantNotInSenderPark = "tenant.not_in_sender_park", status 403, rule Some(2), "the sender is not in a park the green channel starts from";
    /// Rule 3: the recipient is not on the whitelist.
    RecipientNotWhitelisted = "recipient.not_whitelisted", status 403, rule Some(3), "the recipient is not on the whitelist";
    /// Rule 3: the recipient's whitelist entry is suspended.
    RecipientSuspended = "recipient.suspended", status 403, rule Some(3), "the recipient's entry is suspended";
    /// Rule 3: the recipient's whitelist entry is revoked.
    RecipientRevoked = "recipient.revoked", status 403, rule Some(3), "the recipient's entry is revoked";
    /// Rule 3: today is outside the recipient's validity window.
    RecipientNotValid = "recipient.not_valid", status 403, rule Some(3), "today is outside the recipient's validity window";
    /// Rule 3: the recipient is not a Hong Kong Park tenant.
    RecipientNotInHkPark = "recipient.not_in_hk_park", status 403, rule Some(3), "the recipient is not a Hong Kong Park tenant";
    /// Rule 4: no inventory item has this id.
    InventoryUnknownItem = "inventory.unknown_item", status 403, rule Some(4), "no inventory item has this id";
    /// Rule 4: the item belongs to another tenant.
    InventoryNotOwner = "inventory.not_owner", status 403, rule Some(4), "the item belongs to another tenant";
    /// Rule 4: the item is not approved or today is outside its validity window.
    InventoryNotValid = "inventory.not_valid", status 403, rule Some(4), "the item is not approved, or today is outside its window";
    /// Rule 5: the recipient is not listed on the item.
    InventoryRecipientNotAllowed = "inventory.recipient_not_allowed", status 403, rule Some(5), "the recipient is not listed on the item";
    /// Rule 6: the purpose is not listed on the item.
    InventoryPurposeNotAllowed = "inventory.purpose_not_allowed", status 403, rule Some(6), "the purpose is not listed on the item";
    /// Rule 7: one of the item's categories is not in the pilot catalogue.
    InventoryCategoryNotInCatalogue = "inventory.category_not_in_catalogue", status 403, rule Some(7), "one of the item's categories is not in the catalogue";
    /// Rule 8: important data without a security assessment that covers it.
    DataImportantData = "data.important_data", status 403, rule Some(8), "important data needs Loop-Contract-Filing naming an effective, valid security assessment of these parties that covers it";
    /// Rule 9: HGR information without an effective information filing covering it.
    HgrFilingMissing = "hgr.filing_missing", status 403, rule Some(9), "human genetic resources information without an effective HGR information filing held by the sender and covering the item";
    /// Rule 9: HGR information without an effective information backup covering it.
    HgrBackupMissing = "hgr.backup_missing", status 403, rule Some(9), "human genetic resources information without an effective HGR information backup held by the sender and covering the item";
    /// Rule 10 (and while streaming): the body is larger than the item allows.
    RequestBodyTooLarge = "request.body_too_large", status 413, rule Some(10), "declared or actual size above the item's max_transfer_bytes";
    /// Rule 11 (and any required header): a required header is missing.
    RequestMissingHeader = "request.missing_header", status 400, rule Some(11), "a required header is missing (for personal data: filing and subjects)";
    /// Rule 12: no filing has this reference.
    ContractUnknown = "contract.unknown", status 403, rule Some(12), "no filing has this reference";
    /// Rule 12: the filing's processor or recipient is not this sender or recipient.
    ContractPartiesMismatch = "contract.parties_mismatch", status 403, rule Some(12), "the filing names another processor or recipient";
    /// Rule 12: on the GBA route, a party is outside the GBA, or both are on the same side.
    ContractPartyOutsideGba = "contract.party_outside_gba", status 403, rule Some(12), "on the GBA Standard Contract a party is outside the GBA, or both are on one side";
    /// Rule 13: the contract is not yet effective.
    ContractNotEffective = "contract.not_effective", status 403, rule Some(13), "the contract is not in effect yet";
    /// Rule 13: the contract is terminated.
    ContractTerminated = "contract.terminated", status 403, rule Some(13), "the contract is terminated";
    /// Rule 13: the contract is suspended.
    ContractSuspended = "contract.suspended", status 403, rule Some(13), "the contract is suspended";
    /// Rule 14: a party the route needs has not filed and its due date has passed.
    ContractFilingOverdue = "contract.filing_overdue", status 403, rule Some(14), "a party has not filed the contract and its filing deadline has passed";
    /// Rule 15: no impact assessment completed by today.
    ContractPiaMissing = "contract.pia_missing", status 403, rule Some(15), "no impact assessment completed by today";
    /// Rule 15: the impact assessment predates the last change of scope.
    ContractPiaStale = "contract.pia_stale", status 403, rule Some(15), "the impact assessment was completed before the last change of scope";
    /// Rule 16: the item's categories or methods, or the purpose, are outside the filed scope.
    ContractScopeExceeded = "contract.scope_exceeded", status 403, rule Some(16), "the item's categories or methods, or the purpose, are outside the filing";
    /// Rule 17: consent-based personal information without separate consent.
    ContractConsentMissing = "contract.consent_missing", status 403, rule Some(17), "consent-based personal information needs separate consent for the transfer";
    /// Rule 17: sensitive data on a filing that does not cover it.
    ContractSensitiveNotCovered = "contract.sensitive_not_covered", status 403, rule Some(17), "sensitive data on a filing without covers_sensitive";
    /// Rule 17a (recorded as rule 17): the filing's `valid_until` has passed.
    ContractExpired = "contract.expired", status 403, rule Some(17), "the filing is past its valid_until";
    /// Rule 18: a CIIO sender needs a security assessment.
    ContractCiioRequiresAssessment = "contract.ciio_requires_assessment", status 403, rule Some(18), "a CIIO sender needs a security assessment";
    /// Rule 19: the year's volume needs a stronger route than the filing's.
    VolumeRouteInsufficient = "volume.route_insufficient", status 403, rule Some(19), "the year's volume needs a security assessment";
    /// Rule 20: a lifecycle event that the transfer's history does not allow.
    LifecycleInvalidTransition = "lifecycle.invalid_transition", status 409, rule Some(20), "the transfer's history does not allow this event";
    /// Rule 20: a lifecycle event dated before the transfer completed or ahead of the clock.
    LifecycleBadTime = "lifecycle.bad_time", status 422, rule Some(20), "the event's time is before the transfer completed or too far ahead of the gateway's clock";
    /// Rule 20: a lifecycle event without the evidence it needs.
    LifecycleMissingEvidence = "lifecycle.missing_evidence", status 422, rule Some(20), "accessed needs a project; destroyed needs a method and a certificate_sha256 of 64 hex digits";
    /// A header is present but cannot be parsed.
    RequestMalformedHeader = "request.malformed_header", status 400, rule None, "a header is present but cannot be parsed";
    /// The body's SHA-256 differs from its `Content-Digest`.
    RequestDigestMismatch = "request.digest_mismatch", status 400, rule None, "the body does not match its Content-Digest";
    /// The body's length differs from its `Content-Length`.
    RequestLengthMismatch = "request.length_mismatch", status 400, rule None, "the body does not match its Content-Length";
    /// The client certificate has no single SPIFFE identity in the trust domain.
    AuthBadIdentity = "auth.bad_identity", status 401, rule None, "no single SPIFFE identity in the trust domain";
    /// The principal's role may not call this endpoint (or see this transfer).
    AuthForbidden = "auth.forbidden", status 403, rule None, "this role may not call this endpoint or see this transfer";
    /// The audit log cannot be written: nothing is forwarded.
    AuditUnavailable = "audit.unavailable", status 503, rule None, "the log cannot be written; nothing was forwarded";
    /// The recipient's upstream refused the connection or failed.
    UpstreamUnavailable = "upstream.unavailable", status 502, rule None, "the recipient's upstream refused or failed";
    /// The recipient's upstream did not answer in time.
    UpstreamTimeout = "upstream.timeout", status 504, rule None, "the recipient's upstream did not answer in time";
    /// The caller exceeded a rate or concurrency quota.
    QuotaExceeded = "quota.exceeded", status 429, rule None, "a rate or concurrency quota was exceeded";
    /// No such endpoint, transfer or record.
    RequestNotFound = "request.not_found", status 404, rule None, "no such endpoint, transfer or record";
    /// The endpoint exists but not with this method.
    RequestMethodNotAllowed = "request.method_not_allowed", status 405, rule None, "the endpoint does not take this method";
    /// The sender stopped sending the body for longer than the idle timeout.
    RequestBodyTimeout = "request.body_timeout", status 408, rule None, "the sender stopped sending the body";
    /// The sender's connection failed before the body was complete.
    RequestBodyIncomplete = "request.body_incomplete", status 400, rule None, "the body ended before it was complete";
    /// The request line and headers are larger than `[limits] max_header_bytes`.
    RequestHeadersTooLarge = "request.headers_too_large", status 431, rule None, "the request line and headers are larger than the gateway accepts";
    /// A query parameter is unknown, repeated or cannot be parsed (regulator API).
    RequestMalformedQuery = "request.malformed_query", status 400, rule None, "a query parameter is unknown, repeated or cannot be parsed";
    /// A retry whose first request has no outcome yet.
    RequestInProgress = "request.in_progress", status 409, rule None, "the first request with this Idempotency-Key has no outcome yet";
    /// A request body that is not what the endpoint takes (JSON of the wrong shape).
    RequestMalformedBody = "request.malformed_body", status 400, rule None, "the request body is not what the endpoint takes";
    /// A policy bundle failed validation.
    PolicyInvalid = "policy.invalid", status 422, rule None, "a policy bundle failed validation";
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
        Self::ALL
            .iter()
            .copied()
            .find(|code| code.as_str() == s)
            .ok_or_else(|| UnknownReasonCode(s.to_owned()))
    }
}
