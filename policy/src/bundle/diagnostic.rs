//! Problems found in a bundle, with the line and column they point at.

use std::fmt;
use std::ops::Range;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The bundle is refused.
    Error,
    /// The bundle is accepted, but some transfers it describes will be denied.
    Warning,
}

/// One problem in a bundle: where it is and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong, lower case, no trailing period.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `LINE:COLUMN: message` (warnings say so); the CLI puts the file name in front.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.severity {
            Severity::Error => write!(f, "{}:{}: {}", self.line, self.column, self.message),
            Severity::Warning => {
                write!(
                    f,
                    "{}:{}: warning: {}",
                    self.line, self.column, self.message
                )
            }
        }
    }
}

/// Most diagnostics reported for one bundle; the rest are counted in a last line. Keeps a
/// pathological input (one error per byte) from costing quadratic time or unbounded memory.
pub(crate) const MAX_REPORTED: usize = 200;

/// A diagnostic before its position is worked out.
struct Pending {
    offset: usize,
    severity: Severity,
    message: String,
}

/// Turns byte offsets into lines and columns, and collects diagnostics in source order.
pub(crate) struct Diagnostics<'s> {
    source: &'s str,
    line_starts: Vec<usize>,
    found: Vec<Pending>,
    dropped: usize,
    errors: usize,
}

impl<'s> Diagnostics<'s> {
    pub(crate) fn new(source: &'s str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        Self {
            source,
            line_starts,
            found: Vec::new(),
            dropped: 0,
            errors: 0,
        }
    }

    /// The 1-based line of a byte offset (for messages that point at another spot, such as the
    /// first of two duplicate ids; reported positions are worked out in [`Self::into_sorted`]).
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.source.len());
        self.line_starts.partition_point(|start| *start <= offset)
    }

    pub(crate) fn error(&mut self, span: &Range<usize>, message: impl Into<String>) {
        self.push(Severity::Error, span, message.into());
    }

    pub(crate) fn warn(&mut self, span: &Range<usize>, message: impl Into<String>) {
        self.push(Severity::Warning, span, message.into());
    }

    fn push(&mut self, severity: Severity, span: &Range<usize>, message: String) {
        if severity == Severity::Error {
            self.errors += 1;
        }
        // Keep a margin over what is reported so sorting still finds the earliest ones.
        if self.found.len() >= 50 * MAX_REPORTED {
            self.dropped += 1;
            return;
        }
        self.found.push(Pending {
            offset: span.start.min(self.source.len()),
            severity,
            message,
        });
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.errors > 0
    }

    /// What was found, in source order (errors before warnings on the same spot), at most
    /// [`MAX_REPORTED`] of them and then one line counting the rest. Positions are worked out in
    /// one pass over the source.
    pub(crate) fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.found.sort_by(|a, b| {
            (a.offset, a.severity, &a.message).cmp(&(b.offset, b.severity, &b.message))
        });
        self.found.dedup_by(|a, b| {
            a.offset == b.offset && a.severity == b.severity && a.message == b.message
        });
        let more = self.found.len().saturating_sub(MAX_REPORTED) + self.dropped;
        self.found.truncate(MAX_REPORTED);
        let mut out = Vec::with_capacity(self.found.len() + 1);
        let (mut line, mut column, mut at) = (1, 1, 0);
        for pending in self.found {
            for ch in self.source.get(at..pending.offset).unwrap_or("").chars() {
                if ch == '\n' {
                    line += 1;
                    column = 1;
                } else {
                    column += 1;
                }
            }
            at = at.max(pending.offset);
            out.push(Diagnostic {
                severity: pending.severity,
                line,
                column,
                message: pending.message,
            });
        }
        if more > 0 {
            out.push(Diagnostic {
                severity: Severity::Error,
                line,
                column,
                message: format!("and {more} more problems; fix these first and check again"),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_problem_at_the_same_spot_is_reported_once() {
        let source = "a = 1\nb = 2\n";
        let mut d = Diagnostics::new(source);
        d.error(&(6..7), "twice");
        d.error(&(6..7), "twice");
        d.error(&(6..7), "another message");
        d.warn(&(6..7), "twice");
        d.error(&(0..1), "twice");
        let found: Vec<String> = d.into_sorted().iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                "1:1: twice",
                "2:1: another message",
                "2:1: twice",
                "2:1: warning: twice"
            ]
        );
    }

    #[test]
    fn past_the_cap_the_earliest_problems_are_reported_and_the_rest_counted() {
        // Problems found back to front (as a later pass over the bundle may find them): the
        // ones reported are still the first in the source, even when more were found than the
        // report shows, and the last line counts every one left out.
        let found = 300;
        let source = "x".repeat(found);
        let mut d = Diagnostics::new(&source);
        for at in (0..found).rev() {
            d.error(&(at..at + 1), format!("problem at {at}"));
        }
        let reported = d.into_sorted();
        assert_eq!(reported.len(), MAX_REPORTED + 1);
        assert_eq!(reported[0].to_string(), "1:1: problem at 0");
        assert_eq!(reported[MAX_REPORTED - 1].column, MAX_REPORTED);
        assert_eq!(
            reported[MAX_REPORTED].message,
            format!(
                "and {} more problems; fix these first and check again",
                found - MAX_REPORTED
            )
        );

        // Past the memory cap, problems are only counted.
        let found = 50 * MAX_REPORTED + 123;
        let source = "x".repeat(found);
        let mut d = Diagnostics::new(&source);
        for at in 0..found {
            d.error(&(at..at + 1), format!("problem at {at}"));
        }
        assert!(d.has_errors());
        let reported = d.into_sorted();
        assert_eq!(
            reported[MAX_REPORTED].message,
            format!(
                "and {} more problems; fix these first and check again",
                found - MAX_REPORTED
            )
        );
    }
}
