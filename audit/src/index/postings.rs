//! Reading the `terms` tree for selections: a cursor that seeks the first hit at or after an
//! index in one `(field, value)` list (what a leapfrog join needs), the last hit of a list, and
//! the time marks.

use std::ops::Bound;

use super::{Index, missing};
use crate::error::Result;
use crate::layout::{self, TIME_MARK};
use crate::record::Field;

/// One stored group of hits: indexes in log order, u64 BE each.
struct Group(sled::IVec);

impl Group {
    fn new(bytes: sled::IVec) -> Result<Self> {
        if bytes.len() % 8 != 0 {
            return Err(missing("a query list is malformed"));
        }
        Ok(Self(bytes))
    }

    fn len(&self) -> usize {
        self.0.len() / 8
    }

    fn get(&self, i: usize) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&self.0[i * 8..i * 8 + 8]);
        u64::from_be_bytes(a)
    }

    /// How many hits are below `index` (a binary search: the hits are sorted).
    fn count_below(&self, index: u64) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.get(mid) < index {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The first hit at or after `index`, if any.
    fn first_from(&self, index: u64) -> Option<u64> {
        let i = self.count_below(index);
        (i < self.len()).then(|| self.get(i))
    }
}

/// A forward cursor over the hits of one `(field, value)`.
pub(crate) struct Cursor<'a> {
    terms: &'a sled::Tree,
    prefix: Vec<u8>,
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
                if let Some(hit) = group.first_from(index) {
                    return Ok(Some(hit));
                }
            }
        }
        let key_len = self.prefix.len() + 8;
        let mut key = self.prefix.clone();
        key.extend_from_slice(&index.to_be_bytes());
        // The group that may hold `index` is the last one starting at or before it...
        let mut before = self.terms.range(self.prefix.as_slice()..=key.as_slice());
        if let Some(kv) = before.next_back() {
            let (k, v) = kv?;
            if k.len() == key_len {
                if let Some(hit) = self.keep(index, Group::new(v)?) {
                    return Ok(Some(hit));
                }
            }
        }
        // ...else the hit is the first of the next group.
        for kv in self.terms.range(key.as_slice()..) {
            let (k, v) = kv?;
            if !k.starts_with(&self.prefix) {
                break;
            }
            if k.len() == key_len {
                if let Some(hit) = self.keep(index, Group::new(v)?) {
                    return Ok(Some(hit));
                }
            }
        }
        self.cached = None;
        Ok(None)
    }

    fn keep(&mut self, index: u64, group: Group) -> Option<u64> {
        let hit = group.first_from(index)?;
        self.cached = Some((index, group));
        Some(hit)
    }
}

impl Index {
    /// A cursor over the indexes of records with `field == value`.
    pub(crate) fn cursor(&self, field: Field, value: &[u8]) -> Cursor<'_> {
        Cursor {
            terms: &self.terms,
            prefix: layout::query_prefix(field.tag(), value),
            cached: None,
        }
    }

    /// The highest index below `below` of a record with `field == value`, if any.
    pub(crate) fn last(&self, field: Field, value: &[u8], below: u64) -> Result<Option<u64>> {
        let prefix = layout::query_prefix(field.tag(), value);
        let end = layout::query_key(field.tag(), value, below);
        for kv in self.terms.range(prefix.as_slice()..end.as_slice()).rev() {
            let (k, v) = kv?;
            if k.len() != prefix.len() + 8 {
                continue;
            }
            let group = Group::new(v)?;
            let n = group.count_below(below);
            if n > 0 {
                return Ok(Some(group.get(n - 1)));
            }
        }
        Ok(None)
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
        let key = layout::time_mark_key(second).to_vec();
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
