//! The sled index: everything in it can be rebuilt from the segments. Two sled trees, each
//! storing how many records it covers and written so that it is always a prefix of the log
//! (with atomic batches, or, during recovery, single writes in order with the size last, which
//! sled recovers in order):
//! - `log`: the tree's perfect subtree hashes in tiles (so a proof costs O(log n) reads) and
//!   the file position of every 16th record and of each segment's first, 256 records' worth
//!   per key;
//! - `terms`: the query terms, in lists per `(field, value)` that grow in place until full,
//!   and the time marks (the running maximum of record times, per second).
//!
//! Few keys per record (about 0.03): sled 0.34 keeps about 120-150 bytes in memory for every
//! node it ever made, so memory grows with the number of keys ever written, whatever the
//! cache (see [`layout::LIST_BYTES`]).
//!
//! Both are written by the writer's indexer thread just behind the acknowledgements (it
//! gathers 10 ms of commit batches into one write per tree; reads wait for it), while the
//! committer proves new records from the right edge of the tree it keeps in memory.

mod frontier;
mod postings;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;

pub(crate) use frontier::Frontier;
pub(crate) use postings::Cursor;

use crate::error::{Error, Result};
use crate::layout::{
    self, ID_BUCKET, KEY_LAYOUT, KEY_SIGNED, KEY_SIZE, LIST_BYTES, POS_BLOCK, POS_EDGE, POS_ENTRY,
    POS_STRIDE, SEGMENT_HEADER, TERMS_LAYOUT, TILE_WIDTH,
};
use crate::record::Field;
use crate::tree::{Hash, PerfectHashes};

/// sled's page cache unless the log's config says otherwise ([`crate::LogConfig`]'s
/// `cache_bytes`). sled's default (1 GiB) let a gateway's memory grow with the index until the
/// cache was full (1 GiB after ten minutes of mixed load); queries and proofs read the recent
/// part of the index, which this holds.
pub(crate) const CACHE_BYTES: u64 = 64 << 20;

/// How often sled writes out what it holds only in memory (see `open_with_retries`).
const FLUSH_EVERY_MS: u64 = 500;

/// A handle on the sled index (cheap to clone).
#[derive(Clone, Debug)]
pub(crate) struct Index {
    db: sled::Db,
    tree: sled::Tree,
    terms: sled::Tree,
}

/// What one commit adds to the `log` tree, written in order with the size last (see
/// [`Index::apply`]).
#[derive(Default)]
pub(crate) struct Additions {
    writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// New positions, `index | segment | offset` (see [`layout::pos_block_key`]).
    positions: Vec<[u8; POS_ENTRY]>,
    size: Option<u64>,
}

impl Additions {
    /// Record `index` is stored at `offset` of the segment starting at `segment`.
    pub(crate) fn record(&mut self, index: u64, segment: u64, offset: u64) {
        if index % POS_STRIDE == 0 || offset == SEGMENT_HEADER {
            let mut v = [0u8; POS_ENTRY];
            v[..8].copy_from_slice(&index.to_be_bytes());
            v[8..16].copy_from_slice(&segment.to_be_bytes());
            v[16..].copy_from_slice(&offset.to_be_bytes());
            self.positions.push(v);
        }
    }

    /// Records `0..size` are now in the tree.
    pub(crate) fn size(&mut self, size: u64) {
        self.size = Some(size);
    }

    /// Adds the writes of a later commit (written after these; its size, if any, wins).
    pub(crate) fn extend(&mut self, later: Additions) {
        self.writes.extend(later.writes);
        self.positions.extend(later.positions);
        if later.size.is_some() {
            self.size = later.size;
        }
    }

    /// The full tile `tile` of `tile_level` (written once; the edge key of its level, which
    /// held it while it grew, is cleared, and rewritten when the next tile of the level
    /// follows).
    pub(crate) fn full_tile(&mut self, tile_level: u8, tile: u64, encoded: Vec<u8>) {
        self.writes
            .push((layout::tile_key(tile_level, tile).to_vec(), Some(encoded)));
        self.writes
            .push((layout::edge_key(tile_level).to_vec(), None));
    }

    /// The partial tile `tile` of `tile_level`, on the right edge of the tree.
    pub(crate) fn partial_tile(&mut self, tile_level: u8, tile: u64, encoded: &[u8]) {
        let mut v = Vec::with_capacity(8 + encoded.len());
        v.extend_from_slice(&tile.to_be_bytes());
        v.extend_from_slice(encoded);
        self.writes
            .push((layout::edge_key(tile_level).to_vec(), Some(v)));
    }
}

