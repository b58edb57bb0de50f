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

/// Turns byte offsets into lines and columns, and collects diagnostics in source order.
pub(crate) struct Diagnostics<'s> {
    source: &'s str,
    line_starts: Vec<usize>,
    found: Vec<Diagnostic>,
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
        }
    }

    /// Line and column (both 1-based, column in characters) of a byte offset.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.source.len());
        let line = self.line_starts.partition_point(|start| *start <= offset);
        let start = self.line_starts[line.saturating_sub(1)];
        let column = self
            .source
            .get(start..offset)
            .map_or(offset - start, |text| text.chars().count());
        (line.max(1), column + 1)
    }

    pub(crate) fn error(&mut self, span: &Range<usize>, message: impl Into<String>) {
        self.push(Severity::Error, span, message.into());
    }

    pub(crate) fn warn(&mut self, span: &Range<usize>, message: impl Into<String>) {
        self.push(Severity::Warning, span, message.into());
    }

    fn push(&mut self, severity: Severity, span: &Range<usize>, message: String) {
        let (line, column) = self.position(span.start);
        self.found.push(Diagnostic {
            severity,
            line,
            column,
            message,
        });
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.found.iter().any(|d| d.severity == Severity::Error)
    }

    /// Everything found, in source order (errors before warnings on the same spot).
    pub(crate) fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.found.sort_by_key(|d| (d.line, d.column, d.severity));
        self.found.dedup();
        self.found
    }
}
