//! Checks across entries: unique ids, references that resolve, windows that make sense.

use std::collections::{BTreeMap, BTreeSet};

use super::diagnostic::Diagnostics;
use super::objects::{FilingSrc, ItemSrc, TenantSrc};
use super::reader::Span;
use crate::model::DataClass;

/// Keeps the first entry of each id and reports the others.
pub(crate) fn unique<T>(
    d: &mut Diagnostics<'_>,
    kind: &str,
    entries: Vec<T>,
    id: impl Fn(&T) -> (&str, &Span),
) -> BTreeMap<String, T> {
    let mut seen: BTreeMap<String, T> = BTreeMap::new();
    for entry in entries {
        let (key, span) = id(&entry);
        if let Some(first) = seen.get(key) {
            let (line, _) = d.position(id(first).1.start);
            d.error(
                span,
                format!("duplicate {kind} {key:?}; the first one is on line {line}: give each a unique id"),
            );
        } else {
            seen.insert(key.to_owned(), entry);
        }
    }
    seen
}

pub(crate) fn tenants(d: &mut Diagnostics<'_>, tenants: &BTreeMap<String, TenantSrc>) {
    for src in tenants.values() {
        let t = &src.tenant;
        if t.valid_until < t.valid_from {
            d.error(
                &src.valid_span,
                format!(
                    "tenant {:?} is valid until {} but only from {}; the window ends before it starts",
                    t.id, t.valid_until, t.valid_from
                ),
            );
        }
    }
}

pub(crate) fn items(
    d: &mut Diagnostics<'_>,
    items: &BTreeMap<String, ItemSrc>,
    tenants: &BTreeSet<String>,
    catalogue: &BTreeSet<String>,
) {
    for src in items.values() {
        let item = &src.item;
        let label = format!("inventory item {:?}", item.id);
        if !tenants.contains(&src.owner.text) {
            d.error(
                &src.owner.span,
                format!("`owner` of {label} is {:?}, which names no [[tenant]]; add the tenant or fix the id", src.owner.text),
            );
        }
        for recipient in &src.recipients {
            if !tenants.contains(&recipient.text) {
                d.error(
                    &recipient.span,
                    format!("recipient {:?} of {label} names no [[tenant]]; add the tenant or fix the id", recipient.text),
                );
            }
        }
        if item.valid_until < item.valid_from {
            d.error(
                &src.valid_span,
                format!(
                    "{label} is valid until {} but only from {}; the window ends before it starts",
                    item.valid_until, item.valid_from
                ),
            );
        }
        for category in &src.categories {
            if !catalogue.contains(&category.text) {
                d.warn(
                    &category.span,
                    format!("category {:?} of {label} is not in [catalogue]; its transfers will be denied with inventory.category_not_in_catalogue", category.text),
                );
            }
        }
        if item.data_class == DataClass::HumanGenetic && item.hgr_filing.is_none() {
            d.warn(
                &src.table_span,
                format!("{label} holds human_genetic data but has no `hgr_filing`; its transfers will be denied with data.hgr_filing_missing"),
            );
        }
    }
}

pub(crate) fn filings(
    d: &mut Diagnostics<'_>,
    filings: &BTreeMap<String, FilingSrc>,
    items: &BTreeMap<String, ItemSrc>,
    tenants: &BTreeSet<String>,
    catalogue: &BTreeSet<String>,
) {
    for src in filings.values() {
        let filing = &src.filing;
        let label = format!("contract filing {:?}", filing.reference);
        for (key, party) in [("processor", &src.processor), ("recipient", &src.recipient)] {
            if !tenants.contains(&party.text) {
                d.error(
                    &party.span,
                    format!("`{key}` of {label} is {:?}, which names no [[tenant]]; add the tenant or fix the id", party.text),
                );
            }
        }
        for category in &src.categories {
            if !catalogue.contains(&category.text) {
                d.warn(
                    &category.span,
                    format!(
                        "category {:?} of {label} is not in [catalogue]",
                        category.text
                    ),
                );
            }
        }
        let covers_an_item = items.values().any(|item| {
            item.item.owner == filing.processor && item.item.recipients.contains(&filing.recipient)
        });
        if !covers_an_item && tenants.contains(&filing.processor) {
            d.warn(
                &src.processor.span,
                format!(
                    "{label}: processor {:?} owns no inventory item that lists recipient {:?}, so no transfer can use this filing",
                    filing.processor, filing.recipient
                ),
            );
        }
    }
}
