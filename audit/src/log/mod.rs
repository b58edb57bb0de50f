//! The log: open (with recovery), append (group commit through the writer thread), read,
//! prove, query, health and shutdown.

mod lock;
mod recover;
mod select;
mod shared;
mod tiles;
mod writer;

#[cfg(test)]
mod power_loss;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use select::{Page, Selection};
pub use shared::Health;

pub(crate) use recover::{
    CHECKPOINT, INDEX, SEGMENTS, SPACE_PROBE, VERIFIER_KEY, read_stored as read_stored_checkpoint,
};

use self::shared::Shared;
pub use self::tiles::MAX_ENTRY_BYTES;
use self::writer::{Committer, Indexer, Publisher, Request, Syncer};
use crate::blob::BlobRef;
use crate::checkpoint::{Checkpoint, SigningKey, VerifierKey, check_origin};
use crate::error::{Error, Result};
use crate::index::{Frontier, Index};
use crate::record::{Field, Record};
use crate::store::{MAX_LEAF, Reader};
use crate::tree::{self, Hash};

/// How long a read waits for the indexer to cover the records acknowledged before it.
const INDEX_WAIT: Duration = Duration::from_secs(5);

/// The default largest record: 65 535 bytes, 64 KiB less one byte, so that every record fits a
/// C2SP `tlog-tiles` entry bundle, whose entries carry a uint16 length ([`MAX_ENTRY_BYTES`]).
/// Larger content goes into blobs, see [`crate::put_blob`].
pub const DEFAULT_MAX_RECORD_BYTES: usize = MAX_ENTRY_BYTES;

/// How to open a log.
#[derive(Debug)]
pub struct LogConfig {
    /// The data directory (`segments/`, `index/`, `checkpoint`, `log.pub` inside).
    pub dir: PathBuf,
    /// The checkpoint origin line, e.g. `loopgate.example/audit`.
    pub origin: String,
    /// The key that signs checkpoints.
    pub signing_key: SigningKey,
    /// A new segment file starts once the current one is this large.
    pub segment_max_bytes: u64,
    /// Larger leaves are refused. Above [`MAX_ENTRY_BYTES`] (the default) a record can be
    /// appended that no `tlog-tiles` entry bundle can hold ([`Log::entry_bundle`] refuses it).
    pub max_record_bytes: usize,
    /// Most records written in one commit batch.
    pub max_batch: usize,
    /// Appends waiting for the writer beyond this many are refused (`Overloaded`).
    pub max_queued: usize,
    /// After a write error, appends fail fast for this long; then the next one probes the disk.
    pub retry_after: Duration,
    /// The size of sled's page cache for the index (and the trees of [`Log::view_tree`]).
    pub cache_bytes: u64,
}

impl LogConfig {
    /// The defaults: 256 MiB segments, records of at most 65 535 bytes, batches of up to 8192
    /// records, 65536 queued appends, 250 ms retry backoff, a 64 MiB index cache.
    pub fn new(
        dir: impl Into<PathBuf>,
        origin: impl Into<String>,
        signing_key: SigningKey,
    ) -> Self {
        Self {
            dir: dir.into(),
            origin: origin.into(),
            signing_key,
            segment_max_bytes: 256 << 20,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            max_batch: 8192,
            max_queued: 1 << 16,
            retry_after: Duration::from_millis(250),
            cache_bytes: crate::index::CACHE_BYTES,
        }
    }
}

/// What an acknowledged append returns: the record is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The record's index in the log.
    pub index: u64,
    /// `SHA-256(0x00 || leaf)`.
    pub leaf_hash: Hash,
    /// The checkpoint signed for the record's commit batch.
    pub checkpoint: Arc<Checkpoint>,
    /// The inclusion proof of the record in the tree of `checkpoint.size()` leaves.
    pub inclusion_proof: Vec<Hash>,
    /// The index of the first record of the record's commit batch: the batch holds the records
    /// `batch_start..checkpoint.size()` (one write, one fdatasync, one signature).
    pub batch_start: u64,
}

