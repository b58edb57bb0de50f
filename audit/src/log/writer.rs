//! The writer: group commit in three pipelined threads. The *syncer* takes every append
//! waiting in the queue (up to a limit; when appends are concurrent, after a short wait for
//! more, see [`LINGER`]), writes them with one write and one `fdatasync`; the
//! *committer* then signs one checkpoint for that batch, computes each record's inclusion proof
//! to it (from the tree's right edge it keeps in memory), publishes the new size and only then
//! answers the callers; the *indexer* writes the batches of every 10 ms to sled just behind:
//! their tree tiles and positions, then their query terms. While the committer works on one
//! batch the syncer already writes the next, so the disk and the CPU work at the same time. A
//! batch that fails to write reaches no committer: its callers get an error and nothing of it
//! stays in the log. Readers of the index wait for it to cover what they read (see
//! `Shared::wait_indexed`); the segments are the truth, and recovery replays into sled what a
//! crash kept the indexer from writing.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::Appended;
use super::shared::Shared;
use crate::checkpoint::{Checkpoint, SigningKey};
use crate::error::{Error, Result};
use crate::fault::Fault;
use crate::index::{Additions, Frontier, Index, Terms};
use crate::record::Field;
use crate::sequence::{Durable, Sequence};
use crate::tree::{self, Hash, leaf_hash};

/// One append waiting for the writer.
pub(crate) struct Request {
    pub(crate) leaf: Vec<u8>,
    pub(crate) terms: Vec<(Field, Vec<u8>)>,
    pub(crate) reply: oneshot::Sender<Result<Appended>>,
}

/// A durable batch on its way to the committer.
pub(crate) struct Synced {
    batch: Vec<Request>,
    hashes: Vec<Hash>,
    durable: Durable,
}

/// How long the syncer waits for more appends before it writes a batch, when the previous
/// batch had more than one (appends are concurrent; a lone append is written at once). The
/// fdatasync, the signature and the sled writes are per batch: on a loaded gateway, batches
/// that gathered only the appends of one fdatasync's time (about 3 records) made them a third
/// of the CPU of a small transfer. Like PostgreSQL's `commit_delay`, it trades up to this much
/// latency per append for fewer, larger batches (1 KiB transfers at 64 connections: CPU per
/// transfer 94-102 -> 78-80 µs; 500 µs did no better, 1 ms worse).
///
/// The syncer sleeps through it and then takes what arrived, rather than waiting on the
/// channel: a waiting receiver is woken by every send, which cost the syncer a wake-up and a
/// context switch per record (its CPU per 1 KiB transfer fell from 13.4-16.0 to 7.7-8.8 µs).
const LINGER: Duration = Duration::from_micros(250);

/// How often at most the latest checkpoint is stored while appends go on.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);

fn refuse(batch: Vec<Request>, why: &str) {
    for r in batch {
        let _ = r.reply.send(Err(Error::Unavailable(why.to_owned())));
    }
}

/// Batches appends and makes them durable.
pub(crate) struct Syncer {
    pub(crate) seq: Sequence,
    pub(crate) shared: Arc<Shared>,
    pub(crate) max_batch: usize,
    pub(crate) committer: Sender<Synced>,
}

