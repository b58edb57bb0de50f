//! Rules 4-10: the transfer matches an approved inventory item.

use super::{Ctx, qualifying_approvals, within};
use crate::model::{ContractFiling, FilingStatus, HgrKind, InventoryItem, Route, Status, Tenant};
use crate::reason::ReasonCode;

/// Rules 4-7: the item exists, is the sender's, is valid, and lists this recipient, this
/// purpose and only catalogue categories.
pub(crate) fn item<'a>(ctx: &Ctx<'a>) -> Result<&'a InventoryItem, ReasonCode> {
    let request = ctx.request;
    let item = ctx
        .registry
        .items
        .get(&request.item)
        .ok_or(ReasonCode::InventoryUnknownItem)?;
    if item.owner != request.sender {
        return Err(ReasonCode::InventoryNotOwner);
    }
    if item.status != Status::Approved || !within(ctx.today, item.valid_from, item.valid_until) {
        return Err(ReasonCode::InventoryNotValid);
    }
    if !item.recipients.contains(&request.recipient) {
        return Err(ReasonCode::InventoryRecipientNotAllowed);
    }
    if !item.purposes.contains(&request.purpose) {
        return Err(ReasonCode::InventoryPurposeNotAllowed);
    }
    if !item.categories.is_subset(&ctx.registry.catalogue) {
        return Err(ReasonCode::InventoryCategoryNotInCatalogue);
    }
    Ok(item)
}

/// Rule 8 (for `important` data): `Loop-Contract-Filing` names an effective, valid
/// `security_assessment` of this sender and recipient that covers the item's categories and
/// the purpose.
pub(crate) fn important<'a>(
    ctx: &Ctx<'a>,
    sender: &Tenant,
    recipient: &Tenant,
    item: &InventoryItem,
) -> Result<&'a ContractFiling, ReasonCode> {
    let filing = ctx
        .request
        .filing
        .as_ref()
        .and_then(|reference| ctx.registry.filings.get(reference))
        .ok_or(ReasonCode::DataImportantData)?;
    let in_force = filing.status == FilingStatus::Effective
        && filing.effective_on <= ctx.today
        && filing.valid_until.is_some_and(|until| ctx.today <= until);
    let covers = filing.route == Route::SecurityAssessment
        && filing.processor == sender.id
        && filing.recipient == recipient.id
        && item.categories.is_subset(&filing.categories)
        && filing.purposes.contains(&ctx.request.purpose);
    if in_force && covers {
        Ok(filing)
    } else {
        Err(ReasonCode::DataImportantData)
    }
}

/// Rule 9: HGR information needs, among the approvals the item lists, an effective, in-window
/// `information_filing` and `information_backup`, each held by the sender and covering the
/// item. Returns the references that qualify (both kinds), for the decision record.
pub(crate) fn hgr(ctx: &Ctx<'_>, item: &InventoryItem) -> Result<Vec<String>, ReasonCode> {
    if !item.hgr {
        return Ok(Vec::new());
    }
    let qualifying = |kind| {
        qualifying_approvals(
            ctx,
            &item.hgr_approvals,
            kind,
            &ctx.request.sender,
            &item.id,
        )
    };
    let filings = qualifying(HgrKind::InformationFiling);
    if filings.is_empty() {
        return Err(ReasonCode::HgrFilingMissing);
    }
    let backups = qualifying(HgrKind::InformationBackup);
    if backups.is_empty() {
        return Err(ReasonCode::HgrBackupMissing);
    }
    Ok(filings.into_iter().chain(backups).collect())
}

/// Rule 10: the declared size fits.
pub(crate) fn size(ctx: &Ctx<'_>, item: &InventoryItem) -> Result<(), ReasonCode> {
    match ctx.request.declared_size {
        Some(size) if size > item.max_transfer_bytes => Err(ReasonCode::RequestBodyTooLarge),
        _ => Ok(()),
    }
}