/// The audit log. Cheap to clone; all clones share one writer. When the last clone is dropped
/// the queued appends are written and the threads joined (as `shutdown` does, but blocking).
#[derive(Clone, Debug)]
pub struct Log {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Published checkpoint, availability and the index's progress: outlives a reopened index.
    shared: Arc<Shared>,
    /// The writer threads and the index; `None` while the index is being reopened.
    core: RwLock<Option<Arc<Core>>>,
    /// What the index is reopened with.
    config: LogConfig,
    reader: Reader,
    verifier: VerifierKey,
    /// Held while the index is reopened (one reopening at a time).
    reopening: Mutex<()>,
    /// Set by `shutdown`: the index is never reopened after it.
    closed: AtomicBool,
    /// How many times the index was taken down to be reopened ([`Log::generation`]).
    generation: AtomicU64,
    /// Dropped with the log: tells the healer thread to end.
    _healer: Mutex<std::sync::mpsc::Sender<()>>,
    /// This process's lock on the folder ([`lock`]): released by `shutdown` or the drop.
    lock: Mutex<Option<lock::DirLock>>,
}

/// The writer threads and the index they write. Replaced as a whole when the index is reopened
/// after a failure (sled refuses every write after its first failed one, until it is opened
/// again).
#[derive(Debug)]
struct Core {
    tx: Mutex<Option<std::sync::mpsc::Sender<Request>>>,
    /// The syncer, committer and indexer threads, joined in that order on shutdown.
    writer: Mutex<Vec<JoinHandle<()>>>,
    index: Index,
    /// The committer's in-memory right edge of the tree, over `index`: proofs into trees the
    /// index does not cover yet read it (see [`Log::prove`]).
    frontier: Arc<Mutex<Frontier>>,
}

/// How often a log whose index failed checks whether its folder takes writes again, and then
/// reopens the index.
const HEAL_EVERY: Duration = Duration::from_secs(2);

impl Log {
    /// Opens the log in `config.dir` (creating it when new), runs recovery and starts the
    /// writer threads. Blocking, and it reads every segment (about 0.5 s per million records):
    /// from async code, call it in `spawn_blocking`. Only one process can open a directory
    /// (the index is locked).
    pub fn open(config: LogConfig) -> Result<Log> {
        check_origin(&config.origin)?;
        if config.max_record_bytes == 0 || config.max_record_bytes > MAX_LEAF {
            return Err(Error::invalid(
                "max_record_bytes",
                format!("use 1..={MAX_LEAF}"),
            ));
        }
        crate::store::fsio::create_dir(&config.dir)?;
        let lock = lock::DirLock::acquire(&config.dir)?;
        let ((core, shared), _) = Core::start(&config, None)?;
        let (healer, heal_rx) = std::sync::mpsc::channel();
        let log = Log {
            inner: Arc::new(Inner {
                shared,
                core: RwLock::new(Some(Arc::new(core))),
                reader: Reader::new(config.dir.join(SEGMENTS)),
                verifier: config.signing_key.verifier(),
                config,
                reopening: Mutex::new(()),
                closed: AtomicBool::new(false),
                generation: AtomicU64::new(0),
                _healer: Mutex::new(healer),
                lock: Mutex::new(Some(lock)),
            }),
        };
        let weak = Arc::downgrade(&log.inner);
        std::thread::Builder::new()
            .name("audit-heal".into())
            .spawn(move || heal_loop(&weak, &heal_rx))
            .map_err(|e| Error::io("start the healer thread for", &log.inner.config.dir, e))?;
        Ok(log)
    }

    /// The writer and index in use, or `Unavailable` while the index is being reopened.
    fn core(&self) -> Result<Arc<Core>> {
        let core = match self.inner.core.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        core.ok_or_else(|| Error::Unavailable(self.inner.shared.broken_why()))
    }

    /// The index in use (a cheap handle).
    fn index(&self) -> Result<Index> {
        Ok(self.core()?.index.clone())
    }

