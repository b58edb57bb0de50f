//! Start-up, before anything is served: open and recover the log, put the policy in force,
//! start the demo upstream (dev mode), bind the listeners, rebuild what is rebuilt from the
//! log, write the start record and close the transfers the last stop cut off, and start the
//! connection lanes. Anything that fails here fails the start; nothing was served.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use loopgate_audit::{Kind, Log, LogConfig, Record, SigningKey};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::lanes::Lanes;
use super::reload::{self, Acceptor};
use super::{Bound, ServeError};
use crate::clock::Clock;
use crate::config::{Config, Upstream};
use crate::devmode::demo::{self, Demo};
use crate::record::stamp::Stamper;
use crate::record::{self, Details};
use crate::registry::{self, Source};
use crate::state::{AppState, PolicySnapshot, Rebuilt};
use crate::transfer::records;
use crate::transfer::upstream::Upstreams;

/// Everything started, ready to serve.
pub(super) struct Started {
    pub(super) state: Arc<AppState>,
    pub(super) api: TcpListener,
    pub(super) ops: TcpListener,
    pub(super) acceptor: Arc<Acceptor>,
    pub(super) demo: Option<Demo>,
    pub(super) lanes: Lanes,
    pub(super) bound: Bound,
}

/// Starts the gateway under `config`; see the module documentation for the order.
pub(super) async fn start(config: Config, clock: Clock) -> Result<Started, ServeError> {
    let log = open_log(&config).await?;
    let stamper = Stamper::new(clock, &log)?;
    let policy = starting_policy(&config, &stamper, &log).await?;
    let demo = match &config.demo_upstream {
        Some(settings) => Some(demo::start(settings).await?),
        None => None,
    };
    let upstreams = Upstreams::new(
        &upstream_targets(&config, demo.as_ref().map(Demo::target)),
        &config.limits,
        config.worker_threads,
    )?;
    let acceptor = Arc::new(Acceptor::new(TlsAcceptor::from(crate::tls::server_config(
        &config.tls,
    )?)));
    let api = bind(config.listen).await?;
    let ops = bind(config.ops_listen).await?;
    let cosigning = crate::cosign::Cosigning::new(&config.witnesses)?;
    let state = AppState::new(config, stamper, log, policy, upstreams, cosigning)?;
    reload::certificate_metrics(&state);
    let rebuilt = rebuild(&state).await?;
    recover(&state, &rebuilt).await?;
    tokio::spawn(crate::cosign::Cosigning::run(Arc::downgrade(&state)));
    let bound = Bound {
        api: local(&api)?,
        ops: local(&ops)?,
        demo: demo.as_ref().map(|demo| demo.upstream.addr()),
    };
    // Started last, so no failure above leaves their threads to be joined on this runtime.
    let count = state.config().worker_threads;
    let lanes = Lanes::start(count).map_err(|source| ServeError::Lanes { count, source })?;
    tracing::info!(api = %bound.api, ops = %bound.ops, workers = lanes.len(), records = rebuilt.records, policy_version = state.policy().version, "loopgate ready");
    Ok(Started {
        state,
        api,
        ops,
        acceptor,
        demo,
        lanes,
        bound,
    })
}

/// Opens the log (recovery runs inside: a torn tail is cut, the index caught up).
async fn open_log(config: &Config) -> Result<Log, ServeError> {
    let key = SigningKey::load(&config.log_key)?;
    let mut log_config = LogConfig::new(config.log_dir.clone(), config.origin.clone(), key);
    log_config.cache_bytes = config.log_cache_bytes;
    let log = tokio::task::spawn_blocking(move || Log::open(log_config))
        .await
        .map_err(|e| loopgate_audit::Error::Unavailable(e.to_string()))??;
    Ok(log)
}

/// The configured bundle file: its text, validated, and the SHA-256 of its bytes.
#[derive(Debug)]
pub(crate) struct FileBundle {
    pub(crate) text: String,
    pub(crate) sha256: [u8; 32],
}

/// Reads and validates the bundle at `path`.
pub(crate) fn load_bundle(path: &std::path::Path) -> Result<FileBundle, ServeError> {
    let text = std::fs::read_to_string(path).map_err(|source| ServeError::Read {
        path: path.to_owned(),
        source,
    })?;
    if let Some(why) = loopgate_policy::not_a_bundle(&text) {
        return Err(ServeError::Bundle {
            path: path.to_owned(),
            problems: vec![format!("{why}; is [policy] bundle the right file?")],
        });
    }
    loopgate_policy::parse_bundle(&text).map_err(
        |loopgate_policy::PolicyError::InvalidBundle { problems }| ServeError::Bundle {
            path: path.to_owned(),
            problems: problems.iter().map(ToString::to_string).collect(),
        },
    )?;
    let sha256 = registry::sha256(text.as_bytes());
    Ok(FileBundle { text, sha256 })
}

