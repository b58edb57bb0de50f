//! Durable, contiguous record indexes. The sequence writes one commit batch as one write and
//! one `fdatasync`, and only then moves its next index past the batch: a failed batch is cut
//! from the file before anything else is written, so its indexes are given again to the next
//! batch, and no index that was ever acknowledged is reused or skipped.

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use crate::error::Result;
use crate::layout::{self, SEGMENT_HEADER};
use crate::store::{ActiveSegment, PREALLOCATE, fsio};

/// Where a durable batch landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Durable {
    /// Index of the batch's first record.
    pub(crate) first: u64,
    /// First index of the segment holding the batch.
    pub(crate) segment: u64,
    /// Byte offset of each record's frame.
    pub(crate) offsets: Vec<u64>,
}

/// The next index and the active segment.
#[derive(Debug)]
pub(crate) struct Sequence {
    dir: PathBuf,
    next: u64,
    active: ActiveSegment,
    segment_max: u64,
    needs_repair: bool,
    buf: Vec<u8>,
}

impl Sequence {
    /// Continues after `next - 1` in `active` (segments live in `dir`).
    pub(crate) fn new(dir: PathBuf, next: u64, active: ActiveSegment, segment_max: u64) -> Self {
        Self {
            dir,
            next,
            active,
            segment_max,
            needs_repair: false,
            buf: Vec::new(),
        }
    }

    /// The index the next record gets.
    #[cfg(test)]
    pub(crate) fn next(&self) -> u64 {
        self.next
    }

    /// Writes `leaves` as one batch; on return they are durable and numbered from the
    /// returned `first`. On error nothing of the batch counts: whatever part of it reached the
    /// file is cut back to the durable end before this returns (or, when that cut fails too,
    /// by the next call before it writes).
    pub(crate) fn append(&mut self, leaves: &[&[u8]]) -> Result<Durable> {
        if self.needs_repair {
            self.active.repair()?;
            self.needs_repair = false;
        }
        if self.active.len >= self.segment_max && self.active.len > SEGMENT_HEADER {
            self.active.close()?;
            self.active = ActiveSegment::create(&self.dir, self.next)?;
        }
        let first = self.next;
        self.buf.clear();
        let mut offsets = Vec::with_capacity(leaves.len());
        for (i, leaf) in leaves.iter().enumerate() {
            offsets.push(self.active.len + self.buf.len() as u64);
            layout::encode_frame(&mut self.buf, first + i as u64, first, leaf);
        }
        let end = self.active.len + self.buf.len() as u64;
        // Past the zeros: fill the next whole PREALLOCATE, up to the segment's limit.
        let fill_to = if end > self.active.filled {
            (end / PREALLOCATE + 1)
                .saturating_mul(PREALLOCATE)
                .min(self.segment_max)
                .max(end)
        } else {
            0
        };
        let res = fsio::append_and_sync(
            &self.active.file,
            &self.active.path,
            self.active.len,
            &self.buf,
            fill_to,
        );
        let filled = match res {
            Ok(filled) => filled,
            Err(e) => {
                // Cut what reached the file at once: an fdatasync that failed after its write
                // leaves the batch's frames readable, whole, in the page cache, and a restart
                // before the next append would recover them as records nobody was told about.
                // If the cut fails too, the next append cuts first.
                if let Err(cut) = self.active.repair() {
                    tracing::warn!(error = %cut, "could not cut a failed batch yet; the next append cuts it first");
                    self.needs_repair = true;
                }
                return Err(e);
            }
        };
        self.active.len = end;
        self.active.filled = self.active.filled.max(filled);
        self.next += leaves.len() as u64;
        if self.buf.capacity() > 16 << 20 {
            self.buf = Vec::new();
        }
        Ok(Durable {
            first,
            segment: self.active.first,
            offsets,
        })
    }
}
