//! Rule 19: the Mainland's yearly head-count thresholds, for routes other than the GBA contract,
//! counted per legal entity.

use super::Ctx;
use crate::decision::VolumeCounters;
use crate::model::{ContractFiling, InventoryItem, Route};
use crate::reason::ReasonCode;

/// A legal entity's counters once this transfer's subjects are added to the matching one.
pub fn counters_after(before: VolumeCounters, sensitive: bool, subjects: u64) -> VolumeCounters {
    let mut after = before;
    let counter = if sensitive {
        &mut after.sensitive_subjects
    } else {
        &mut after.subjects
    };
    *counter = counter.saturating_add(subjects);
    after
}

/// Rule 19. `ctx.request.volume` is the sender's legal entity's year-to-date count (the caller
/// sums every tenant of the entity). Thresholds are reached at the number itself ("1,000,000
/// individuals need a security assessment"; in Mainland law "以上" includes the number). Both
/// counters are held to their thresholds, whichever one this transfer adds to: once the year's
/// volume needs a security assessment, every further transfer on a weaker route is refused.
/// `gba_sc` has no cap and `security_assessment` is the strongest route, so neither can fail.
pub(crate) fn check(
    ctx: &Ctx<'_>,
    filing: &ContractFiling,
    item: &InventoryItem,
) -> Result<(), ReasonCode> {
    let params = &ctx.registry.parameters;
    let subjects = ctx.request.data_subjects.unwrap_or(0);
    let after = counters_after(ctx.request.volume, item.data_class.is_sensitive(), subjects);
    let needs_assessment = after.subjects >= params.threshold_assessment
        || after.sensitive_subjects >= params.threshold_sensitive_assessment;
    match filing.route {
        Route::GbaSc | Route::SecurityAssessment => Ok(()),
        // Both are at least what `threshold_contract` asks for.
        Route::NationalSc | Route::Certification if needs_assessment => {
            Err(ReasonCode::VolumeRouteInsufficient)
        }
        Route::NationalSc | Route::Certification => Ok(()),
    }
}
