//! Working days and the filing deadline (rule 14), and the local date of an instant.

use time::{Date, Month, OffsetDateTime, UtcOffset};

use crate::model::{Calendar, WeekdayKey};

/// Both parks' time zone (Asia/Shanghai and Asia/Hong_Kong are UTC+8 with no daylight saving):
/// every date in a bundle means that calendar day in UTC+8.
pub const PARK_OFFSET: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(offset) => offset,
    Err(_) => UtcOffset::UTC,
};

/// Farthest a working-day search walks before giving up (ten years of days). Validation refuses
/// calendars with no working weekday, so the limit only guards against a calendar built by hand.
const SEARCH_LIMIT_DAYS: u32 = 3_660;

/// The calendar day (UTC+8) of an instant: the "today" every rule uses. An instant whose UTC+8
/// day is outside the supported date range (after 9999-12-31T16:00Z) is held at the last (or
/// first) supported day instead of panicking: the time is an input, and evaluation must decide.
pub fn park_date(at: OffsetDateTime) -> Date {
    match at.checked_to_offset(PARK_OFFSET) {
        Some(local) => local.date(),
        None if at.year() > 0 => Date::MAX,
        None => Date::MIN,
    }
}

impl Calendar {
    /// A make-up working day is always a working day; otherwise holidays and weekend days are not.
    pub fn is_working_day(&self, day: Date) -> bool {
        if self.workdays.contains(&day) {
            return true;
        }
        !self.holidays.contains(&day) && !self.weekend.contains(&WeekdayKey(day.weekday()))
    }

    /// The `n`th working day strictly after `start` (`start` itself never counts); `start` when
    /// `n` is 0. `None` if the date range ends or no working day comes within ten years.
    pub fn add_working_days(&self, start: Date, n: u32) -> Option<Date> {
        let mut day = start;
        let mut counted = 0;
        let mut walked = 0;
        while counted < n {
            day = day.next_day()?;
            walked += 1;
            if walked > SEARCH_LIMIT_DAYS.saturating_add(n) {
                return None;
            }
            if self.is_working_day(day) {
                counted += 1;
            }
        }
        Some(day)
    }
}

/// The first day of the rule 19 counting year that contains `today`: the latest
/// `volume_year_start` (month, day) on or before `today`. A 29 February start falls back to
/// 28 February in common years.
pub fn volume_year_start(today: Date, start: (Month, u8)) -> Date {
    let on_year = |year: i32| {
        Date::from_calendar_date(year, start.0, start.1)
            .or_else(|_| Date::from_calendar_date(year, start.0, start.1.saturating_sub(1)))
            .unwrap_or(today)
    };
    let this_year = on_year(today.year());
    if this_year <= today {
        this_year
    } else {
        on_year(today.year() - 1)
    }
}