/// The snapshot to start with: the last logged bundle, unless the configured file changed since
/// it was last put in force (then the file's bundle, logged first). See [`crate::registry`].
async fn starting_policy(
    config: &Config,
    stamper: &Stamper,
    log: &Log,
) -> Result<PolicySnapshot, ServeError> {
    let file = load_bundle(&config.policy_bundle)?;
    let previous = registry::last_logged(log)?;
    if let Some(logged) = previous.as_ref().filter(|l| l.file_sha256 == file.sha256) {
        match registry::snapshot(logged) {
            Ok(snapshot) => return Ok(snapshot),
            Err(e) => {
                tracing::warn!(policy_version = logged.version, error = %e, "the logged bundle in force no longer validates; putting the configured file in force");
            }
        }
    }
    let path = config.policy_bundle.display().to_string();
    let snapshot = registry::log_bundle(
        stamper,
        log,
        file.text,
        Source::File(&path),
        previous.as_ref(),
        file.sha256,
    )
    .await?;
    Ok(snapshot)
}

/// The configured upstreams, and the demo upstream's when there is one.
pub(super) fn upstream_targets(
    config: &Config,
    demo: Option<(&str, &Upstream)>,
) -> BTreeMap<String, Upstream> {
    let mut targets = config.upstreams.clone();
    if let Some((tenant, entry)) = demo {
        targets.insert(tenant.to_owned(), entry.clone());
    }
    targets
}

/// Rebuilds the views, counters and idempotency keys from the log (on a blocking thread).
async fn rebuild(state: &Arc<AppState>) -> Result<Rebuilt, ServeError> {
    let state = state.clone();
    let rebuilt = tokio::task::spawn_blocking(move || state.rebuild())
        .await
        .map_err(|e| loopgate_audit::Error::Unavailable(e.to_string()))??;
    Ok(rebuilt)
}

/// Writes the start record, then recovery: every admitted transfer ends with one outcome, so
/// those the last stop cut off (drain timeout, kill, crash) get `interrupted` before anything
/// new is admitted. Every start is in the log, so a regulator sees each restart.
async fn recover(state: &AppState, rebuilt: &Rebuilt) -> Result<(), ServeError> {
    let policy_version = state.policy().version;
    let unfinished = rebuilt.unfinished.len();
    state
        .append_record(|at| started(policy_version, unfinished, at))
        .await?;
    for decision in &rebuilt.unfinished {
        let (appended, _) = state
            .append_record(|at| records::interrupted(decision, at))
            .await?;
        tracing::warn!(
            transfer_id = decision.transfer_id.as_deref().unwrap_or("-"),
            log_index = appended.index,
            "transfer interrupted by the last stop; outcome recorded"
        );
    }
    Ok(())
}

/// What the `system` record of a start says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StartDetails {
    /// `start`.
    pub(crate) event: String,
    /// `loopgate <version>`.
    pub(crate) software: String,
    /// The policy version in force.
    pub(crate) policy_version: u64,
    /// How many transfers the last stop cut off (each gets an `interrupted` outcome next).
    pub(crate) interrupted: usize,
}

impl Details for StartDetails {
    const KIND: Kind = Kind::System;
}

/// The `system` record every start writes, before recovery's `interrupted` outcomes.
fn started(
    policy_version: u64,
    interrupted: usize,
    at: OffsetDateTime,
) -> Result<Record, loopgate_audit::Error> {
    let mut record = Record::new(Kind::System, at)?;
    let details = StartDetails {
        event: "start".to_owned(),
        software: concat!("loopgate ", env!("CARGO_PKG_VERSION")).to_owned(),
        policy_version,
        interrupted,
    };
    record::write(&mut record, &details)?;
    Ok(record)
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

fn local(listener: &TcpListener) -> Result<SocketAddr, ServeError> {
    listener.local_addr().map_err(|source| ServeError::Bind {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use time::macros::datetime;

    use super::*;

    #[test]
    fn the_start_record_says_what_json_made_of_it() {
        let record = started(4, 2, datetime!(2026-11-25 08:00 UTC)).expect("a record");
        assert_eq!(
            Value::Object(record.details.clone()),
            json!({
                "event": "start",
                "software": concat!("loopgate ", env!("CARGO_PKG_VERSION")),
                "policy_version": 4,
                "interrupted": 2,
            })
        );
        assert_eq!(
            record::read::<StartDetails>(&record).map(|d| d.interrupted),
            Some(2)
        );
    }
}
