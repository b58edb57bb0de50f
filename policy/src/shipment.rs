//! Shipments of samples (the logistics list): what goes into and comes out of
//! [`evaluate_shipment`], and the order of rules S1-S8. The custody chain that follows an
//! allowed declaration (S9-S12) is [`crate::Custody`].

use time::{Date, OffsetDateTime};

use crate::calendar::park_date;
use crate::decision::{Denial, Verdict};
use crate::model::Registry;
use crate::reason::ReasonCode;
use crate::rules::{Ctx, identity, samples};

/// One shipment declaration (`POST /v1/shipments`) as the gateway (or `loopgate policy eval`)
/// presents it to the engine.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShipmentRequest {
    /// Sender tenant id, from the client certificate.
    pub sender: String,
    /// `recipient`: the Hong Kong Park tenant receiving the samples.
    pub recipient: String,
    /// `sample_item`: the id of the logistics list entry the samples belong to.
    pub sample_item: String,
    /// `quantity`, in the item's unit. As sent; S5 refuses anything outside 1..=max_quantity
    /// (zero and negatives too).
    pub quantity: i64,
    /// `purpose`: a purpose code the item must list.
    pub purpose: String,
    /// `carrier`: the id of the whitelisted logistics company that will move the samples.
    pub carrier: String,
}

/// The engine's answer to a shipment declaration, with what its decision record needs beyond
/// the request itself. Each field is filled in once the rule that establishes it has passed and
/// kept on a later denial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentDecision {
    /// Allow or deny.
    pub verdict: Verdict,
    /// The reason code of the first failing rule (`None` on allow).
    pub reason: Option<ReasonCode>,
    /// The S-rule that denied (1-8), `None` on allow: `reason`'s
    /// [`ReasonCode::shipment_rule`].
    pub rule: Option<u8>,
    /// The calendar day (UTC+8) the rules were evaluated for.
    pub evaluated_on: Date,
    /// The sender's legal entity, once the sender passed S1-S2.
    pub legal_entity: Option<String>,
    /// Whether the samples are human genetic resources material, once the sample item passed S4.
    pub hgr: Option<bool>,
    /// The sample item's biosafety level, from the same point on.
    pub biosafety_level: Option<u8>,
    /// The sample item's unit (e.g. `tube`), from the same point on.
    pub unit: Option<String>,
    /// The sample item's type (e.g. `whole_blood`), from the same point on.
    pub sample_type: Option<String>,
    /// How many days the recipient may keep the samples, from the same point on.
    pub retention_days: Option<u32>,
    /// The facility the samples must be stored in, from the same point on.
    pub storage_facility: Option<String>,
    /// The export approvals S7 relied on (every qualifying one, in reference order), once S7
    /// passed; empty for material that is not HGR.
    pub hgr_approvals: Vec<String>,
}

impl ShipmentDecision {
    /// Whether the shipment may go ahead.
    pub fn is_allowed(&self) -> bool {
        self.verdict == Verdict::Allow
    }

    /// A decision with nothing decided yet, for the day `evaluated_on`.
    fn open(evaluated_on: Date) -> Self {
        Self {
            verdict: Verdict::Allow,
            reason: None,
            rule: None,
            evaluated_on,
            legal_entity: None,
            hgr: None,
            biosafety_level: None,
            unit: None,
            sample_type: None,
            retention_days: None,
            storage_facility: None,
            hgr_approvals: Vec::new(),
        }
    }
}

/// Evaluates one shipment declaration against a registry at the instant `at` (the rules use its
/// calendar day in UTC+8): S1-S3 (rules 1-3, with their codes), then S4-S8 in order; the first
/// failure decides. Pure and deterministic: the same inputs always give the same decision.
pub fn evaluate_shipment(
    registry: &Registry,
    request: &ShipmentRequest,
    at: OffsetDateTime,
) -> ShipmentDecision {
    let ctx = Ctx {
        registry,
        request,
        today: park_date(at),
    };
    let mut decision = ShipmentDecision::open(ctx.today);
    if let Err(denial) = run(&ctx, &mut decision) {
        decision.verdict = Verdict::Deny;
        decision.reason = Some(denial.code);
        decision.rule = denial.rule;
    }
    decision
}

/// Rule S8 again for a carrier that reports a custody step at `at`: it must still be
/// whitelisted (`carrier.not_whitelisted`), approved and inside its validity window
/// (`carrier.not_valid`), so a carrier suspended after the declaration takes no further step.
pub fn check_carrier(
    registry: &Registry,
    carrier: &str,
    at: OffsetDateTime,
) -> Result<(), ReasonCode> {
    samples::carrier(registry, carrier, park_date(at)).map(|_| ())
}

fn run(ctx: &Ctx<'_, ShipmentRequest>, decision: &mut ShipmentDecision) -> Result<(), Denial> {
    let at_rule = |code: ReasonCode| Denial {
        code,
        rule: code.shipment_rule(),
    };
    let sender = identity::sender(ctx, &ctx.request.sender).map_err(at_rule)?;
    decision.legal_entity = Some(sender.legal_entity.clone());
    identity::recipient(ctx, &ctx.request.recipient).map_err(at_rule)?;
    let item = samples::item(ctx).map_err(at_rule)?;
    decision.hgr = Some(item.hgr);
    decision.biosafety_level = Some(item.biosafety_level);
    decision.unit = Some(item.unit.clone());
    decision.sample_type = Some(item.sample_type.clone());
    decision.retention_days = Some(item.retention_days);
    decision.storage_facility = Some(item.storage_facility.clone());
    samples::quantity(ctx, item).map_err(at_rule)?;
    samples::biosafety(ctx, item).map_err(at_rule)?;
    decision.hgr_approvals = samples::export_approval(ctx, item).map_err(at_rule)?;
    samples::carrier(ctx.registry, &ctx.request.carrier, ctx.today).map_err(at_rule)?;
    Ok(())
}
