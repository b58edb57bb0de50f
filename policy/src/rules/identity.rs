//! Rules 1-3: the sender and the recipient are whitelisted, valid and on the right sides. They
//! are S1-S3 of a shipment too: each takes the id to check, so it works for either request.

use super::{Ctx, in_gba, within};
use crate::model::{Park, Side, Status, Tenant};
use crate::reason::ReasonCode;

/// Rules 1 and 2 (S1, S2): the sender `id` is an approved, valid, Mainland GBA tenant in a
/// sender park.
pub(crate) fn sender<'a, R>(ctx: &Ctx<'a, R>, id: &str) -> Result<&'a Tenant, ReasonCode> {
    let tenant = ctx
        .registry
        .tenants
        .get(id)
        .ok_or(ReasonCode::TenantNotWhitelisted)?;
    match tenant.status {
        Status::Approved => {}
        Status::Suspended => return Err(ReasonCode::TenantSuspended),
        Status::Revoked => return Err(ReasonCode::TenantRevoked),
    }
    if !within(ctx.today, tenant.valid_from, tenant.valid_until) {
        return Err(ReasonCode::TenantNotValid);
    }
    if tenant.side != Side::Mainland || !in_gba(ctx, &tenant.city) {
        return Err(ReasonCode::TenantOutsideGba);
    }
    if !ctx.registry.parameters.sender_parks.contains(&tenant.park) {
        return Err(ReasonCode::TenantNotInSenderPark);
    }
    Ok(tenant)
}

/// Rule 3 (S3): the recipient `id` is an approved, valid Hong Kong Park tenant.
pub(crate) fn recipient<'a, R>(ctx: &Ctx<'a, R>, id: &str) -> Result<&'a Tenant, ReasonCode> {
    let tenant = ctx
        .registry
        .tenants
        .get(id)
        .ok_or(ReasonCode::RecipientNotWhitelisted)?;
    match tenant.status {
        Status::Approved => {}
        Status::Suspended => return Err(ReasonCode::RecipientSuspended),
        Status::Revoked => return Err(ReasonCode::RecipientRevoked),
    }
    if !within(ctx.today, tenant.valid_from, tenant.valid_until) {
        return Err(ReasonCode::RecipientNotValid);
    }
    if tenant.park != Park::HkPark {
        return Err(ReasonCode::RecipientNotInHkPark);
    }
    Ok(tenant)
}