    /// Reopens the index after it failed (sled refuses every write after its first failed
    /// one), when the log's folder takes writes again: stops the writer threads (the appends
    /// they hold are refused, nothing was acknowledged), opens sled again, replays into it the
    /// records of the segments it lacks (recovery, as at start) and starts new threads. The
    /// log is unavailable meanwhile. Does nothing when the index has not failed. Blocking; the
    /// log's own healer thread calls it every couple of seconds while the index is failed.
    pub fn heal(&self) -> Result<()> {
        let inner = &self.inner;
        let _one = inner
            .reopening
            .lock()
            .map_err(|_| Error::Unavailable("reopen lock poisoned".into()))?;
        if inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let failed =
            inner.shared.is_broken() || inner.core.read().map(|c| c.is_none()).unwrap_or(true);
        if !failed {
            return Ok(());
        }
        self.probe_space()?;
        let old = match inner.core.write() {
            Ok(mut g) => {
                // Under the lock, before any tree of the new database can be had: whoever
                // reads the generation after looking a tree up sees the change.
                inner.generation.fetch_add(1, Ordering::SeqCst);
                g.take()
            }
            Err(poisoned) => {
                inner.generation.fetch_add(1, Ordering::SeqCst);
                poisoned.into_inner().take()
            }
        };
        if let Some(old) = old {
            // The index cannot be flushed: its failed writes are replayed from the segments.
            let _ = old.stop();
            // sled's lock on the folder goes with the last handle: readers that still hold
            // this core finish first (`Index::open` retries a held lock for a while).
            drop(old);
        }
        let (core, size) = Core::start(&inner.config, Some(&inner.shared))?;
        match inner.core.write() {
            Ok(mut g) => *g = Some(Arc::new(core.0)),
            Err(poisoned) => *poisoned.into_inner() = Some(Arc::new(core.0)),
        }
        tracing::info!(
            size,
            "audit log index reopened; the log accepts appends again"
        );
        Ok(())
    }

