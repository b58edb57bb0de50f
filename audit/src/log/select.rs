//! Selections over the log, answered from the sled index rather than a scan: several terms
//! intersected with a leapfrog join, a time range narrowed to an index range by the time
//! marks, pages with a cursor; the latest record of a term; and sequential range reads.

use time::OffsetDateTime;

use super::Log;
use crate::error::{Error, Result};
use crate::index::{Cursor, Index};
use crate::record::{Field, Record, time_key};
use crate::store::Frames;

/// What to select: every term must match (AND), and the record's `time` must lie in
/// `from..=to` (both inclusive, each optional).
///
/// `after` is the cursor (the `next` of the previous [`Page`]): only records with a higher
/// index are selected. `limit` is the most records one page holds; the caller bounds it (the
/// regulator API allows at most 1000), since the page's leaves are held in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// `(field, value)` pairs that must all match; a `Field::Time` value is the 8-byte
    /// [`crate::time_key`] of a second.
    pub terms: Vec<(Field, Vec<u8>)>,
    /// Earliest record time selected (inclusive).
    pub from: Option<OffsetDateTime>,
    /// Latest record time selected (inclusive). `from` after `to` selects nothing.
    pub to: Option<OffsetDateTime>,
    /// Only records with a higher index than this.
    pub after: Option<u64>,
    /// The most records in the page; 0 gives an empty page.
    pub limit: usize,
}

/// One page: matching records in log order as (log index, leaf bytes); `next` is the cursor to
/// pass as `after` for the following page (the last index returned) when more records may
/// match, else None.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// `(log index, leaf bytes)` of the matching records, in log order.
    pub records: Vec<(u64, Vec<u8>)>,
    /// The last index returned, when a further record matches; `None` at the end.
    pub next: Option<u64>,
}

impl Page {
    /// A page from `found`, which holds up to `want` records: one more than the page's limit
    /// was sought, so when all `want` were found the last is dropped and the page's last record
    /// is the cursor of the next.
    fn of(mut found: Vec<(u64, Vec<u8>)>, want: usize) -> Self {
        let next = if found.len() == want {
            found.pop();
            found.last().map(|(index, _)| *index)
        } else {
            None
        };
        Self {
            records: found,
            next,
        }
    }
}

impl Log {
    /// The records matching `selection`, one page at a time, in log order. Covers every record
    /// acknowledged before the call (it waits for the indexer, like [`Log::query`]).
    ///
    /// Index-driven: the term lists (each in log order) are intersected with a leapfrog join,
    /// each step a seek of O(log n) sled reads, within the index range [`Log::time_bounds`]
    /// gives for `from..=to`; with no terms, that range is read sequentially. Only the
    /// candidates' leaves are read, and each is checked exactly (its `time`, at sub-second
    /// precision, and its terms) before it counts. It stops after `limit` matches and one more
    /// (which only decides `next`, so `next` is `Some` exactly when another page has records).
    pub fn select(&self, selection: &Selection) -> Result<Page> {
        if selection.limit == 0 {
            return Ok(Page::default());
        }
        let size = self.indexed_size()?;
        let (lo, hi) = self.bounds(selection.from, selection.to, size)?;
        let start = match selection.after {
            Some(after) => after.saturating_add(1).max(lo),
            None => lo,
        };
        let want = selection.limit.saturating_add(1);
        let mut found = Vec::new();
        if start < hi && selection.terms.is_empty() {
            for item in self.frames(start, hi)? {
                let (index, leaf) = item?;
                if matches(selection, &leaf) {
                    found.push((index, leaf));
                    if found.len() == want {
                        break;
                    }
                }
            }
        } else if start < hi {
            let index = &self.index()?;
            let mut cursors: Vec<Cursor<'_>> = selection
                .terms
                .iter()
                .map(|(field, value)| index.cursor(*field, value))
                .collect();
            let mut at = start;
            while found.len() < want {
                let Some(hit) = join(&mut cursors, at, hi)? else {
                    break;
                };
                let leaf = self.read(hit)?;
                if matches(selection, &leaf) {
                    found.push((hit, leaf));
                }
                at = hit + 1;
            }
        }
        Ok(Page::of(found, want))
    }

