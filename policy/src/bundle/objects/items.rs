//! `[[inventory_item]]` (the data list) and `[[sample_item]]` (the logistics list).

use super::super::diagnostic::Diagnostics;
use super::super::first_version;
use super::super::reader::{Located, Span, Table};
use super::{MAX_RETENTION_DAYS, texts};
use crate::model::{DataClass, InventoryItem, LegalBasis, SampleItem};

/// Largest `max_transfer_bytes` (1 PiB) a bundle may set.
const MAX_BYTES: u64 = 1 << 50;
/// Largest `max_quantity` per shipment.
const MAX_QUANTITY: u64 = 1_000_000;

/// An item and the positions cross-reference checks point at.
pub(crate) struct ItemSrc {
    pub(crate) item: InventoryItem,
    pub(crate) id_span: Span,
    pub(crate) owner: Located,
    pub(crate) recipients: Vec<Located>,
    pub(crate) categories: Vec<Located>,
    pub(crate) hgr_approvals: Vec<Located>,
    pub(crate) valid_span: Span,
    pub(crate) table_span: Span,
}

pub(crate) const ITEM_KEYS: &[&str] = &[
    "id",
    "owner",
    "recipients",
    "data_class",
    "legal_basis",
    "hgr",
    "hgr_approvals",
    "categories",
    "purposes",
    "methods",
    "max_transfer_bytes",
    "retention_days",
    "status",
    "valid_from",
    "valid_until",
    // The first version's, reported by `first_version::item`.
    "hgr_filing",
];

pub(crate) fn item(d: &mut Diagnostics<'_>, t: &Table<'_, '_>) -> Option<ItemSrc> {
    t.check_keys(d, ITEM_KEYS);
    first_version::item(d, t);
    let id = t.req_id(d, "id");
    let owner = t.req_str(d, "owner");
    let recipients = t.req_list(d, "recipients");
    let data_class: Option<DataClass> = t.req_enum(d, "data_class");
    let legal_basis = legal_basis(d, t, data_class);
    let hgr = match (data_class, t.get("hgr")) {
        (Some(DataClass::HumanGenetic), Some(value))
            if value.get_ref().as_bool() == Some(false) =>
        {
            d.error(
                &value.span(),
                format!(
                    "{} is false, but human_genetic data is human genetic resources information; remove the key (it defaults to true for human_genetic)",
                    t.what("hgr")
                ),
            );
            None
        }
        (class, _) => t.bool_or(d, "hgr", class == Some(DataClass::HumanGenetic)),
    };
    let hgr_approvals = t.opt_list(d, "hgr_approvals");
    let categories = t.req_list(d, "categories");
    let purposes = t.req_list(d, "purposes");
    let methods = t.opt_list(d, "methods");
    let max_transfer_bytes = t.req_int(d, "max_transfer_bytes", 1, MAX_BYTES);
    let retention_days = t.req_int(d, "retention_days", 0, MAX_RETENTION_DAYS);
    let status = t.req_enum(d, "status");
    let valid_from = t.req_date(d, "valid_from");
    let valid_until = t.req_date(d, "valid_until");
    let (id, recipients, categories) = (id?, recipients?, categories?);
    let (valid_from, valid_until, owner) = (valid_from?, valid_until?, owner?);
    let hgr_approvals = hgr_approvals?.unwrap_or_default();
    Some(ItemSrc {
        item: InventoryItem {
            id: id.text,
            owner: owner.text.clone(),
            recipients: texts(&recipients),
            data_class: data_class?,
            legal_basis: legal_basis?,
            hgr: hgr?,
            hgr_approvals: texts(&hgr_approvals),
            categories: texts(&categories),
            purposes: texts(&purposes?),
            methods: texts(&methods?.unwrap_or_default()),
            max_transfer_bytes: max_transfer_bytes?,
            retention_days: u32::try_from(retention_days?).ok()?,
            status: status?,
            valid_from: valid_from.0,
            valid_until: valid_until.0,
        },
        id_span: id.span,
        owner,
        recipients,
        categories,
        hgr_approvals,
        valid_span: valid_until.1,
        table_span: t.span.clone(),
    })
}

