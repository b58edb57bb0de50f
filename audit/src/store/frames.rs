//! Reading a range of records sequentially, across segment boundaries, with one buffered reader
//! and one leaf in memory at a time: every frame is checked as `scan` checks it (length,
//! checksum, index, batch start).
//!
//! A reader may pause for as long as its consumer likes (an HTTP/2 export stream whose client
//! stopped reading): [`Frames::release`] closes the segment file between reads, and the next
//! read reopens it at the offset reached. Holding it open across pauses let one regulator's
//! stalled export streams fill the process's descriptor table (EMFILE for the accept loop,
//! sled and upstreams alike).

use std::fs::File;
use std::io::{BufReader, Seek as _, SeekFrom};
use std::path::PathBuf;

use super::scan::{Frame, read_frame, read_segment_header};
use crate::error::{Error, Result};
use crate::layout::{self, SEGMENT_HEADER};

/// Buffer of the sequential reader.
const READ_BUFFER: usize = 256 << 10;

/// The records `from..to` as `(index, leaf)`, in order (what [`crate::Log::read_range`]
/// returns). After an error it yields nothing more.
#[derive(Debug)]
pub struct Frames {
    dir: PathBuf,
    /// First index of the segment being read, and the reader once it is open.
    segment: u64,
    reader: Option<BufReader<File>>,
    /// Byte offset of the frame of record `next` in that segment.
    offset: u64,
    next: u64,
    from: u64,
    to: u64,
    leaf: Vec<u8>,
    failed: bool,
}

impl Frames {
    /// Reads from record `at`, whose frame is at `offset` of the segment starting at `segment`
    /// (in `dir`), yielding the records `from..to` (`at <= from`; earlier frames are checked
    /// and skipped). Nothing is opened before the first record is asked for.
    pub(crate) fn new(
        dir: PathBuf,
        segment: u64,
        offset: u64,
        at: u64,
        from: u64,
        to: u64,
    ) -> Self {
        Self {
            dir,
            segment,
            reader: None,
            offset,
            next: at,
            from,
            to,
            leaf: Vec::new(),
            failed: false,
        }
    }

    /// Closes the segment file (and frees its read buffer) until the next record is asked
    /// for, which reopens it where this left off. For a consumer that pauses between batches.
    pub fn release(&mut self) {
        self.reader = None;
    }

    /// Whether a segment file is open now.
    pub fn is_open(&self) -> bool {
        self.reader.is_some()
    }

    fn path(&self) -> PathBuf {
        self.dir.join(layout::segment_name(self.segment))
    }

    fn corrupt(&self, what: impl Into<String>) -> Error {
        Error::Corrupt {
            segment: self.path(),
            offset: self.offset,
            index: self.next,
            what: what.into(),
        }
    }

    fn open(&mut self) -> Result<BufReader<File>> {
        let path = self.path();
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(self.corrupt("the segment file holding this record is missing"));
            }
            Err(e) => return Err(Error::io("open", path, e)),
        };
        let mut r = BufReader::with_capacity(READ_BUFFER, file);
        if let Some((what, _)) =
            read_segment_header(&mut r, self.segment).map_err(|e| Error::io("read", &path, e))?
        {
            return Err(self.corrupt(what));
        }
        r.seek(SeekFrom::Start(self.offset))
            .map_err(|e| Error::io("seek", &path, e))?;
        Ok(r)
    }

    fn advance(&mut self) -> Result<(u64, Vec<u8>)> {
        loop {
            let mut r = match self.reader.take() {
                Some(r) => r,
                None => self.open()?,
            };
            let frame = read_frame(&mut r, self.next, &mut self.leaf)
                .map_err(|e| Error::io("read", self.path(), e))?;
            match frame {
                Frame::End if self.segment == self.next => {
                    return Err(self.corrupt("the segment holds no record"));
                }
                Frame::End => {
                    // The segment ends cleanly: the next record starts the next segment.
                    self.segment = self.next;
                    self.offset = SEGMENT_HEADER;
                }
                Frame::Bad { what, .. } => return Err(self.corrupt(what)),
                Frame::Good(h) => {
                    self.reader = Some(r);
                    let at = self.next;
                    self.offset += h.frame_len();
                    self.next += 1;
                    if at >= self.from {
                        return Ok((at, std::mem::take(&mut self.leaf)));
                    }
                }
            }
        }
    }
}

impl Iterator for Frames {
    type Item = Result<(u64, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.next >= self.to {
            return None;
        }
        let item = self.advance();
        self.failed = item.is_err();
        Some(item)
    }
}
