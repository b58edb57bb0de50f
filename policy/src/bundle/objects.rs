//! `[[tenant]]`, `[[inventory_item]]` and `[[contract_filing]]` entries.

use std::collections::BTreeSet;

use super::diagnostic::Diagnostics;
use super::reader::{Located, Span, Table, normalize_city};
use crate::model::{
    Authority, ContractFiling, DataClass, FilingStatus, InventoryItem, Park, Route, Side, Status,
    Tenant,
};

const STATUS: &[(&str, Status)] = &[
    ("approved", Status::Approved),
    ("suspended", Status::Suspended),
    ("revoked", Status::Revoked),
];

/// Largest `max_transfer_bytes` (1 PiB) and `retention_days` (100 years) a bundle may set.
const MAX_BYTES: u64 = 1 << 50;
const MAX_RETENTION_DAYS: u64 = 36_525;

/// A tenant and where it was written.
pub(crate) struct TenantSrc {
    pub(crate) tenant: Tenant,
    pub(crate) id_span: Span,
    pub(crate) valid_span: Span,
}

/// An item and the positions cross-reference checks point at.
pub(crate) struct ItemSrc {
    pub(crate) item: InventoryItem,
    pub(crate) id_span: Span,
    pub(crate) owner: Located,
    pub(crate) recipients: Vec<Located>,
    pub(crate) categories: Vec<Located>,
    pub(crate) valid_span: Span,
    pub(crate) table_span: Span,
}

/// A filing and the positions cross-reference checks point at.
pub(crate) struct FilingSrc {
    pub(crate) filing: ContractFiling,
    pub(crate) id_span: Span,
    pub(crate) processor: Located,
    pub(crate) recipient: Located,
    pub(crate) categories: Vec<Located>,
}

pub(crate) const TENANT_KEYS: &[&str] = &[
    "id",
    "legal_name",
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
    let side = t.req_enum(
        d,
        "side",
        &[("mainland", Side::Mainland), ("hong_kong", Side::HongKong)],
    );
    let city = t.req_str(d, "city");
    let park = t.req_enum(
        d,
        "park",
        &[
            ("shenzhen_park", Park::ShenzhenPark),
            ("hk_park", Park::HkPark),
            ("none", Park::None),
        ],
    );
    let status = t.req_enum(d, "status", STATUS);
    let valid_from = t.req_date(d, "valid_from");
    let valid_until = t.req_date(d, "valid_until");
    let ciio = t.bool_or(d, "ciio", false);
    let (valid_from, valid_until) = (valid_from?, valid_until?);
    let id = id?;
    Some(TenantSrc {
        tenant: Tenant {
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

pub(crate) const ITEM_KEYS: &[&str] = &[
    "id",
    "owner",
    "recipients",
    "data_class",
    "categories",
    "purposes",
    "max_transfer_bytes",
    "retention_days",
    "status",
    "valid_from",
    "valid_until",
    "hgr_filing",
];

pub(crate) fn item(d: &mut Diagnostics<'_>, t: &Table<'_, '_>) -> Option<ItemSrc> {
    t.check_keys(d, ITEM_KEYS);
    let id = t.req_id(d, "id");
    let owner = t.req_str(d, "owner");
    let recipients = t.req_list(d, "recipients");
    let data_class = t.req_enum(
        d,
        "data_class",
        &[
            ("non_personal", DataClass::NonPersonal),
            ("personal", DataClass::Personal),
            ("sensitive_personal", DataClass::SensitivePersonal),
            ("human_genetic", DataClass::HumanGenetic),
            ("important", DataClass::Important),
        ],
    );
    let categories = t.req_list(d, "categories");
    let purposes = t.req_list(d, "purposes");
    let max_transfer_bytes = t.req_int(d, "max_transfer_bytes", 1, MAX_BYTES);
    let retention_days = t.req_int(d, "retention_days", 0, MAX_RETENTION_DAYS);
    let status = t.req_enum(d, "status", STATUS);
    let valid_from = t.req_date(d, "valid_from");
    let valid_until = t.req_date(d, "valid_until");
    let hgr_filing = t.opt_str(d, "hgr_filing");
    let (id, recipients, categories) = (id?, recipients?, categories?);
    let (valid_from, valid_until, owner) = (valid_from?, valid_until?, owner?);
    Some(ItemSrc {
        item: InventoryItem {
            id: id.text,
            owner: owner.text.clone(),
            recipients: texts(&recipients),
            data_class: data_class?,
            categories: texts(&categories),
            purposes: texts(&purposes?),
            max_transfer_bytes: max_transfer_bytes?,
            retention_days: u32::try_from(retention_days?).ok()?,
            status: status?,
            valid_from: valid_from.0,
            valid_until: valid_until.0,
            hgr_filing: hgr_filing?.map(|filing| filing.text),
        },
        id_span: id.span,
        owner,
        recipients,
        categories,
        valid_span: valid_until.1,
        table_span: t.span.clone(),
    })
}

pub(crate) const FILING_KEYS: &[&str] = &[
    "reference",
    "route",
    "processor",
    "recipient",
    "effective_on",
    "filed_on",
    "authority",
    "pia_completed_on",
    "categories",
    "purposes",
    "covers_sensitive",
    "separate_consent",
    "status",
];

pub(crate) fn filing(d: &mut Diagnostics<'_>, t: &Table<'_, '_>) -> Option<FilingSrc> {
    t.check_keys(d, FILING_KEYS);
    let reference = t.req_id(d, "reference");
    let route = t.req_enum(
        d,
        "route",
        &[
            ("gba_sc", Route::GbaSc),
            ("national_sc", Route::NationalSc),
            ("certification", Route::Certification),
            ("security_assessment", Route::SecurityAssessment),
        ],
    );
    let processor = t.req_str(d, "processor");
    let recipient = t.req_str(d, "recipient");
    let effective_on = t.req_date(d, "effective_on");
    let filed_on = t.opt_date(d, "filed_on");
    let authority = t.req_enum(
        d,
        "authority",
        &[
            ("guangdong_cac", Authority::GuangdongCac),
            ("dpo", Authority::Dpo),
        ],
    );
    let pia_completed_on = t.opt_date(d, "pia_completed_on");
    let categories = t.req_list(d, "categories");
    let purposes = t.req_list(d, "purposes");
    let covers_sensitive = t.bool_or(d, "covers_sensitive", false);
    let separate_consent = t.bool_or(d, "separate_consent", false);
    let status = t.req_enum(
        d,
        "status",
        &[
            ("effective", FilingStatus::Effective),
            ("suspended", FilingStatus::Suspended),
            ("terminated", FilingStatus::Terminated),
        ],
    );
    let (reference, processor, recipient, categories) =
        (reference?, processor?, recipient?, categories?);
    Some(FilingSrc {
        filing: ContractFiling {
            reference: reference.text,
            route: route?,
            processor: processor.text.clone(),
            recipient: recipient.text.clone(),
            effective_on: effective_on?.0,
            filed_on: filed_on?,
            authority: authority?,
            pia_completed_on: pia_completed_on?,
            categories: texts(&categories),
            purposes: texts(&purposes?),
            covers_sensitive: covers_sensitive?,
            separate_consent: separate_consent?,
            status: status?,
        },
        id_span: reference.span,
        processor,
        recipient,
        categories,
    })
}

fn texts(list: &[Located]) -> BTreeSet<String> {
    list.iter().map(|located| located.text.clone()).collect()
}
