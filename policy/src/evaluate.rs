//! Rules 1-19 in order; the first failure decides.

use time::OffsetDateTime;

use crate::calendar::park_date;
use crate::decision::{Decision, Denial, TransferRequest, Verdict};
use crate::model::{DataClass, Registry};
use crate::rules::{Ctx, contract, identity, inventory, volume};

/// Evaluates one transfer against a registry at the instant `at` (the rules use its calendar day
/// in UTC+8). Pure and deterministic: the same inputs always give the same decision.
pub fn evaluate(registry: &Registry, request: &TransferRequest, at: OffsetDateTime) -> Decision {
    let ctx = Ctx {
        registry,
        request,
        today: park_date(at),
    };
    let mut decision = Decision::open(ctx.today);
    if let Err(denial) = run(&ctx, &mut decision) {
        decision.verdict = Verdict::Deny;
        decision.reason = Some(denial.code);
        decision.rule = denial.rule;
        // Flags qualify an allowed transfer; a denial is explained by its reason alone, whichever
        // rule denied it.
        decision.flags.clear();
    }
    decision
}

fn run(ctx: &Ctx<'_>, decision: &mut Decision) -> Result<(), Denial> {
    let sender = identity::sender(ctx, &ctx.request.sender)?;
    decision.legal_entity = Some(sender.legal_entity.clone());
    let recipient = identity::recipient(ctx, &ctx.request.recipient)?;
    let item = inventory::item(ctx)?;
    decision.data_class = Some(item.data_class);
    decision.hgr = Some(item.hgr);
    decision.retention_days = Some(item.retention_days);
    if item.data_class == DataClass::Important {
        let filing = inventory::important(ctx, sender, recipient, item)?;
        contract::record_filing(decision, filing);
    }
    decision.hgr_approvals = inventory::hgr(ctx, item)?;
    inventory::size(ctx, item)?;
    // Important data passed rule 8 and is not personal information: rules 11-19 do not apply.
    if !item.data_class.is_personal() {
        return Ok(());
    }
    let filing = contract::check(ctx, sender, recipient, item, decision)?;
    volume::check(ctx, filing, item)?;
    Ok(())
}
