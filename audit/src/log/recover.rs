//! Recovery on open: check every frame of the segments, cut a torn tail, refuse damage in
//! the middle, replay into the index (rebuilding it from scratch when it does not
//! match the segments), check the stored checkpoint and sign a new one when needed.

use std::path::{Path, PathBuf};

use super::LogConfig;
use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::index::{Additions, Frontier, Index, Terms};
use crate::layout::SEGMENT_HEADER;
use crate::record::Record;
use crate::sequence::Sequence;
use crate::store::{self, ActiveSegment, Damage, fsio};
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
    let floor = stored.as_ref().map_or(0, |s| s.1);
    let segments = store::list_segments(&seg_dir)?;
    if index.check_terms_layout()? {
        tracing::info!("the audit query index has an older layout; rebuilding its terms");
    }
    let replayed = match replay(&segments, index, floor, index.size()?)? {
        Some(r) => r,
        None => {
            tracing::warn!("the audit index does not match the segments; rebuilding it");
            index.clear()?;
            replay(&segments, index, floor, 0)?
                .ok_or_else(|| Error::Unavailable("index rebuild failed".into()))?
        }
    };
    let Replayed {
        frontier,
        next,
        last,
    } = replayed;
    if floor > next {
        return Err(Error::CheckpointMismatch(format!(
            "the stored checkpoint covers {floor} records but the segments hold only {next}; \
             records {next}.. were lost"
        )));
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

struct Replayed {
    frontier: Frontier,
    next: u64,
    /// The last segment: first index, path, durable length.
    last: Option<(u64, PathBuf, u64)>,
}

/// Scans all segments, replaying the records past the index's watermark into the index. `None` when the
/// index does not match the segments (then it is rebuilt).
fn replay(
    segments: &[(u64, PathBuf)],
    index: &Index,
    floor: u64,
    watermark: u64,
) -> Result<Option<Replayed>> {
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
    let mut frontier = if watermark == 0 {
        Frontier::empty(index.clone())
    } else {
        match Frontier::load(index.clone(), watermark)? {
            Some(f) => f,
            None => return Ok(None),
        }
    };
    let terms_mark = index.terms_size()?;
    let mut next = 0;
    let mut last = None;
    let mut add = Additions::default();
    let mut terms = Terms::following(index.time_max()?);
    for (i, (first, path)) in segments.iter().enumerate() {
        let is_last = i + 1 == segments.len();
        if *first != next {
            return Err(Error::Corrupt {
                segment: path.clone(),
                offset: 0,
                index: next,
                what: format!("segment starts at record {first} but record {next} comes next"),
            });
        }
        let mut mismatch = false;
        // Every frame is checked (length, checksum, index) on every open; records the index
        // already holds are not hashed again, except the last one, which must match it.
        let scanned = store::scan(path, *first, SEGMENT_HEADER, *first, |at, off, leaf| {
            if at < watermark {
                if at + 1 == watermark && frontier.perfect(0, at)? != leaf_hash(leaf) {
                    mismatch = true;
                }
            } else {
                frontier.push(leaf_hash(leaf));
                add.record(at, *first, off);
            }
            if at >= terms_mark {
                let t = Record::from_leaf(leaf)
                    .map(|r| r.index_terms())
                    .unwrap_or_default();
                terms.add(at, &t);
            }
            if (at + 1) % REPLAY_BATCH == 0 {
                if at >= watermark {
                    frontier.write_dirty(&mut add);
                    add.size(at + 1);
                    index.apply(std::mem::take(&mut add))?;
                    frontier.evict_full(at + 1);
                }
                if at >= terms_mark {
                    terms.size(at + 1);
                    let time_max = terms.running_max();
                    index.apply_terms(std::mem::replace(&mut terms, Terms::following(time_max)))?;
                }
            }
            Ok(())
        })?;
        if mismatch {
            return Ok(None);
        }
        let mut end = scanned.end;
        if let Some(bad) = &scanned.bad {
            match store::classify(path, bad, is_last, floor)? {
                Damage::Corrupt(e) => return Err(e),
                Damage::TornTail => {
                    tracing::warn!(segment = %path.display(), offset = bad.offset, index = bad.index,
                        what = %bad.what, "cutting the torn tail of the audit log (never acknowledged)");
                    end = bad.offset;
                }
            }
        }
        next = scanned.next_index;
        if end < SEGMENT_HEADER {
            let len = std::fs::metadata(path)
                .map_err(|e| Error::io("stat", path, e))?
                .len();
            if len > SEGMENT_HEADER {
                return Err(Error::Corrupt {
                    segment: path.clone(),
                    offset: 0,
                    index: next,
                    what: "segment header is damaged".into(),
                });
            }
            // A segment whose creation was cut short: it holds no record; recreated below.
            last = None;
        } else {
            last = Some((*first, path.clone(), end));
        }
    }
    if next < watermark || next < terms_mark {
        return Ok(None);
    }
    frontier.write_dirty(&mut add);
    add.size(next);
    index.apply(add)?;
    frontier.evict_full(frontier.size());
    terms.size(next);
    index.apply_terms(terms)?;
    Ok(Some(Replayed {
        frontier,
        next,
        last,
    }))
}
