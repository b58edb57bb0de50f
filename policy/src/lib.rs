//! The green channel's compliance rules as a pure function.
//!
//! `loopgate-policy` holds the registry model of RULES.md (whitelist tenants, inventory items,
//! contract filings, catalogue, calendars), parses and validates policy bundles (the TOML schema
//! of `examples/policy.toml`), and decides transfers with [`evaluate`]: rules 1-19 in order, the
//! first failure wins. It also has the working-day calendar used for filing deadlines and the
//! lifecycle rules 20-21.
//!
//! It does **no I/O, no async and no clock reads**: the caller passes the bundle text, the time
//! and the volume counters in, and gets plain values back. That is what makes every rule testable
//! as a table and every decision reproducible by `loopgate policy eval`.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod bundle;
mod calendar;
mod decision;
mod error;
mod evaluate;
mod lifecycle;
mod model;
mod reason;
mod rules;

pub use bundle::{
    BundleDiff, Change, Diagnostic, EntryChanges, MAX_BUNDLE_BYTES, Plain, Severity, ValidBundle,
    diff, parse_bundle, set_tenant_status,
};
pub use calendar::{PARK_OFFSET, park_date, volume_year_start};
pub use decision::{Decision, Flag, TransferRequest, Verdict, VolumeCounters};
pub use error::PolicyError;
pub use evaluate::evaluate;
pub use lifecycle::{LifecycleEvent, check_transition, is_overdue, retention_due};
pub use model::{
    Authority, Calendar, Calendars, ContractFiling, DataClass, FilingStatus, InventoryItem,
    Parameters, Park, Registry, Route, Side, Status, Tenant, WeekdayKey,
};
pub use reason::{ReasonCode, UnknownReasonCode};
pub use rules::volume::counters_after;
