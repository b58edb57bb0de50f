//! Rules S4-S8: a shipment matches an approved sample item, within its limits, with the export
//! approval HGR material needs, moved by a whitelisted carrier.

use super::{Ctx, qualifying_approvals, within};
use time::Date;

use crate::model::{Carrier, HgrKind, Registry, SampleItem, Status};
use crate::reason::ReasonCode;
use crate::shipment::ShipmentRequest;

/// S4: the sample item exists, is the sender's, is approved and valid today, and lists this
/// recipient and this purpose.
pub(crate) fn item<'a>(ctx: &Ctx<'a, ShipmentRequest>) -> Result<&'a SampleItem, ReasonCode> {
    let request = ctx.request;
    let item = ctx
        .registry
        .sample_items
        .get(&request.sample_item)
        .ok_or(ReasonCode::SampleUnknownItem)?;
    if item.owner != request.sender {
        return Err(ReasonCode::SampleNotOwner);
    }
    if item.status != Status::Approved || !within(ctx.today, item.valid_from, item.valid_until) {
        return Err(ReasonCode::SampleNotValid);
    }
    if !item.recipients.contains(&request.recipient) {
        return Err(ReasonCode::SampleRecipientNotAllowed);
    }
    if !item.purposes.contains(&request.purpose) {
        return Err(ReasonCode::SamplePurposeNotAllowed);
    }
    Ok(item)
}

/// S5: the quantity is a whole number from 1 to the item's `max_quantity` (both allowed).
pub(crate) fn quantity(
    ctx: &Ctx<'_, ShipmentRequest>,
    item: &SampleItem,
) -> Result<(), ReasonCode> {
    match u64::try_from(ctx.request.quantity) {
        Ok(quantity) if (1..=item.max_quantity).contains(&quantity) => Ok(()),
        _ => Err(ReasonCode::SampleQuantityExceeded),
    }
}

/// S6: the item's biosafety level is at most `max_biosafety_level`.
pub(crate) fn biosafety(
    ctx: &Ctx<'_, ShipmentRequest>,
    item: &SampleItem,
) -> Result<(), ReasonCode> {
    if item.biosafety_level <= ctx.registry.parameters.max_biosafety_level {
        Ok(())
    } else {
        Err(ReasonCode::SampleBiosafetyLevel)
    }
}

/// S7: HGR material needs, among the approvals the item lists, an effective, in-window
/// `export_approval` held by the sender and covering the item (as rule 9 counts filings and
/// backups). Returns every reference that qualifies, for the decision record; none for material
/// that is not HGR.
pub(crate) fn export_approval(
    ctx: &Ctx<'_, ShipmentRequest>,
    item: &SampleItem,
) -> Result<Vec<String>, ReasonCode> {
    if !item.hgr {
        return Ok(Vec::new());
    }
    let approvals = qualifying_approvals(
        ctx,
        &item.hgr_approvals,
        HgrKind::ExportApproval,
        &ctx.request.sender,
        &item.id,
    );
    if approvals.is_empty() {
        Err(ReasonCode::HgrExportApprovalMissing)
    } else {
        Ok(approvals)
    }
}

/// S8: the named carrier is whitelisted (`carrier.not_whitelisted`), approved and inside its
/// window (`carrier.not_valid`, also for a suspended or revoked carrier).
/// Also checked for a carrier that reports a custody step ([`crate::check_carrier`]).
pub(crate) fn carrier<'a>(
    registry: &'a Registry,
    id: &str,
    today: Date,
) -> Result<&'a Carrier, ReasonCode> {
    let carrier = registry
        .carriers
        .get(id)
        .ok_or(ReasonCode::CarrierNotWhitelisted)?;
    if carrier.status != Status::Approved || !within(today, carrier.valid_from, carrier.valid_until)
    {
        return Err(ReasonCode::CarrierNotValid);
    }
    Ok(carrier)
}
