//! Asking the `[[witness]]` to cosign the log's checkpoints (C2SP `tlog-witness`,
//! `cosignature/v1`), and the latest checkpoint that a quorum of them cosigned.
//!
//! One task ([`Cosigning::run`]) sends checkpoints in *rounds*: a round takes the log's latest
//! checkpoint and sends it to every witness that is free (at most one request in flight per
//! witness), with the consistency proof from the size that witness last cosigned. A round ends
//! when `witness_quorum` cosignatures are in, or when every witness answered or is backing
//! off; the next round takes the then latest checkpoint, which covers every one before it, so a
//! slow witness delays no commit and no other witness. A witness's 409 (`text/x.tlog.size`)
//! names the size it holds: the request is sent again from there. The size each witness last
//! cosigned (or named in a 409) is kept in the log's sled database ([`SIZES_TREE`], by the
//! witness's verifier key), so the first request after a restart carries the right proof; only
//! a size lost with the last half second before a crash is learnt again from a 409.
//!
//! A refusal (403, 404, 422, a 409 without `text/x.tlog.size` (a fork), another 4xx, or a
//! cosignature that does not verify with the configured key) is an alarm: it is logged once
//! per distinct refusal as a `system` record (`"event": "witness_refused"`) and counted in
//! `/metrics`, and that witness is asked again only every [`REFUSED_BACKOFF`]. A witness that
//! cannot be reached backs off from [`FIRST_BACKOFF`] to [`MAX_BACKOFF`].
//!
//! Receipts wait ([`Cosigning::wait_covering`]) up to `witness_timeout_ms` for a cosigned
//! checkpoint that covers their record.
//!
//! Rounds start at most every [`ROUND_EVERY`], so that one round covers many receipts, except
//! when every API request in flight is a receipt waiting for a round ([`Demand`]): then no
//! other request can join the next round, the machine is idle but for the wait, and the round
//! starts at once (at most every [`ROUND_MIN`], and only while rounds reach the quorum: see
//! [`early`]). A client that sends each transfer after the last one's answer otherwise got one
//! transfer per pacing interval.