    /// Changes (grows by one) each time [`Log::heal`] takes the index down to reopen it. sled
    /// loses the writes it had not flushed when its database is reopened, those of the trees of
    /// [`Log::view_tree`] too: a user that keeps views there and remembers how far they go
    /// must read that back from the tree when this changes. Read it *after* looking a tree up
    /// ([`Log::view_tree`]): when it is the same before and after, the tree is of that
    /// generation's database.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::SeqCst)
    }

    /// Marks the index failed, as a failed index write does, so that [`Log::heal`] (or the
    /// healer thread) reopens it (tests of what happens across a reopening; cargo feature
    /// `test-hooks`).
    #[cfg(feature = "test-hooks")]
    pub fn fail_index_for_tests(&self) {
        self.inner
            .shared
            .set_broken("the index failed (test hook)".into(), crate::Fault::Io);
    }

    /// Appends one record (`leaf`: its exact bytes, validated as a [`Record`]). The record is
    /// queued when this is *called*, so it is written even if the returned future is dropped;
    /// the future resolves only once the record is durable, or with an error (then it was not
    /// acknowledged: see `Error::Unavailable`).
    pub fn append(&self, leaf: Vec<u8>) -> impl Future<Output = Result<Appended>> + Send + 'static {
        wait(self.enqueue(leaf))
    }

    /// Appends `record`: as [`Log::append`] with the leaf `record.to_leaf()`, which it returns,
    /// but indexed by the record's fields as they are, without parsing the leaf back (unless a
    /// detail is named like a field: then the leaf says otherwise, and it is parsed). `Err`
    /// only when the record does not validate; otherwise it is queued when this returns, and
    /// the future resolves once it is durable (or with the error that refused it).
    pub fn append_record(
        &self,
        record: &Record,
    ) -> Result<(
        Vec<u8>,
        impl Future<Output = Result<Appended>> + Send + 'static + use<>,
    )> {
        let leaf = record.to_leaf()?;
        let terms = record.leaf_terms(&leaf)?;
        let queued = self.enqueue_with_terms(leaf.clone(), terms);
        Ok((leaf, wait(queued)))
    }

    fn enqueue(&self, leaf: Vec<u8>) -> Result<tokio::sync::oneshot::Receiver<Result<Appended>>> {
        self.check_record_size(&leaf)?;
        let terms = Record::from_leaf(&leaf)?.index_terms();
        self.enqueue_with_terms(leaf, terms)
    }

    fn check_record_size(&self, leaf: &[u8]) -> Result<()> {
        let max = self.inner.config.max_record_bytes;
        if leaf.len() > max {
            return Err(Error::RecordTooLarge {
                size: leaf.len(),
                max,
            });
        }
        Ok(())
    }

    /// Queues `leaf`, to be indexed under `terms` (which must be its record's).
    fn enqueue_with_terms(
        &self,
        leaf: Vec<u8>,
        terms: Vec<(Field, Vec<u8>)>,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<Appended>>> {
        let inner = &self.inner;
        self.check_record_size(&leaf)?;
        inner.shared.check_available()?;
        let core = self.core()?;
        let queued = inner.shared.queued.fetch_add(1, Ordering::AcqRel);
        if queued >= inner.config.max_queued {
            inner.shared.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::Overloaded(queued));
        }
        let (reply, rx) = tokio::sync::oneshot::channel();
        let sent = core.tx.lock().ok().and_then(|tx| {
            tx.as_ref()
                .map(|tx| tx.send(Request { leaf, terms, reply }))
        });
        match sent {
            Some(Ok(())) => Ok(rx),
            _ => {
                inner.shared.queued.fetch_sub(1, Ordering::AcqRel);
                Err(Error::Closed)
            }
        }
    }

    /// The latest signed checkpoint.
    pub fn latest_checkpoint(&self) -> Arc<Checkpoint> {
        self.inner.shared.checkpoint()
    }

    /// Records in the log (the latest checkpoint's size).
    pub fn size(&self) -> u64 {
        self.latest_checkpoint().size()
    }

    /// A sled tree of the caller's own, `name`d, in the index's database (under `index/`):
    /// for views of the log that its user keeps on disk beside the index, sharing its cache
    /// and its flushes. Like the index, it goes when `index/` is deleted, so keep in it only
    /// what can be rebuilt from the records. The log's own trees are refused.
    pub fn view_tree(&self, name: &str) -> Result<sled::Tree> {
        self.index()?.user_tree(name)
    }

    /// Whether the log is writable: false from a failed write until a write works again
    /// (after the backoff, the next append probes the disk), and while the index that could
    /// not follow a durable batch waits to be reopened (see [`Log::heal`]). For `/readyz`.
    pub fn is_available(&self) -> bool {
        self.health().available
    }

    /// Availability, size, last error and queue depth.
    pub fn health(&self) -> Health {
        self.inner.shared.health()
    }

    /// Whether the log's disk takes writes again: writes, syncs and removes a 1 MiB probe
    /// file in the log's directory. For a log whose [`Health::reopening`] is set, this says
    /// when reopening its index ([`Log::heal`]) can work. Blocking.
    pub fn probe_space(&self) -> Result<()> {
        let probe = self.inner.config.dir.join(SPACE_PROBE);
        let written = crate::store::fsio::replace(&probe, &vec![0u8; 1 << 20]);
        // Never leave the probe (or its temporary file) taking space.
        for leftover in [probe.clone(), probe.with_extension("tmp")] {
            if leftover.exists() {
                let _ = crate::store::fsio::remove(&leftover);
            }
        }
        written
    }

    /// Stores `bytes` as a blob beside the log, written and fsync'd (file and folders) before
    /// this returns, for a record to name (see [`crate::put_blob`]). Blocking.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<BlobRef> {
        crate::blob::put_blob(&self.inner.config.dir, bytes)
    }

    /// The bytes of a blob a record names, checked against its SHA-256 and size (a missing or
    /// altered blob is [`Error::BadBlob`], naming its file). Blocking.
    pub fn get_blob(&self, blob: &BlobRef) -> Result<Vec<u8>> {
        crate::blob::get_blob(&self.inner.config.dir, blob)
    }

    /// Where a blob's file is (or would be).
    pub fn blob_path(&self, blob: &BlobRef) -> PathBuf {
        blob.path(&self.inner.config.dir)
            .unwrap_or_else(|| self.inner.config.dir.join(crate::blob::BLOBS))
    }

    /// The key that verifies this log's checkpoints.
    pub fn verifier_key(&self) -> &VerifierKey {
        &self.inner.verifier
    }

    /// The exact bytes of record `index`.
    pub fn read(&self, index: u64) -> Result<Vec<u8>> {
        self.check_index(index, self.size())?;
        self.wait_indexed(index + 1)?;
        let (from, segment, offset) = self.index()?.position(index)?.ok_or_else(|| {
            Error::Unavailable("record position missing; reopen to rebuild the index".into())
        })?;
        self.inner.reader.read(segment, offset, from, index)
    }

    /// The inclusion proof of record `index` in the tree of `tree_size` records. Never waits
    /// for the index: a tree it does not cover yet is read from the committer's in-memory edge.
    pub fn inclusion_proof(&self, index: u64, tree_size: u64) -> Result<Vec<Hash>> {
        self.check_size(tree_size)?;
        self.check_index(index, tree_size)?;
        self.prove(tree_size, |h| tree::inclusion_proof(h, index, tree_size))
    }

    /// The consistency proof between the trees of `from` and `to` records. Never waits for the
    /// index: a tree it does not cover yet is read from the committer's in-memory edge.
    pub fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>> {
        self.check_size(to)?;
        self.prove(to, |h| tree::consistency_proof(h, from, to))
    }

    /// The root of the tree of `tree_size` records.
    pub fn root(&self, tree_size: u64) -> Result<Hash> {
        self.check_size(tree_size)?;
        self.prove(tree_size, |h| tree::root(h, tree_size))
    }

    /// Runs `f` on the hashes of the tree of `size` records: the index's when it covers them,
    /// else the committer's in-memory right edge (which keeps every tile the index does not
    /// hold yet, over the index), locked meanwhile. So a proof into a checkpoint just signed
    /// never waits the up to 10 ms the indexer trails the commits by: what a receipt proving
    /// into a cosigned checkpoint, and a consistency proof sent to a witness, need at once.
    fn prove<T>(
        &self,
        size: u64,
        f: impl FnOnce(&dyn tree::PerfectHashes) -> Result<T>,
    ) -> Result<T> {
        let core = self.core()?;
        if self.inner.shared.indexed() >= size {
            return f(&core.index);
        }
        let frontier = core
            .frontier
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The edge is at least the published size (it grows before a checkpoint is
        // published), unless the index was reopened under us: then wait for it as before.
        if frontier.size() < size {
            drop(frontier);
            self.wait_indexed(size)?;
            return f(&self.index()?);
        }
        f(&*frontier)
    }

    /// Up to `limit` indexes, in log order and after the cursor `after`, of records whose
    /// `field` equals `value` (for `Field::Time`, the 8-byte [`crate::time_key`]). Covers every
    /// record acknowledged before the call (it waits for the indexer, up to about 10 ms behind).
    pub fn query(
        &self,
        field: Field,
        value: &[u8],
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>> {
        let size = self.indexed_size()?;
        let mut found = self.index()?.query(field, value, after, limit)?;
        found.retain(|i| *i < size);
        Ok(found)
    }

    /// Writes what is queued, stores the latest checkpoint, flushes the index and stops the
    /// writer. Later appends fail with `Closed`.
    pub async fn shutdown(&self) -> Result<()> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.stop())
            .await
            .map_err(|_| Error::Unavailable("shutdown task failed".into()))?
    }

    /// The size of the log, once the query terms of all its records are indexed: every record
    /// acknowledged before the call is covered.
    fn indexed_size(&self) -> Result<u64> {
        let size = self.size();
        self.wait_indexed(size)?;
        Ok(size)
    }

    /// Waits (blocking, up to about 10 ms after an append) until the index covers records
    /// `0..size`: their positions, tree tiles and query terms.
    fn wait_indexed(&self, size: u64) -> Result<()> {
        self.inner.shared.wait_indexed(size, INDEX_WAIT)
    }

    fn check_size(&self, tree_size: u64) -> Result<()> {
        let size = self.size();
        if tree_size > size {
            return Err(Error::OutOfRange {
                what: "tree size",
                value: tree_size,
                size,
            });
        }
        Ok(())
    }

    fn check_index(&self, index: u64, size: u64) -> Result<()> {
        if index >= size {
            return Err(Error::OutOfRange {
                what: "record index",
                value: index,
                size,
            });
        }
        Ok(())
    }
}

