//! The rules of RULES.md, one module per family. Each check returns the reason code of the
//! first condition that fails; [`crate::evaluate`] runs them in rule order.

pub(crate) mod contract;
pub(crate) mod identity;
pub(crate) mod inventory;
pub(crate) mod volume;

use time::Date;

use crate::decision::TransferRequest;
use crate::model::Registry;

/// What every rule may look at: the registry, the request and the day being judged.
pub(crate) struct Ctx<'a> {
    pub(crate) registry: &'a Registry,
    pub(crate) request: &'a TransferRequest,
    pub(crate) today: Date,
}

/// Whether `today` lies inside an inclusive validity window.
pub(crate) fn within(today: Date, from: Date, until: Date) -> bool {
    from <= today && today <= until
}

/// Whether a tenant sits in a city of the Greater Bay Area.
pub(crate) fn in_gba(ctx: &Ctx<'_>, city: &str) -> bool {
    ctx.registry.parameters.gba_cities.contains(city)
}