mod client;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use loopgate_audit::{
    AddCheckpoint, Checkpoint, Cosignature, Kind, Record, SIZE_CONTENT_TYPE,
    parse_cosignature_lines, verify_cosignature_lines,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::config::Witnesses;
use crate::record::{self, Details};
use crate::state::AppState;
use crate::tls::TlsError;
use client::Client;

/// The first wait after a witness could not be reached; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between attempts to reach a witness.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The wait after a witness refused a checkpoint before it is sent a later one.
pub(crate) const REFUSED_BACKOFF: Duration = Duration::from_secs(5);
/// How often the task looks for a new checkpoint when no receipt asked.
const POLL: Duration = Duration::from_millis(200);
/// The least time between the starts of two rounds. Rounds back to back (a loopback witness
/// answers in about a millisecond) cosigned a checkpoint per few transfers and doubled a 1 KiB
/// transfer's CPU (two requests, a new connection each, four signature checks per round); at
/// most one round per this much, a round covers every transfer of the interval, and a receipt
/// waits at most this much longer. 2 ms gave no more transfers at 64 connections on a 2-core
/// machine (0.54-0.55 of the rate without witnesses, against 0.57-0.58) for more CPU (2.0x
/// that of a transfer without witnesses, against 1.3-1.6x): most of a receipt's wait is the
/// round itself.
const ROUND_EVERY: Duration = Duration::from_millis(5);
/// The least time between the starts of two rounds when every API request in flight waits for
/// one (see the module documentation).
const ROUND_MIN: Duration = Duration::from_millis(1);
/// A consistency proof over at most this many new records is made inline, on the task: its
/// hashes are in the committer's in-memory edge or the index's cache of recent tiles, and the
/// hop to a blocking thread and back cost more than the proof (0.15 ms of a 0.8 ms request on
/// the benchmark's busy machine, with the witness's own hop). A witness further behind (back
/// from an outage) gets its proof on a blocking thread, as older tiles may be read from disk.
const INLINE_PROOF_SPAN: u64 = 1 << 16;
/// Consecutive 409 answers resent at once before backing off.
const MAX_CONFLICTS: u32 = 3;
/// A refusal's message kept in the record and the status (bytes).
const MAX_MESSAGE: usize = 512;
/// The sled tree of the log's database that keeps each witness's last known size: key the
/// witness's verifier key, value the size (8 bytes, big-endian). Like the views, only a
/// shortcut: lost (a rebuilt index), a witness's 409 says the size again.
pub(crate) const SIZES_TREE: &str = "gateway-witness-sizes";

/// The size `client`'s witness was last known to hold, from [`SIZES_TREE`].
fn stored_size(log: &loopgate_audit::Log, client: &Client) -> Option<u64> {
    let tree = log.view_tree(SIZES_TREE).ok()?;
    let value = tree.get(client.target.key.to_string()).ok()??;
    Some(u64::from_be_bytes(value.as_ref().try_into().ok()?))
}

/// Keeps `size` as the size `client`'s witness holds (sled writes it out within half a second;
/// a failure only costs a 409 after a restart).
fn store_size(log: &loopgate_audit::Log, client: &Client, size: u64) {
    let stored = log.view_tree(SIZES_TREE).and_then(|tree| {
        tree.insert(client.target.key.to_string(), &size.to_be_bytes())
            .map(drop)
            .map_err(|e| loopgate_audit::Error::Unavailable(e.to_string()))
    });
    if let Err(e) = stored {
        tracing::debug!(witness = %client.name(), error = %e, "the witness's size was not kept");
    }
}

/// A checkpoint with the cosignatures of at least the quorum.
#[derive(Debug)]
pub(crate) struct Cosigned {
    /// The log's checkpoint.
    pub(crate) checkpoint: Arc<Checkpoint>,
    /// Its note with the witnesses' cosignature lines.
    pub(crate) text: String,
    /// How many witnesses cosigned it.
    pub(crate) count: usize,
}

/// One witness's state, for `/readyz` and `/metrics`.
#[derive(Debug, Clone, Default)]
pub(crate) struct WitnessStatus {
    /// Its name.
    pub(crate) name: String,
    /// The size of the latest checkpoint it cosigned (as far as the gateway knows).
    pub(crate) cosigned_size: Option<u64>,
    /// When it last cosigned.
    pub(crate) cosigned_at: Option<Instant>,
    /// Why the last request failed (cannot connect, timeout, 5xx), until one works.
    pub(crate) unreachable: Option<String>,
    /// Its last refusal, until it cosigns again.
    pub(crate) refused: Option<String>,
    /// Refusals so far.
    pub(crate) refusals: u64,
    /// Requests that got no usable answer so far.
    pub(crate) failures: u64,
}

/// The witnesses, their status and the latest cosigned checkpoint.
#[derive(Debug)]
pub(crate) struct Cosigning {
    clients: Vec<Arc<Client>>,
    quorum: usize,
    timeout: Duration,
    status: Mutex<Vec<WitnessStatus>>,
    latest: watch::Sender<Option<Arc<Cosigned>>>,
    nudge: Notify,
    /// Set while the task has no request in flight and may sleep: only then does a receipt
    /// nudge it (a nudge per receipt woke the task thousands of times a second for nothing:
    /// with a request in flight, its answer wakes the task, which then takes the latest
    /// checkpoint anyway).
    idle: AtomicBool,
    /// The API requests in flight and the receipts among them that wait for a round.
    demand: Demand,
}

/// The API requests in flight ([`Cosigning::request`]) and how many of them are receipts
/// waiting for a cosigned checkpoint ([`Cosigning::wait_covering`]).
#[derive(Debug, Default)]
struct Demand {
    requests: AtomicUsize,
    waiting: AtomicUsize,
}

impl Demand {
    /// Whether some receipts wait and nothing else is in flight: no request can join the
    /// next round by waiting longer.
    fn all_waiting(&self) -> bool {
        let waiting = self.waiting.load(Ordering::SeqCst);
        waiting > 0 && waiting >= self.requests.load(Ordering::SeqCst)
    }

    /// Counts a receipt as waiting until the guard is dropped.
    fn wait(&self) -> Waiting<'_> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        Waiting(self)
    }
}

/// One API request in flight, counted until dropped (see [`Cosigning::request`]).
#[derive(Debug)]
pub(crate) struct InFlight(Option<Arc<Cosigning>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(me) = self.0.take() {
            me.demand.requests.fetch_sub(1, Ordering::SeqCst);
            // A request that was not a receipt ended: those left may all be waiting now.
            me.nudge_if_all_waiting();
        }
    }
}

/// A receipt waiting for a round ([`Demand::wait`]), counted until dropped (a timeout or a
/// dropped request included).
struct Waiting<'a>(&'a Demand);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether the next round may start early (after [`ROUND_MIN`]): every request in flight
/// waits for one (`all_waiting`), and the last round (`None`: none yet) got `cosigned`
/// cosignatures, at least the `quorum`. Not while rounds fall short of it: then receipts wait
/// out `witness_timeout_ms` whatever the pacing, and early rounds would only cost CPU.
fn early(all_waiting: bool, cosigned: Option<usize>, quorum: usize) -> bool {
    all_waiting && cosigned.is_none_or(|n| n >= quorum)
}