/// The durability of a queued append, or the error that refused it.
async fn wait(
    queued: Result<tokio::sync::oneshot::Receiver<Result<Appended>>>,
) -> Result<Appended> {
    queued?.await.unwrap_or(Err(Error::Closed))
}

impl Inner {
    fn stop(&self) -> Result<()> {
        self.closed.store(true, Ordering::Release);
        // Not while the index is being reopened: that ends with the new threads in place.
        let _one = self.reopening.lock();
        let core = match self.core.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let stopped = match core {
            Some(core) => core.stop(),
            None => Ok(()),
        };
        // The writers are joined: another process may have the folder now.
        if let Ok(mut lock) = self.lock.lock() {
            lock.take();
        }
        stopped
    }
}

/// Every [`HEAL_EVERY`] while the log is unavailable, until the log is dropped: reopens a
/// failed index ([`Log::heal`]); after a failed segment write (which the next append retries
/// by itself), marks the log writable again once the folder takes a probe write, so that
/// `/readyz` turns green without waiting for traffic.
fn heal_loop(log: &std::sync::Weak<Inner>, stop: &std::sync::mpsc::Receiver<()>) {
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(HEAL_EVERY) {
        let Some(inner) = log.upgrade() else { return };
        if inner.closed.load(Ordering::Acquire) || inner.shared.health().available {
            continue;
        }
        let log = Log { inner };
        if log.inner.shared.is_broken() {
            if let Err(e) = log.heal() {
                tracing::debug!(error = %e, "the audit log's index cannot be reopened yet");
            }
        } else if log.probe_space().is_ok() {
            log.inner.shared.set_working();
        }
    }
}

