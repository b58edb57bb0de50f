//! The registry in force as a view of the log (DESIGN.md invariant 7): every bundle that was
//! ever in force is the `bundle` of a `policy_change` record, and the one in force is the last
//! such record's, found through the log's kind index in sled (rebuilt from the segments when the
//! sled folder is lost). The policy version of every decision is that record's log index.
//!
//! Where bundles come from:
//! - the configured file, at start and on SIGHUP, but only when its bytes differ from the file
//!   last put in force (`file_sha256`, carried in every `policy_change` record): a change made
//!   through the admin API survives restarts and reloads until the file itself is edited;
//! - `PUT /v1/admin/policy` (an admin's whole bundle);
//! - `POST /v1/admin/tenants/{id}/suspend` (the bundle in force with one `status` changed).
//!
//! Every change is validated first, logged with its diff and the principal that made it, and
//! only then put in force; requests already running keep the snapshot they started with.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use loopgate_audit::{Field, Kind, Log, Record};
use loopgate_policy::{BundleDiff, Diagnostic, PolicyError, Status};
use ring::digest;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::state::{AppState, PolicySnapshot};

/// Where a bundle came from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// The configured bundle file (at start or on SIGHUP).
    File(&'a str),
    /// `PUT /v1/admin/policy` by this admin.
    Admin(&'a str),
    /// An emergency suspension of `tenant` by this admin.
    Suspension {
        /// The admin.
        admin: &'a str,
        /// The suspended tenant.
        tenant: &'a str,
        /// Why, as the admin said.
        reason: Option<&'a str>,
    },
}

/// Why a bundle was not put in force; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The bundle does not validate: every problem with its position.
    #[error("the policy bundle is invalid: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Diagnostic>),
    /// A suspension names a tenant the bundle in force does not have.
    #[error("no tenant {0:?} in the bundle in force")]
    UnknownTenant(String),
    /// The `policy_change` record could not be written (or a logged bundle cannot be read).
    #[error("the audit log: {0}")]
    Audit(#[from] loopgate_audit::Error),
}

impl From<PolicyError> for ChangeError {
    fn from(PolicyError::InvalidBundle { problems }: PolicyError) -> Self {
        ChangeError::Invalid(problems)
    }
}

/// A change put in force.
#[derive(Debug)]
pub struct Applied {
    /// The new policy version (the `policy_change` record's log index).
    pub version: u64,
    /// What changed.
    pub diff: BundleDiff,
}

/// The bundle of the last `policy_change` record that carries one, if any.
#[derive(Debug)]
pub struct Logged {
    /// Its log index: the policy version.
    pub version: u64,
    /// The bundle text.
    pub text: String,
    /// The configured file's digest when the file was last put in force.
    pub file_sha256: [u8; 32],
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

/// The last logged bundle, found through the kind index.
pub fn last_logged(log: &Log) -> Result<Option<Logged>, loopgate_audit::Error> {
    let Some(version) = log.last(Field::Kind, b"policy_change")? else {
        return Ok(None);
    };
    let record = Record::from_leaf(&log.read(version)?)?;
    let text = record.details.get("bundle").and_then(Value::as_str);
    let file_sha256 = record
        .details
        .get("file_sha256")
        .and_then(Value::as_str)
        .and_then(|b64| STANDARD.decode(b64).ok())
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok());
    // A record from before bundles were logged: the file is put in force again.
    let (Some(text), Some(file_sha256)) = (text, file_sha256) else {
        return Ok(None);
    };
    Ok(Some(Logged {
        version,
        text: text.to_owned(),
        file_sha256,
    }))
}

/// The snapshot of a logged bundle.
pub fn snapshot(logged: &Logged) -> Result<PolicySnapshot, ChangeError> {
    let registry = loopgate_policy::parse_bundle(&logged.text)?.registry;
    Ok(PolicySnapshot {
        registry,
        version: logged.version,
        text: logged.text.as_str().into(),
        file_sha256: logged.file_sha256,
    })
}

/// The `policy_change` record putting `text` in force.
#[allow(clippy::too_many_arguments)]
fn record(
    at: OffsetDateTime,
    source: Source<'_>,
    text: &str,
    diff: &BundleDiff,
    previous: Option<u64>,
    file_sha256: &[u8; 32],
) -> Result<Record, loopgate_audit::Error> {
    let mut record = Record::new(Kind::PolicyChange, at)?;
    let mut set = |key: &str, value: Value| {
        record.details.insert(key.to_owned(), value);
    };
    match source {
        Source::File(path) => {
            set("principal", json!("system"));
            set("source", json!("file"));
            set("path", json!(path));
        }
        Source::Admin(admin) => {
            set("principal", json!(format!("admin/{admin}")));
            set("source", json!("admin_api"));
        }
        Source::Suspension {
            admin,
            tenant,
            reason,
        } => {
            set("principal", json!(format!("admin/{admin}")));
            set("source", json!("suspension"));
            set("tenant", json!(tenant));
            set("reason", json!(reason));
        }
    }
    set("previous_version", json!(previous));
    set("diff", json!(diff));
    set(
        "bundle_sha256",
        json!(STANDARD.encode(sha256(text.as_bytes()))),
    );
    set("file_sha256", json!(STANDARD.encode(file_sha256)));
    set("bundle", json!(text));
    Ok(record)
}

/// Validates `text`, logs it as a `policy_change` with its diff against `previous` (`None`: the
/// first bundle of this log) and returns the snapshot to put in force. For use before the
/// gateway serves (at start); once it serves, use [`apply`].
pub async fn log_bundle(
    stamper: &crate::stamp::Stamper,
    log: &Log,
    text: String,
    source: Source<'_>,
    previous: Option<&Logged>,
    file_sha256: [u8; 32],
) -> Result<PolicySnapshot, ChangeError> {
    let registry = loopgate_policy::parse_bundle(&text)?.registry;
    let diff = match previous {
        Some(previous) => loopgate_policy::diff(&previous.text, &text)?,
        None => BundleDiff::from_empty(&text)?,
    };
    let prior = previous.map(|p| p.version);
    let (_, _, durable) = stamper.append(log, |at| {
        record(at, source, &text, &diff, prior, &file_sha256)
    })?;
    let version = durable.await?.index;
    Ok(PolicySnapshot {
        registry,
        version,
        text: text.into(),
        file_sha256,
    })
}

/// Puts bundle `text` in force on a running gateway: validates it, logs one `policy_change`
/// record with the diff against the bundle in force, then swaps the snapshot. `file_sha256` is
/// the file's digest for [`Source::File`], and is carried forward otherwise.
pub async fn apply(
    state: &AppState,
    text: String,
    source: Source<'_>,
    file_sha256: Option<[u8; 32]>,
) -> Result<Applied, ChangeError> {
    let _one_at_a_time = state.policy_changes.lock().await;
    apply_locked(state, text, source, file_sha256).await
}

async fn apply_locked(
    state: &AppState,
    text: String,
    source: Source<'_>,
    file_sha256: Option<[u8; 32]>,
) -> Result<Applied, ChangeError> {
    let registry = loopgate_policy::parse_bundle(&text)?.registry;
    let current = state.policy();
    let diff = loopgate_policy::diff(&current.text, &text)?;
    let file_sha256 = file_sha256.unwrap_or(current.file_sha256);
    let previous = Some(current.version);
    let (appended, _) = state
        .append_record(|at| record(at, source, &text, &diff, previous, &file_sha256))
        .await?;
    state.set_policy(PolicySnapshot {
        registry,
        version: appended.index,
        text: text.into(),
        file_sha256,
    });
    Ok(Applied {
        version: appended.index,
        diff,
    })
}

/// Suspends `tenant` at once: the bundle in force with that tenant's `status` set to
/// `suspended`, applied like any change.
pub async fn suspend(
    state: &AppState,
    admin: &str,
    tenant: &str,
    reason: Option<&str>,
) -> Result<Applied, ChangeError> {
    let _one_at_a_time = state.policy_changes.lock().await;
    let current = state.policy();
    let text = loopgate_policy::set_tenant_status(&current.text, tenant, Status::Suspended)?
        .ok_or_else(|| ChangeError::UnknownTenant(tenant.to_owned()))?;
    let source = Source::Suspension {
        admin,
        tenant,
        reason,
    };
    apply_locked(state, text, source, None).await
}
