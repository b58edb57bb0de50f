//! `loopgate policy apply FILE`: validates the bundle offline, shows the diff against the bundle
//! in force (fetched with `GET /v1/admin/policy`), asks, then applies it with
//! `PUT /v1/admin/policy` over mutual TLS as an admin.
//!
//! Asking: at a terminal (standard input), `apply this change ...? [y/N]`; without one, only
//! `--yes` applies (a script must say so; exit 3 otherwise). A change that lifts a suspension,
//! a revocation or a termination is called out with `!` lines and needs `--yes` even at a
//! terminal: lifting one is a decision to make on purpose, not by pressing `y` after a long
//! diff. The very bundle in force is not sent at all: nothing to apply, nothing to log.
//!
//! Exit 0 when applied (or nothing to apply, or shown with `--dry-run`), 2 when the bundle is
//! invalid (offline or as the gateway says), 3 when not confirmed, 1 when the gateway cannot be
//! reached or refuses the change for another reason.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use bytes::Bytes;
use clap::Args;
use http::{Method, StatusCode};
use loopgate_policy::{BundleDiff, Change, Lift, Plain};
use serde_json::Value;

use super::load;
use crate::cmd::admin::{AdminClient, AdminError, ConnectArgs, runtime};
use crate::exit::Exit;

#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    /// The policy bundle (TOML) to put in force.
    file: PathBuf,
    #[command(flatten)]
    connect: ConnectArgs,
    /// Only show the diff; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Apply without asking: needed without a terminal (scripts) and, even at one, for a
    /// change that lifts a suspension, a revocation or a termination.
    #[arg(long, short = 'y')]
    yes: bool,
}

pub(crate) fn run(args: &ApplyArgs) -> Exit {
    let shown = args.file.display();
    if let Err(problems) = load(&args.file) {
        for problem in problems {
            eprintln!("{shown}:{problem}");
        }
        return Exit::Usage;
    }
    let text = match std::fs::read_to_string(&args.file) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("{shown}: cannot read the bundle: {e}");
            return Exit::Usage;
        }
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("policy apply: cannot start the async runtime: {e}");
            return Exit::Failure;
        }
    };
    match runtime.block_on(apply(args, text)) {
        Ok(code) => code,
        Err(e @ AdminError::File { .. }) => {
            eprintln!("policy apply: {e}");
            Exit::Usage
        }
        Err(e) => {
            eprintln!("policy apply: {e}");
            Exit::Failure
        }
    }
}

async fn apply(args: &ApplyArgs, text: String) -> Result<Exit, AdminError> {
    let gateway = AdminClient::new(&args.connect)?;
    let current = gateway
        .call(Method::GET, "/v1/admin/policy", TOML, Bytes::new())
        .await?;
    if current.status != StatusCode::OK {
        return Err(current.refused("GET /v1/admin/policy"));
    }
    let version = current
        .headers
        .get("loop-policy-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?")
        .to_owned();
    let in_force = String::from_utf8_lossy(&current.body);
    if in_force == text {
        println!(
            "no changes: {} is the bundle in force (policy_version {version}); nothing applied or logged",
            args.file.display()
        );
        return Ok(Exit::Success);
    }
    let lifts = match loopgate_policy::diff(&in_force, &text) {
        Ok(diff) if diff.is_empty() => {
            println!(
                "no changes to the registry: only comments or layout differ from the bundle in force (applying logs the new text as a new policy_version)"
            );
            Vec::new()
        }
        Ok(diff) => {
            let lifts = diff.lifts();
            print!("{}", render(&diff, &lifts));
            lifts
        }
        Err(_) => {
            println!("(the bundle in force cannot be compared)");
            Vec::new()
        }
    };
    if args.dry_run {
        println!("dry run: nothing applied");
        return Ok(Exit::Success);
    }
    if !args.yes {
        if let Some(refusal) = confirm(&lifts, args.connect.url()) {
            eprintln!("policy apply: {refusal}");
            return Ok(Exit::NotConfirmed);
        }
    }
    let put = gateway
        .call(Method::PUT, "/v1/admin/policy", TOML, Bytes::from(text))
        .await?;
    let json: Option<Value> = serde_json::from_slice(&put.body).ok();
    match (put.status, json) {
        (StatusCode::OK, Some(json)) if json["unchanged"] == true => {
            println!(
                "no changes: the gateway has this bundle in force already (policy_version {}); nothing logged",
                json["policy_version"]
            );
            Ok(Exit::Success)
        }
        (StatusCode::OK, Some(json)) => {
            println!("applied: policy_version {}", json["policy_version"]);
            Ok(Exit::Success)
        }
        (StatusCode::UNPROCESSABLE_ENTITY, Some(json)) => {
            let shown = args.file.display();
            for problem in json["problems"].as_array().into_iter().flatten() {
                eprintln!(
                    "{shown}:{}:{}: {}",
                    problem["line"],
                    problem["column"],
                    problem["message"].as_str().unwrap_or_default()
                );
            }
            eprintln!("policy apply: the gateway refused the bundle; nothing was changed");
            Ok(Exit::Usage)
        }
        _ => Err(put.refused("PUT /v1/admin/policy")),
    }
}

/// The content type of a bundle.
const TOML: &str = "application/toml";

/// `None` when the operator confirmed at the terminal; else why nothing is applied.
fn confirm(lifts: &[Lift], url: &str) -> Option<String> {
    if !lifts.is_empty() {
        return Some(format!(
            "this change lifts {} suspension(s), revocation(s) or termination(s) (the `!` lines above); nothing was applied: check each, then run again with --yes",
            lifts.len()
        ));
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Some(
            "no terminal to confirm on (standard input is not one) and no --yes; nothing was applied: run again with --yes to apply without asking"
                .to_owned(),
        );
    }
    eprint!("apply this change to {url}? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if stdin.lock().read_line(&mut answer).is_err() {
        return Some("no answer could be read; nothing was applied".to_owned());
    }
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => None,
        _ => Some("not confirmed; nothing was applied".to_owned()),
    }
}

/// The diff as lines: `+`/`-` for added and removed entries, `~` for changed fields, and one
/// `!` line per suspension, revocation or termination lifted.
fn render(diff: &BundleDiff, lifts: &[Lift]) -> String {
    let mut out = String::new();
    for (table, changes) in diff.tables() {
        for id in &changes.added {
            out.push_str(&format!("+ [[{table}]] {id}\n"));
        }
        for id in &changes.removed {
            out.push_str(&format!("- [[{table}]] {id}\n"));
        }
        for (id, fields) in &changes.changed {
            for (field, change) in fields {
                out.push_str(&format!("~ [[{table}]] {id} {field}: {}\n", shown(change)));
            }
        }
    }
    for (key, change) in &diff.settings {
        out.push_str(&format!("~ {key}: {}\n", shown(change)));
    }
    for lift in lifts {
        out.push_str(&format!(
            "! lifts a {}: [[{}]] {} status {:?} -> {:?} (needs --yes)\n",
            lift.what(),
            lift.table,
            lift.id,
            lift.from,
            lift.to
        ));
    }
    out
}

fn shown(change: &Change) -> String {
    let value = |v: &Option<Plain>| match v {
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
        None => "(absent)".to_owned(),
    };
    format!("{} -> {}", value(&change.from), value(&change.to))
}
