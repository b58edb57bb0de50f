//! Rules 11-18: personal information needs a filed GBA Standard Contract (or another route) that
//! covers this transfer.

use time::Date;

use super::{Ctx, in_gba};
use crate::decision::Flag;
use crate::model::{ContractFiling, FilingStatus, InventoryItem, Route, Side, Tenant};
use crate::reason::ReasonCode;

/// What rules 11-18 found, for the decision record.
pub(crate) struct Filed<'a> {
    pub(crate) filing: &'a ContractFiling,
    pub(crate) subjects: u64,
    pub(crate) due: Option<Date>,
    pub(crate) flags: Vec<Flag>,
}

/// Rules 11-18 for a personal-information item, in order.
pub(crate) fn check<'a>(
    ctx: &Ctx<'a>,
    sender: &Tenant,
    recipient: &Tenant,
    item: &InventoryItem,
) -> Result<Filed<'a>, ReasonCode> {
    // Rule 11: both personal-information headers are present.
    let (Some(reference), Some(subjects)) = (&ctx.request.filing, ctx.request.data_subjects) else {
        return Err(ReasonCode::RequestMissingHeader);
    };
    let filing = parties(ctx, reference, sender, recipient)?;
    in_force(ctx, filing)?;
    let (due, flags) = deadline(ctx, filing, sender)?;
    impact_assessment(ctx, filing)?;
    scope(ctx, filing, item)?;
    // Rule 17: sensitive data needs a contract that covers it and separate consent.
    if item.data_class.is_sensitive() && !(filing.covers_sensitive && filing.separate_consent) {
        return Err(ReasonCode::ContractSensitiveNotCovered);
    }
    // Rule 18: a CIIO must go through a security assessment; a standard contract (GBA or
    // national) or a certification is not enough.
    if sender.ciio && filing.route != Route::SecurityAssessment {
        return Err(ReasonCode::ContractCiioRequiresAssessment);
    }
    Ok(Filed {
        filing,
        subjects,
        due,
        flags,
    })
}

/// Rule 12: the filing exists, names these parties, and they sit in GBA cities on opposite sides.
fn parties<'a>(
    ctx: &Ctx<'a>,
    reference: &str,
    sender: &Tenant,
    recipient: &Tenant,
) -> Result<&'a ContractFiling, ReasonCode> {
    let filing = ctx
        .registry
        .filings
        .get(reference)
        .ok_or(ReasonCode::ContractUnknown)?;
    if filing.processor != sender.id || filing.recipient != recipient.id {
        return Err(ReasonCode::ContractPartiesMismatch);
    }
    let both_in_gba = in_gba(ctx, &sender.city) && in_gba(ctx, &recipient.city);
    let opposite_sides = sender.side == Side::Mainland && recipient.side == Side::HongKong;
    if !both_in_gba || !opposite_sides {
        return Err(ReasonCode::ContractPartyOutsideGba);
    }
    Ok(filing)
}

/// Rule 13: the contract is effective today.
fn in_force(ctx: &Ctx<'_>, filing: &ContractFiling) -> Result<(), ReasonCode> {
    match filing.status {
        FilingStatus::Terminated => Err(ReasonCode::ContractTerminated),
        FilingStatus::Suspended => Err(ReasonCode::ContractSuspended),
        FilingStatus::Effective if filing.effective_on > ctx.today => {
            Err(ReasonCode::ContractNotEffective)
        }
        FilingStatus::Effective => Ok(()),
    }
}

/// Rule 14: the contract is filed within `filing_working_days` working days of `effective_on`
/// on the processor's calendar. A `filed_on` later than today does not count as filed yet.
fn deadline(
    ctx: &Ctx<'_>,
    filing: &ContractFiling,
    processor: &Tenant,
) -> Result<(Option<Date>, Vec<Flag>), ReasonCode> {
    let calendar = ctx.registry.calendars.side(processor.side);
    let due = calendar.add_working_days(
        filing.effective_on,
        ctx.registry.parameters.filing_working_days,
    );
    let filed = filing.filed_on.filter(|day| *day <= ctx.today);
    match (filed, due) {
        (None, Some(due)) if ctx.today <= due => Ok((Some(due), Vec::new())),
        // Not filed and past due, or a deadline that cannot be computed: fail closed.
        (None, _) => Err(ReasonCode::ContractFilingOverdue),
        (Some(on), Some(due)) if on > due => Ok((Some(due), vec![Flag::FiledLate])),
        (Some(_), due) => Ok((due, Vec::new())),
    }
}

/// Rule 15: the impact assessment was completed on or before today and before the contract
/// took effect.
fn impact_assessment(ctx: &Ctx<'_>, filing: &ContractFiling) -> Result<(), ReasonCode> {
    match filing.pia_completed_on {
        Some(day) if day <= ctx.today && day <= filing.effective_on => Ok(()),
        _ => Err(ReasonCode::ContractPiaMissing),
    }
}

/// Rule 16: the item's categories and this purpose are inside the filed scope.
fn scope(ctx: &Ctx<'_>, filing: &ContractFiling, item: &InventoryItem) -> Result<(), ReasonCode> {
    if item.categories.is_subset(&filing.categories)
        && filing.purposes.contains(&ctx.request.purpose)
    {
        Ok(())
    } else {
        Err(ReasonCode::ContractScopeExceeded)
    }
}
