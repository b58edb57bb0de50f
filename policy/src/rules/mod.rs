//! The rules of RULES.md, one module per family. Each check returns the reason code of the
//! first condition that fails; [`crate::evaluate()`] and [`crate::evaluate_shipment`] run them in
//! rule order.

pub(crate) mod contract;
pub(crate) mod identity;
pub(crate) mod inventory;
pub(crate) mod samples;
pub(crate) mod volume;

use std::collections::BTreeSet;

use time::Date;

use crate::decision::TransferRequest;
use crate::model::{HgrKind, Registry};

/// What every rule may look at: the registry, the request (a transfer unless `R` says
/// otherwise) and the day being judged.
pub(crate) struct Ctx<'a, R = TransferRequest> {
    pub(crate) registry: &'a Registry,
    pub(crate) request: &'a R,
    pub(crate) today: Date,
}

/// Whether `today` lies inside an inclusive validity window.
pub(crate) fn within(today: Date, from: Date, until: Date) -> bool {
    from <= today && today <= until
}

/// Whether a tenant sits in a city of the Greater Bay Area.
pub(crate) fn in_gba<R>(ctx: &Ctx<'_, R>, city: &str) -> bool {
    ctx.registry.parameters.gba_cities.contains(city)
}

/// The references, among the approvals an item lists (`listed`), of those of `kind` that count
/// today for `holder` and `item` ([`crate::HgrApproval::counts_for`]), in reference order:
/// rule 9 for inventory items, S7 for sample items. A listed reference the registry lacks does
/// not count.
pub(crate) fn qualifying_approvals<R>(
    ctx: &Ctx<'_, R>,
    listed: &BTreeSet<String>,
    kind: HgrKind,
    holder: &str,
    item: &str,
) -> Vec<String> {
    listed
        .iter()
        .filter_map(|reference| ctx.registry.hgr_approvals.get(reference))
        .filter(|a| a.kind == kind && a.counts_for(holder, item, ctx.today))
        .map(|a| a.reference.clone())
        .collect()
}