impl Core {
    /// Opens the index, runs recovery and starts the writer threads; returns them with the
    /// shared state (`shared`, when reopening: it takes the recovered checkpoint) and the
    /// log's size.
    fn start(
        config: &LogConfig,
        shared: Option<&Arc<Shared>>,
    ) -> Result<((Core, Arc<Shared>), u64)> {
        let index = Index::open_with_cache(&config.dir.join(INDEX), config.cache_bytes)?;
        let rec = recover::recover(config, &index)?;
        let size = rec.checkpoint.size();
        let checkpoint = Arc::new(rec.checkpoint);
        let reopening = shared.is_some();
        let shared = match shared {
            Some(shared) => shared.clone(),
            None => Arc::new(Shared::new(checkpoint.clone(), config.retry_after)),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let (to_committer, committed) = std::sync::mpsc::channel();
        let (to_indexer, indexed) = std::sync::mpsc::sync_channel(256);
        let indexer = Indexer {
            index: index.clone(),
            shared: shared.clone(),
            time_max: index.time_max()?,
        };
        let frontier = Arc::new(Mutex::new(rec.frontier));
        let committer = Committer {
            frontier: frontier.clone(),
            key: config.signing_key.duplicate()?,
            origin: config.origin.clone(),
            shared: shared.clone(),
            publisher: Publisher::start(config.dir.join(CHECKPOINT))
                .map_err(|e| Error::io("start the checkpoint thread for", &config.dir, e))?,
            indexer: to_indexer,
            stored_size: rec.stored_size,
            last_store: Instant::now(),
            broken: None,
        };
        let syncer = Syncer {
            seq: rec.seq,
            shared: shared.clone(),
            max_batch: config.max_batch.max(1),
            committer: to_committer,
        };
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(|e| Error::io("start a writer thread for", &config.dir, e))
        };
        let indexer = spawn("audit-index", Box::new(move || indexer.run(indexed)))?;
        let committer = spawn("audit-commit", Box::new(move || committer.run(committed)))?;
        let syncer = spawn("audit-sync", Box::new(move || syncer.run(rx)))?;
        let core = Core {
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(vec![syncer, committer, indexer]),
            index,
            frontier,
        };
        if reopening {
            // Only now that every thread runs: a failure above leaves the log failed, and the
            // healer tries again.
            shared.reopened(checkpoint);
        }
        Ok(((core, shared), size))
    }

    fn stop(&self) -> Result<()> {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        let handles = self
            .writer
            .lock()
            .map(|mut h| std::mem::take(&mut *h))
            .unwrap_or_default();
        for h in handles {
            h.join()
                .map_err(|_| Error::Unavailable("a writer thread panicked".into()))?;
        }
        self.index.flush()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
