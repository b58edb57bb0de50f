//! Checks across entries: unique ids, references that resolve, windows that make sense, and
//! the warnings for what is valid but will be denied.

use std::collections::{BTreeMap, BTreeSet};

use time::Date;

use super::diagnostic::Diagnostics;
use super::objects::{ApprovalSrc, FilingSrc, ItemSrc, SampleSrc, TenantSrc};
use super::reader::{Located, Span};
use crate::model::{Authority, HgrKind, Parameters, Party};

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
            let line = d.line_of(id(first).1.start);
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

/// A validity window that ends before it starts.
pub(crate) fn window(d: &mut Diagnostics<'_>, what: &str, from: Date, until: Date, at: &Span) {
    if until < from {
        d.error(
            at,
            format!("{what} is valid until {until} but only from {from}; the window ends before it starts"),
        );
    }
}

/// A reference to a tenant that must exist.
fn tenant_ref(
    d: &mut Diagnostics<'_>,
    tenants: &BTreeSet<String>,
    key: &str,
    of: &str,
    id: &Located,
) {
    if !tenants.contains(&id.text) {
        d.error(
            &id.span,
            format!(
                "`{key}` of {of} is {:?}, which names no [[tenant]]; add the tenant or fix the id",
                id.text
            ),
        );
    }
}

fn recipient_refs(
    d: &mut Diagnostics<'_>,
    tenants: &BTreeSet<String>,
    of: &str,
    recipients: &[Located],
) {
    for recipient in recipients {
        if !tenants.contains(&recipient.text) {
            d.error(
                &recipient.span,
                format!(
                    "recipient {:?} of {of} names no [[tenant]]; add the tenant or fix the id",
                    recipient.text
                ),
            );
        }
    }
}

/// `hgr_approvals` entries must name an `[[hgr_approval]]`; one that does not cover the item or
/// is held by someone else is valid, but the rules will not count it.
fn approval_refs(
    d: &mut Diagnostics<'_>,
    approvals: &BTreeMap<String, ApprovalSrc>,
    of: &str,
    item: &str,
    owner: &str,
    references: &[Located],
) {
    for reference in references {
        let Some(approval) = approvals.get(&reference.text) else {
            d.error(
                &reference.span,
                format!("HGR approval {:?} of {of} names no [[hgr_approval]]; add the approval or fix the reference", reference.text),
            );
            continue;
        };
        let approval = &approval.approval;
        if !approval.covers.contains(item) {
            d.warn(
                &reference.span,
                format!("HGR approval {:?} of {of} does not list {item:?} in its `covers`, so the rules will not count it; add the item there", reference.text),
            );
        } else if approval.holder != owner {
            d.warn(
                &reference.span,
                format!("HGR approval {:?} of {of} is held by {:?}, not by the owner {owner:?}, so the rules will not count it", reference.text, approval.holder),
            );
        }
    }
}

/// The kinds of the approvals a list names (those that exist).
fn kinds(
    approvals: &BTreeMap<String, ApprovalSrc>,
    references: &BTreeSet<String>,
) -> BTreeSet<HgrKind> {
    references
        .iter()
        .filter_map(|r| approvals.get(r))
        .map(|a| a.approval.kind)
        .collect()
}

pub(crate) fn items(
    d: &mut Diagnostics<'_>,
    items: &BTreeMap<String, ItemSrc>,
    tenants: &BTreeSet<String>,
    catalogue: &BTreeSet<String>,
    approvals: &BTreeMap<String, ApprovalSrc>,
) {
    for src in items.values() {
        let item = &src.item;
        let label = format!("inventory item {:?}", item.id);
        tenant_ref(d, tenants, "owner", &label, &src.owner);
        recipient_refs(d, tenants, &label, &src.recipients);
        window(
            d,
            &label,
            item.valid_from,
            item.valid_until,
            &src.valid_span,
        );
        for category in &src.categories {
            if !catalogue.contains(&category.text) {
                d.warn(
                    &category.span,
                    format!("category {:?} of {label} is not in [catalogue]; its transfers will be denied with inventory.category_not_in_catalogue", category.text),
                );
            }
        }
        approval_refs(
            d,
            approvals,
            &label,
            &item.id,
            &item.owner,
            &src.hgr_approvals,
        );
        if item.hgr {
            let kinds = kinds(approvals, &item.hgr_approvals);
            for (kind, code) in [
                (HgrKind::InformationFiling, "hgr.filing_missing"),
                (HgrKind::InformationBackup, "hgr.backup_missing"),
            ] {
                if !kinds.contains(&kind) {
                    d.warn(
                        &src.table_span,
                        format!("{label} is human genetic resources information but lists no {} approval in `hgr_approvals`; its transfers will be denied with {code}", kind.as_str()),
                    );
                }
            }
        }
    }
}

