//! Working-day calendars (rule 14): weekend days, public holidays and make-up working days per side.

use std::collections::BTreeSet;

use time::{Date, Weekday};

use super::Side;

/// The working-day calendars of both sides.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Calendars {
    /// `[calendar.mainland]`.
    pub mainland: Calendar,
    /// `[calendar.hong_kong]`.
    pub hong_kong: Calendar,
}

impl Calendars {
    /// The calendar of one side.
    pub fn side(&self, side: Side) -> &Calendar {
        match side {
            Side::Mainland => &self.mainland,
            Side::HongKong => &self.hong_kong,
        }
    }
}

/// One side's calendar: weekend days, public holidays and make-up working days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// Days of the week that are not working days (unless listed in `workdays`).
    pub weekend: BTreeSet<WeekdayKey>,
    /// Public holidays.
    pub holidays: BTreeSet<Date>,
    /// Make-up working days that fall on a weekend.
    pub workdays: BTreeSet<Date>,
}

impl Default for Calendar {
    /// Saturday and Sunday off, no holidays.
    fn default() -> Self {
        Self {
            weekend: [WeekdayKey(Weekday::Saturday), WeekdayKey(Weekday::Sunday)]
                .into_iter()
                .collect(),
            holidays: BTreeSet::new(),
            workdays: BTreeSet::new(),
        }
    }
}

/// A [`Weekday`] that can live in an ordered set (Monday first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeekdayKey(pub Weekday);

impl Ord for WeekdayKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0
            .number_days_from_monday()
            .cmp(&other.0.number_days_from_monday())
    }
}

impl PartialOrd for WeekdayKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
