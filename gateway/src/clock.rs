//! The one place the gateway reads the clock (clippy bans `SystemTime::now` and
//! `OffsetDateTime::now_utc` everywhere else): rule evaluation and records take the time as an
//! input, so tests and `policy eval` can fix it.

use time::{Duration, OffsetDateTime};

/// A source of the current time: the system clock, optionally shifted.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    offset: Duration,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// The system clock shifted by `offset` (for rehearsing dates in a test environment).
    pub fn shifted(offset: Duration) -> Self {
        Self { offset }
    }

    /// Now, in UTC.
    #[allow(clippy::disallowed_methods)] // this is the clock module
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.offset
    }
}
