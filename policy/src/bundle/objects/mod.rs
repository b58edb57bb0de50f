//! The entries of a bundle (`[[tenant]]`, `[[carrier]]`, `[[regulator]]` here; the lists and
//! the filings in their own modules), read with the positions cross-reference checks point at.

mod filings;
mod items;

use std::collections::BTreeSet;

pub(crate) use filings::{ApprovalSrc, FilingSrc, approval, filing};
pub(crate) use items::{ItemSrc, SampleSrc, item, sample};

use super::diagnostic::Diagnostics;
use super::reader::{Located, Span, Table, normalize_city};
use crate::model::{Carrier, Regulator, Scope, Tenant};

/// Largest `retention_days` (100 years) a bundle may set.
const MAX_RETENTION_DAYS: u64 = 36_525;

/// A tenant and where it was written.
pub(crate) struct TenantSrc {
    pub(crate) tenant: Tenant,
    pub(crate) id_span: Span,
    pub(crate) valid_span: Span,
}

pub(crate) const TENANT_KEYS: &[&str] = &[
    "id",
    "legal_name",
    "legal_entity",
    "side",
    "city",
    "park",
    "status",
    "valid_from",
    "valid_until",
    "ciio",
];

pub(crate) fn tenant(d: &mut Diagnostics<'_>, t: &Table<'_, '_>) -> Option<TenantSrc> {
    t.check_keys(d, TENANT_KEYS);
    let id = t.req_id(d, "id");
    let legal_name = t.req_str(d, "legal_name");
    let legal_entity = t.opt_id(d, "legal_entity");
    let side = t.req_enum(d, "side");
    let city = t.req_str(d, "city");
    let park = t.req_enum(d, "park");
    let status = t.req_enum(d, "status");
    let valid_from = t.req_date(d, "valid_from");
    let valid_until = t.req_date(d, "valid_until");
    let ciio = t.bool_or(d, "ciio", false);
    let (valid_from, valid_until) = (valid_from?, valid_until?);
    let id = id?;
    Some(TenantSrc {
        tenant: Tenant {
            legal_entity: legal_entity?.map_or_else(|| id.text.clone(), |entity| entity.text),
            id: id.text,
            legal_name: legal_name?.text,
            side: side?,
            city: normalize_city(&city?.text),
            park: park?,
            status: status?,
            valid_from: valid_from.0,
            valid_until: valid_until.0,
            ciio: ciio?,
        },
        id_span: id.span,
        valid_span: valid_until.1,
    })
}

/// A carrier and where it was written.
pub(crate) struct CarrierSrc {
    pub(crate) carrier: Carrier,
    pub(crate) id_span: Span,
    pub(crate) valid_span: Span,
}

pub(crate) const CARRIER_KEYS: &[&str] =
    &["id", "legal_name", "status", "valid_from", "valid_until"];

pub(crate) fn carrier(d: &mut Diagnostics<'_>, t: &Table<'_, '_>) -> Option<CarrierSrc> {
    t.check_keys(d, CARRIER_KEYS);
    let id = t.req_id(d, "id");
    let legal_name = t.req_str(d, "legal_name");
    let status = t.req_enum(d, "status");
    let valid_from = t.req_date(d, "valid_from");
    let valid_until = t.req_date(d, "valid_until");
    let (id, valid_from, valid_until) = (id?, valid_from?, valid_until?);
    Some(CarrierSrc {
        carrier: Carrier {
            id: id.text,
            legal_name: legal_name?.text,
            status: status?,
            valid_from: valid_from.0,
            valid_until: valid_until.0,
        },
        id_span: id.span,
        valid_span: valid_until.1,
    })
}

/// A regulator and where it was written.
pub(crate) struct RegulatorSrc {
    pub(crate) regulator: Regulator,
    pub(crate) id_span: Span,
}

pub(crate) const REGULATOR_KEYS: &[&str] = &["id", "authority", "sees"];

pub(crate) fn regulator(d: &mut Diagnostics<'_>, t: &Table<'_, '_>) -> Option<RegulatorSrc> {
    t.check_keys(d, REGULATOR_KEYS);
    let id = t.req_id(d, "id");
    let authority = t.req_str(d, "authority");
    let sees = match t.enum_list::<Scope>(d, "sees") {
        Some(Some(scopes)) if scopes.is_empty() => {
            d.error(
                &t.get("sees").map_or(t.span.clone(), |v| v.span()),
                format!(
                    "{} is empty, so the regulator would see nothing; list what it may read (personal, hgr, important, samples, non_personal or all), or remove the entry",
                    t.what("sees")
                ),
            );
            None
        }
        Some(Some(scopes)) => Some(scopes.into_iter().map(|(scope, _)| scope).collect()),
        Some(None) => {
            t.required(d, "sees");
            None
        }
        None => None,
    };
    let id = id?;
    Some(RegulatorSrc {
        regulator: Regulator {
            id: id.text,
            authority: authority?.text,
            sees: sees?,
        },
        id_span: id.span,
    })
}

pub(crate) fn texts(list: &[Located]) -> BTreeSet<String> {
    list.iter().map(|located| located.text.clone()).collect()
}
