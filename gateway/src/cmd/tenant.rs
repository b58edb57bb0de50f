//! `loopgate tenant suspend ID --reason TEXT` and `loopgate tenant unsuspend ID --reason TEXT`:
//! an emergency suspension of one tenant, and its lifting, through the admin API
//! (`POST /v1/admin/tenants/{id}/suspend` and `.../unsuspend`), each logged as a
//! `policy_change` record with the admin and the reason. Exit 0 when done (or, for a suspension,
//! already so), 1 when the gateway cannot be reached or refuses (an unknown tenant, 404; an
//! unsuspension of a tenant that is not suspended, 409 `policy.not_suspended`), 2 on bad usage
//! or an unreadable certificate or key.

use bytes::Bytes;
use clap::{Args, Subcommand};
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cmd::admin::{AdminClient, AdminError, ConnectArgs, runtime};
use crate::exit::Exit;

#[derive(Debug, Subcommand)]
pub(crate) enum TenantCommand {
    /// Suspend one tenant at once (its transfers and shipments are denied with
    /// tenant.suspended or recipient.suspended from the next request on); logged with the
    /// reason.
    Suspend(ChangeArgs),
    /// Lift one tenant's suspension at once (its status back to approved); logged with the
    /// reason. A tenant that is not suspended is refused (409 policy.not_suspended); a
    /// revocation is lifted only by a new bundle (policy apply --yes).
    Unsuspend(ChangeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ChangeArgs {
    /// The tenant's id, as in the bundle in force.
    id: String,
    /// Why, for the log (the policy_change record's `reason`; regulators filter on it).
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    connect: ConnectArgs,
}

pub(crate) fn run(command: &TenantCommand) -> Exit {
    let (args, action) = match command {
        TenantCommand::Suspend(args) => (args, "suspend"),
        TenantCommand::Unsuspend(args) => (args, "unsuspend"),
    };
    if args.id.is_empty() || args.id.contains(['/', '?', '#', '%']) || args.id.trim() != args.id {
        eprintln!(
            "tenant {action}: {:?} cannot be a tenant id; give the id as the bundle spells it",
            args.id
        );
        return Exit::Usage;
    }
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tenant {action}: cannot start the async runtime: {e}");
            return Exit::Failure;
        }
    };
    match runtime.block_on(change(args, action)) {
        Ok(()) => Exit::Success,
        Err(e @ AdminError::File { .. }) => {
            eprintln!("tenant {action}: {e}");
            Exit::Usage
        }
        Err(e) => {
            eprintln!("tenant {action}: {e}");
            Exit::Failure
        }
    }
}

async fn change(args: &ChangeArgs, action: &str) -> Result<(), AdminError> {
    let gateway = AdminClient::new(&args.connect)?;
    let path = format!("/v1/admin/tenants/{}/{action}", args.id);
    let body = json!({ "reason": args.reason }).to_string();
    let answer = gateway
        .call(Method::POST, &path, "application/json", Bytes::from(body))
        .await?;
    let json: Option<Value> = serde_json::from_slice(&answer.body).ok();
    match (answer.status, json) {
        (StatusCode::OK, Some(json)) if json["unchanged"] == true => {
            println!(
                "{} is suspended already: nothing changed or logged (policy_version {})",
                args.id, json["policy_version"]
            );
            Ok(())
        }
        (StatusCode::OK, Some(json)) => {
            let done = if action == "suspend" {
                "suspended"
            } else {
                "unsuspended"
            };
            println!(
                "{done} {}: policy_version {}",
                args.id, json["policy_version"]
            );
            Ok(())
        }
        _ => Err(answer.refused(format!("POST {path}"))),
    }
}
