//! The crate's one error type.

use crate::bundle::Diagnostic;

/// What can go wrong in `loopgate-policy`: only a bundle can be wrong (evaluation never fails, it
/// decides).
#[derive(Debug, Clone, thiserror::Error)]
pub enum PolicyError {
    /// The bundle's author must fix it: every problem, with its position, in source order.
    #[error("the policy bundle has {} problem(s); fix each one listed and check again", .problems.iter().filter(|p| p.severity == crate::bundle::Severity::Error).count())]
    InvalidBundle {
        /// Errors and warnings, in source order.
        problems: Vec<Diagnostic>,
    },
}