/// Whether a round may start at `now`, the last one having started at `last` (`None`: none
/// yet), `early` or not (see [`early`]).
fn round_due(now: Instant, last: Option<Instant>, early: bool) -> bool {
    last.is_none_or(|at| now >= at + pacing(early))
}

/// The least time between the starts of two rounds.
fn pacing(early: bool) -> Duration {
    if early { ROUND_MIN } else { ROUND_EVERY }
}

impl Cosigning {
    /// Loads the witnesses' TLS trust. Without witnesses, nothing is cosigned and receipts
    /// never wait.
    pub(crate) fn new(witnesses: &Witnesses) -> Result<Self, TlsError> {
        let clients = witnesses
            .targets
            .iter()
            .map(|t| Client::new(t.clone()).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let status = clients
            .iter()
            .map(|c| WitnessStatus {
                name: c.name().to_owned(),
                ..WitnessStatus::default()
            })
            .collect();
        Ok(Self {
            clients,
            quorum: witnesses.quorum,
            timeout: witnesses.timeout,
            status: Mutex::new(status),
            latest: watch::Sender::new(None),
            nudge: Notify::new(),
            idle: AtomicBool::new(true),
            demand: Demand::default(),
        })
    }

    /// No witnesses: checkpoints are the log's alone.
    #[cfg(test)]
    pub(crate) fn disabled() -> Self {
        Self {
            clients: Vec::new(),
            quorum: 0,
            timeout: Duration::ZERO,
            status: Mutex::new(Vec::new()),
            latest: watch::Sender::new(None),
            nudge: Notify::new(),
            idle: AtomicBool::new(true),
            demand: Demand::default(),
        }
    }

    /// Whether witnesses are configured.
    pub(crate) fn enabled(&self) -> bool {
        !self.clients.is_empty()
    }

    /// The quorum.
    pub(crate) fn quorum(&self) -> usize {
        self.quorum
    }

    /// The latest checkpoint cosigned by the quorum.
    pub(crate) fn latest(&self) -> Option<Arc<Cosigned>> {
        self.latest.borrow().clone()
    }

    /// Each witness's status.
    pub(crate) fn status(&self) -> Vec<WitnessStatus> {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Counts an API request as in flight until the guard is dropped (with witnesses; without,
    /// nothing is counted).
    pub(crate) fn request(self: &Arc<Self>) -> InFlight {
        if !self.enabled() {
            return InFlight(None);
        }
        self.demand.requests.fetch_add(1, Ordering::SeqCst);
        InFlight(Some(self.clone()))
    }

    /// Wakes the task when every request in flight waits for a round (it may start one early).
    fn nudge_if_all_waiting(&self) {
        if self.demand.all_waiting() {
            self.nudge.notify_one();
        }
    }

    /// Waits up to `witness_timeout_ms` for a cosigned checkpoint that covers record `index`.
    pub(crate) async fn wait_covering(&self, index: u64) -> Option<Arc<Cosigned>> {
        if !self.enabled() {
            return None;
        }
        let covers =
            |c: &Option<Arc<Cosigned>>| c.as_ref().is_some_and(|c| c.checkpoint.size() > index);
        let mut rx = self.latest.subscribe();
        if covers(&rx.borrow()) {
            return self.latest();
        }
        let _waiting = self.demand.wait();
        // The record is published (in the log's latest checkpoint) before this: a task that is
        // busy takes it with its next round; one that may sleep is woken, and so is one that
        // holds a round back for the pacing when nothing else is in flight.
        if self.idle.swap(false, Ordering::SeqCst) {
            self.nudge.notify_one();
        } else {
            self.nudge_if_all_waiting();
        }
        match tokio::time::timeout(self.timeout, rx.wait_for(covers)).await {
            Ok(Ok(c)) => c.clone(),
            _ => None,
        }
    }

    fn update(&self, i: usize, change: impl FnOnce(&mut WitnessStatus)) {
        let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = status.get_mut(i) {
            change(s);
        }
    }

    /// Publishes `checkpoint` with `sigs` when they reach the quorum and it is newer than the
    /// one published (or the same with more cosignatures).
    fn offer(&self, checkpoint: &Arc<Checkpoint>, sigs: &[Cosignature]) {
        if sigs.len() < self.quorum.max(1) {
            return;
        }
        self.latest.send_if_modified(|latest| {
            let better = latest.as_ref().is_none_or(|l| {
                l.checkpoint.size() < checkpoint.size()
                    || (l.checkpoint.size() == checkpoint.size()
                        && l.checkpoint.root() == checkpoint.root()
                        && l.count < sigs.len())
            });
            if better {
                *latest = Some(Arc::new(Cosigned {
                    checkpoint: checkpoint.clone(),
                    text: checkpoint.with_cosignatures(sigs),
                    count: sigs.len(),
                }));
            }
            better
        });
    }

    /// Sends the log's checkpoints to the witnesses until the state is dropped (see the module
    /// documentation).
    pub(crate) async fn run(state: Weak<AppState>) {
        let Some(me) = state.upgrade().map(|s| s.cosigning.clone()) else {
            return;
        };
        if !me.enabled() {
            return;
        }
        let n = me.clients.len();
        let mut peers: Vec<Peer> = (0..n).map(|_| Peer::default()).collect();
        if let Some(app) = state.upgrade() {
            let log = app.log.clone();
            let clients = me.clients.clone();
            let sizes = tokio::task::spawn_blocking(move || {
                clients
                    .iter()
                    .map(|c| stored_size(&log, c))
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
            for (i, (peer, size)) in peers.iter_mut().zip(sizes).enumerate() {
                peer.size = size;
                // What the gateway remembers of the witness is its size until it answers again
                // (`/readyz` and the size gauge say so from the start, not 0; its age stays
                // unknown until this process sees a cosignature).
                if size.is_some() {
                    me.update(i, |s| s.cosigned_size = size);
                }
            }
        }
        let mut round: Option<Round> = None;
        let mut last_round: Option<Instant> = None;
        let mut requests: JoinSet<(usize, Arc<Checkpoint>, Outcome, Duration)> = JoinSet::new();
        loop {
            let Some(app) = state.upgrade() else {
                return;
            };
            // Before the latest checkpoint is read: a receipt whose record it misses nudges.
            me.idle.store(true, Ordering::SeqCst);
            let now = Instant::now();
            let latest = app.log.latest_checkpoint();
            let latest_size = latest.size();
            let done = round.as_ref().is_none_or(|r| {
                r.sigs.len() >= me.quorum
                    || peers
                        .iter()
                        .enumerate()
                        .all(|(i, p)| !p.busy && (r.tried[i] || p.waiting(now)))
            });
            let soon = early(
                me.demand.all_waiting(),
                round.as_ref().map(|r| r.sigs.len()),
                me.quorum,
            );
            let paced = round_due(now, last_round, soon);
            if done
                && paced
                && round
                    .as_ref()
                    .is_none_or(|r| r.checkpoint.size() < latest.size())
            {
                last_round = Some(now);
                round = Some(Round {
                    checkpoint: latest,
                    sigs: Vec::new(),
                    tried: vec![false; n],
                });
            }
            if let Some(r) = &round {
                for (i, peer) in peers.iter_mut().enumerate() {
                    if peer.busy || r.tried[i] || peer.waiting(now) {
                        continue;
                    }
                    peer.busy = true;
                    let client = me.clients[i].clone();
                    let checkpoint = r.checkpoint.clone();
                    let old = peer.size.filter(|s| *s <= checkpoint.size()).unwrap_or(0);
                    let log = app.log.clone();
                    requests.spawn(async move {
                        let sent = Instant::now();
                        let outcome = ask(&client, &log, old, &checkpoint).await;
                        (i, checkpoint, outcome, sent.elapsed())
                    });
                }
            }
            // A round held back by the pacing starts when it is due.
            let due = last_round.map(|at| at + pacing(soon)).filter(|t| {
                *t > now
                    && round
                        .as_ref()
                        .is_some_and(|r| r.checkpoint.size() < latest_size)
            });
            // An answer or the due round wakes the task: no receipt needs to.
            if !requests.is_empty() || due.is_some() {
                me.idle.store(false, Ordering::SeqCst);
            }
            let next_retry = peers
                .iter()
                .filter_map(|p| p.retry_at)
                .chain(due)
                .filter(|t| *t > now)
                .min()
                .map_or(POLL, |t| (t - now).min(POLL));
            drop(app);
            tokio::select! {
                Some(joined) = requests.join_next() => {
                    let Ok((i, checkpoint, outcome, took)) = joined else { continue };
                    peers[i].busy = false;
                    if let Some(app) = state.upgrade() {
                        app.metrics.witness_request(me.clients[i].name(), took.as_secs_f64());
                    }
                    me.answered(&state, i, &mut peers[i], &mut round, &checkpoint, outcome);
                }
                () = me.nudge.notified() => {}
                () = tokio::time::sleep(next_retry) => {}
            }
        }
    }

    /// Acts on one witness's answer about `checkpoint`.
    fn answered(
        &self,
        state: &Weak<AppState>,
        i: usize,
        peer: &mut Peer,
        round: &mut Option<Round>,
        checkpoint: &Arc<Checkpoint>,
        outcome: Outcome,
    ) {
        let name = self.clients[i].name().to_owned();
        let in_round = round
            .as_ref()
            .is_some_and(|r| r.checkpoint.size() == checkpoint.size());
        match outcome {
            Outcome::Cosigned(c) => {
                if peer.size != Some(checkpoint.size()) {
                    self.remember(state, i, checkpoint.size());
                }
                peer.size = Some(checkpoint.size());
                peer.failures = 0;
                peer.conflicts = 0;
                peer.retry_at = None;
                peer.last_refusal = None;
                self.update(i, |s| {
                    s.cosigned_size = Some(checkpoint.size());
                    s.cosigned_at = Some(Instant::now());
                    s.unreachable = None;
                    s.refused = None;
                });
                if let Some(r) = round
                    .as_mut()
                    .filter(|r| r.checkpoint.size() == checkpoint.size())
                {
                    r.tried[i] = true;
                    if !r
                        .sigs
                        .iter()
                        .any(|s| s.witness() == c.witness() && s.key_id() == c.key_id())
                    {
                        r.sigs.push(c);
                    }
                    self.offer(&r.checkpoint, &r.sigs);
                }
            }
            Outcome::Conflict(size) if size <= checkpoint.size() => {
                self.remember(state, i, size);
                peer.size = Some(size);
                peer.conflicts += 1;
                if peer.conflicts >= MAX_CONFLICTS {
                    peer.conflicts = 0;
                    peer.retry_at = Some(Instant::now() + MAX_BACKOFF);
                }
                // Not tried: sent again from `size` at once.
            }
            Outcome::Conflict(size) => {
                self.refused(
                    state,
                    i,
                    peer,
                    checkpoint,
                    409,
                    format!(
                        "the witness holds a checkpoint of size {size}, beyond the log's {}: it \
                         cosigned a log that is not this one, or this log lost records",
                        checkpoint.size()
                    ),
                );
                if let Some(r) = round.as_mut().filter(|_| in_round) {
                    r.tried[i] = true;
                }
            }
            Outcome::Refused(status, why) => {
                self.refused(state, i, peer, checkpoint, status, why);
                if let Some(r) = round.as_mut().filter(|_| in_round) {
                    r.tried[i] = true;
                }
            }
            Outcome::Failed(why) => {
                let wait = FIRST_BACKOFF
                    .saturating_mul(1 << peer.failures.min(8))
                    .min(MAX_BACKOFF);
                peer.failures += 1;
                peer.retry_at = Some(Instant::now() + wait);
                if peer.failures == 1 {
                    tracing::warn!(witness = %name, error = %why, "witness unreachable; retrying with backoff");
                }
                self.update(i, |s| {
                    s.unreachable = Some(why);
                    s.failures += 1;
                });
            }
        }
    }

    /// Keeps the size witness `i` holds across restarts ([`SIZES_TREE`]).
    fn remember(&self, state: &Weak<AppState>, i: usize, size: u64) {
        if let (Some(app), Some(client)) = (state.upgrade(), self.clients.get(i)) {
            store_size(&app.log, client, size);
        }
    }

    /// A refusal: counted, logged once per distinct refusal (a `system` record), and that
    /// witness waits [`REFUSED_BACKOFF`].
    fn refused(
        &self,
        state: &Weak<AppState>,
        i: usize,
        peer: &mut Peer,
        checkpoint: &Checkpoint,
        status: u16,
        why: String,
    ) {
        let why = crate::transfer::records::capped(why.trim(), MAX_MESSAGE).into_owned();
        let name = self.clients[i].name().to_owned();
        peer.retry_at = Some(Instant::now() + REFUSED_BACKOFF);
        peer.conflicts = 0;
        self.update(i, |s| {
            s.refused = Some(format!("{status}: {why}"));
            s.refusals += 1;
            s.unreachable = None;
        });
        let key = (status, why.clone());
        if peer.last_refusal.as_ref() == Some(&key) {
            return;
        }
        peer.last_refusal = Some(key);
        tracing::error!(witness = %name, status, size = checkpoint.size(), why = %why, "a witness refused the log's checkpoint; logging it");
        let Some(app) = state.upgrade() else {
            return;
        };
        let details = WitnessRefusedDetails {
            event: "witness_refused".to_owned(),
            witness: name,
            url: self.clients[i].target.url.to_string(),
            status,
            message: why,
            tree_size: checkpoint.size(),
        };
        tokio::spawn(async move {
            let appended = app.append_record(|at| refused_record(at, &details)).await;
            if let Err(e) = appended {
                tracing::warn!(error = %e, witness = %details.witness, "the witness's refusal could not be logged");
            }
        });
    }
}

/// What a receipt carries of the witnesses.
#[derive(Debug)]
pub(crate) enum Witnessed {
    /// No witnesses configured: the log's checkpoint, no `"cosigned"`.
    Off,
    /// No cosigned checkpoint covered the record in time: the log's, `"cosigned": false`.
    NotCosigned,
    /// A cosigned checkpoint covering it and the record's inclusion proof into it.
    Cosigned {
        /// The checkpoint.
        cosigned: Arc<Cosigned>,
        /// The proof of the record into it.
        proof: Vec<loopgate_audit::Hash>,
    },
}

/// Waits (up to `witness_timeout_ms`) for a cosigned checkpoint covering the `appended` record
/// and proves the record into it (with the append's own proof when the cosigned checkpoint is
/// the append's: no wait for the index).
pub(crate) async fn witness(
    state: &Arc<AppState>,
    appended: &loopgate_audit::Appended,
) -> Witnessed {
    let cosigning = &state.cosigning;
    if !cosigning.enabled() {
        return Witnessed::Off;
    }
    let index = appended.index;
    let waited = Instant::now();
    let cosigned = cosigning.wait_covering(index).await;
    state.metrics.receipt_wait(waited.elapsed().as_secs_f64());
    let Some(cosigned) = cosigned else {
        return Witnessed::NotCosigned;
    };
    let size = cosigned.checkpoint.size();
    if size == appended.checkpoint.size()
        && cosigned.checkpoint.root() == appended.checkpoint.root()
    {
        let proof = appended.inclusion_proof.clone();
        return Witnessed::Cosigned { cosigned, proof };
    }
    // Inline, not on a blocking thread: the proof never waits for the index (it comes from the
    // committer's right edge, or from the index's cache for older tiles), and the two thread
    // hops per receipt cost more than it.
    match state.log.inclusion_proof(index, size) {
        Ok(proof) => Witnessed::Cosigned { cosigned, proof },
        Err(e) => {
            tracing::warn!(error = %e, index, size, "no inclusion proof into the cosigned checkpoint");
            Witnessed::NotCosigned
        }
    }
}

/// One witness as the task sees it.
#[derive(Debug, Default)]
struct Peer {
    /// The size it holds, as far as known (`None`: not yet known; 0 is sent, and a 409 says).
    size: Option<u64>,
    busy: bool,
    retry_at: Option<Instant>,
    failures: u32,
    conflicts: u32,
    /// The last refusal logged (status and message), until it cosigns again.
    last_refusal: Option<(u16, String)>,
}

impl Peer {
    fn waiting(&self, now: Instant) -> bool {
        self.retry_at.is_some_and(|t| t > now)
    }
}

/// The checkpoint being sent to the witnesses, the cosignatures it got and who answered.
#[derive(Debug)]
struct Round {
    checkpoint: Arc<Checkpoint>,
    sigs: Vec<Cosignature>,
    tried: Vec<bool>,
}

/// How one request ended.
#[derive(Debug)]
enum Outcome {
    /// A valid cosignature by the configured key.
    Cosigned(Cosignature),
    /// 409: the witness holds this size.
    Conflict(u64),
    /// A refusal: the status and the witness's message.
    Refused(u16, String),
    /// No usable answer (cannot connect, timeout, 5xx, unreadable).
    Failed(String),
}

/// Sends `checkpoint` to one witness with the proof from `old`.
async fn ask(
    client: &Client,
    log: &loopgate_audit::Log,
    old: u64,
    checkpoint: &Arc<Checkpoint>,
) -> Outcome {
    let size = checkpoint.size();
    let proof = if old == 0 || old == size {
        Vec::new()
    } else {
        let proof = if size - old <= INLINE_PROOF_SPAN {
            log.consistency_proof(old, size)
        } else {
            let log = log.clone();
            tokio::task::spawn_blocking(move || log.consistency_proof(old, size))
                .await
                .unwrap_or_else(|e| Err(loopgate_audit::Error::Unavailable(e.to_string())))
        };
        match proof {
            Ok(proof) => proof,
            Err(e) => {
                return Outcome::Failed(format!("no consistency proof {old}..{size}: {e}"));
            }
        }
    };
    let body = AddCheckpoint {
        old,
        proof,
        checkpoint: checkpoint.text().to_owned(),
    }
    .to_body();
    match client.add_checkpoint(body).await {
        Ok(answer) => outcome(answer, checkpoint, &client.target.key),
        Err(why) => Outcome::Failed(why),
    }
}

/// What a witness's `answer` about `checkpoint` means (`key`: its configured verifier key).
fn outcome(
    answer: client::Answer,
    checkpoint: &Checkpoint,
    key: &loopgate_audit::WitnessVerifierKey,
) -> Outcome {
    match answer.status {
        200 => {
            let lines = match parse_cosignature_lines(&answer.body) {
                Ok(lines) => lines,
                Err(e) => return Outcome::Refused(200, format!("unreadable cosignature: {e}")),
            };
            // The log's own checkpoint: only the cosignature needs checking.
            match verify_cosignature_lines(checkpoint, &lines, key) {
                Ok(mut found) if !found.is_empty() => Outcome::Cosigned(found.remove(0)),
                Ok(_) => Outcome::Refused(
                    200,
                    format!("the answer has no cosignature by the configured key {key}"),
                ),
                Err(e) => Outcome::Refused(200, format!("the cosignature does not verify: {e}")),
            }
        }
        // The size the witness holds: sent again from there.
        409 if answer.content_type.starts_with(SIZE_CONTENT_TYPE) => {
            match answer.body.trim_end_matches('\n').parse::<u64>() {
                Ok(size) => Outcome::Conflict(size),
                Err(_) => Outcome::Failed(format!("409 with an unreadable size {:?}", answer.body)),
            }
        }
        // Any other 4xx, a 409 naming no size (another root at the size it holds: a fork)
        // included, is a refusal: an alarm.
        status @ 400..=499 => Outcome::Refused(status, answer.body),
        status => Outcome::Failed(format!("answered {status}: {}", answer.body.trim())),
    }
}

/// What the `system` record of a witness's refusal says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WitnessRefusedDetails {
    /// `witness_refused`.
    pub(crate) event: String,
    /// The `[[witness]] name`.
    pub(crate) witness: String,
    /// Its submission prefix.
    pub(crate) url: String,
    /// The HTTP status it answered (200 for a cosignature that does not verify).
    pub(crate) status: u16,
    /// Its message (capped).
    pub(crate) message: String,
    /// The size of the checkpoint it refused.
    pub(crate) tree_size: u64,
}

impl Details for WitnessRefusedDetails {
    const KIND: Kind = Kind::System;
}

fn refused_record(
    at: OffsetDateTime,
    details: &WitnessRefusedDetails,
) -> Result<Record, loopgate_audit::Error> {
    let mut record = Record::new(Kind::System, at)?;
    record::write(&mut record, details)?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use loopgate_audit::{SigningKey, WitnessSigningKey};

    use super::*;
    use crate::config::WitnessTarget;

    /// Cosigning with one witness that is never asked (no task runs).
    fn enabled() -> Arc<Cosigning> {
        let key = WitnessSigningKey::generate("w.example").unwrap();
        let witnesses = Witnesses {
            targets: vec![WitnessTarget {
                name: "w.example".to_owned(),
                url: "http://127.0.0.1:9".parse().unwrap(),
                key: key.verifier().clone(),
                ca: None,
            }],
            quorum: 1,
            timeout: Duration::from_secs(30),
            dev: false,
        };
        Arc::new(Cosigning::new(&witnesses).unwrap())
    }

    /// Whether the task's nudge is pending (and takes it).
    async fn nudged(me: &Cosigning) -> bool {
        tokio::time::timeout(Duration::from_millis(50), me.nudge.notified())
            .await
            .is_ok()
    }

    #[test]
    fn rounds_are_paced_unless_every_request_in_flight_waits_for_one() {
        let at = Instant::now();
        let after = |ms| at + Duration::from_micros(ms);
        for (now, last, early, due) in [
            (at, None, false, true),
            (at, None, true, true),
            (after(500), Some(at), true, false),
            (after(1_000), Some(at), true, true),
            (after(1_000), Some(at), false, false),
            (after(4_999), Some(at), false, false),
            (after(5_000), Some(at), false, true),
        ] {
            assert_eq!(
                round_due(now, last, early),
                due,
                "{:?} after the last round, early: {early}",
                now - at
            );
        }
    }

    #[test]
    fn rounds_start_early_only_when_all_wait_and_the_last_round_reached_the_quorum() {
        for (all_waiting, cosigned, quorum, expected) in [
            (true, None, 2, true),
            (true, Some(2), 2, true),
            (true, Some(1), 2, false),
            (true, Some(1), 1, true),
            (false, Some(2), 2, false),
            (false, None, 2, false),
        ] {
            assert_eq!(
                early(all_waiting, cosigned, quorum),
                expected,
                "all waiting {all_waiting}, last round {cosigned:?} of quorum {quorum}"
            );
        }
    }

    #[tokio::test]
    async fn the_task_is_nudged_when_every_request_in_flight_is_a_waiting_receipt() {
        let me = enabled();
        assert!(!me.demand.all_waiting());
        let first = me.request();
        let second = me.request();
        let waiter = tokio::spawn({
            let me = me.clone();
            async move { me.wait_covering(0).await.is_some() }
        });
        for _ in 0..1_000 {
            if me.demand.waiting.load(Ordering::SeqCst) == 1 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(me.demand.waiting.load(Ordering::SeqCst), 1);
        // The waiting receipt woke the idle task once; the other request is still in flight.
        assert!(nudged(&me).await);
        assert!(!me.demand.all_waiting());
        assert!(!nudged(&me).await);
        // It ends: the one left waits for a round, which may start at once.
        drop(second);
        assert!(me.demand.all_waiting());
        assert!(nudged(&me).await);
        // A receipt that stops waiting (here: its request is dropped) is no longer counted.
        waiter.abort();
        assert!(waiter.await.is_err());
        assert_eq!(me.demand.waiting.load(Ordering::SeqCst), 0);
        assert!(!me.demand.all_waiting());
        drop(first);
        assert_eq!(me.demand.requests.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn without_witnesses_requests_are_not_counted() {
        let me = Arc::new(Cosigning::disabled());
        let in_flight = me.request();
        assert_eq!(me.demand.requests.load(Ordering::SeqCst), 0);
        drop(in_flight);
        assert_eq!(me.demand.requests.load(Ordering::SeqCst), 0);
    }

    fn answer(status: u16, content_type: &str, body: &str) -> client::Answer {
        client::Answer {
            status,
            content_type: content_type.to_owned(),
            body: body.to_owned(),
        }
    }

    #[test]
    fn answers_are_cosignatures_sizes_to_resend_from_refusals_or_failures() {
        let log = SigningKey::generate("example.com/log").unwrap();
        let checkpoint = Checkpoint::sign("example.com/log", 9, [4; 32], &log).unwrap();
        let witness = WitnessSigningKey::generate("w.example").unwrap();
        let other = WitnessSigningKey::generate("w.example").unwrap();
        let key = witness.verifier();
        let line = |w: &WitnessSigningKey| w.cosign(&checkpoint, 1_800_000_000).unwrap();

        let good = answer(200, "text/plain", line(&witness).line());
        assert!(matches!(
            outcome(good, &checkpoint, key),
            Outcome::Cosigned(_)
        ));
        let stranger = answer(200, "text/plain", line(&other).line());
        assert!(matches!(
            outcome(stranger, &checkpoint, key),
            Outcome::Refused(200, _)
        ));
        let size = answer(409, "text/x.tlog.size", "7\n");
        assert!(matches!(
            outcome(size, &checkpoint, key),
            Outcome::Conflict(7)
        ));
        // The spec's 409 for another root at the size the witness holds names no size: a
        // fork, an alarm, never a resend.
        let fork = answer(
            409,
            "text/plain; charset=utf-8",
            "another root for size 9\n",
        );
        assert!(matches!(
            outcome(fork, &checkpoint, key),
            Outcome::Refused(409, m) if m.contains("another root")
        ));
        let inconsistent = answer(422, "text/plain", "not consistent\n");
        assert!(matches!(
            outcome(inconsistent, &checkpoint, key),
            Outcome::Refused(422, _)
        ));
        let down = answer(503, "text/plain", "busy\n");
        assert!(matches!(
            outcome(down, &checkpoint, key),
            Outcome::Failed(_)
        ));
        let garbled = answer(409, "text/x.tlog.size", "seven\n");
        assert!(matches!(
            outcome(garbled, &checkpoint, key),
            Outcome::Failed(_)
        ));
    }
}