    /// [`Log::select`] newest first: the matching records in descending log order, where
    /// `after` (the cursor, the previous page's `next`) selects records with a **lower** index
    /// than it, i.e. those after it in this order. `next` is the last (lowest) index returned
    /// when another page has records.
    ///
    /// Index-driven as [`Log::select`] is, with the leapfrog join run backwards: each step
    /// finds a term's last hit at or below the candidate (O(log n) sled reads). With no terms,
    /// the time range is read record by record from its end.
    pub fn select_newest_first(&self, selection: &Selection) -> Result<Page> {
        if selection.limit == 0 {
            return Ok(Page::default());
        }
        let size = self.indexed_size()?;
        let (lo, hi) = self.bounds(selection.from, selection.to, size)?;
        // Candidates lie in `lo..end`.
        let mut end = selection.after.map_or(hi, |after| after.min(hi));
        let want = selection.limit.saturating_add(1);
        let mut found = Vec::new();
        if selection.terms.is_empty() {
            while end > lo && found.len() < want {
                end -= 1;
                let leaf = self.read(end)?;
                if matches(selection, &leaf) {
                    found.push((end, leaf));
                }
            }
        } else {
            let index = &self.index()?;
            while found.len() < want {
                let Some(hit) = join_back(index, &selection.terms, lo, end)? else {
                    break;
                };
                let leaf = self.read(hit)?;
                if matches(selection, &leaf) {
                    found.push((hit, leaf));
                }
                end = hit;
            }
        }
        Ok(Page::of(found, want))
    }

    /// The last record (highest index) with `field == value`, if any (e.g. the latest
    /// `policy_change`). Covers every record acknowledged before the call.
    pub fn last(&self, field: Field, value: &[u8]) -> Result<Option<u64>> {
        let size = self.indexed_size()?;
        self.index()?.last(field, value, size)
    }

    /// Records `from..to` (log indexes, `to` exclusive, clamped to the size) read sequentially
    /// from the segment files: constant memory whatever the range (an iterator, not a Vec).
    /// Errors for out-of-range or corrupt data.
    ///
    /// `from` past the size is `Error::OutOfRange`; `from` equal to the (clamped) `to`, e.g.
    /// `read_range(size, size)`, or after it, is an empty iterator. The position index is read
    /// once, for `from`; then the frames follow one another across segment boundaries, each
    /// checked (length, CRC, index) like [`Log::read`] does. A damaged frame ends the
    /// iteration with `Error::Corrupt`. The range is fixed when this is called: records
    /// appended later are not included. A consumer that pauses between batches calls
    /// [`Frames::release`] so that no segment file stays open meanwhile.
    pub fn read_range(&self, from: u64, to: u64) -> Result<Frames> {
        let size = self.size();
        if from > size {
            return Err(Error::OutOfRange {
                what: "first record index",
                value: from,
                size,
            });
        }
        self.frames(from, to.min(size))
    }

    /// The index range `lo..hi` of records whose time may lie in `from..=to` (see the time
    /// index below). Covers every record acknowledged before the call; `from` after `to` gives
    /// an empty range (`lo == hi`).
    ///
    /// The time index holds, per second, the first record index at which the running maximum
    /// of record times enters that second. `lo` is the first index whose running maximum is at
    /// or after `from`'s second, `hi` the first whose running maximum is after `to`'s second
    /// (or the size). The bounds are per second: callers check each record's exact `time`.
    /// The gateway stamps and enqueues records under one lock, so record times never
    /// decrease along the log, and then the range is exact. Were a record older than an
    /// earlier one, no record at or after `from` would be missed below `lo` (a running maximum
    /// is at least the record's own time), but one before `to` could lie beyond `hi`.
    pub fn time_bounds(
        &self,
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
    ) -> Result<(u64, u64)> {
        let size = self.indexed_size()?;
        self.bounds(from, to, size)
    }

