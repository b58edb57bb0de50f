//! The walk over all segments in log order that recovery and the verifier share: each segment
//! must start where the previous one ended, every frame is scanned ([`scan()`]), and a bad frame
//! is judged ([`classify()`]) as a torn tail or as corruption.

use std::path::PathBuf;

use super::{BadFrame, Damage, classify, scan};
use crate::error::{Error, Result};
use crate::layout::SEGMENT_HEADER;

/// What a [`walk`] does with the records it finds.
pub(crate) trait Visit {
    /// A good record, in log order: its index, the first index of its segment, the byte offset
    /// of its frame in that segment, and its leaf. An error ends the walk with that error.
    fn record(&mut self, index: u64, first: u64, offset: u64, leaf: &[u8]) -> Result<()>;

    /// Asked once all frames of a segment are read, before a bad frame in it is judged: `true`
    /// ends the walk there, and what [`walk`] returns then covers only the segments before it.
    fn stop(&mut self) -> bool {
        false
    }
}

/// A closure taking `(index, first, offset, leaf)` visits every record and never stops.
impl<F: FnMut(u64, u64, u64, &[u8]) -> Result<()>> Visit for F {
    fn record(&mut self, index: u64, first: u64, offset: u64, leaf: &[u8]) -> Result<()> {
        self(index, first, offset, leaf)
    }
}

/// How the segments end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Walked {
    /// The index of the record after the last good one.
    pub(crate) next: u64,
    /// The last segment (`None` when there are no segments).
    pub(crate) last: Option<SegmentEnd>,
}

/// Where the records of a segment end. Only the last segment can end anywhere but just past
/// its last frame: a bad frame in any other segment is corruption, and ends the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentEnd {
    /// The index of the segment's first record (its name).
    pub(crate) first: u64,
    /// The segment file.
    pub(crate) path: PathBuf,
    /// Just past the last good frame: the segment's durable length.
    pub(crate) end: u64,
    /// The torn tail (an unacknowledged batch cut by a crash) that starts at `end`, if any.
    pub(crate) torn: Option<BadFrame>,
}

/// What is left of the header of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Header {
    /// It is whole.
    Sound,
    /// It is bad or incomplete, and the file is no longer than a header: a crash cut the
    /// segment's creation short, and it holds no record.
    CutShort,
    /// It is bad, and the file is longer than a header.
    Damaged,
}

impl SegmentEnd {
    /// The state of the segment's header: only a torn tail starting inside the header can leave
    /// it other than [`Header::Sound`], and then the file's length tells the rest.
    pub(crate) fn header(&self) -> Result<Header> {
        if self.end >= SEGMENT_HEADER {
            return Ok(Header::Sound);
        }
        let len = std::fs::metadata(&self.path)
            .map_err(|e| Error::io("stat", &self.path, e))?
            .len();
        Ok(if len > SEGMENT_HEADER {
            Header::Damaged
        } else {
            Header::CutShort
        })
    }
}

/// Walks the `segments` (first index and path, sorted) in log order, giving every good record
/// to `visit`. A segment that does not start where the previous one ended, or a bad frame that
/// is not a torn tail (see [`classify()`]; records below `floor` were acknowledged) is
/// [`Error::Corrupt`].
pub(crate) fn walk(
    segments: &[(u64, PathBuf)],
    floor: u64,
    visit: &mut impl Visit,
) -> Result<Walked> {
    let mut walked = Walked {
        next: 0,
        last: None,
    };
    for (i, (first, path)) in segments.iter().enumerate() {
        let next = walked.next;
        if *first != next {
            return Err(Error::Corrupt {
                segment: path.clone(),
                offset: 0,
                index: next,
                what: format!("segment starts at record {first} but record {next} comes next"),
            });
        }
        let scanned = scan(path, *first, SEGMENT_HEADER, *first, |at, offset, leaf| {
            visit.record(at, *first, offset, leaf)
        })?;
        if visit.stop() {
            return Ok(walked);
        }
        let torn = match scanned.bad {
            None => None,
            Some(bad) => match classify(path, &bad, i + 1 == segments.len(), floor)? {
                Damage::Corrupt(e) => return Err(e),
                Damage::TornTail => Some(bad),
            },
        };
        walked = Walked {
            next: scanned.next_index,
            last: Some(SegmentEnd {
                first: *first,
                path: path.clone(),
                end: torn.as_ref().map_or(scanned.end, |bad| bad.offset),
                torn,
            }),
        };
    }
    Ok(walked)
}