pub(crate) fn samples(
    d: &mut Diagnostics<'_>,
    samples: &BTreeMap<String, SampleSrc>,
    items: &BTreeMap<String, ItemSrc>,
    tenants: &BTreeSet<String>,
    approvals: &BTreeMap<String, ApprovalSrc>,
) {
    for src in samples.values() {
        let sample = &src.sample;
        let label = format!("sample item {:?}", sample.id);
        if let Some(item) = items.get(&sample.id) {
            let line = d.line_of(item.id_span.start);
            d.error(
                &src.id_span,
                format!("sample item id {:?} is also an inventory item id (line {line}); an approval's `covers` must name one of them, so give each a unique id", sample.id),
            );
        }
        tenant_ref(d, tenants, "owner", &label, &src.owner);
        recipient_refs(d, tenants, &label, &src.recipients);
        window(
            d,
            &label,
            sample.valid_from,
            sample.valid_until,
            &src.valid_span,
        );
        approval_refs(
            d,
            approvals,
            &label,
            &sample.id,
            &sample.owner,
            &src.hgr_approvals,
        );
        if sample.hgr && !kinds(approvals, &sample.hgr_approvals).contains(&HgrKind::ExportApproval)
        {
            d.warn(
                &src.table_span,
                format!("{label} is human genetic resources material but lists no export_approval in `hgr_approvals`; its shipments will be denied with hgr.export_approval_missing"),
            );
        }
    }
}

pub(crate) fn approvals(
    d: &mut Diagnostics<'_>,
    approvals: &BTreeMap<String, ApprovalSrc>,
    tenants: &BTreeSet<String>,
    items: &BTreeMap<String, ItemSrc>,
    samples: &BTreeMap<String, SampleSrc>,
) {
    for src in approvals.values() {
        let approval = &src.approval;
        let label = format!("HGR approval {:?}", approval.reference);
        tenant_ref(d, tenants, "holder", &label, &src.holder);
        for covered in &src.covers {
            if !items.contains_key(&covered.text) && !samples.contains_key(&covered.text) {
                d.error(
                    &covered.span,
                    format!("{:?} in `covers` of {label} names no [[inventory_item]] or [[sample_item]]; add the item or fix the id", covered.text),
                );
            }
        }
        window(
            d,
            &label,
            approval.valid_from,
            approval.valid_until,
            &src.valid_span,
        );
    }
}

pub(crate) fn filings(
    d: &mut Diagnostics<'_>,
    filings: &BTreeMap<String, FilingSrc>,
    items: &BTreeMap<String, ItemSrc>,
    tenants: &BTreeMap<String, TenantSrc>,
    catalogue: &BTreeSet<String>,
    parameters: Option<&Parameters>,
) {
    let tenant_ids: BTreeSet<String> = tenants.keys().cloned().collect();
    for src in filings.values() {
        let filing = &src.filing;
        let label = format!("contract filing {:?}", filing.reference);
        tenant_ref(d, &tenant_ids, "processor", &label, &src.processor);
        tenant_ref(d, &tenant_ids, "recipient", &label, &src.recipient);
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
        if !covers_an_item && tenant_ids.contains(&filing.processor) {
            d.warn(
                &src.processor.span,
                format!(
                    "{label}: processor {:?} owns no inventory item that lists recipient {:?}, so no transfer can use this filing",
                    filing.processor, filing.recipient
                ),
            );
        }
        entries(d, src, &label, tenants, parameters);
    }
}

/// Each party files with the authority of its own side, and with the one the route's
/// `filing_parties` names; a party the route needs and the bundle does not list has not filed.
fn entries(
    d: &mut Diagnostics<'_>,
    src: &FilingSrc,
    label: &str,
    tenants: &BTreeMap<String, TenantSrc>,
    parameters: Option<&Parameters>,
) {
    let filing = &src.filing;
    for (entry, spans) in filing.filings.iter().zip(&src.entry_spans) {
        let span = &spans.authority;
        if let Some(filed) = entry.filed_on.filter(|day| *day < filing.effective_on) {
            d.warn(
                &spans.filed_on,
                format!(
                    "the {}'s filing of {label} is dated {filed}, before the contract took effect on {}; a filing is made once it is in effect (rule 14 counts this one as on time): check the date",
                    entry.party.as_str(),
                    filing.effective_on
                ),
            );
        }
        let tenant = match entry.party {
            Party::Processor => &filing.processor,
            Party::Recipient => &filing.recipient,
        };
        if let Some(tenant) = tenants.get(tenant) {
            let side = tenant.tenant.side;
            let own = Authority::of_side(side);
            if entry.authority != own {
                d.error(
                    span,
                    format!(
                        "the {}'s filing of {label} is with {}, but {:?} is on the {} side and files with {}; write authority = \"{}\"",
                        entry.party.as_str(),
                        entry.authority.as_str(),
                        tenant.tenant.id,
                        side.as_str(),
                        own.as_str(),
                        own.as_str()
                    ),
                );
                continue;
            }
        }
        let Some(parameters) = parameters else {
            continue;
        };
        if let Some(needed) = parameters
            .filing_parties(filing.route)
            .iter()
            .find(|p| p.party == entry.party && p.authority != entry.authority)
        {
            d.error(
                span,
                format!(
                    "the {}'s filing of {label} is with {}, but [parameters.filing_parties] has route {} filed by the {} with {}",
                    entry.party.as_str(),
                    entry.authority.as_str(),
                    filing.route.as_str(),
                    needed.party.as_str(),
                    needed.authority.as_str()
                ),
            );
        }
    }
    let Some(parameters) = parameters.filter(|_| !src.first_version) else {
        return;
    };
    for needed in parameters.filing_parties(filing.route) {
        if filing.entry(needed.party).is_none() {
            d.warn(
                &src.table_span,
                format!(
                    "{label} (route {}) lists no filing by the {}; it counts as not filed, and rule 14 denies once it is overdue: add {{ party = \"{}\", authority = \"{}\" }} to `filings`, with `filed_on` once filed",
                    filing.route.as_str(),
                    needed.party.as_str(),
                    needed.party.as_str(),
                    needed.authority.as_str()
                ),
            );
        }
    }
}
