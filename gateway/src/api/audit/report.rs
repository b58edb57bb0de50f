//! `GET /v1/audit/report?month=YYYY-MM&tenant=&tree_size=&format=json|csv`: the monthly report
//! per enterprise (sending tenant) within the regulator's scope, computed over the records of
//! the tree of `tree_size` records (by default the latest checkpoint's) whose time falls in the
//! month (park time, UTC+8). It names that tree (size and root), so two regulators with the same
//! scope who ask for the same `tree_size` get the same figures (and the same CSV, byte for
//! byte), whatever was logged since.
//!
//! Read with the records index (the month's time range, and the sender when `tenant` is
//! given) on a blocking thread, while holding one of the export slots (`[limits] max_exports`,
//! `max_exports_per_principal`): a report reads records as an export does.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use loopgate_audit::{Field, Kind, Outcome, Record, Selection, Verdict};
use loopgate_policy::{PARK_OFFSET, park_date};
use serde_json::{Value, json};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{Date, Month, OffsetDateTime, Time};

use super::export::Slot;
use super::query::{Params, malformed};
use super::reader::Reader;
use super::retention::rfc3339;
use super::unreadable;
use crate::api::Answer;
use crate::record;
use crate::reply::ApiError;
use crate::state::AppState;
use crate::transfer::records::{CompletedDetails, DecisionDetails};

/// The CSV's columns, in order.
pub(crate) const CSV_HEADER: &str = "month,tenant,transfers_allowed,transfers_denied,completed,failed,bytes,data_subjects,shipments_allowed,shipments_denied,custody_events,denials,tree_size,root_hash";
/// Records read from the index per page.
const PAGE: usize = 1000;

