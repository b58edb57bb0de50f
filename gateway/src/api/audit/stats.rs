//! `GET /v1/audit/stats`: the regulator console's overview, per park day (UTC+8): decisions on
//! transfers and shipment declarations, bytes of completed transfers, the top senders and the
//! denials by reason, of the records the regulator's scope covers. Read from the per-day
//! aggregates in sled (`views::stats`), never from the records: a few keys per day whatever the
//! log's length.

use std::str::FromStr;

use loopgate_policy::{ReasonCode, park_date};
use serde_json::{Value, json};
use time::Date;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

use super::query::{Params, malformed};
use super::reader::Reader;
use super::retention::rfc3339;
use crate::reply::ApiError;
use crate::state::AppState;
use crate::views::stats::{Sums, Tally};

/// Days shown when `from` is not given: `to` and the 29 before it.
const DEFAULT_DAYS: i64 = 30;
/// The longest range one request may ask for.
pub(super) const MAX_DAYS: i64 = 366;
/// Senders listed, the busiest first.
const TOP_SENDERS: usize = 20;

const DAY: &[BorrowedFormatItem<'_>] = format_description!("[year]-[month]-[day]");

/// `name` as a `YYYY-MM-DD` day, when given.
pub(super) fn day(params: &Params, name: &str) -> Result<Option<Date>, ApiError> {
    params
        .text(name)
        .map(|text| {
            Date::parse(text, DAY).map_err(|_| {
                malformed(format!(
                    "{name}={text:?} is not a day; give YYYY-MM-DD (a park day, UTC+8), e.g. 2026-11-25"
                ))
            })
        })
        .transpose()
}

fn tally(t: Tally) -> Value {
    json!({ "allow": t.allow, "deny": t.deny })
}

fn sums(s: &Sums) -> Value {
    json!({
        "transfers": tally(s.transfers),
        "shipments": tally(s.shipments),
        "bytes": s.bytes,
    })
}

/// `GET /v1/audit/stats?from=&to=&tenant=`
pub(super) fn stats(
    state: &AppState,
    reader: &Reader,
    query: Option<&str>,
) -> Result<Value, ApiError> {
    let params = Params::parse(query, &["from", "to", "tenant"])?;
    let now = state.clock.now();
    let to = day(&params, "to")?.unwrap_or_else(|| park_date(now));
    let from = match day(&params, "from")? {
        Some(from) => from,
        None => to
            .checked_sub(time::Duration::days(DEFAULT_DAYS - 1))
            .unwrap_or(Date::MIN),
    };
    if from > to {
        return Err(malformed(format!(
            "from={from} is after to={to}; give the earlier day first"
        )));
    }
    let days = (to - from).whole_days() + 1;
    if days > MAX_DAYS {
        return Err(malformed(format!(
            "from={from} to={to} is {days} days; ask for at most {MAX_DAYS} at once"
        )));
    }
    let tenant = params.text("tenant");
    state.apply_handed_over(true);
    let covered = state.views_covered();
    let stats = state
        .views
        .stats(from, to, |bits| reader.sees_bits(bits), tenant)
        .map_err(|e| ApiError::audit_unavailable("the views of the audit log cannot be read", e))?;
    let mut every_day = Vec::new();
    let mut day = from;
    loop {
        let of_day = stats.days.get(&day).copied().unwrap_or_default();
        let mut entry = sums(&of_day);
        entry["date"] = json!(day.to_string());
        every_day.push(entry);
        match day.next_day() {
            Some(next) if next <= to => day = next,
            _ => break,
        }
    }
    let mut senders: Vec<(&String, &Sums)> = stats
        .senders
        .iter()
        .filter(|(id, _)| !id.is_empty())
        .collect();
    senders.sort_by(|(a_id, a), (b_id, b)| {
        let busy = |s: &Sums| s.transfers.total().saturating_add(s.shipments.total());
        busy(b).cmp(&busy(a)).then_with(|| a_id.cmp(b_id))
    });
    let senders: Vec<Value> = senders
        .into_iter()
        .take(TOP_SENDERS)
        .map(|(id, s)| {
            let mut entry = sums(s);
            entry["tenant"] = json!(id);
            entry
        })
        .collect();
    let mut denials: Vec<(&String, u64)> = stats.denials.iter().map(|(r, n)| (r, *n)).collect();
    denials.sort_by(|(a, an), (b, bn)| bn.cmp(an).then_with(|| a.cmp(b)));
    let denials: Vec<Value> = denials
        .into_iter()
        .map(|(reason, count)| {
            let code = ReasonCode::from_str(reason).ok();
            json!({
                "reason": reason,
                "rule": code.and_then(ReasonCode::rule),
                "shipment_rule": code.and_then(ReasonCode::shipment_rule),
                "meaning": code.map(ReasonCode::meaning),
                "count": count,
            })
        })
        .collect();
    Ok(json!({
        "as_of": rfc3339(now),
        "covered": covered,
        "from": from.to_string(),
        "to": to.to_string(),
        "utc_offset": "+08:00",
        "days": every_day,
        "totals": sums(&stats.totals),
        "senders": senders,
        "denials": denials,
    }))
}