    fn bounds(
        &self,
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
        size: u64,
    ) -> Result<(u64, u64)> {
        let index = &self.index()?;
        let lo = match from {
            Some(from) => index.time_mark(time_key(from), false)?.unwrap_or(size),
            None => 0,
        }
        .min(size);
        let hi = match to {
            Some(to) => index.time_mark(time_key(to), true)?.unwrap_or(size),
            None => size,
        }
        .min(size);
        Ok((lo, hi.max(lo)))
    }

    /// The records `from..to` (both below the size), read sequentially.
    fn frames(&self, from: u64, to: u64) -> Result<Frames> {
        if from >= to {
            return Ok(self.inner.reader.frames(from, 0, from, from, from));
        }
        self.wait_indexed(from + 1)?;
        let (at, segment, offset) = self.index()?.position(from)?.ok_or_else(|| {
            Error::Unavailable("record position missing; reopen to rebuild the index".into())
        })?;
        Ok(self.inner.reader.frames(segment, offset, at, from, to))
    }
}

/// The first index in `at..hi` that every cursor holds (a leapfrog join: each cursor in turn
/// seeks the current candidate, and any hit past it becomes the new candidate), if any.
fn join(cursors: &mut [Cursor<'_>], at: u64, hi: u64) -> Result<Option<u64>> {
    leapfrog(
        cursors.len(),
        at,
        |i| i < hi,
        |turn, at| cursors[turn].seek(at),
    )
}

/// The last index in `lo..end` that every term's list holds (the leapfrog join of [`join`],
/// run backwards: each list in turn gives its last hit at or below the candidate, and any hit
/// below it becomes the new candidate), if any.
fn join_back(index: &Index, terms: &[(Field, Vec<u8>)], lo: u64, end: u64) -> Result<Option<u64>> {
    let Some(at) = end.checked_sub(1) else {
        return Ok(None);
    };
    leapfrog(
        terms.len(),
        at,
        |i| i >= lo,
        |turn, at| {
            let (field, value) = &terms[turn];
            index.last(*field, value, at.saturating_add(1))
        },
    )
}

/// The leapfrog join of `lists` sorted lists, in either direction: from the candidate `at`,
/// list `turn` gives its nearest hit at or beyond it in the join's direction
/// (`seek(turn, at)`); a hit equal to the candidate is one more list agreeing, any other
/// becomes the new candidate. The index all lists hold, while it is `within` the range.
fn leapfrog(
    lists: usize,
    mut at: u64,
    within: impl Fn(u64) -> bool,
    mut seek: impl FnMut(usize, u64) -> Result<Option<u64>>,
) -> Result<Option<u64>> {
    let mut agreed = 0;
    let mut turn = 0;
    while agreed < lists {
        if !within(at) {
            return Ok(None);
        }
        let Some(hit) = seek(turn, at)? else {
            return Ok(None);
        };
        if hit == at {
            agreed += 1;
        } else {
            at = hit;
            agreed = 1;
        }
        turn = (turn + 1) % lists;
    }
    Ok(within(at).then_some(at))
}

/// Whether the leaf of a candidate matches exactly: its time in `from..=to` (the time index
/// is per second) and every term (the index keys truncate very long values).
fn matches(selection: &Selection, leaf: &[u8]) -> bool {
    if selection.terms.is_empty() && selection.from.is_none() && selection.to.is_none() {
        return true;
    }
    let Ok(record) = Record::from_leaf(leaf) else {
        return false;
    };
    if selection.from.is_some() || selection.to.is_some() {
        let Ok(time) = record.instant() else {
            return false;
        };
        if selection.from.is_some_and(|from| time < from)
            || selection.to.is_some_and(|to| time > to)
        {
            return false;
        }
    }
    if !selection.terms.is_empty() {
        let terms = record.index_terms();
        return selection.terms.iter().all(|t| terms.contains(t));
    }
    true
}