const MONTH: &[BorrowedFormatItem<'_>] = format_description!("[year]-[month]");
const DAY: &[BorrowedFormatItem<'_>] = format_description!("[year]-[month]-[day]");

/// The figures of one sending tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Enterprise {
    transfers: [u64; 2],
    completed: u64,
    failed: u64,
    bytes: u64,
    data_subjects: u64,
    shipments: [u64; 2],
    custody_events: u64,
    denials: BTreeMap<String, u64>,
}

fn verdict_slot(verdict: Verdict) -> usize {
    match verdict {
        Verdict::Allow => 0,
        Verdict::Deny => 1,
    }
}

impl Enterprise {
    fn add(&mut self, record: &Record) {
        let bump = |n: &mut u64, by: u64| *n = n.saturating_add(by);
        match (record.kind, record.decision) {
            (Kind::Decision, Some(verdict)) => {
                bump(&mut self.transfers[verdict_slot(verdict)], 1);
                if verdict == Verdict::Allow {
                    let subjects = record::read::<DecisionDetails>(record)
                        .and_then(|d| d.data_subjects)
                        .unwrap_or(0);
                    bump(&mut self.data_subjects, subjects);
                }
            }
            (Kind::Shipment, Some(verdict)) => bump(&mut self.shipments[verdict_slot(verdict)], 1),
            (Kind::Outcome, _) => match record.outcome {
                Some(Outcome::Completed) => {
                    bump(&mut self.completed, 1);
                    let size = record::read::<CompletedDetails>(record).map_or(0, |d| d.size);
                    bump(&mut self.bytes, size);
                }
                Some(Outcome::Failed | Outcome::Interrupted) => bump(&mut self.failed, 1),
                None => {}
            },
            (Kind::Custody, _) => bump(&mut self.custody_events, 1),
            _ => {}
        }
        if record.decision == Some(Verdict::Deny) {
            let reason = record
                .reason
                .as_ref()
                .and_then(Option::as_deref)
                .unwrap_or("")
                .to_owned();
            bump(self.denials.entry(reason).or_default(), 1);
        }
    }

    fn json(&self, tenant: &str) -> Value {
        json!({
            "tenant": tenant,
            "transfers": { "allow": self.transfers[0], "deny": self.transfers[1] },
            "completed": self.completed,
            "failed": self.failed,
            "bytes": self.bytes,
            "data_subjects": self.data_subjects,
            "shipments": { "allow": self.shipments[0], "deny": self.shipments[1] },
            "custody_events": self.custody_events,
            "denials": self.denials,
        })
    }
}

/// A CSV field, quoted when it needs to be (RFC 4180).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// What was asked.
struct Asked {
    month: Date,
    tenant: Option<String>,
    tree_size: Option<u64>,
    /// `Some(true)` CSV, `Some(false)` JSON asked for by name, `None` JSON by default.
    csv: Option<bool>,
}

fn asked(query: Option<&str>, now: OffsetDateTime) -> Result<Asked, ApiError> {
    let params = Params::parse(query, &["month", "tenant", "tree_size", "format"])?;
    let month = match params.text("month") {
        Some(text) => {
            let shaped = text.len() == 7
                && text.bytes().enumerate().all(|(i, b)| match i {
                    4 => b == b'-',
                    _ => b.is_ascii_digit(),
                });
            shaped
                .then(|| Date::parse(&format!("{text}-01"), DAY).ok())
                .flatten()
                .ok_or_else(|| {
                    malformed(format!(
                        "month={text:?} is not a month; give YYYY-MM (park time, UTC+8), e.g. 2026-11"
                    ))
                })?
        }
        None => park_date(now).replace_day(1).unwrap_or(Date::MIN),
    };
    let csv = match params.text("format") {
        None => None,
        Some("json") => Some(false),
        Some("csv") => Some(true),
        Some(other) => {
            return Err(malformed(format!("format={other:?} is not json or csv")));
        }
    };
    Ok(Asked {
        month,
        tenant: params.text("tenant").map(str::to_owned),
        tree_size: params.number("tree_size")?,
        csv,
    })
}

/// The first instant of `month` in park time, and the last (inclusive, to the nanosecond).
fn month_bounds(month: Date) -> (OffsetDateTime, OffsetDateTime) {
    let start = month.with_time(Time::MIDNIGHT).assume_offset(PARK_OFFSET);
    let next = match month.month() {
        Month::December => Date::from_calendar_date(month.year() + 1, Month::January, 1),
        m => Date::from_calendar_date(month.year(), m.next(), 1),
    };
    let end = next
        .map(|d| d.with_time(Time::MIDNIGHT).assume_offset(PARK_OFFSET))
        .map_or(OffsetDateTime::new_utc(Date::MAX, Time::MIDNIGHT), |e| {
            e - time::Duration::NANOSECOND
        });
    (start, end)
}

/// `GET /v1/audit/report`
pub(super) async fn report(
    state: &std::sync::Arc<AppState>,
    reader: Reader,
    principal: &str,
    query: Option<&str>,
) -> Result<Answer, ApiError> {
    let now = state.clock.now();
    let asked = asked(query, now)?;
    let signed = state.log.latest_checkpoint().size();
    let tree_size = match asked.tree_size {
        None => signed,
        Some(size) if size > signed => {
            return Err(malformed(format!(
                "tree_size={size} is beyond the log: its latest checkpoint's size is {signed}; ask for at most {signed}"
            )));
        }
        Some(size) => size,
    };
    let slot = Slot::take(state, principal)?;
    let tenant = asked.tenant.clone();
    let month = asked.month;
    let scope = reader.scopes();
    let (root, enterprises) = super::blocking(state, move |state| {
        let _slot = slot;
        let root = state.log.root(tree_size).map_err(unreadable)?;
        let enterprises = compute(state, &reader, month, tenant.as_deref(), tree_size)?;
        Ok((root, enterprises))
    })
    .await?;
    let month_text = month.format(MONTH).unwrap_or_default();
    let root = STANDARD.encode(root);
    let file = |ext: &str| {
        let tenant: String = asked
            .tenant
            .as_deref()
            .map(|t| {
                let safe: String = t
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || "._-".contains(c) {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                format!("-{safe}")
            })
            .unwrap_or_default();
        format!("attachment; filename=\"loopgate-report-{month_text}{tenant}-{tree_size}.{ext}\"")
    };
    let (content_type, body, disposition) = if asked.csv == Some(true) {
        let mut csv = String::from(CSV_HEADER);
        csv.push_str("\r\n");
        for (tenant, e) in &enterprises {
            let denials: Vec<String> = e.denials.iter().map(|(r, n)| format!("{r}={n}")).collect();
            let _ = write!(
                csv,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
                month_text,
                csv_field(tenant),
                e.transfers[0],
                e.transfers[1],
                e.completed,
                e.failed,
                e.bytes,
                e.data_subjects,
                e.shipments[0],
                e.shipments[1],
                e.custody_events,
                csv_field(&denials.join(";")),
                tree_size,
                root,
            );
        }
        (
            "text/csv; charset=utf-8",
            csv.into_bytes(),
            Some(file("csv")),
        )
    } else {
        let body = json!({
            "month": month_text,
            "tenant": asked.tenant,
            "checkpoint": { "tree_size": tree_size, "root_hash": root },
            "scope": scope,
            "generated_at": rfc3339(now),
            "enterprises": enterprises.iter().map(|(t, e)| e.json(t)).collect::<Vec<_>>(),
        });
        let mut bytes = body.to_string().into_bytes();
        bytes.push(b'\n');
        let disposition = (asked.csv == Some(false)).then(|| file("json"));
        ("application/json", bytes, disposition)
    };
    let mut response = crate::api::json_response((StatusCode::OK, Bytes::from(body)));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(disposition) = disposition.and_then(|d| HeaderValue::from_str(&d).ok()) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(Answer::Response(response))
}

/// The figures per sending tenant of the records below `tree_size` in `month` that `reader`
/// sees, of `tenant` only when given. Blocking.
fn compute(
    state: &AppState,
    reader: &Reader,
    month: Date,
    tenant: Option<&str>,
    tree_size: u64,
) -> Result<BTreeMap<String, Enterprise>, ApiError> {
    let (from, to) = month_bounds(month);
    let mut selection = Selection {
        terms: tenant
            .map(|t| vec![(Field::Sender, t.as_bytes().to_vec())])
            .unwrap_or_default(),
        from: Some(from),
        to: Some(to),
        after: None,
        limit: PAGE,
    };
    let mut enterprises: BTreeMap<String, Enterprise> = BTreeMap::new();
    loop {
        let page = state.log.select(&selection).map_err(unreadable)?;
        for (index, leaf) in &page.records {
            if *index >= tree_size {
                return Ok(enterprises);
            }
            let Ok(record) = Record::from_leaf(leaf) else {
                continue;
            };
            let Some(sender) = record.sender.as_deref() else {
                continue;
            };
            if tenant.is_some_and(|t| t != sender) || !reader.sees_record(&record) {
                continue;
            }
            enterprises
                .entry(sender.to_owned())
                .or_default()
                .add(&record);
        }
        match page.next {
            Some(next) if next.saturating_add(1) < tree_size => selection.after = Some(next),
            _ => return Ok(enterprises),
        }
    }
}
