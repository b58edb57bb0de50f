//! Rules 4-10: the transfer matches an approved inventory item.

use super::{Ctx, within};
use crate::model::{DataClass, InventoryItem, Status};
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

/// Rules 8-10: the data class may use the green channel and the declared size fits.
pub(crate) fn data(ctx: &Ctx<'_>, item: &InventoryItem) -> Result<(), ReasonCode> {
    match item.data_class {
        DataClass::Important => return Err(ReasonCode::DataImportantData),
        DataClass::HumanGenetic if item.hgr_filing.is_none() => {
            return Err(ReasonCode::DataHgrFilingMissing);
        }
        _ => {}
    }
    match ctx.request.declared_size {
        Some(size) if size > item.max_transfer_bytes => Err(ReasonCode::RequestBodyTooLarge),
        _ => Ok(()),
    }
}