/// Where the hits of one `(field, value)` are stored: the prefix of their keys, and what
/// follows each hit's index in the lists (the rest of a bucketed transfer id, see
/// [`layout::id_bucket`]; else nothing).
pub(crate) struct Place<'a> {
    pub(crate) prefix: Vec<u8>,
    pub(crate) tail: &'a [u8],
}

impl<'a> Place<'a> {
    pub(crate) fn of(field: Field, value: &'a [u8]) -> Self {
        if field == Field::Transfer {
            if let Some((bucket, tail)) = layout::id_bucket(value) {
                return Self {
                    prefix: layout::query_prefix(ID_BUCKET, bucket),
                    tail,
                };
            }
        }
        Self {
            prefix: layout::query_prefix(field.tag(), value),
            tail: &[],
        }
    }
}

/// Query terms for the `terms` tree, grouped per `(field, value)`: [`Index::apply_terms`]
/// appends each group's hits to the last list of its `(field, value)` until that list holds
/// [`LIST_BYTES`], so many index writes share one sled key. Also the time marks: where the
/// running maximum of the records' time keys enters a new second.
#[derive(Default)]
pub(crate) struct Terms {
    /// The new hits per key prefix ([`Place`]): each hit's index and tail, and the hit size.
    lists: BTreeMap<Vec<u8>, (usize, Vec<u8>)>,
    size: Option<u64>,
    /// The running maximum of the time keys of every record added so far (and before).
    max: Option<[u8; 8]>,
    /// `(second, first index whose running maximum is in it)`, new in this group.
    marks: Vec<([u8; 8], u64)>,
}

impl Terms {
    /// The terms of the records after those whose running maximum time key is `max` (what
    /// [`Index::time_max`] or the previous group's [`Terms::running_max`] says).
    pub(crate) fn following(max: Option<[u8; 8]>) -> Self {
        Self {
            max,
            ..Self::default()
        }
    }

    /// The running maximum time key after the records added so far.
    pub(crate) fn running_max(&self) -> Option<[u8; 8]> {
        self.max
    }

    /// Record `index` has `terms`. Records must be added in log order, with no gap.
    pub(crate) fn add(&mut self, index: u64, terms: &[(Field, Vec<u8>)]) {
        for (field, value) in terms {
            if *field == Field::Time {
                if let Ok(second) = <[u8; 8]>::try_from(value.as_slice()) {
                    if self.max.is_none_or(|m| second > m) {
                        self.max = Some(second);
                        self.marks.push((second, index));
                    }
                }
            }
            let place = Place::of(*field, value);
            let (_, list) = self
                .lists
                .entry(place.prefix)
                .or_insert_with(|| (8 + place.tail.len(), Vec::new()));
            list.extend_from_slice(&index.to_be_bytes());
            list.extend_from_slice(place.tail);
        }
    }

    /// Records `0..size` now have their terms.
    pub(crate) fn size(&mut self, size: u64) {
        self.size = Some(size);
    }

    /// The sled batch that adds these terms to `stored` (the `terms` tree): each new list of
    /// hits is appended to the last stored list of its `(field, value)` until that holds
    /// [`LIST_BYTES`] (rewritten under its key), then continues under new keys.
    fn into_batch(self, stored: &sled::Tree) -> Result<sled::Batch> {
        let mut batch = sled::Batch::default();
        for (prefix, (stride, hits)) in self.lists {
            let Some(first) = hits.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
                continue;
            };
            let first = u64::from_be_bytes(first);
            let cap = (LIST_BYTES / stride).max(1) * stride;
            // The open list: the last stored one, unless it is full (or malformed).
            let (mut key, mut list) = (layout::query_key(&prefix, first), Vec::new());
            let last = stored
                .range(prefix.as_slice()..layout::query_key(&prefix, first).as_slice())
                .next_back()
                .transpose()?;
            if let Some((k, v)) = last {
                if k.len() == prefix.len() + 8 && v.len() % stride == 0 && v.len() < cap {
                    key = k.to_vec();
                    list = v.to_vec();
                }
            }
            for hit in hits.chunks(stride) {
                if list.len() >= cap {
                    batch.insert(std::mem::take(&mut key), std::mem::take(&mut list));
                    key = layout::query_key(&prefix, u64::from_be_bytes(hit_index(hit)));
                    list.reserve(cap);
                }
                list.extend_from_slice(hit);
            }
            batch.insert(key, list);
        }
        for (second, index) in self.marks {
            batch.insert(&layout::time_mark_key(second), &index.to_be_bytes());
        }
        if let Some(size) = self.size {
            batch.insert(KEY_SIZE, &size.to_be_bytes());
        }
        Ok(batch)
    }
}

