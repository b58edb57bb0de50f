//! The log as C2SP `tlog-tiles` resources (tile height 8): hash tiles read from the index's own
//! tiles (their bottom row is exactly a tlog tile's hashes), and entry bundles read from the
//! segments. Nothing is hashed per request.

use super::Log;
use crate::error::{Error, Result};
use crate::layout::{TILE_HEIGHT, TILE_WIDTH};

/// The largest record an entry bundle can hold: its length is a big-endian uint16. Records are
/// capped at this size by default ([`crate::DEFAULT_MAX_RECORD_BYTES`]).
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;

/// The number of records below the end of a tile's first `width` hashes at `level`:
/// `(n * 256 + width) * 256^level`, or `None` when that does not fit a u64 (no tree that size).
fn tile_end(level: u8, n: u64, width: u64) -> Option<u64> {
    let span = TILE_WIDTH.checked_pow(u32::from(level))?;
    n.checked_mul(TILE_WIDTH)?
        .checked_add(width)?
        .checked_mul(span)
}

impl Log {
    /// The `tlog-tiles` hash tile at `level` (tree level `8 * level`), index `n`, holding its
    /// first `width` hashes (1..=256; 256 is a full tile): `width` 32-byte hashes, each the
    /// Merkle Tree Hash of `256^level` records. Any width whose hashes all lie in the tree is
    /// served, so the partial tiles of every earlier size stay readable (a prefix of the later
    /// tile). A tile reaching beyond the log is [`Error::OutOfRange`], as is a width outside
    /// 1..=256.
    pub fn tile(&self, level: u8, n: u64, width: u64) -> Result<Vec<u8>> {
        let size = self.size();
        if !(1..=TILE_WIDTH).contains(&width) {
            return Err(Error::OutOfRange {
                what: "tile width",
                value: width,
                size: TILE_WIDTH,
            });
        }
        let beyond = Error::OutOfRange {
            what: "tile",
            value: n,
            size,
        };
        if u32::from(level) * TILE_HEIGHT >= 64 {
            return Err(beyond);
        }
        match tile_end(level, n, width) {
            Some(end) if end <= size => self.wait_indexed(end)?,
            _ => return Err(beyond),
        }
        // The index's tile (level, n) holds tree levels 8·level.. of the same records; its row 0
        // is this tile. A stored tile narrower than asked would be an index behind its size.
        let stored = self.index()?.tile(level, n)?;
        let width = width as usize;
        stored
            .as_deref()
            .filter(|b| {
                b.get(..2)
                    .is_some_and(|w| usize::from(u16::from_be_bytes([w[0], w[1]])) >= width)
            })
            .and_then(|b| b.get(2..2 + 32 * width))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| {
                Error::Unavailable(format!(
                    "tree tile {level}/{n} is missing in the index; reopen the log to rebuild it"
                ))
            })
    }

    /// The `tlog-tiles` entry bundle `n` holding its first `width` records (1..=256): records
    /// `n * 256 ..`, each as its length (u16 big-endian) and its exact bytes. Beyond the log or
    /// a width outside 1..=256: [`Error::OutOfRange`]; a record longer than
    /// [`MAX_ENTRY_BYTES`] (only a log configured for larger records, or written before the
    /// default cap was lowered to it): [`Error::EntryTooLarge`].
    pub fn entry_bundle(&self, n: u64, width: u64) -> Result<Vec<u8>> {
        let size = self.size();
        if !(1..=TILE_WIDTH).contains(&width) {
            return Err(Error::OutOfRange {
                what: "entry bundle width",
                value: width,
                size: TILE_WIDTH,
            });
        }
        let (from, to) = match tile_end(0, n, width) {
            Some(to) if to <= size => (to - width, to),
            _ => {
                return Err(Error::OutOfRange {
                    what: "entry bundle",
                    value: n,
                    size,
                });
            }
        };
        let mut out = Vec::new();
        for frame in self.read_range(from, to)? {
            let (index, leaf) = frame?;
            let len = u16::try_from(leaf.len()).map_err(|_| Error::EntryTooLarge {
                index,
                size: leaf.len(),
            })?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&leaf);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::tile_end;

    #[test]
    fn a_tile_ends_where_its_hashes_cover_the_records() {
        assert_eq!(tile_end(0, 0, 256), Some(256));
        assert_eq!(tile_end(0, 1, 44), Some(300));
        assert_eq!(tile_end(1, 0, 1), Some(256));
        assert_eq!(tile_end(2, 3, 5), Some((3 * 256 + 5) << 16));
        assert_eq!(tile_end(8, 0, 1), None, "256^8 records do not fit a u64");
        assert_eq!(tile_end(0, u64::MAX / 256, 256), None);
    }
}