impl Syncer {
    pub(crate) fn run(mut self, rx: Receiver<Request>) {
        let mut last_batch = 0;
        while let Ok(first) = rx.recv() {
            let mut batch = Vec::with_capacity(64);
            batch.push(first);
            while batch.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            if last_batch > 1 && batch.len() < self.max_batch {
                // Appends are concurrent: let those in flight join this batch.
                std::thread::sleep(LINGER);
                while batch.len() < self.max_batch {
                    match rx.try_recv() {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
            }
            last_batch = batch.len();
            self.shared.queued.fetch_sub(batch.len(), Ordering::AcqRel);
            if let Err(Error::Unavailable(why)) = self.shared.check_available() {
                refuse(batch, &why);
                continue;
            }
            let leaves: Vec<&[u8]> = batch.iter().map(|r| r.leaf.as_slice()).collect();
            let hashes: Vec<Hash> = leaves.iter().map(|l| leaf_hash(l)).collect();
            match self.seq.append(&leaves) {
                Ok(durable) => {
                    drop(leaves);
                    self.shared.set_working();
                    let synced = Synced {
                        batch,
                        hashes,
                        durable,
                    };
                    if let Err(lost) = self.committer.send(synced) {
                        refuse(lost.0.batch, "the committer thread stopped");
                    }
                }
                Err(e) => {
                    drop(leaves);
                    let fault = Fault::of(&e);
                    let why = format!("{fault}: {e}");
                    tracing::error!(error = %why, records = batch.len(), "audit log write failed; nothing acknowledged");
                    self.shared.set_failed(why.clone(), fault);
                    refuse(batch, &why);
                }
            }
        }
    }
}

/// Signs, proves and acknowledges durable batches, in order, and hands what they add to the
/// index to the indexer.
pub(crate) struct Committer {
    /// The tree's right edge; readers prove from it what the index does not cover yet
    /// (`Log::inclusion_proof`, `Log::consistency_proof`), so they lock it too.
    pub(crate) frontier: Arc<Mutex<Frontier>>,
    pub(crate) key: SigningKey,
    pub(crate) origin: String,
    pub(crate) shared: Arc<Shared>,
    pub(crate) publisher: Publisher,
    /// The indexer: what each batch adds to the index.
    pub(crate) indexer: SyncSender<IndexBatch>,
    pub(crate) stored_size: u64,
    pub(crate) last_store: Instant,
    /// Set when a durable batch could not be signed or proved (the tree's edge could not be
    /// read): the log stays unavailable until it is reopened (recovery then replays the batch
    /// into the index).
    pub(crate) broken: Option<String>,
}

impl Committer {
    pub(crate) fn run(mut self, rx: Receiver<Synced>) {
        loop {
            // After a burst the last checkpoints were held back by PUBLISH_EVERY: once it has
            // passed, store the latest even if no append comes, so the stored checkpoint
            // never stays behind the log while it is idle (a cut tail would go unnoticed).
            let next = if self.shared.checkpoint().size() > self.stored_size {
                let left = PUBLISH_EVERY.saturating_sub(self.last_store.elapsed());
                match rx.recv_timeout(left) {
                    Err(RecvTimeoutError::Timeout) => {
                        self.maybe_store(false);
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                    Ok(synced) => synced,
                }
            } else {
                match rx.recv() {
                    Ok(synced) => synced,
                    Err(_) => break,
                }
            };
            self.commit(next);
        }
        self.finish();
    }

    fn commit(&mut self, s: Synced) {
        if let Some(why) = &self.broken {
            // Durable but never acknowledged; recovery indexes it on the next open.
            return refuse(s.batch, why);
        }
        match self.after_durable(&s.hashes, &s.durable) {
            Ok((done, additions)) => {
                let mut terms = Vec::with_capacity(s.batch.len());
                for (r, a) in s.batch.into_iter().zip(done) {
                    // A caller that stopped waiting still has its record in the log.
                    let _ = r.reply.send(Ok(a));
                    terms.push(r.terms);
                }
                // Blocks when the indexer is far behind: backpressure, not unbounded memory.
                let _ = self.indexer.send(IndexBatch {
                    first: s.durable.first,
                    terms,
                    additions,
                });
                self.maybe_store(false);
            }
            Err(e) => {
                let fault = Fault::of(&e);
                let why = format!(
                    "{fault}: the index could not follow the log ({e}); {}; the log reopens its index by itself once its folder takes writes",
                    fault.remedy()
                );
                tracing::error!(error = %why, "audit log index failed");
                self.shared.set_broken(why.clone(), fault);
                refuse(s.batch, &why);
                self.broken = Some(why);
            }
        }
    }

    /// Signs the batch's checkpoint and proves its records from the in-memory right edge of
    /// the tree; returns the acknowledgements and what the batch adds to the `log` tree (for the
    /// indexer to write). The edge is locked only while it grows and proves, not while the
    /// checkpoint is signed: readers prove from it too.
    fn after_durable(
        &mut self,
        hashes: &[Hash],
        durable: &Durable,
    ) -> Result<(Vec<Appended>, Additions)> {
        let mut add = Additions::default();
        let (size, root, proofs) = {
            let mut frontier = self.frontier.lock().unwrap_or_else(PoisonError::into_inner);
            debug_assert_eq!(durable.first, frontier.size());
            for h in hashes {
                frontier.push(*h);
            }
            let size = frontier.size();
            let root = frontier.root()?;
            let proofs = tree::inclusion_proofs(&*frontier, durable.first..size, size)?;
            frontier.write_dirty(&mut add);
            frontier.evict_full(self.shared.indexed());
            (size, root, proofs)
        };
        let checkpoint = Arc::new(Checkpoint::sign(&self.origin, size, root, &self.key)?);
        let mut done = Vec::with_capacity(hashes.len());
        for (i, (h, proof)) in hashes.iter().zip(proofs).enumerate() {
            let index = durable.first + i as u64;
            add.record(index, durable.segment, durable.offsets[i]);
            done.push(Appended {
                index,
                leaf_hash: *h,
                checkpoint: checkpoint.clone(),
                inclusion_proof: proof,
                batch_start: durable.first,
            });
        }
        add.size(size);
        self.shared.publish(checkpoint);
        Ok((done, add))
    }

    /// Hands the latest checkpoint to the publisher thread at most once per `PUBLISH_EVERY`
    /// (or now, when `force`), so storing it never stalls a commit.
    fn maybe_store(&mut self, force: bool) {
        let cp = self.shared.checkpoint();
        if cp.size() == self.stored_size || (!force && self.last_store.elapsed() < PUBLISH_EVERY) {
            return;
        }
        self.stored_size = cp.size();
        self.last_store = Instant::now();
        self.publisher.send(cp);
    }

    /// Stores the last checkpoint. (The index is flushed by `Inner::stop` once the indexer,
    /// which writes it, has stopped too.)
    fn finish(&mut self) {
        self.maybe_store(true);
        self.publisher.stop();
    }
}

/// How long the indexer gathers commit batches into one write. Every sled batch makes sled seal
/// its log buffer and hand it to its IO threads (which it wakes all at once), and that cost
/// more than the terms themselves when each commit had its own; writing each commit's tiles and
/// positions from the committer (with single sled writes, which rewrite a node holding 8 KiB
/// tiles each time) took about a tenth of a 1 KiB transfer's CPU. Reads of the index wait for
/// it to cover the records acknowledged before them, so this is also the most it adds to a
/// read right after an append.
const TERMS_EVERY: Duration = Duration::from_millis(10);

/// At most this many records' terms go into one write.
const TERMS_MAX_RECORDS: usize = 16 * 1024;

/// What one commit batch adds to the index.
pub(crate) struct IndexBatch {
    /// The index of the batch's first record.
    first: u64,
    /// Each record's query terms.
    terms: Vec<Vec<(Field, Vec<u8>)>>,
    /// Its tree tiles, positions and the new size, for the `log` tree.
    additions: Additions,
}

/// Writes commit batches to the index, grouping whatever batches are waiting into one write of
/// the `log` tree and one of the `terms` tree.
pub(crate) struct Indexer {
    pub(crate) index: Index,
    pub(crate) shared: Arc<Shared>,
    /// The running maximum time key of the records indexed so far (for the time marks).
    pub(crate) time_max: Option<[u8; 8]>,
}

impl Indexer {
    pub(crate) fn run(mut self, rx: Receiver<IndexBatch>) {
        let mut failed = false;
        while let Ok(first) = rx.recv() {
            // Let the batches of the next TERMS_EVERY gather in the channel (asleep, rather
            // than woken by each), then write them as one sled batch per tree.
            std::thread::sleep(TERMS_EVERY);
            #[cfg(test)]
            while self.shared.hold_index.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(1));
            }
            let mut terms = Terms::following(self.time_max);
            let mut additions = Additions::default();
            let mut end = 0;
            let mut records = 0;
            let mut next = Some(first);
            while let Some(batch) = next.take() {
                for (i, t) in batch.terms.iter().enumerate() {
                    terms.add(batch.first + i as u64, t);
                }
                additions.extend(batch.additions);
                end = batch.first + batch.terms.len() as u64;
                records += batch.terms.len();
                if records < TERMS_MAX_RECORDS {
                    next = rx.try_recv().ok();
                }
            }
            if failed {
                continue;
            }
            terms.size(end);
            let time_max = terms.running_max();
            let written = self
                .index
                .apply_batch(additions)
                .and_then(|()| self.index.apply_terms(terms));
            match written {
                Ok(()) => {
                    self.time_max = time_max;
                    self.shared.set_indexed(end);
                }
                Err(e) => {
                    let fault = Fault::of(&e);
                    let why = format!(
                        "{fault}: the query index could not follow the log ({e}); {}; the log reopens its index by itself once its folder takes writes",
                        fault.remedy()
                    );
                    tracing::error!(error = %why, "audit log index failed");
                    self.shared.set_broken(why, fault);
                    failed = true;
                }
            }
        }
    }
}

/// The thread that stores the latest checkpoint with the replace helper (temp file, fsync,
/// rename, fsync the directory), skipping any that a newer one overtook. A failure acknowledges
/// nothing falsely (the segments are the truth), so it is logged, and the next one retries.
pub(crate) struct Publisher {
    tx: Option<Sender<Arc<Checkpoint>>>,
    handle: Option<JoinHandle<()>>,
}

impl Publisher {
    pub(crate) fn start(path: PathBuf) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel::<Arc<Checkpoint>>();
        let handle = std::thread::Builder::new()
            .name("audit-checkpoint".into())
            .spawn(move || {
                while let Ok(mut cp) = rx.recv() {
                    while let Ok(newer) = rx.try_recv() {
                        cp = newer;
                    }
                    if let Err(e) = cp.publish(&path) {
                        tracing::warn!(error = %e, "could not store the latest checkpoint");
                    }
                }
            })?;
        Ok(Self {
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    fn send(&self, cp: Arc<Checkpoint>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(cp);
        }
    }

    /// Stores what was sent and stops.
    fn stop(&mut self) {
        self.tx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
