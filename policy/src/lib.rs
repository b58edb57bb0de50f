//! The green channel's compliance rules as a pure function.
//!
//! `loopgate-policy` holds the registry model of RULES.md, second version (whitelisted tenants
//! and carriers, the data and logistics lists, contract filings with each party's filing, HGR
//! approvals, regulators and what they see, catalogue, calendars), parses and validates policy
//! bundles in that schema (a first-version bundle is refused field by field, and [`migrate`]
//! rewrites one), and decides transfers with [`evaluate`]: rules 1-19 in order, the first
//! failure wins, with everything a decision record holds. It also has the working-day calendar
//! used for filing deadlines, rule 20 for lifecycle events ([`check_event`]) and rule 21. It
//! decides shipments of samples the same way with [`evaluate_shipment`] (rules S1-S8), and
//! [`Custody`] is the custody chain that follows an allowed shipment (S9-S12): which event may
//! come next, from whom, when and with what evidence, the discrepancies it flags, the quantity
//! held and whether the shipment is closed or overdue.
//!
//! It does **no I/O, no async and no clock reads**: the caller passes the bundle text, the time
//! and the volume counters (per legal entity) in, and gets plain values back. That is what makes
//! every rule testable as a table and every decision reproducible by `loopgate policy eval`. It
//! keeps no state between calls: counters, histories, custody chains (a [`Custody`] is a value
//! the gateway rebuilds from its log) and regulator queries are the gateway's.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod bundle;
mod calendar;
mod custody;
mod decision;
mod error;
mod evaluate;
mod lifecycle;
mod model;
mod reason;
mod rules;
mod shipment;

pub use bundle::{
    BundleDiff, Change, Diagnostic, EntryChanges, Lift, MAX_BUNDLE_BYTES, Migrated, Plain,
    Severity, ValidBundle, diff, migrate, not_a_bundle, parse_bundle, set_tenant_status,
};
pub use calendar::{PARK_OFFSET, park_date, volume_year_start};
pub use custody::{
    Custody, CustodyEvent, CustodyFlag, CustodyParty, CustodyReport, Declared, Overdue,
    ShipmentStatus,
};
pub use decision::{Decision, Flag, TransferRequest, Verdict, VolumeCounters};
pub use error::PolicyError;
pub use evaluate::evaluate;
pub use lifecycle::{LifecycleEvent, LifecycleReport, check_event, is_overdue, retention_due};
pub use model::{
    ApprovalStatus, Authority, Calendar, Calendars, Carrier, ContractFiling, DataClass,
    FilingEntry, FilingParty, FilingStatus, HgrApproval, HgrAuthority, HgrKind, InventoryItem,
    LegalBasis, Parameters, Park, Party, Registry, Regulator, Route, SampleItem, Scope, Side,
    Status, Tenant, WeekdayKey,
};
pub use reason::{ReasonCode, UnknownReasonCode};
pub use rules::volume::counters_after;
pub use shipment::{ShipmentDecision, ShipmentRequest, check_carrier, evaluate_shipment};
