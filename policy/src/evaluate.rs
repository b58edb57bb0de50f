//! Rules 1-19 in order; the first failure decides.

use time::OffsetDateTime;

use crate::calendar::park_date;
use crate::decision::{Decision, TransferRequest, Verdict};
use crate::model::Registry;
use crate::reason::ReasonCode;
use crate::rules::{Ctx, contract, identity, inventory, volume};

/// Evaluates one transfer against a registry at the instant `at` (the rules use its calendar day
/// in UTC+8). Pure and deterministic: the same inputs always give the same decision.
pub fn evaluate(registry: &Registry, request: &TransferRequest, at: OffsetDateTime) -> Decision {
    let ctx = Ctx {
        registry,
        request,
        today: park_date(at),
    };
    let mut decision = Decision {
        verdict: Verdict::Allow,
        reason: None,
        rule: None,
        flags: Vec::new(),
        evaluated_on: ctx.today,
        data_class: None,
        retention_days: None,
        filing_due: None,
    };
    if let Err(code) = run(&ctx, &mut decision) {
        decision.verdict = Verdict::Deny;
        decision.reason = Some(code);
        decision.rule = code.rule();
        // Flags qualify an allowed transfer; a denial is explained by its reason alone, whichever
        // rule denied it.
        decision.flags.clear();
    }
    decision
}

fn run(ctx: &Ctx<'_>, decision: &mut Decision) -> Result<(), ReasonCode> {
    let sender = identity::sender(ctx)?;
    let recipient = identity::recipient(ctx)?;
    let item = inventory::item(ctx)?;
    decision.data_class = Some(item.data_class);
    decision.retention_days = Some(item.retention_days);
    inventory::data(ctx, item)?;
    if !item.data_class.is_personal() {
        return Ok(());
    }
    let filed = contract::check(ctx, sender, recipient, item)?;
    decision.filing_due = filed.due;
    decision.flags = filed.flags;
    volume::check(ctx, filed.filing, item, filed.subjects)
}
