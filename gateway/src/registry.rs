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
//! - `POST /v1/admin/tenants/{id}/suspend` and `.../unsuspend` (the bundle in force with one
//!   `status` changed).
//!
//! Every change is validated first, logged with its diff and the principal that made it, and
//! only then put in force; requests already running keep the snapshot they started with. A
//! change that changes nothing (the very bundle in force, a suspension of a suspended tenant)
//! is not logged: the answer names the version in force.
//!
//! Records stay small (at most 65 535 bytes: the `tlog-tiles` entry bundles give each record a
//! uint16 length), but a bundle of a few hundred tenants is larger (about 100 KB for 300), and
//! so may be its diff. A bundle (or a diff) over [`INLINE_BYTES`] is stored as a
//! content-addressed blob beside the log (`<log dir>/blobs/sha256/<hex>`, fsync'd before the
//! record), and the record names it under `blobs` (`bundle`, `diff`: SHA-256 and size) instead
//! of holding it; smaller ones stay inline, as in records logged before blobs existed, which
//! are read as they are.

use std::collections::BTreeMap;

use loopgate_audit::{BlobRef, Field, Kind, Log, Record};
use loopgate_policy::{BundleDiff, Diagnostic, PolicyError, Status};
use ring::digest;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::record::{self, Details};
use crate::state::{AppState, PolicySnapshot};

/// Where a bundle came from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source<'a> {
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
    /// The lifting of `tenant`'s suspension by this admin.
    Unsuspension {
        /// The admin.
        admin: &'a str,
        /// The tenant whose suspension is lifted.
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
    /// An unsuspension names a tenant that is not suspended (approved, or revoked).
    #[error("tenant {tenant:?} is {}, not suspended", status.as_str())]
    NotSuspended {
        /// The tenant.
        tenant: String,
        /// Its status in force.
        status: Status,
    },
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
pub(crate) struct Applied {
    /// The new policy version (the `policy_change` record's log index), or the version in force
    /// when nothing changed.
    pub version: u64,
    /// What changed.
    pub diff: BundleDiff,
    /// Nothing changed (the bundle in force applied again, a suspension of a tenant already
    /// suspended): nothing was logged.
    pub unchanged: bool,
}

impl Applied {
    /// Nothing to change: the version in force and an empty diff.
    fn unchanged(version: u64) -> Self {
        Applied {
            version,
            diff: BundleDiff::default(),
            unchanged: true,
        }
    }
}

/// The bundle of the last `policy_change` record that carries one, if any.
#[derive(Debug)]
pub(crate) struct Logged {
    /// Its log index: the policy version.
    pub version: u64,
    /// The bundle text.
    pub text: String,
    /// The configured file's digest when the file was last put in force.
    pub file_sha256: [u8; 32],
}

/// SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

/// What a `policy_change` record says: who changed the registry and how, the diff, and the
/// bundle put in force with its digests.
///
/// A suspension's `reason` shares its key with the record's own `reason` field, so reading the
/// leaf back puts it there, not here (the regulator's `reason=` filter finds it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PolicyChangeDetails {
    /// `system` (the configured file) or `admin/<id>`.
    pub(crate) principal: String,
    /// `file`, `admin_api`, `suspension` or `unsuspension`.
    pub(crate) source: String,
    /// The configured file, for `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) path: Option<String>,
    /// The tenant, for `suspension` and `unsuspension`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tenant: Option<String>,
    /// Why, as the admin said, for `suspension` and `unsuspension` (`null` when not said).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<Option<String>>,
    /// The version it replaced; `None` for the log's first bundle.
    pub(crate) previous_version: Option<u64>,
    /// What changed (read back leniently: the bundle in force must never depend on it), when
    /// inline (else `blobs.diff`).
    #[serde(
        default,
        deserialize_with = "record::or_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) diff: Option<BundleDiff>,
    /// SHA-256 of `bundle`.
    #[serde(with = "record::base64_sha256")]
    pub(crate) bundle_sha256: [u8; 32],
    /// SHA-256 of the configured file when it was last put in force (carried forward by
    /// changes made through the admin API).
    #[serde(with = "record::base64_sha256")]
    pub(crate) file_sha256: [u8; 32],
    /// The bundle text, exactly as applied, when it is stored inline (else `blobs.bundle`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bundle: Option<String>,
    /// The blobs beside the log holding what is too large to be inline: `bundle` (the bundle
    /// text) and `diff` (the diff as JSON).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) blobs: BTreeMap<String, BlobRef>,
}

/// A bundle or a diff larger than this is stored as a blob beside the log, not in the record.
pub(crate) const INLINE_BYTES: usize = 16 * 1024;

/// Where a change's bundle text and diff go: inline, or into blobs already stored.
struct Placed {
    /// The bundle, when inline.
    bundle: Option<String>,
    /// The diff, when inline (else `blobs.diff`).
    diff: Option<BundleDiff>,
    blobs: BTreeMap<String, BlobRef>,
}

