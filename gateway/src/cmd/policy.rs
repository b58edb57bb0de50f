//! `loopgate policy check`, `eval`, `migrate` and `apply` (SPEC.md section 7).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use loopgate_policy::{
    Decision, PARK_OFFSET, PolicyError, ShipmentRequest, TransferRequest, ValidBundle, Verdict,
    VolumeCounters, evaluate, evaluate_shipment, parse_bundle,
};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

mod apply;
mod migrate;

use crate::exit::Exit;

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Validate a bundle offline: prints every problem as FILE:LINE:COLUMN: message; exit 0 when
    /// valid, 2 otherwise. A bundle in the rules' first version is refused with one message per
    /// field to change (see `policy migrate`).
    Check {
        /// The policy bundle (TOML).
        file: PathBuf,
    },
    /// Print a bundle of the rules' first version rewritten in the second version's schema
    /// (comments and layout kept); what cannot be decided is left as `# migrate:` comments.
    /// Exit 0 when the output validates (a second-version bundle is printed unchanged), 1 when
    /// a human must fill in what the comments name, 2 on bad usage or an unreadable or invalid
    /// input.
    Migrate {
        /// The policy bundle (TOML) to migrate; the result goes to standard output.
        file: PathBuf,
    },
    /// Evaluate one transfer (with --item) or one shipment declaration (with --sample-item,
    /// --quantity and --carrier) offline and print the decision as one JSON line; exit 0 on
    /// allow, 1 on deny, 2 on bad usage or an invalid bundle.
    Eval(EvalArgs),
    /// Validate a bundle, show its diff against the bundle in force, ask, and apply it through
    /// the admin API (PUT /v1/admin/policy) as an admin. Without a terminal only --yes applies;
    /// a change that lifts a suspension, revocation or termination needs --yes even at one.
    /// Exit 0 when applied (or identical: nothing sent), 2 when the bundle is invalid, 3 when
    /// not confirmed, 1 when the gateway cannot be reached or refuses it.
    Apply(apply::ApplyArgs),
}

#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// The policy bundle (TOML).
    #[arg(long)]
    bundle: PathBuf,
    /// The instant to evaluate at (RFC 3339, e.g. 2026-03-16T10:00:00+08:00); rules use its
    /// calendar day in UTC+8.
    #[arg(long, value_parser = parse_instant)]
    at: OffsetDateTime,
    /// Sender tenant id.
    #[arg(long)]
    sender: String,
    /// Recipient tenant id (`Loop-Recipient`).
    #[arg(long)]
    recipient: String,
    /// Inventory item id (`Loop-Inventory-Item`): evaluates a transfer (rules 1-19).
    #[arg(
        long,
        required_unless_present = "sample_item",
        conflicts_with = "sample_item"
    )]
    item: Option<String>,
    /// Sample item id (the logistics list): evaluates a shipment declaration (rules S1-S8)
    /// instead of a transfer; needs --quantity and --carrier.
    #[arg(long, requires_all = ["quantity", "carrier"])]
    sample_item: Option<String>,
    /// Units declared in the shipment (rule S5).
    #[arg(long, requires = "sample_item", allow_negative_numbers = true)]
    quantity: Option<i64>,
    /// The carrier named for the shipment (rule S8).
    #[arg(long, requires = "sample_item")]
    carrier: Option<String>,
    /// Purpose code (`Loop-Purpose`).
    #[arg(long)]
    purpose: String,
    /// Contract filing reference (`Loop-Contract-Filing`).
    #[arg(long)]
    filing: Option<String>,
    /// Data subjects in this transfer (`Loop-Data-Subjects`).
    #[arg(long)]
    subjects: Option<u64>,
    /// Declared body size in bytes (`Content-Length`).
    #[arg(long)]
    size: Option<u64>,
    /// The year-to-date non-sensitive data subjects of the sender's legal entity (every tenant
    /// of its `legal_entity`, summed), before this transfer (rule 19).
    #[arg(long, default_value_t = 0)]
    ytd_subjects: u64,
    /// The year-to-date sensitive data subjects of the sender's legal entity, before this
    /// transfer (rule 19).
    #[arg(long, default_value_t = 0)]
    ytd_sensitive_subjects: u64,
}

/// An RFC 3339 instant; a bare date (`2026-03-16`) means the start of that day in UTC+8.
fn parse_instant(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &Rfc3339).or_else(|e| {
        Date::parse(text, format_description!("[year]-[month]-[day]"))
            .map(|day| day.midnight().assume_offset(PARK_OFFSET))
            .map_err(|_| {
                format!("{e}; write an RFC 3339 instant such as 2026-03-16T10:00:00+08:00")
            })
    })
}

