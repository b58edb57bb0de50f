//! Sequential scanning of one segment: every frame checked (length, checksum, index), the first
//! bad frame reported with its offset. Recovery and the verifier both use this.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::MAX_LEAF;
use crate::error::{Error, Result};
use crate::layout::{self, FRAME_HEADER, FrameHeader, SEGMENT_HEADER};

/// The first damaged or unexpected frame of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadFrame {
    /// Its byte offset.
    pub(crate) offset: u64,
    /// The record index expected there.
    pub(crate) index: u64,
    /// What is wrong.
    pub(crate) what: String,
    /// Whether the file simply ends inside the frame (a torn write looks like this).
    pub(crate) truncated: bool,
}

/// How a scan ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scanned {
    /// Offset just past the last good frame.
    pub(crate) end: u64,
    /// Index of the record after the last good frame.
    pub(crate) next_index: u64,
    /// The first bad frame, if the file does not end cleanly after the last good one.
    pub(crate) bad: Option<BadFrame>,
}

/// Scans the segment at `path` (whose name says it starts at `first`) from `offset`, where
/// record `index` is expected, calling `each(index, offset, leaf)` for every good frame.
pub(crate) fn scan(
    path: &Path,
    first: u64,
    mut offset: u64,
    mut index: u64,
    mut each: impl FnMut(u64, u64, &[u8]) -> Result<()>,
) -> Result<Scanned> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    if let Some((what, truncated)) =
        read_segment_header(&mut r, first).map_err(|e| Error::io("read", path, e))?
    {
        return Ok(Scanned {
            end: 0,
            next_index: first,
            bad: Some(BadFrame {
                offset: 0,
                index: first,
                what: what.into(),
                truncated,
            }),
        });
    }
    r.seek(SeekFrom::Start(offset))
        .map_err(|e| Error::io("seek", path, e))?;
    let mut leaf = Vec::with_capacity(4096);
    loop {
        match read_frame(&mut r, index, &mut leaf).map_err(|e| Error::io("read", path, e))? {
            Frame::End => {
                return Ok(Scanned {
                    end: offset,
                    next_index: index,
                    bad: None,
                });
            }
            Frame::Bad { what, truncated } => {
                return Ok(Scanned {
                    end: offset,
                    next_index: index,
                    bad: Some(BadFrame {
                        offset,
                        index,
                        what,
                        truncated,
                    }),
                });
            }
            Frame::Good(h) => {
                each(index, offset, &leaf)?;
                offset += h.frame_len();
                index += 1;
            }
        }
    }
}

/// Reads a segment header from the start of `r`: `None` when it is the header of the segment
/// starting at `first`, else what is wrong and whether the file simply ends inside it.
pub(crate) fn read_segment_header(
    r: &mut impl Read,
    first: u64,
) -> std::io::Result<Option<(&'static str, bool)>> {
    let mut hdr = [0u8; SEGMENT_HEADER as usize];
    let got = read_full(r, &mut hdr)?;
    Ok(if got < hdr.len() {
        Some(("segment header is incomplete", true))
    } else if layout::parse_segment_header(&hdr) != Some(first) {
        Some(("segment header does not match the file name", false))
    } else {
        None
    })
}

/// One frame read by [`read_frame`].
pub(crate) enum Frame {
    /// The file ends cleanly before it.
    End,
    /// A good frame; its leaf is in the buffer.
    Good(FrameHeader),
    /// A damaged or unexpected frame.
    Bad {
        /// What is wrong.
        what: String,
        /// Whether the file simply ends inside the frame.
        truncated: bool,
    },
}

/// Reads the next frame from `r`, where record `index` is expected, into `leaf`, checking its
/// length, checksum, index and batch start.
pub(crate) fn read_frame(
    r: &mut impl Read,
    index: u64,
    leaf: &mut Vec<u8>,
) -> std::io::Result<Frame> {
    let bad = |what: String, truncated: bool| Ok(Frame::Bad { what, truncated });
    let mut hb = [0u8; FRAME_HEADER];
    let got = read_full(r, &mut hb)?;
    if got == 0 {
        return Ok(Frame::End);
    }
    if hb[..got].iter().all(|&b| b == 0) {
        // No valid frame has an all-zero header (its CRC would be 0x0fd59b8d): the active
        // segment's preallocated zeros (see `ActiveSegment`) are its end, when nothing but
        // zeros follows.
        return if zeros_to_end(r)? {
            Ok(Frame::End)
        } else {
            bad(
                "zeros where a frame belongs, and data after them".into(),
                false,
            )
        };
    }
    if got < FRAME_HEADER {
        return bad("frame header is incomplete".into(), true);
    }
    let h = FrameHeader::decode(&hb);
    if h.len as usize > MAX_LEAF {
        return bad(format!("frame length {} is impossible", h.len), false);
    }
    leaf.resize(h.len as usize, 0);
    let got = read_full(r, leaf)?;
    if got < leaf.len() {
        return bad("frame is incomplete".into(), true);
    }
    if !h.checks(leaf) {
        bad("checksum mismatch".to_owned(), false)
    } else if h.index != index {
        bad(
            format!("record {} found where record {index} belongs", h.index),
            false,
        )
    } else if h.batch > h.index {
        bad("batch start after the record".to_owned(), false)
    } else {
        Ok(Frame::Good(h))
    }
}

/// Whether any valid frame of a batch that started after record `index` exists past `offset`
/// in the segment: if so, the bad frame at `offset` was durable before that batch was written,
/// so it is damage in the middle of the log, not a torn tail.
pub(crate) fn later_batch_after(path: &Path, offset: u64, index: u64) -> Result<bool> {
    let mut f = File::open(path).map_err(|e| Error::io("open", path, e))?;
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| Error::io("seek", path, e))?;
    let mut rest = Vec::new();
    f.read_to_end(&mut rest)
        .map_err(|e| Error::io("read", path, e))?;
    for p in 1..rest.len().saturating_sub(FRAME_HEADER - 1) {
        let Some(hb) = rest.get(p..p + FRAME_HEADER) else {
            break;
        };
        let Ok(hb) = <&[u8; FRAME_HEADER]>::try_from(hb) else {
            break;
        };
        let h = FrameHeader::decode(hb);
        if h.batch <= index || h.batch > h.index || h.index - index > 1 << 32 {
            continue;
        }
        let end = p + FRAME_HEADER + h.len as usize;
        if let Some(leaf) = rest.get(p + FRAME_HEADER..end) {
            if h.checks(leaf) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Whether `r` holds only zeros from here to its end.
fn zeros_to_end(r: &mut impl Read) -> std::io::Result<bool> {
    let mut buf = [0u8; 8192];
    loop {
        let n = read_full(r, &mut buf)?;
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        if n < buf.len() {
            return Ok(true);
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}
