//! `[parameters]`, `[catalogue]` and `[calendar.<side>]`.

use std::collections::{BTreeMap, BTreeSet};

use time::{Date, Month, Weekday};

use super::diagnostic::Diagnostics;
use super::reader::{Located, Table, normalize_city};
use crate::model::{Calendar, FilingParty, Parameters, Park, Party, Route, WeekdayKey};

pub(crate) const PARAMETER_KEYS: &[&str] = &[
    "filing_working_days",
    "gba_cities",
    "volume_year_start",
    "threshold_contract",
    "threshold_assessment",
    "threshold_sensitive_assessment",
    "sender_parks",
    "max_biosafety_level",
    "clock_skew_secs",
    "custody_handover_hours",
    "filing_parties",
];

/// Largest head-count threshold a bundle may set (more people than live on Earth).
const MAX_THRESHOLD: u64 = 10_000_000_000;

/// Omitted parameters take the defaults of RULES.md (those the reference bundle shows).
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
    let sender_parks = match t.enum_list::<Park>(d, "sender_parks") {
        Some(Some(parks)) if parks.is_empty() => {
            d.error(
                &t.get("sender_parks").map_or(t.span.clone(), |v| v.span()),
                "`sender_parks` of [parameters] must list at least one park (the default is [\"shenzhen_park\"])",
            );
            None
        }
        Some(Some(parks)) => Some(parks.into_iter().map(|(park, _)| park).collect()),
        Some(None) => Some(defaults.sender_parks),
        None => None,
    };
    let max_biosafety_level = t.int_or(
        d,
        "max_biosafety_level",
        (1, 4),
        u64::from(defaults.max_biosafety_level),
    );
    let clock_skew_secs = t.int_or(d, "clock_skew_secs", (0, 86_400), defaults.clock_skew_secs);
    let custody_handover_hours = t.int_or(
        d,
        "custody_handover_hours",
        (1, 8_760),
        defaults.custody_handover_hours,
    );
    let filing_parties = match t.get("filing_parties") {
        None => Some(defaults.filing_parties),
        Some(value) => Table::from_value(d, value, "[parameters.filing_parties]".to_owned())
            .and_then(|table| filing_parties(d, &table)),
    };
    Some(Parameters {
        filing_working_days: u32::try_from(filing_working_days?).ok()?,
        gba_cities: gba_cities?,
        sender_parks: sender_parks?,
        volume_year_start: volume_year_start?,
        threshold_contract: threshold_contract?,
        threshold_assessment: threshold_assessment?,
        threshold_sensitive_assessment: threshold_sensitive_assessment?,
        max_biosafety_level: u8::try_from(max_biosafety_level?).ok()?,
        clock_skew_secs: clock_skew_secs?,
        custody_handover_hours: custody_handover_hours?,
        filing_parties: filing_parties?,
    })
}

/// `[parameters.filing_parties]`: per route, `[{ party, authority }, …]`, at most one entry per
/// party; an omitted route keeps its default.
fn filing_parties(
    d: &mut Diagnostics<'_>,
    t: &Table<'_, '_>,
) -> Option<BTreeMap<Route, Vec<FilingParty>>> {
    let routes: Vec<&str> = Route::ALL.iter().map(|r| r.as_str()).collect();
    t.check_keys(d, &routes);
    let mut out = Parameters::default_filing_parties();
    let mut ok = true;
    for route in Route::ALL {
        let Some(entries) = t.tables(d, route.as_str()) else {
            ok = false;
            continue;
        };
        let Some(entries) = entries else {
            continue;
        };
        let mut parties = Vec::with_capacity(entries.len());
        for entry in &entries {
            entry.check_keys(d, &["party", "authority"]);
            let party: Option<Party> = entry.req_enum(d, "party");
            let authority = entry.req_enum(d, "authority");
            let (Some(party), Some(authority)) = (party, authority) else {
                ok = false;
                continue;
            };
            if parties.iter().any(|p: &FilingParty| p.party == party) {
                d.error(
                    &entry.span,
                    format!(
                        "{} lists the {} a second time; keep one entry per party",
                        t.what(route.as_str()),
                        party.as_str()
                    ),
                );
                ok = false;
                continue;
            }
            parties.push(FilingParty { party, authority });
        }
        out.insert(*route, parties);
    }
    ok.then_some(out)
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
