//! `[[contract_filing]]` (a route and each party's filing) and `[[hgr_approval]]`.

use super::super::diagnostic::Diagnostics;
use super::super::first_version;
use super::super::reader::{Located, Span, Table};
use super::texts;
use crate::model::{ContractFiling, FilingEntry, HgrApproval, Party, Route};

/// A filing and the positions cross-reference checks point at.
pub(crate) struct FilingSrc {
    pub(crate) filing: ContractFiling,
    pub(crate) id_span: Span,
    pub(crate) processor: Located,
    pub(crate) recipient: Located,
    pub(crate) categories: Vec<Located>,
    /// Per entry of `filings`: where its values are.
    pub(crate) entry_spans: Vec<EntrySpans>,
    pub(crate) table_span: Span,
    /// Written with the first version's `filed_on` / `authority` (already reported).
    pub(crate) first_version: bool,
}

pub(crate) const FILING_KEYS: &[&str] = &[
    "reference",
    "route",
    "processor",
    "recipient",
    "effective_on",
    "valid_until",
    "filings",
    "pia_completed_on",
    "pia_report_sha256",
    "scope_changed_on",
    "categories",
    "purposes",
    "methods",
    "covers_sensitive",
    "separate_consent",
    "status",
    // The first version's, reported by `first_version::filing`.
    "filed_on",
    "authority",
];

const ENTRY_KEYS: &[&str] = &["party", "authority", "filed_on", "number"];

pub(crate) fn filing(d: &mut Diagnostics<'_>, t: &Table<'_, '_>) -> Option<FilingSrc> {
    t.check_keys(d, FILING_KEYS);
    first_version::filing(d, t);
    let reference = t.req_id(d, "reference");
    let route: Option<Route> = t.req_enum(d, "route");
    let processor = t.req_str(d, "processor");
    let recipient = t.req_str(d, "recipient");
    let effective_on = t.req_date(d, "effective_on");
    let valid_until = t.opt_date(d, "valid_until");
    if let (Some(route @ (Route::Certification | Route::SecurityAssessment)), Some(None)) =
        (route, valid_until)
    {
        d.error(
            &t.span,
            format!(
                "{} is missing `valid_until`, which route {} requires (its approval expires): write the last day it is valid",
                t.label,
                route.as_str()
            ),
        );
    }
    let entries = entries(d, t);
    let pia_completed_on = t.opt_date(d, "pia_completed_on");
    let pia_report_sha256 = t.opt_sha256(d, "pia_report_sha256");
    let scope_changed_on = t.opt_date(d, "scope_changed_on");
    let categories = t.req_list(d, "categories");
    let purposes = t.req_list(d, "purposes");
    let methods = t.opt_list(d, "methods");
    let covers_sensitive = t.bool_or(d, "covers_sensitive", false);
    let separate_consent = t.bool_or(d, "separate_consent", false);
    let status = t.req_enum(d, "status");
    let (reference, processor, recipient, categories) =
        (reference?, processor?, recipient?, categories?);
    let (effective_on, valid_until) = (effective_on?, valid_until?);
    if let Some(until) = valid_until {
        if until < effective_on.0 {
            d.error(
                &t.get("valid_until").map_or(t.span.clone(), |v| v.span()),
                format!(
                    "contract filing {:?} is valid until {until} but only takes effect on {}; the window ends before it starts",
                    reference.text, effective_on.0
                ),
            );
        }
    }
    if matches!(
        route,
        Some(Route::Certification | Route::SecurityAssessment)
    ) && valid_until.is_none()
    {
        return None;
    }
    let (filings, entry_spans): (Vec<_>, Vec<_>) = entries?.into_iter().unzip();
    Some(FilingSrc {
        filing: ContractFiling {
            reference: reference.text,
            route: route?,
            processor: processor.text.clone(),
            recipient: recipient.text.clone(),
            effective_on: effective_on.0,
            valid_until,
            filings,
            pia_completed_on: pia_completed_on?,
            pia_report_sha256: pia_report_sha256?,
            scope_changed_on: scope_changed_on?,
            categories: texts(&categories),
            purposes: texts(&purposes?),
            methods: texts(&methods?.unwrap_or_default()),
            covers_sensitive: covers_sensitive?,
            separate_consent: separate_consent?,
            status: status?,
        },
        id_span: reference.span,
        processor,
        recipient,
        categories,
        entry_spans,
        table_span: t.span.clone(),
        first_version: t.get("filed_on").is_some() || t.get("authority").is_some(),
    })
}

