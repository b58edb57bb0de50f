//! The single writer thread: group commit. It takes every append waiting in the queue (up to a
//! limit), writes them with one write and one `fdatasync`, signs one checkpoint for the batch,
//! computes each record's inclusion proof to it, indexes the batch, publishes the new size and
//! only then answers the callers.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::Appended;
use super::shared::Shared;
use crate::checkpoint::{Checkpoint, SigningKey};
use crate::error::{Error, Result};
use crate::index::{Additions, Frontier, Index};
use crate::record::Field;
use crate::sequence::Sequence;
use crate::tree::{self, leaf_hash};

/// One append waiting for the writer.
pub(crate) struct Request {
    pub(crate) leaf: Vec<u8>,
    pub(crate) terms: Vec<(Field, Vec<u8>)>,
    pub(crate) reply: oneshot::Sender<Result<Appended>>,
}

/// How often at most the latest checkpoint is stored while appends go on.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);

pub(crate) struct Writer {
    pub(crate) seq: Sequence,
    pub(crate) frontier: Frontier,
    pub(crate) index: Index,
    pub(crate) key: SigningKey,
    pub(crate) origin: String,
    pub(crate) shared: Arc<Shared>,
    pub(crate) publisher: Publisher,
    pub(crate) max_batch: usize,
    pub(crate) stored_size: u64,
    pub(crate) last_store: Instant,
    /// Set when the index could not follow a durable batch: the log stays unavailable until
    /// it is reopened (recovery then replays the batch into the index).
    pub(crate) broken: Option<String>,
}

impl Writer {
    pub(crate) fn run(mut self, rx: Receiver<Request>) {
        while let Ok(first) = rx.recv() {
            let mut batch = Vec::with_capacity(64);
            batch.push(first);
            while batch.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            self.shared.queued.fetch_sub(batch.len(), Ordering::AcqRel);
            self.commit(batch);
        }
        self.finish();
    }

    fn commit(&mut self, batch: Vec<Request>) {
        let refuse = |batch: Vec<Request>, why: &str| {
            for r in batch {
                let _ = r.reply.send(Err(Error::Unavailable(why.to_owned())));
            }
        };
        if let Some(why) = &self.broken {
            return refuse(batch, why);
        }
        if let Err(Error::Unavailable(why)) = self.shared.check_available() {
            return refuse(batch, &why);
        }
        match self.write(&batch) {
            Ok(done) => {
                self.shared.set_working();
                for (r, a) in batch.into_iter().zip(done) {
                    // A caller that stopped waiting still has its record in the log.
                    let _ = r.reply.send(Ok(a));
                }
                self.maybe_store(false);
            }
            Err(e) => {
                let why = e.to_string();
                tracing::error!(error = %why, records = batch.len(), "audit log write failed; nothing acknowledged");
                self.shared.set_failed(why.clone());
                refuse(batch, &why);
            }
        }
    }

    fn write(&mut self, batch: &[Request]) -> Result<Vec<Appended>> {
        let leaves: Vec<&[u8]> = batch.iter().map(|r| r.leaf.as_slice()).collect();
        let hashes: Vec<_> = leaves.iter().map(|l| leaf_hash(l)).collect();
        let durable = self.seq.append(&leaves)?;
        debug_assert_eq!(self.seq.next(), self.frontier.size() + leaves.len() as u64);
        // From here on the batch is durable: any failure leaves the index behind the log, so
        // the log refuses appends until it is reopened and recovery catches the index up.
        self.after_durable(batch, &hashes, &durable)
            .inspect_err(|e| {
                let why = format!("the index could not follow the log ({e}); reopen the log");
                self.shared.set_broken(why.clone());
                self.broken = Some(why);
            })
    }

    fn after_durable(
        &mut self,
        batch: &[Request],
        hashes: &[tree::Hash],
        durable: &crate::sequence::Durable,
    ) -> Result<Vec<Appended>> {
        for h in hashes {
            self.frontier.push(*h);
        }
        let size = self.frontier.size();
        let checkpoint = Arc::new(Checkpoint::sign(
            &self.origin,
            size,
            self.frontier.root()?,
            &self.key,
        )?);
        let mut add = Additions::default();
        let mut done = Vec::with_capacity(batch.len());
        for (i, (r, h)) in batch.iter().zip(hashes).enumerate() {
            let index = durable.first + i as u64;
            add.record(index, durable.segment, durable.offsets[i], &r.terms);
            done.push(Appended {
                index,
                leaf_hash: *h,
                checkpoint: checkpoint.clone(),
                inclusion_proof: tree::inclusion_proof(&self.frontier, index, size)?,
            });
        }
        self.frontier.write_dirty(&mut add);
        add.size(size);
        self.index.apply(add)?;
        self.frontier.evict_full();
        self.shared.publish(checkpoint);
        Ok(done)
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

    fn finish(&mut self) {
        self.maybe_store(true);
        self.publisher.stop();
        if let Err(e) = self.index.flush() {
            tracing::warn!(error = %e, "could not flush the audit index; it is rebuilt on open");
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
