//! Reading the `terms` tree for selections: a cursor that seeks the first hit at or after an
//! index in one `(field, value)` list (what a leapfrog join needs), the last hit of a list, a
//! page of a list, and the time marks.

use std::ops::Bound;

use super::{Index, Place, missing};
use crate::error::Result;
use crate::layout::{TIME_MARK, query_key, time_mark_key};
use crate::record::Field;

/// One stored group of hits, in log order: each an index (u64 BE) followed by the hit's tail
/// (see [`Place`]), all of one length.
struct Group {
    bytes: sled::IVec,
    stride: usize,
}

impl Group {
    fn new(bytes: sled::IVec, tail_len: usize) -> Result<Self> {
        let stride = 8 + tail_len;
        if bytes.len() % stride != 0 {
            return Err(missing("a query list is malformed"));
        }
        Ok(Self { bytes, stride })
    }

    fn len(&self) -> usize {
        self.bytes.len() / self.stride
    }

    fn index(&self, i: usize) -> u64 {
        let at = i * self.stride;
        let mut a = [0u8; 8];
        a.copy_from_slice(&self.bytes[at..at + 8]);
        u64::from_be_bytes(a)
    }

    fn tail(&self, i: usize) -> &[u8] {
        let at = i * self.stride;
        &self.bytes[at + 8..at + self.stride]
    }

    /// How many hits are below `index` (a binary search: the hits are sorted).
    fn count_below(&self, index: u64) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.index(mid) < index {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The hits at or after `index` with this `tail`, in log order.
    fn from<'a>(&'a self, index: u64, tail: &'a [u8]) -> impl Iterator<Item = u64> + 'a {
        (self.count_below(index)..self.len())
            .filter(move |&i| self.tail(i) == tail)
            .map(|i| self.index(i))
    }

    /// The last hit below `below` with this `tail`, if any.
    fn last_below(&self, below: u64, tail: &[u8]) -> Option<u64> {
        (0..self.count_below(below))
            .rev()
            .find(|&i| self.tail(i) == tail)
            .map(|i| self.index(i))
    }
}

/// A forward cursor over the hits of one `(field, value)`.
pub(crate) struct Cursor<'a> {
    terms: &'a sled::Tree,
    prefix: Vec<u8>,
    tail: Vec<u8>,
    /// The group the last seek found, and the index it was sought from: every hit at or after
    /// that index up to the group's last lies in the group.
    cached: Option<(u64, Group)>,
}

impl Cursor<'_> {
    /// The first hit at or after `index`, if any: one or two sled range reads (O(log n)), or
    /// none when the group found by the previous seek still holds it.
    pub(crate) fn seek(&mut self, index: u64) -> Result<Option<u64>> {
        if let Some((from, group)) = &self.cached {
            if *from <= index {
                if let Some(hit) = group.from(index, &self.tail).next() {
                    return Ok(Some(hit));
                }
            }
        }
        let key_len = self.prefix.len() + 8;
        let key = query_key(&self.prefix, index);
        // The group that may hold `index` is the last one starting at or before it...
        let mut before = self.terms.range(self.prefix.as_slice()..=key.as_slice());
        if let Some(kv) = before.next_back() {
            let (k, v) = kv?;
            if k.len() == key_len {
                if let Some(hit) = self.keep(index, Group::new(v, self.tail.len())?) {
                    return Ok(Some(hit));
                }
            }
        }
        // ...else the hit is in one of the next groups (the first, but for a bucket's).
        for kv in self.terms.range(key.as_slice()..) {
            let (k, v) = kv?;
            if !k.starts_with(&self.prefix) {
                break;
            }
            if k.len() == key_len {
                if let Some(hit) = self.keep(index, Group::new(v, self.tail.len())?) {
                    return Ok(Some(hit));
                }
            }
        }
        self.cached = None;
        Ok(None)
    }

    fn keep(&mut self, index: u64, group: Group) -> Option<u64> {
        let hit = group.from(index, &self.tail).next()?;
        self.cached = Some((index, group));
        Some(hit)
    }
}

impl Index {
    /// A cursor over the indexes of records with `field == value`.
    pub(crate) fn cursor(&self, field: Field, value: &[u8]) -> Cursor<'_> {
        let place = Place::of(field, value);
        Cursor {
            terms: &self.terms,
            prefix: place.prefix,
            tail: place.tail.to_vec(),
            cached: None,
        }
    }

    /// The highest index below `below` of a record with `field == value`, if any.
    pub(crate) fn last(&self, field: Field, value: &[u8], below: u64) -> Result<Option<u64>> {
        let place = Place::of(field, value);
        let end = query_key(&place.prefix, below);
        for kv in self
            .terms
            .range(place.prefix.as_slice()..end.as_slice())
            .rev()
        {
            let (k, v) = kv?;
            if k.len() != place.prefix.len() + 8 {
                continue;
            }
            let group = Group::new(v, place.tail.len())?;
            if let Some(hit) = group.last_below(below, place.tail) {
                return Ok(Some(hit));
            }
        }
        Ok(None)
    }

    /// Up to `limit` indexes of records with `field == value`, in log order, after `after`:
    /// the cursor's hits, one seek after another.
    pub(crate) fn query(
        &self,
        field: Field,
        value: &[u8],
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>> {
        let mut cursor = self.cursor(field, value);
        let mut at = after.map_or(0, |a| a.saturating_add(1));
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(hit) = cursor.seek(at)? else {
                break;
            };
            out.push(hit);
            match hit.checked_add(1) {
                Some(next) => at = next,
                None => break,
            }
        }
        Ok(out)
    }

    /// The running maximum of the indexed records' time keys, if any record has a time.
    pub(crate) fn time_max(&self) -> Result<Option<[u8; 8]>> {
        let Some(kv) = self.terms.scan_prefix([TIME_MARK]).next_back() else {
            return Ok(None);
        };
        let (k, _) = kv?;
        k.get(1..)
            .and_then(|s| <[u8; 8]>::try_from(s).ok())
            .map(Some)
            .ok_or_else(|| missing("a time mark key is malformed"))
    }

    /// The first record index whose running maximum time key is at or after `second` (or,
    /// with `strictly_after`, after it), if an indexed record's is.
    pub(crate) fn time_mark(&self, second: [u8; 8], strictly_after: bool) -> Result<Option<u64>> {
        let key = time_mark_key(second).to_vec();
        let start = if strictly_after {
            Bound::Excluded(key)
        } else {
            Bound::Included(key)
        };
        let Some(kv) = self.terms.range((start, Bound::Unbounded)).next() else {
            return Ok(None);
        };
        let (k, v) = kv?;
        if k.first() != Some(&TIME_MARK) {
            return Ok(None);
        }
        <[u8; 8]>::try_from(v.as_ref())
            .map(|v| Some(u64::from_be_bytes(v)))
            .map_err(|_| missing("a time mark is malformed"))
    }
}