/// Where the values of one entry of `filings` are (the entry itself for one not written).
pub(crate) struct EntrySpans {
    pub(crate) authority: Span,
    pub(crate) filed_on: Span,
}

/// `filings = [{ party, authority, filed_on?, number? }, …]`, at most one per party; omitted
/// means no party has filed.
fn entries(d: &mut Diagnostics<'_>, t: &Table<'_, '_>) -> Option<Vec<(FilingEntry, EntrySpans)>> {
    let tables = t.tables(d, "filings")?.unwrap_or_default();
    let mut out: Vec<(FilingEntry, EntrySpans)> = Vec::with_capacity(tables.len());
    let mut ok = true;
    for entry in &tables {
        entry.check_keys(d, ENTRY_KEYS);
        let party: Option<Party> = entry.req_enum(d, "party");
        let authority = entry.req_enum(d, "authority");
        let filed_on = entry.opt_date(d, "filed_on");
        let number = entry.opt_str(d, "number");
        let span_of = |key: &str| entry.get(key).map_or(entry.span.clone(), |v| v.span());
        let spans = EntrySpans {
            authority: span_of("authority"),
            filed_on: span_of("filed_on"),
        };
        let (Some(party), Some(authority), Some(filed_on), Some(number)) =
            (party, authority, filed_on, number)
        else {
            ok = false;
            continue;
        };
        if out.iter().any(|(seen, _)| seen.party == party) {
            d.error(
                &entry.span,
                format!(
                    "{} lists the {} a second time; keep one entry per party",
                    t.what("filings"),
                    party.as_str()
                ),
            );
            ok = false;
            continue;
        }
        out.push((
            FilingEntry {
                party,
                authority,
                filed_on,
                number: number.map(|n| n.text),
            },
            spans,
        ));
    }
    ok.then_some(out)
}

/// An HGR approval and the positions cross-reference checks point at.
pub(crate) struct ApprovalSrc {
    pub(crate) approval: HgrApproval,
    pub(crate) id_span: Span,
    pub(crate) holder: Located,
    pub(crate) covers: Vec<Located>,
    pub(crate) valid_span: Span,
}

pub(crate) const APPROVAL_KEYS: &[&str] = &[
    "reference",
    "kind",
    "authority",
    "holder",
    "covers",
    "valid_from",
    "valid_until",
    "status",
];

pub(crate) fn approval(d: &mut Diagnostics<'_>, t: &Table<'_, '_>) -> Option<ApprovalSrc> {
    t.check_keys(d, APPROVAL_KEYS);
    let reference = t.req_id(d, "reference");
    let kind = t.req_enum(d, "kind");
    let authority = t.req_enum(d, "authority");
    let holder = t.req_str(d, "holder");
    let covers = t.req_list(d, "covers");
    let valid_from = t.req_date(d, "valid_from");
    let valid_until = t.req_date(d, "valid_until");
    let status = t.req_enum(d, "status");
    let (reference, holder, covers) = (reference?, holder?, covers?);
    let (valid_from, valid_until) = (valid_from?, valid_until?);
    Some(ApprovalSrc {
        approval: HgrApproval {
            reference: reference.text,
            kind: kind?,
            authority: authority?,
            holder: holder.text.clone(),
            covers: texts(&covers),
            valid_from: valid_from.0,
            valid_until: valid_until.0,
            status: status?,
        },
        id_span: reference.span,
        holder,
        covers,
        valid_span: valid_until.1,
    })
}
