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
    let mut hdr = [0u8; SEGMENT_HEADER as usize];
    let got = read_full(&mut r, &mut hdr).map_err(|e| Error::io("read", path, e))?;
    if got < hdr.len() || layout::parse_segment_header(&hdr) != Some(first) {
        let what = if got < hdr.len() {
            "segment header is incomplete"
        } else {
            "segment header does not match the file name"
        };
        return Ok(Scanned {
            end: 0,
            next_index: first,
            bad: Some(BadFrame {
                offset: 0,
                index: first,
                what: what.into(),
                truncated: got < hdr.len(),
            }),
        });
    }
    r.seek(SeekFrom::Start(offset))
        .map_err(|e| Error::io("seek", path, e))?;
    let mut leaf = Vec::with_capacity(4096);
    loop {
        let bad = |what: String, truncated: bool| {
            Some(BadFrame {
                offset,
                index,
                what,
                truncated,
            })
        };
        let mut hb = [0u8; FRAME_HEADER];
        let got = read_full(&mut r, &mut hb).map_err(|e| Error::io("read", path, e))?;
        if got == 0 {
            return Ok(Scanned {
                end: offset,
                next_index: index,
                bad: None,
            });
        }
        if got < FRAME_HEADER {
            let bad = bad("frame header is incomplete".into(), true);
            return Ok(Scanned {
                end: offset,
                next_index: index,
                bad,
            });
        }
        let h = FrameHeader::decode(&hb);
        if h.len as usize > MAX_LEAF {
            let bad = bad(format!("frame length {} is impossible", h.len), false);
            return Ok(Scanned {
                end: offset,
                next_index: index,
                bad,
            });
        }
        leaf.resize(h.len as usize, 0);
        let got = read_full(&mut r, &mut leaf).map_err(|e| Error::io("read", path, e))?;
        if got < leaf.len() {
            let bad = bad("frame is incomplete".into(), true);
            return Ok(Scanned {
                end: offset,
                next_index: index,
                bad,
            });
        }
        let what = if !h.checks(&leaf) {
            Some("checksum mismatch".to_owned())
        } else if h.index != index {
            Some(format!(
                "record {} found where record {index} belongs",
                h.index
            ))
        } else if h.batch > h.index {
            Some("batch start after the record".to_owned())
        } else {
            None
        };
        if let Some(what) = what {
            let bad = bad(what, false);
            return Ok(Scanned {
                end: offset,
                next_index: index,
                bad,
            });
        }
        each(index, offset, &leaf)?;
        offset += h.frame_len();
        index += 1;
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
