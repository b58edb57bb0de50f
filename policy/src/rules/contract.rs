//! Rules 11-18: personal information needs a filed GBA Standard Contract (or another route)
//! that covers this transfer.

use super::{Ctx, in_gba};
use crate::decision::{Decision, Denial, Flag};
use crate::model::{ContractFiling, FilingStatus, InventoryItem, Party, Route, Side, Tenant};
use crate::reason::ReasonCode;

/// Rules 11-18 for a personal-information item, in order. Fills in what the decision record
/// holds about the filing as it goes (numbers and report digest once the filing is known to be
/// between these parties; due dates, the overdue party and `filed_late` flags from rule 14).
pub(crate) fn check<'a>(
    ctx: &Ctx<'a>,
    sender: &Tenant,
    recipient: &Tenant,
    item: &InventoryItem,
    decision: &mut Decision,
) -> Result<&'a ContractFiling, Denial> {
    // Rule 11: both personal-information headers are present, and the count is at least one.
    let (Some(reference), Some(subjects)) = (&ctx.request.filing, ctx.request.data_subjects) else {
        return Err(ReasonCode::RequestMissingHeader.into());
    };
    if subjects == 0 {
        return Err(Denial::at(ReasonCode::RequestMalformedHeader, 11));
    }
    let filing = parties(ctx, reference, sender, recipient)?;
    record_filing(decision, filing);
    in_force(ctx, filing)?;
    deadlines(ctx, filing, sender, recipient, decision)?;
    impact_assessment(ctx, filing)?;
    scope(ctx, filing, item)?;
    // Rule 17: consent needs separate consent; sensitive data a filing that covers it.
    if item.is_consent_based() && !filing.separate_consent {
        return Err(ReasonCode::ContractConsentMissing.into());
    }
    if item.data_class.is_sensitive() && !filing.covers_sensitive {
        return Err(ReasonCode::ContractSensitiveNotCovered.into());
    }
    // Rule 17a (recorded as 17): approvals expire.
    if filing.valid_until.is_some_and(|until| ctx.today > until) {
        return Err(ReasonCode::ContractExpired.into());
    }
    // Rule 18: a CIIO must go through a security assessment; a standard contract (GBA or
    // national) or a certification is not enough.
    if sender.ciio && filing.route != Route::SecurityAssessment {
        return Err(ReasonCode::ContractCiioRequiresAssessment.into());
    }
    Ok(filing)
}

/// What every decision under `filing` records: its entries' numbers and the report's digest.
pub(crate) fn record_filing(decision: &mut Decision, filing: &ContractFiling) {
    decision.filing_numbers = filing
        .filings
        .iter()
        .filter_map(|entry| entry.number.clone().map(|number| (entry.party, number)))
        .collect();
    decision
        .pia_report_sha256
        .clone_from(&filing.pia_report_sha256);
}

/// Rule 12: the filing exists and names these parties; on the GBA route they sit in GBA cities
/// on opposite sides.
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
    if filing.route == Route::GbaSc {
        let both_in_gba = in_gba(ctx, &sender.city) && in_gba(ctx, &recipient.city);
        let opposite_sides = sender.side == Side::Mainland && recipient.side == Side::HongKong;
        if !both_in_gba || !opposite_sides {
            return Err(ReasonCode::ContractPartyOutsideGba);
        }
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

/// Rule 14: every party the route needs (`filing_parties`, in its order) files within
/// `filing_working_days` working days of `effective_on`, counted on the calendar of that
/// party's side. A `filed_on` later than today does not count as filed yet.
fn deadlines(
    ctx: &Ctx<'_>,
    filing: &ContractFiling,
    sender: &Tenant,
    recipient: &Tenant,
    decision: &mut Decision,
) -> Result<(), ReasonCode> {
    let params = &ctx.registry.parameters;
    for needed in params.filing_parties(filing.route) {
        let side = match needed.party {
            Party::Processor => sender.side,
            Party::Recipient => recipient.side,
        };
        let due = ctx
            .registry
            .calendars
            .side(side)
            .add_working_days(filing.effective_on, params.filing_working_days);
        if let Some(due) = due {
            decision.filing_due.push((needed.party, due));
        }
        let filed = filing
            .entry(needed.party)
            .and_then(|entry| entry.filed_on)
            .filter(|day| *day <= ctx.today);
        match (filed, due) {
            (None, Some(due)) if ctx.today <= due => {}
            // Not filed and past due, or a deadline that cannot be computed: fail closed.
            (None, _) => {
                decision.overdue_party = Some(needed.party);
                return Err(ReasonCode::ContractFilingOverdue);
            }
            (Some(on), Some(due)) if on > due => decision.flags.push(Flag::FiledLate(needed.party)),
            (Some(_), _) => {}
        }
    }
    Ok(())
}

/// Rule 15: the impact assessment was completed on or before today, and not before the last
/// change of scope when there was one.
fn impact_assessment(ctx: &Ctx<'_>, filing: &ContractFiling) -> Result<(), ReasonCode> {
    let done = filing
        .pia_completed_on
        .filter(|day| *day <= ctx.today)
        .ok_or(ReasonCode::ContractPiaMissing)?;
    match filing.scope_changed_on {
        Some(changed) if done < changed => Err(ReasonCode::ContractPiaStale),
        _ => Ok(()),
    }
}

/// Rule 16: the item's categories and methods and this purpose are inside the filed scope.
fn scope(ctx: &Ctx<'_>, filing: &ContractFiling, item: &InventoryItem) -> Result<(), ReasonCode> {
    if item.categories.is_subset(&filing.categories)
        && item.methods.is_subset(&filing.methods)
        && filing.purposes.contains(&ctx.request.purpose)
    {
        Ok(())
    } else {
        Err(ReasonCode::ContractScopeExceeded)
    }
}