/// The index (u64 BE) at the start of a hit.
fn hit_index(hit: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(&hit[..8]);
    a
}

impl Index {
    /// Opens (or creates) the index in `path` with the default cache (tests).
    #[cfg(test)]
    pub(crate) fn open(path: &Path) -> Result<Self> {
        Self::open_with_retries(path, 500, CACHE_BYTES)
    }

    /// Opens (or creates) the index in `path`, with a page cache of `cache_bytes`.
    /// sled's background threads may hold the lock of a just-closed index for a moment, so a
    /// held lock is retried for up to ten seconds (a second live process keeps it longer).
    pub(crate) fn open_with_cache(path: &Path, cache_bytes: u64) -> Result<Self> {
        Self::open_with_retries(path, 500, cache_bytes)
    }

    /// Opens the index without waiting for a held lock (for diagnostics).
    pub(crate) fn open_once(path: &Path) -> Result<Self> {
        Self::open_with_retries(path, 0, CACHE_BYTES)
    }

    fn open_with_retries(path: &Path, retries: u32, cache_bytes: u64) -> Result<Self> {
        let mut attempts = 0;
        let db = loop {
            // sled flushes every FLUSH_EVERY_MS (and at shutdown). Not for durability (the
            // index is rebuilt from the segments after a crash) but for memory: sled keeps
            // what it has not flushed in memory, beyond its cache, so without periodic flushes
            // the process grew by about 1.3 KiB per record (1.1 GiB after 800k appends).
            match sled::Config::new()
                .path(path)
                .cache_capacity(cache_bytes)
                .flush_every_ms(Some(FLUSH_EVERY_MS))
                .mode(sled::Mode::HighThroughput)
                .open()
            {
                Err(sled::Error::Io(e)) if lock_held(&e) && attempts < retries => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break other?,
            }
        };
        let tree = db.open_tree("log")?;
        let terms = db.open_tree("terms")?;
        Ok(Self { db, tree, terms })
    }

    /// A tree of the log's user in the same sled database (see [`crate::Log::view_tree`]).
    pub(crate) fn user_tree(&self, name: &str) -> Result<sled::Tree> {
        if matches!(name, "log" | "terms") || name.starts_with("__sled") {
            return Err(Error::invalid(
                "view tree",
                format!("{name:?} is the log's own"),
            ));
        }
        Ok(self.db.open_tree(name)?)
    }

    /// Records `0..size` are in the `log` tree.
    pub(crate) fn size(&self) -> Result<u64> {
        stored_size(&self.tree)
    }

    /// Records `0..size` are in the `terms` tree.
    pub(crate) fn terms_size(&self) -> Result<u64> {
        stored_size(&self.terms)
    }

    /// The largest checkpoint size this log is known to have signed: the high-water mark kept
    /// by [`Index::keep_signed`], or the size the `log` or `terms` tree covers, whichever is
    /// larger (both trees hold only records that a signed checkpoint covered: the indexer
    /// writes acknowledged batches, recovery the records it then signs). 0 for a new index.
    pub(crate) fn signed(&self) -> Result<u64> {
        let kept = stored_u64(&self.db, KEY_SIGNED)?;
        Ok(kept.max(self.size()?).max(self.terms_size()?))
    }

    /// Keeps `size` as the signed high-water mark when it is higher, in sled's default tree
    /// (which [`Index::clear`] leaves alone), and flushes it: a rebuild of the index, or a cut
    /// of the segments, cannot take it along.
    pub(crate) fn keep_signed(&self, size: u64) -> Result<()> {
        if size > stored_u64(&self.db, KEY_SIGNED)? {
            self.db.insert(KEY_SIGNED, &size.to_be_bytes())?;
            self.db.flush()?;
        }
        Ok(())
    }

    /// Forgets everything but the signed high-water mark (before a rebuild).
    pub(crate) fn clear(&self) -> Result<()> {
        self.tree.clear()?;
        self.terms.clear()?;
        self.terms.insert(KEY_LAYOUT, &TERMS_LAYOUT.to_be_bytes())?;
        self.db.flush()?;
        Ok(())
    }

