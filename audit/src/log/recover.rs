//! Recovery on open: check every frame of the segments, cut a torn tail, refuse damage in
//! the middle, replay into the index (rebuilding it from scratch when it does not
//! match the segments), refuse segments that hold fewer records than a checkpoint the log
//! signed (the high-water mark the stored checkpoint and the index remember), check the stored
//! checkpoint and sign a new one when needed.

use std::path::{Path, PathBuf};

use super::LogConfig;
use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::index::{Additions, Frontier, Index, Terms};
use crate::record::Record;
use crate::sequence::Sequence;
use crate::store::{self, ActiveSegment, Header, SegmentEnd, Visit, fsio};
use crate::tree::{self, Hash, PerfectHashes, leaf_hash};

/// Folder of the segment files inside the data directory.
pub(crate) const SEGMENTS: &str = "segments";
/// Folder of the sled index.
pub(crate) const INDEX: &str = "index";
/// File of the latest stored checkpoint.
pub(crate) const CHECKPOINT: &str = "checkpoint";
/// File of the verifier key (for operators; verification should use a key kept elsewhere).
pub(crate) const VERIFIER_KEY: &str = "log.pub";
/// File written and removed by `Log::probe_space` (only ever there for a moment).
pub(crate) const SPACE_PROBE: &str = "space-probe";

/// Records replayed into the index per sled batch.
const REPLAY_BATCH: u64 = 4096;

pub(crate) struct Recovered {
    pub(crate) seq: Sequence,
    pub(crate) frontier: Frontier,
    pub(crate) checkpoint: Checkpoint,
    pub(crate) stored_size: u64,
}