/// `legal_basis`: for personal classes, `consent` when omitted; refused on other classes (it
/// would be silently meaningless there).
fn legal_basis(
    d: &mut Diagnostics<'_>,
    t: &Table<'_, '_>,
    class: Option<DataClass>,
) -> Option<Option<LegalBasis>> {
    let basis: Option<LegalBasis> = t.opt_enum(d, "legal_basis")?;
    let class = class?;
    match (class.is_personal(), basis) {
        (true, basis) => Some(Some(basis.unwrap_or(LegalBasis::Consent))),
        (false, None) => Some(None),
        (false, Some(_)) => {
            let span = t.get("legal_basis").map_or(t.span.clone(), |v| v.span());
            d.error(
                &span,
                format!(
                    "{} is only for personal classes (personal, sensitive_personal, human_genetic), and this item is {}; remove it",
                    t.what("legal_basis"),
                    class.as_str()
                ),
            );
            None
        }
    }
}

/// A sample item and the positions cross-reference checks point at.
pub(crate) struct SampleSrc {
    pub(crate) sample: SampleItem,
    pub(crate) id_span: Span,
    pub(crate) owner: Located,
    pub(crate) recipients: Vec<Located>,
    pub(crate) hgr_approvals: Vec<Located>,
    pub(crate) valid_span: Span,
    pub(crate) table_span: Span,
}

pub(crate) const SAMPLE_KEYS: &[&str] = &[
    "id",
    "owner",
    "recipients",
    "sample_type",
    "unit",
    "max_quantity",
    "biosafety_level",
    "hgr",
    "hgr_approvals",
    "purposes",
    "storage_facility",
    "retention_days",
    "status",
    "valid_from",
    "valid_until",
];

pub(crate) fn sample(d: &mut Diagnostics<'_>, t: &Table<'_, '_>) -> Option<SampleSrc> {
    t.check_keys(d, SAMPLE_KEYS);
    let id = t.req_id(d, "id");
    let owner = t.req_str(d, "owner");
    let recipients = t.req_list(d, "recipients");
    let sample_type = t.req_str(d, "sample_type");
    let unit = t.req_str(d, "unit");
    let max_quantity = t.req_int(d, "max_quantity", 1, MAX_QUANTITY);
    let biosafety_level = t.req_int(d, "biosafety_level", 1, 4);
    // Required: whether human material needs an export approval is never left to a default.
    let hgr = t
        .required(d, "hgr")
        .and_then(|_| t.bool_or(d, "hgr", false));
    let hgr_approvals = t.opt_list(d, "hgr_approvals");
    let purposes = t.req_list(d, "purposes");
    let storage_facility = t.req_id(d, "storage_facility");
    let retention_days = t.req_int(d, "retention_days", 0, MAX_RETENTION_DAYS);
    let status = t.req_enum(d, "status");
    let valid_from = t.req_date(d, "valid_from");
    let valid_until = t.req_date(d, "valid_until");
    let (id, owner, recipients) = (id?, owner?, recipients?);
    let (valid_from, valid_until) = (valid_from?, valid_until?);
    let hgr_approvals = hgr_approvals?.unwrap_or_default();
    Some(SampleSrc {
        sample: SampleItem {
            id: id.text,
            owner: owner.text.clone(),
            recipients: texts(&recipients),
            sample_type: sample_type?.text,
            unit: unit?.text,
            max_quantity: max_quantity?,
            biosafety_level: u8::try_from(biosafety_level?).ok()?,
            hgr: hgr?,
            hgr_approvals: texts(&hgr_approvals),
            purposes: texts(&purposes?),
            storage_facility: storage_facility?.text,
            retention_days: u32::try_from(retention_days?).ok()?,
            status: status?,
            valid_from: valid_from.0,
            valid_until: valid_until.0,
        },
        id_span: id.span,
        owner,
        recipients,
        hgr_approvals,
        valid_span: valid_until.1,
        table_span: t.span.clone(),
    })
}