    /// Clears the `terms` tree when it was written with another layout than [`TERMS_LAYOUT`]
    /// (e.g. before the time marks existed), so that recovery rebuilds it from the segments.
    /// Returns whether it held terms that must be rebuilt.
    pub(crate) fn check_terms_layout(&self) -> Result<bool> {
        let current = self
            .terms
            .get(KEY_LAYOUT)?
            .is_some_and(|v| v.as_ref() == TERMS_LAYOUT.to_be_bytes());
        if current {
            return Ok(false);
        }
        let stale = self.terms_size()? > 0;
        self.terms.clear()?;
        self.terms.insert(KEY_LAYOUT, &TERMS_LAYOUT.to_be_bytes())?;
        self.db.flush()?;
        Ok(stale)
    }

    /// Writes one commit's additions, in order, and then its size. Not as one sled batch:
    /// every sled batch seals sled's log buffer (and hands it to sled's IO threads, waking them
    /// all), which cost more per commit than the writes themselves. Readers read only below the
    /// published size, which the log moves after this returns; and sled recovers single writes
    /// in order, stopping at the first torn one, so after a crash the size it holds still
    /// covers only tiles and positions that were written (and recovery checks the tiles
    /// against the segments anyway).
    pub(crate) fn apply(&self, add: Additions) -> Result<()> {
        let positions = self.position_writes(&add.positions)?;
        for (key, value) in add.writes {
            match value {
                Some(v) => self.tree.insert(key, v)?,
                None => self.tree.remove(key)?,
            };
        }
        for (key, value) in positions {
            self.tree.insert(key, value)?;
        }
        if let Some(size) = add.size {
            self.tree.insert(KEY_SIZE, &size.to_be_bytes())?;
        }
        Ok(())
    }

    /// Writes the additions of one or more commits as one atomic sled batch (a later write of
    /// a key replaces an earlier one, as written in order would).
    pub(crate) fn apply_batch(&self, add: Additions) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (key, value) in add.writes {
            match value {
                Some(v) => batch.insert(key, v),
                None => batch.remove(key),
            }
        }
        for (key, value) in self.position_writes(&add.positions)? {
            batch.insert(key, value);
        }
        if let Some(size) = add.size {
            batch.insert(KEY_SIZE, &size.to_be_bytes());
        }
        self.tree.apply_batch(batch)?;
        Ok(())
    }

    /// The writes that add `new` (in log order) to the stored position blocks: the edge block
    /// grows and is rewritten under [`POS_EDGE`]; when a position of a later block follows, it
    /// is written once under its [`layout::pos_block_key`]. Positions at or after the first new
    /// one (left by a commit that a crash cut before its size) are replaced.
    fn position_writes(&self, new: &[[u8; POS_ENTRY]]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        let Some(first) = new.first() else {
            return Ok(out);
        };
        let block_of = |e: &[u8]| u64::from_be_bytes(hit_index(e)) / POS_BLOCK;
        let first_block = block_of(first);
        let mut edge = self
            .tree
            .get(POS_EDGE)?
            .map(|v| v.to_vec())
            .unwrap_or_default();
        if edge.len() % POS_ENTRY != 0 || edge.get(..8).is_some_and(|e| block_of(e) > first_block) {
            // A replay of records before the edge block: continue the stored block they are in.
            edge = self
                .tree
                .get(layout::pos_block_key(first_block))?
                .map(|v| v.to_vec())
                .filter(|v| v.len() % POS_ENTRY == 0)
                .unwrap_or_default();
        }
        let keep = edge
            .chunks(POS_ENTRY)
            .take_while(|e| e[..8] < first[..8])
            .count();
        edge.truncate(keep * POS_ENTRY);
        for entry in new {
            if let Some(block) = edge.get(..8).map(block_of) {
                if block != block_of(entry) {
                    out.push((
                        layout::pos_block_key(block).to_vec(),
                        std::mem::take(&mut edge),
                    ));
                }
            }
            edge.extend_from_slice(entry);
        }
        out.push((POS_EDGE.to_vec(), edge));
        Ok(out)
    }

    /// Overwrites the `log` tree's size, as a crash between a commit's writes can leave it.
    #[cfg(test)]
    pub(crate) fn set_size(&self, size: u64) -> Result<()> {
        self.tree.insert(KEY_SIZE, &size.to_be_bytes())?;
        Ok(())
    }

    /// Applies a group of query terms atomically.
    pub(crate) fn apply_terms(&self, terms: Terms) -> Result<()> {
        self.terms.apply_batch(terms.into_batch(&self.terms)?)?;
        Ok(())
    }

    /// Writes the index to disk (it is rebuilt if a crash loses the latest part).
    pub(crate) fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    /// The encoded tile, if stored: a full tile under its key, else the partial tile of the
    /// right edge when it is this one. (An index written before the edge keys existed holds
    /// partial tiles under their own key; the edge key, written since, is newer.)
    pub(crate) fn tile(&self, tile_level: u8, tile: u64) -> Result<Option<sled::IVec>> {
        let stored = self.tree.get(layout::tile_key(tile_level, tile))?;
        if stored
            .as_ref()
            .is_some_and(|b| b.get(..2) == Some(&(TILE_WIDTH as u16).to_be_bytes()[..]))
        {
            return Ok(stored);
        }
        if let Some(edge) = self.tree.get(layout::edge_key(tile_level))? {
            if edge.get(..8) == Some(&tile.to_be_bytes()[..]) {
                return Ok(Some(edge.subslice(8, edge.len() - 8)));
            }
        }
        Ok(stored)
    }

    /// The indexed position at or before record `index`: `(from, segment, offset)`, meaning
    /// record `from` is at `offset` of the segment starting at `segment`. Read from the block
    /// of `index` (the edge's or a full one); an index written before the blocks holds one
    /// key per position instead.
    pub(crate) fn position(&self, index: u64) -> Result<Option<(u64, u64, u64)>> {
        let block = index / POS_BLOCK;
        let edge = self.tree.get(POS_EDGE)?;
        let stored = match edge {
            Some(e)
                if e.get(..8)
                    .map(hit_index)
                    .map(u64::from_be_bytes)
                    .map(|i| i / POS_BLOCK)
                    == Some(block) =>
            {
                Some(e)
            }
            _ => self.tree.get(layout::pos_block_key(block))?,
        };
        if let Some(stored) = stored {
            if stored.len() % POS_ENTRY != 0 {
                return Err(missing("a record position block is malformed"));
            }
            let at = |e: &[u8], i: usize| {
                let mut a = [0u8; 8];
                a.copy_from_slice(&e[i * 8..i * 8 + 8]);
                u64::from_be_bytes(a)
            };
            if let Some(e) = stored.chunks(POS_ENTRY).rev().find(|e| at(e, 0) <= index) {
                return Ok(Some((at(e, 0), at(e, 1), at(e, 2))));
            }
        }
        self.old_position(index)
    }

    /// [`Index::position`] in an index written before the position blocks.
    fn old_position(&self, index: u64) -> Result<Option<(u64, u64, u64)>> {
        let lo = layout::pos_key(index.saturating_sub(POS_STRIDE - 1));
        let Some((k, v)) = self
            .tree
            .range(lo..=layout::pos_key(index))
            .next_back()
            .transpose()?
        else {
            return Ok(None);
        };
        let from: [u8; 8] = k
            .get(1..)
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| missing("a record position key is malformed"))?;
        let from = u64::from_be_bytes(from);
        let v: [u8; 16] = v
            .as_ref()
            .try_into()
            .map_err(|_| missing("a record position is malformed"))?;
        let (mut seg, mut off) = ([0u8; 8], [0u8; 8]);
        seg.copy_from_slice(&v[..8]);
        off.copy_from_slice(&v[8..]);
        Ok(Some((
            from,
            u64::from_be_bytes(seg),
            u64::from_be_bytes(off),
        )))
    }
}