/// The stored checkpoint: its text, size and root (signature not checked yet).
pub(crate) fn read_stored(path: &Path) -> Result<Option<(String, u64, Hash)>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let (_, size, root) = Checkpoint::parse_unverified(&text)?;
            Ok(Some((text, size, root)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

pub(crate) fn recover(cfg: &LogConfig, index: &Index) -> Result<Recovered> {
    let seg_dir = cfg.dir.join(SEGMENTS);
    fsio::create_dir(&seg_dir)?;
    let cp_path = cfg.dir.join(CHECKPOINT);
    let stored = read_stored(&cp_path)?;
    let stored_size = stored.as_ref().map(|s| s.1);
    let segments = store::list_segments(&seg_dir)?;
    // Only the last segment can hold records that were never synced (a batch is written only
    // after the previous one was, and a segment is made only after that): those a killed
    // process left in the page cache. Make them durable before anything counts or signs them,
    // or a power loss now could take back records a checkpoint signed below covers.
    if let Some((_, last)) = segments.last() {
        fsio::sync_file(last)?;
    }
    // The high-water mark of the checkpoints this log signed, as the stored checkpoint and the
    // index remember it; kept in the index before anything can clear it.
    let signed = index.signed()?.max(stored_size.unwrap_or(0));
    index.keep_signed(signed)?;
    let missing = |held: u64| {
        let evidence = match stored_size {
            Some(m) if m >= signed => {
                format!("the stored checkpoint {} says so", cp_path.display())
            }
            other => format!(
                "the index {} remembers it; the stored checkpoint {}",
                cfg.dir.join(INDEX).display(),
                other.map_or("is missing".to_owned(), |m| format!("covers only {m}"))
            ),
        };
        Error::missing_records(
            signed,
            held,
            &evidence,
            &format!(
                ". The log refuses to open rather than sign a shorter tree: restore the missing \
                 segment files into {} from a backup of this data directory (or, if they are \
                 lost for good, keep this directory as evidence and start the log in a new one)",
                seg_dir.display()
            ),
        )
    };
    if index.check_terms_layout()? {
        tracing::info!("the audit query index has an older layout; rebuilding its terms");
    }
    // Records below the high-water mark were acknowledged: a bad frame there is damage, never
    // a torn tail.
    let replayed = match replay(&segments, index, signed, index.size()?)? {
        Outcome::Replayed(r) => r,
        // The index covers more records than the segments hold: all of them were signed.
        Outcome::Short { held } => return Err(missing(held)),
        Outcome::Differs => {
            tracing::warn!("the audit index does not match the segments; rebuilding it");
            index.clear()?;
            match replay(&segments, index, signed, 0)? {
                Outcome::Replayed(r) => r,
                _ => return Err(Error::Unavailable("index rebuild failed".into())),
            }
        }
    };
    let Replayed {
        frontier,
        next,
        last,
    } = replayed;
    if signed > next {
        return Err(missing(next));
    }
    if let Some((_, m, root_m)) = &stored {
        if &tree::root(&frontier, *m)? != root_m {
            return Err(Error::CheckpointMismatch(format!(
                "the records 0..{m} do not hash to the root of the stored checkpoint"
            )));
        }
    }
    let active = match last {
        Some((first, path, end)) => ActiveSegment::open(&path, first, end)?,
        None => ActiveSegment::create(&seg_dir, next)?,
    };
    let verified = stored
        .as_ref()
        .and_then(|s| Checkpoint::open(&s.0, &cfg.signing_key.verifier()).ok());
    let checkpoint = match verified {
        Some(cp) if cp.size() == next && cp.origin() == cfg.origin => cp,
        _ => {
            let cp = Checkpoint::sign(&cfg.origin, next, frontier.root()?, &cfg.signing_key)?;
            index.keep_signed(next)?;
            cp.publish(&cp_path)?;
            cp
        }
    };
    let vkey_path = cfg.dir.join(VERIFIER_KEY);
    let vkey = format!("{}\n", cfg.signing_key.verifier());
    if std::fs::read_to_string(&vkey_path).ok().as_deref() != Some(vkey.as_str()) {
        fsio::replace(&vkey_path, vkey.as_bytes())?;
    }
    Ok(Recovered {
        seq: Sequence::new(seg_dir, next, active, cfg.segment_max_bytes),
        frontier,
        stored_size: checkpoint.size(),
        checkpoint,
    })
}

/// How a replay of the segments into the index ended.
enum Outcome {
    /// The index now holds exactly the segments' records.
    Replayed(Replayed),
    /// The segments hold `held` records, fewer than the index covers.
    Short { held: u64 },
    /// The last record the index holds differs from the segments' one: it must be rebuilt.
    Differs,
}

struct Replayed {
    frontier: Frontier,
    next: u64,
    /// The last segment: first index, path, durable length.
    last: Option<(u64, PathBuf, u64)>,
}

/// Walks all segments ([`store::walk`]; records below `floor` were acknowledged), replaying
/// the records past the index's watermark into the index.
fn replay(
    segments: &[(u64, PathBuf)],
    index: &Index,
    floor: u64,
    watermark: u64,
) -> Result<Outcome> {
    check_first_segment(segments)?;
    let Some(mut replaying) = Replay::start(index, watermark)? else {
        return Ok(Outcome::Differs);
    };
    let walked = store::walk(segments, floor, &mut replaying)?;
    if replaying.mismatch {
        return Ok(Outcome::Differs);
    }
    let last = match walked.last {
        Some(segment) => durable_end(segment, walked.next)?,
        None => None,
    };
    replaying.finish(walked.next, last)
}

/// Refuses segments whose first one does not start at record 0.
fn check_first_segment(segments: &[(u64, PathBuf)]) -> Result<()> {
    if let Some((first, path)) = segments.first() {
        if *first != 0 {
            return Err(Error::Corrupt {
                segment: path.clone(),
                offset: 0,
                index: 0,
                what: format!(
                    "the first segment starts at record {first}; earlier records are missing"
                ),
            });
        }
    }
    Ok(())
}

/// The last segment's first index, path and durable length, after its torn tail (if any) is
/// logged; `None` for a segment whose creation was cut short (it holds no record and is
/// recreated). `next` is the index after its last good record.
fn durable_end(segment: SegmentEnd, next: u64) -> Result<Option<(u64, PathBuf, u64)>> {
    if let Some(bad) = &segment.torn {
        tracing::warn!(segment = %segment.path.display(), offset = bad.offset, index = bad.index,
            what = %bad.what, "cutting the torn tail of the audit log (never acknowledged)");
    }
    match segment.header()? {
        Header::Sound => Ok(Some((segment.first, segment.path, segment.end))),
        Header::Damaged => Err(Error::Corrupt {
            segment: segment.path,
            offset: 0,
            index: next,
            what: "segment header is damaged".into(),
        }),
        // A segment whose creation was cut short: it holds no record; recreated by `recover`.
        Header::CutShort => Ok(None),
    }
}

/// The replay of the segments into the index, one record at a time, written to sled every
/// [`REPLAY_BATCH`] records.
struct Replay<'a> {
    index: &'a Index,
    frontier: Frontier,
    /// Records the index's tree already holds.
    watermark: u64,
    /// Records the index's query terms already cover.
    terms_mark: u64,
    add: Additions,
    terms: Terms,
    /// The last record the index already holds differs from the segments' one.
    mismatch: bool,
}

impl<'a> Replay<'a> {
    /// Opens the frontier of the index's tree of `watermark` leaves; `None` when the index does
    /// not hold exactly that tree.
    fn start(index: &'a Index, watermark: u64) -> Result<Option<Self>> {
        let frontier = if watermark == 0 {
            Frontier::empty(index.clone())
        } else {
            match Frontier::load(index.clone(), watermark)? {
                Some(f) => f,
                None => return Ok(None),
            }
        };
        let terms_mark = index.terms_size()?;
        Ok(Some(Self {
            index,
            frontier,
            watermark,
            terms_mark,
            add: Additions::default(),
            terms: Terms::following(index.time_max()?),
            mismatch: false,
        }))
    }

    /// Writes the records replayed so far to the index, which then covers `size` records.
    fn flush_batch(&mut self, size: u64) -> Result<()> {
        if size > self.watermark {
            self.frontier.write_dirty(&mut self.add);
            self.add.size(size);
            self.index.apply(std::mem::take(&mut self.add))?;
            self.frontier.evict_full(size);
        }
        if size > self.terms_mark {
            self.terms.size(size);
            let time_max = self.terms.running_max();
            self.index.apply_terms(std::mem::replace(
                &mut self.terms,
                Terms::following(time_max),
            ))?;
        }
        Ok(())
    }

    /// Writes the rest once the segments, which hold `next` records, are read; unless they hold
    /// fewer records than the index.
    fn finish(mut self, next: u64, last: Option<(u64, PathBuf, u64)>) -> Result<Outcome> {
        if next < self.watermark || next < self.terms_mark {
            return Ok(Outcome::Short { held: next });
        }
        self.frontier.write_dirty(&mut self.add);
        self.add.size(next);
        self.index.apply(self.add)?;
        self.frontier.evict_full(self.frontier.size());
        self.terms.size(next);
        self.index.apply_terms(self.terms)?;
        Ok(Outcome::Replayed(Replayed {
            frontier: self.frontier,
            next,
            last,
        }))
    }
}

impl Visit for Replay<'_> {
    /// Every frame is checked (length, checksum, index) on every open; records the index
    /// already holds are not hashed again, except the last one, which must match it.
    fn record(&mut self, at: u64, first: u64, offset: u64, leaf: &[u8]) -> Result<()> {
        if at < self.watermark {
            if at + 1 == self.watermark && self.frontier.perfect(0, at)? != leaf_hash(leaf) {
                self.mismatch = true;
            }
        } else {
            self.frontier.push(leaf_hash(leaf));
            self.add.record(at, first, offset);
        }
        if at >= self.terms_mark {
            let t = Record::from_leaf(leaf)
                .map(|r| r.index_terms())
                .unwrap_or_default();
            self.terms.add(at, &t);
        }
        if (at + 1) % REPLAY_BATCH == 0 {
            self.flush_batch(at + 1)?;
        }
        Ok(())
    }

    /// A mismatch ends the walk once the segment it is in is read (the index is then rebuilt).
    fn stop(&mut self) -> bool {
        self.mismatch
    }
}