/// Where `text` and `diff` go, and the bytes of the blobs to store for it.
fn plan(text: &str, diff: &BundleDiff) -> Result<(Placed, Vec<Vec<u8>>), ChangeError> {
    let diff_json = serde_json::to_vec(diff).map_err(|e| {
        loopgate_audit::Error::InvalidRecord(format!("the diff cannot be written: {e}"))
    })?;
    let mut placed = Placed {
        bundle: Some(text.to_owned()),
        diff: Some(diff.clone()),
        blobs: BTreeMap::new(),
    };
    let mut bytes = Vec::new();
    if text.len() > INLINE_BYTES {
        placed.bundle = None;
        placed
            .blobs
            .insert("bundle".to_owned(), BlobRef::of(text.as_bytes()));
        bytes.push(text.as_bytes().to_vec());
    }
    if diff_json.len() > INLINE_BYTES {
        placed.diff = None;
        placed
            .blobs
            .insert("diff".to_owned(), BlobRef::of(&diff_json));
        bytes.push(diff_json);
    }
    Ok((placed, bytes))
}

/// Stores the bundle `text` and `diff` as blobs when they are too large to be inline (blocking
/// I/O on a blocking thread: each blob is fsync'd, with its folder, before this returns).
async fn place(log: &Log, text: &str, diff: &BundleDiff) -> Result<Placed, ChangeError> {
    let (placed, blobs) = plan(text, diff)?;
    if blobs.is_empty() {
        return Ok(placed);
    }
    let log = log.clone();
    tokio::task::spawn_blocking(move || {
        blobs
            .iter()
            .try_for_each(|bytes| log.put_blob(bytes).map(drop))
    })
    .await
    .map_err(|e| loopgate_audit::Error::Unavailable(format!("the blob writer failed: {e}")))??;
    Ok(placed)
}

/// Whether `serve` can put bundle `text` in force as the first bundle of a log: it validates,
/// and its `policy_change` record fits in a record (its bundle and diff going into blobs as
/// `serve` would put them). For `check-config`, so that it refuses what `serve` would.
pub(crate) fn check_loggable(path: &str, text: &str) -> Result<(), String> {
    loopgate_policy::parse_bundle(text).map_err(|e| e.to_string())?;
    let diff = BundleDiff::from_empty(text).map_err(|e| e.to_string())?;
    let (placed, _) = plan(text, &diff).map_err(|e| e.to_string())?;
    // Any time will do (the longest a record carries, to be safe): only the size matters.
    let record = record(
        time::macros::datetime!(9999-12-31 23:59:59.999_999_999 UTC),
        Source::File(path),
        text,
        &placed,
        Some(u64::MAX),
        &[0; 32],
    )
    .map_err(|e| e.to_string())?;
    let leaf = record.to_leaf().map_err(|e| e.to_string())?;
    let max = loopgate_audit::DEFAULT_MAX_RECORD_BYTES;
    if leaf.len() > max {
        return Err(format!(
            "its policy_change record would be {} bytes, over the log's {max}",
            leaf.len()
        ));
    }
    Ok(())
}

impl Details for PolicyChangeDetails {
    const KIND: Kind = Kind::PolicyChange;
}

/// The last logged bundle, found through the kind index.
pub(crate) fn last_logged(log: &Log) -> Result<Option<Logged>, loopgate_audit::Error> {
    let Some(version) = log.last(Field::Kind, b"policy_change")? else {
        return Ok(None);
    };
    let record = Record::from_leaf(&log.read(version)?)?;
    // A record from before bundles were logged: the file is put in force again.
    let Some(details) = record::read::<PolicyChangeDetails>(&record) else {
        return Ok(None);
    };
    let text = match (details.bundle, details.blobs.get("bundle")) {
        (Some(text), _) => text,
        // Checked against its SHA-256 and size: a missing or altered blob names its file.
        (None, Some(blob)) => {
            let bytes = log.get_blob(blob)?;
            String::from_utf8(bytes).map_err(|_| loopgate_audit::Error::BadBlob {
                path: log.blob_path(blob),
                what: format!("the bundle of policy version {version} is not UTF-8"),
            })?
        }
        (None, None) => {
            return Err(loopgate_audit::Error::InvalidRecord(format!(
                "the policy_change record {version} holds neither a bundle nor a blob of it"
            )));
        }
    };
    if sha256(text.as_bytes()) != details.bundle_sha256 {
        return Err(loopgate_audit::Error::InvalidRecord(format!(
            "the bundle of policy version {version} does not match the record's bundle_sha256"
        )));
    }
    Ok(Some(Logged {
        version,
        text,
        file_sha256: details.file_sha256,
    }))
}

/// The snapshot of a logged bundle.
pub(crate) fn snapshot(logged: &Logged) -> Result<PolicySnapshot, ChangeError> {
    let registry = loopgate_policy::parse_bundle(&logged.text)?.registry;
    Ok(PolicySnapshot {
        registry,
        version: logged.version,
        text: logged.text.as_str().into(),
        file_sha256: logged.file_sha256,
    })
}