/// Whether opening sled failed because another handle holds its lock. sled 0.34 reports that
/// as `ErrorKind::Other` with the `WouldBlock` error only in its message.
fn lock_held(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock
        || (e.kind() == std::io::ErrorKind::Other
            && e.to_string().starts_with("could not acquire lock"))
}

fn stored_size(tree: &sled::Tree) -> Result<u64> {
    stored_u64(tree, KEY_SIZE)
}

/// A u64 (BE) stored under `key`, 0 when there is none.
fn stored_u64(tree: &sled::Tree, key: &[u8]) -> Result<u64> {
    Ok(tree
        .get(key)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map_or(0, u64::from_be_bytes))
}

fn missing(what: &str) -> Error {
    Error::Unavailable(format!(
        "{what} in the index; reopen the log to rebuild the index"
    ))
}

impl PerfectHashes for Index {
    fn perfect(&self, level: u8, index: u64) -> Result<Hash> {
        let (tl, tile, row, pos) = layout::tile_coords(level, index);
        let Some(bytes) = self.tile(tl, tile)? else {
            return Err(missing("a tree tile is missing"));
        };
        let width = bytes
            .get(..2)
            .map(|w| usize::from(u16::from_be_bytes([w[0], w[1]])))
            .ok_or_else(|| missing("a tree tile is malformed"))?;
        layout::tile_offset(width, row, pos)
            .and_then(|at| bytes.get(at..at + 32))
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| missing("a subtree hash is missing"))
    }
}