pub(crate) fn run(command: PolicyCommand) -> Exit {
    match command {
        PolicyCommand::Check { file } => check(&file),
        PolicyCommand::Eval(args) => eval(&args),
        PolicyCommand::Migrate { file } => migrate::run(&file),
        PolicyCommand::Apply(args) => apply::run(&args),
    }
}

fn check(file: &Path) -> Exit {
    let shown = file.display();
    match load(file) {
        Ok(bundle) => {
            for warning in &bundle.warnings {
                println!("{shown}:{warning}");
            }
            let registry = &bundle.registry;
            println!(
                "{shown}: ok: {} tenants, {} carriers, {} inventory items, {} sample items, {} contract filings, {} HGR approvals, {} regulators",
                registry.tenants.len(),
                registry.carriers.len(),
                registry.items.len(),
                registry.sample_items.len(),
                registry.filings.len(),
                registry.hgr_approvals.len(),
                registry.regulators.len()
            );
            Exit::Success
        }
        Err(problems) => {
            for problem in problems {
                println!("{shown}:{problem}");
            }
            Exit::Usage
        }
    }
}

/// The JSON line `policy eval` prints (SPEC.md section 7).
#[derive(Serialize)]
struct EvalOutput<'a> {
    decision: Verdict,
    reason: Option<&'a str>,
    rule: Option<Rule>,
    flags: Vec<&'a str>,
}

/// The rule that denied: a number for a transfer (`12`), `"S4"` for a shipment.
#[derive(Serialize)]
#[serde(untagged)]
enum Rule {
    Transfer(u8),
    Shipment(String),
}

fn print(output: &EvalOutput<'_>, allowed: bool) -> Exit {
    match serde_json::to_string(output) {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("loopgate: cannot encode the decision: {e}");
            return Exit::Usage;
        }
    }
    if allowed {
        Exit::Success
    } else {
        Exit::Failure
    }
}

/// Rules S1-S8 for the shipment the arguments declare.
fn eval_shipment(args: &EvalArgs, registry: &loopgate_policy::Registry, sample_item: &str) -> Exit {
    let request = ShipmentRequest {
        sender: args.sender.clone(),
        recipient: args.recipient.clone(),
        sample_item: sample_item.to_owned(),
        quantity: args.quantity.unwrap_or_default(),
        purpose: args.purpose.clone(),
        carrier: args.carrier.clone().unwrap_or_default(),
    };
    let decision = evaluate_shipment(registry, &request, args.at);
    let output = EvalOutput {
        decision: decision.verdict,
        reason: decision.reason.map(|code| code.as_str()),
        rule: decision.rule.map(|n| Rule::Shipment(format!("S{n}"))),
        flags: Vec::new(),
    };
    print(&output, decision.is_allowed())
}

fn eval(args: &EvalArgs) -> Exit {
    let bundle = match load(&args.bundle) {
        Ok(bundle) => bundle,
        Err(problems) => {
            for problem in problems {
                eprintln!("{}:{problem}", args.bundle.display());
            }
            return Exit::Usage;
        }
    };
    let item = match (&args.item, &args.sample_item) {
        (_, Some(sample_item)) => return eval_shipment(args, &bundle.registry, sample_item),
        (Some(item), None) => item.clone(),
        (None, None) => {
            eprintln!("loopgate: give --item (a transfer) or --sample-item (a shipment)");
            return Exit::Usage;
        }
    };
    let request = TransferRequest {
        sender: args.sender.clone(),
        recipient: args.recipient.clone(),
        item,
        purpose: args.purpose.clone(),
        filing: args.filing.clone(),
        data_subjects: args.subjects,
        declared_size: args.size,
        volume: VolumeCounters {
            subjects: args.ytd_subjects,
            sensitive_subjects: args.ytd_sensitive_subjects,
        },
    };
    let decision: Decision = evaluate(&bundle.registry, &request, args.at);
    let output = EvalOutput {
        decision: decision.verdict,
        reason: decision.reason.map(|code| code.as_str()),
        rule: decision.rule.map(Rule::Transfer),
        flags: decision.flags.iter().map(|flag| flag.as_str()).collect(),
    };
    print(&output, decision.is_allowed())
}

/// Reads and validates a bundle; on failure, the lines to print after `FILE:`.
fn load(file: &Path) -> Result<ValidBundle, Vec<String>> {
    let text = read_text(file).map_err(|problem| vec![problem])?;
    parse_bundle(&text).map_err(|PolicyError::InvalidBundle { problems }| {
        problems.iter().map(ToString::to_string).collect()
    })
}

/// A bundle file's text; on failure, the line to print after `FILE:`.
fn read_text(file: &Path) -> Result<String, String> {
    let text = std::fs::read(file).map_err(|e| format!(" cannot read the bundle: {e}"))?;
    String::from_utf8(text).map_err(|e| {
        format!(
            " the bundle is not UTF-8 (byte {}); save it as UTF-8",
            e.utf8_error().valid_up_to()
        )
    })
}