/// The `policy_change` record putting `text` in force (its bundle and diff `placed` inline or
/// in blobs).
fn record(
    at: OffsetDateTime,
    source: Source<'_>,
    text: &str,
    placed: &Placed,
    previous: Option<u64>,
    file_sha256: &[u8; 32],
) -> Result<Record, loopgate_audit::Error> {
    let mut record = Record::new(Kind::PolicyChange, at)?;
    let mut details = PolicyChangeDetails {
        principal: "system".to_owned(),
        source: "file".to_owned(),
        path: None,
        tenant: None,
        reason: None,
        previous_version: previous,
        diff: placed.diff.clone(),
        bundle_sha256: sha256(text.as_bytes()),
        file_sha256: *file_sha256,
        bundle: placed.bundle.clone(),
        blobs: placed.blobs.clone(),
    };
    match source {
        Source::File(path) => details.path = Some(path.to_owned()),
        Source::Admin(admin) => {
            details.principal = format!("admin/{admin}");
            details.source = "admin_api".to_owned();
        }
        Source::Suspension {
            admin,
            tenant,
            reason,
        }
        | Source::Unsuspension {
            admin,
            tenant,
            reason,
        } => {
            details.principal = format!("admin/{admin}");
            details.source = match source {
                Source::Suspension { .. } => "suspension",
                _ => "unsuspension",
            }
            .to_owned();
            details.tenant = Some(tenant.to_owned());
            details.reason = Some(reason.map(str::to_owned));
        }
    }
    record::write(&mut record, &details)?;
    Ok(record)
}

/// Validates `text`, logs it as a `policy_change` with its diff against `previous` (`None`: the
/// first bundle of this log) and returns the snapshot to put in force. For use before the
/// gateway serves (at start); once it serves, use [`apply`].
pub(crate) async fn log_bundle(
    stamper: &crate::record::stamp::Stamper,
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
    let placed = place(log, &text, &diff).await?;
    let (_, _, durable) = stamper.append(log, |at| {
        record(at, source, &text, &placed, prior, &file_sha256)
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
pub(crate) async fn apply(
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
    let file_sha256 = file_sha256.unwrap_or(current.file_sha256);
    if *text == *current.text && file_sha256 == current.file_sha256 {
        // The very bundle in force: a record of an empty change would only add a version that
        // says nothing (and make every later decision name it). A text that differs only in
        // comments or layout is logged: the bundle in force is its text, exactly as applied.
        return Ok(Applied::unchanged(current.version));
    }
    let diff = loopgate_policy::diff(&current.text, &text)?;
    let previous = Some(current.version);
    let placed = place(&state.log, &text, &diff).await?;
    let (appended, _) = state
        .append_record(|at| record(at, source, &text, &placed, previous, &file_sha256))
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
        unchanged: false,
    })
}

/// Suspends `tenant` at once: the bundle in force with that tenant's `status` set to
/// `suspended`, applied like any change.
pub(crate) async fn suspend(
    state: &AppState,
    admin: &str,
    tenant: &str,
    reason: Option<&str>,
) -> Result<Applied, ChangeError> {
    let _one_at_a_time = state.policy_changes.lock().await;
    let current = state.policy();
    let text = loopgate_policy::set_tenant_status(&current.text, tenant, Status::Suspended)?
        .ok_or_else(|| ChangeError::UnknownTenant(tenant.to_owned()))?;
    if *text == *current.text {
        // Already suspended: an empty change would say nothing; log nothing, and say so.
        return Ok(Applied::unchanged(current.version));
    }
    let source = Source::Suspension {
        admin,
        tenant,
        reason,
    };
    apply_locked(state, text, source, None).await
}

/// Lifts `tenant`'s suspension: the bundle in force with that tenant's `status` set back to
/// `approved`, applied like any change. A tenant that is not suspended is refused: an approved
/// one has nothing to lift, and a revoked one comes back only in a new bundle.
pub(crate) async fn unsuspend(
    state: &AppState,
    admin: &str,
    tenant: &str,
    reason: Option<&str>,
) -> Result<Applied, ChangeError> {
    let _one_at_a_time = state.policy_changes.lock().await;
    let current = state.policy();
    let Some(entry) = current.registry.tenants.get(tenant) else {
        return Err(ChangeError::UnknownTenant(tenant.to_owned()));
    };
    if entry.status != Status::Suspended {
        return Err(ChangeError::NotSuspended {
            tenant: tenant.to_owned(),
            status: entry.status,
        });
    }
    let text = loopgate_policy::set_tenant_status(&current.text, tenant, Status::Approved)?
        .ok_or_else(|| ChangeError::UnknownTenant(tenant.to_owned()))?;
    let source = Source::Unsuspension {
        admin,
        tenant,
        reason,
    };
    apply_locked(state, text, source, None).await
}
