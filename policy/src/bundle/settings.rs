//! `[parameters]`, `[catalogue]` and `[calendar.<side>]`.

use std::collections::BTreeSet;

use time::{Date, Month, Weekday};

use super::diagnostic::Diagnostics;
use super::reader::{Located, Table, normalize_city};
use crate::model::{Calendar, Parameters, WeekdayKey};

pub(crate) const PARAMETER_KEYS: &[&str] = &[
    "filing_working_days",
    "gba_cities",
    "volume_year_start",
    "threshold_contract",
    "threshold_assessment",
    "threshold_sensitive_assessment",
];

/// Largest head-count threshold a bundle may set (more people than live on Earth).
const MAX_THRESHOLD: u64 = 10_000_000_000;

/// Omitted parameters take the defaults of `examples/policy.toml`.
pub(crate) fn parameters(d: &mut Diagnostics<'_>, t: Option<&Table<'_, '_>>) -> Option<Parameters> {
    let defaults = Parameters::default();
    let Some(t) = t else {
        return Some(defaults);
    };
    t.check_keys(d, PARAMETER_KEYS);
    let filing_working_days = t.int_or(
        d,
        "filing_working_days",
        (0, 366),
        u64::from(defaults.filing_working_days),
    );
    let gba_cities = match t.opt_list(d, "gba_cities") {
        Some(Some(cities)) if cities.is_empty() => {
            d.error(
                &t.span,
                "`gba_cities` of [parameters] must list at least one city",
            );
            None
        }
        Some(Some(cities)) => Some(
            cities
                .iter()
                .map(|city| normalize_city(&city.text))
                .collect(),
        ),
        Some(None) => Some(defaults.gba_cities),
        None => None,
    };
    let volume_year_start = match t.opt_str(d, "volume_year_start") {
        Some(Some(text)) => month_day(d, &text),
        Some(None) => Some(defaults.volume_year_start),
        None => None,
    };
    let threshold =
        |d: &mut Diagnostics<'_>, key, default| t.int_or(d, key, (1, MAX_THRESHOLD), default);
    let threshold_contract = threshold(d, "threshold_contract", defaults.threshold_contract);
    let threshold_assessment = threshold(d, "threshold_assessment", defaults.threshold_assessment);
    let threshold_sensitive_assessment = threshold(
        d,
        "threshold_sensitive_assessment",
        defaults.threshold_sensitive_assessment,
    );
    if let (Some(contract), Some(assessment)) = (threshold_contract, threshold_assessment) {
        if contract > assessment {
            d.error(
                &t.span,
                format!(
                    "`threshold_contract` ({contract}) of [parameters] is above `threshold_assessment` ({assessment}); the contract threshold must be the lower one"
                ),
            );
        }
    }
    Some(Parameters {
        filing_working_days: u32::try_from(filing_working_days?).ok()?,
        gba_cities: gba_cities?,
        volume_year_start: volume_year_start?,
        threshold_contract: threshold_contract?,
        threshold_assessment: threshold_assessment?,
        threshold_sensitive_assessment: threshold_sensitive_assessment?,
    })
}

/// `"MM-DD"`, a day that exists in a leap year.
fn month_day(d: &mut Diagnostics<'_>, text: &Located) -> Option<(Month, u8)> {
    let parsed = text.text.split_once('-').and_then(|(month, day)| {
        let (month, day) = (month.parse::<u8>().ok()?, day.parse::<u8>().ok()?);
        let month = Month::try_from(month).ok()?;
        Date::from_calendar_date(2028, month, day).ok()?;
        (text.text.len() == 5).then_some((month, day))
    });
    if parsed.is_none() {
        d.error(
            &text.span,
            format!(
                "`volume_year_start` of [parameters] is {:?}; write a month and day as \"MM-DD\", e.g. \"01-01\"",
                text.text
            ),
        );
    }
    parsed
}

/// `[catalogue] categories`.
pub(crate) fn catalogue(d: &mut Diagnostics<'_>, t: &Table<'_, '_>) -> Option<BTreeSet<String>> {
    t.check_keys(d, &["categories"]);
    let categories = t.req_list(d, "categories")?;
    Some(categories.into_iter().map(|c| c.text).collect())
}

pub(crate) const CALENDAR_KEYS: &[&str] = &["weekend", "holidays", "workdays"];

const WEEKDAYS: &[(&str, Weekday)] = &[
    ("monday", Weekday::Monday),
    ("tuesday", Weekday::Tuesday),
    ("wednesday", Weekday::Wednesday),
    ("thursday", Weekday::Thursday),
    ("friday", Weekday::Friday),
    ("saturday", Weekday::Saturday),
    ("sunday", Weekday::Sunday),
];

/// One side's calendar; omitted keys keep the default (Saturday and Sunday off, no holidays).
pub(crate) fn calendar(d: &mut Diagnostics<'_>, t: &Table<'_, '_>) -> Option<Calendar> {
    t.check_keys(d, CALENDAR_KEYS);
    let defaults = Calendar::default();
    let weekend = match t.opt_list(d, "weekend") {
        Some(Some(days)) => weekend(d, t, &days),
        Some(None) => Some(defaults.weekend),
        None => None,
    };
    let holidays = t.date_list(d, "holidays");
    let workdays = t.date_list(d, "workdays");
    let (holidays, workdays) = (holidays?, workdays?);
    for (day, span) in &workdays {
        if holidays.iter().any(|(holiday, _)| holiday == day) {
            d.error(
                span,
                format!(
                    "{day} of {} is both a holiday and a make-up working day; keep one",
                    t.label
                ),
            );
        }
    }
    Some(Calendar {
        weekend: weekend?,
        holidays: holidays.into_iter().map(|(day, _)| day).collect(),
        workdays: workdays.into_iter().map(|(day, _)| day).collect(),
    })
}

fn weekend(
    d: &mut Diagnostics<'_>,
    t: &Table<'_, '_>,
    days: &[Located],
) -> Option<BTreeSet<WeekdayKey>> {
    let mut set = BTreeSet::new();
    let mut ok = true;
    for day in days {
        match WEEKDAYS.iter().find(|(name, _)| *name == day.text) {
            Some((_, weekday)) => {
                set.insert(WeekdayKey(*weekday));
            }
            None => {
                ok = false;
                d.error(
                    &day.span,
                    format!(
                        "{:?} in `weekend` of {} is not a day of the week; use lower-case English names such as \"saturday\"",
                        day.text, t.label
                    ),
                );
            }
        }
    }
    if set.len() == WEEKDAYS.len() {
        d.error(
            &t.span,
            format!(
                "`weekend` of {} lists every day of the week; no day would be a working day",
                t.label
            ),
        );
        ok = false;
    }
    ok.then_some(set)
}
