//! Pure arithmetic of the on-disk layout: segment names, the frame format, tile coordinates and
//! sled keys. No I/O here.
//!
//! Segment file: a 16-byte header (`SEGMENT_MAGIC`, first record index as u64 LE), then frames.
//! Frame: `len: u32 LE | crc32: u32 LE | index: u64 LE | batch: u64 LE | leaf (len bytes)`, the
//! CRC-32 (IEEE) covering `len`, `index`, `batch` and the leaf; `batch` is the index of the first
//! record of the commit batch the frame was written in.

use crate::tree::Hash;

/// The first 8 bytes of every segment file.
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"LGAUDIT1";
/// Bytes before the first frame of a segment.
pub(crate) const SEGMENT_HEADER: u64 = 16;
/// Bytes of a frame header.
pub(crate) const FRAME_HEADER: usize = 24;

/// Tile height: a tile holds 8 levels of the tree (256 hashes in its bottom row).
pub(crate) const TILE_HEIGHT: u32 = 8;
/// Hashes in a full tile's bottom row.
pub(crate) const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;
/// Every `POS_STRIDE`-th record's file position is indexed.
pub(crate) const POS_STRIDE: u64 = 16;
/// The positions of `POS_BLOCK` records' span share one sled key (see [`pos_block_key`]).
pub(crate) const POS_BLOCK: u64 = 256;

/// The file name of the segment whose first record is `first`.
pub(crate) fn segment_name(first: u64) -> String {
    format!("{first:020}.seg")
}

/// The first record index encoded in a segment file name, if it is one.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segment header for a segment starting at `first`.
pub(crate) fn segment_header(first: u64) -> [u8; SEGMENT_HEADER as usize] {
    let mut h = [0u8; SEGMENT_HEADER as usize];
    h[..8].copy_from_slice(&SEGMENT_MAGIC);
    h[8..].copy_from_slice(&first.to_le_bytes());
    h
}

/// The first index stored in a segment header, if the magic matches.
pub(crate) fn parse_segment_header(h: &[u8]) -> Option<u64> {
    if h.len() < SEGMENT_HEADER as usize || h[..8] != SEGMENT_MAGIC {
        return None;
    }
    Some(u64::from_le_bytes(h[8..16].try_into().ok()?))
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    /// Leaf length.
    pub(crate) len: u32,
    /// Stored checksum.
    pub(crate) crc: u32,
    /// Record index.
    pub(crate) index: u64,
    /// First index of the frame's commit batch.
    pub(crate) batch: u64,
}

impl FrameHeader {
    /// Decodes the 24 header bytes.
    pub(crate) fn decode(b: &[u8; FRAME_HEADER]) -> Self {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(a)
        };
        Self {
            len: u32_at(0),
            crc: u32_at(4),
            index: u64_at(8),
            batch: u64_at(16),
        }
    }

    /// Whether `leaf` (of `len` bytes) matches the checksum.
    pub(crate) fn checks(&self, leaf: &[u8]) -> bool {
        leaf.len() == self.len as usize
            && frame_crc(self.len, self.index, self.batch, leaf) == self.crc
    }

    /// Total frame size.
    pub(crate) fn frame_len(&self) -> u64 {
        FRAME_HEADER as u64 + u64::from(self.len)
    }
}

fn frame_crc(len: u32, index: u64, batch: u64, leaf: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len.to_le_bytes());
    h.update(&index.to_le_bytes());
    h.update(&batch.to_le_bytes());
    h.update(leaf);
    h.finalize()
}

/// Appends the frame of `leaf` (record `index`, in the batch starting at `batch`) to `out`.
pub(crate) fn encode_frame(out: &mut Vec<u8>, index: u64, batch: u64, leaf: &[u8]) {
    // Leaves are bounded by the configured maximum (far below 4 GiB) before they get here.
    let len = u32::try_from(leaf.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&frame_crc(len, index, batch, leaf).to_le_bytes());
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(&batch.to_le_bytes());
    out.extend_from_slice(leaf);
}

/// Where the perfect subtree hash `(level, index)` lives: tile level, tile index, row within
/// the tile and position within that row.
pub(crate) fn tile_coords(level: u8, index: u64) -> (u8, u64, usize, usize) {
    let level = u32::from(level);
    let (tl, row) = (level / TILE_HEIGHT, level % TILE_HEIGHT);
    let base = index << row;
    let tile = base >> TILE_HEIGHT;
    let pos = index - (tile << (TILE_HEIGHT - row));
    (tl as u8, tile, row as usize, pos as usize)
}

/// Byte offset of `(row, pos)` in an encoded tile whose bottom row has `width` hashes, or
/// `None` when that hash is not (yet) in the tile.
pub(crate) fn tile_offset(width: usize, row: usize, pos: usize) -> Option<usize> {
    if pos >= width >> row {
        return None;
    }
    let before: usize = (0..row).map(|q| width >> q).sum();
    Some(2 + 32 * (before + pos))
}

/// Encodes a tile from its rows (row 0 first).
pub(crate) fn encode_tile(rows: &[Vec<Hash>]) -> Vec<u8> {
    let width = rows.first().map_or(0, Vec::len);
    let mut out = Vec::with_capacity(2 + 32 * 2 * width);
    out.extend_from_slice(&(width as u16).to_be_bytes());
    for row in rows {
        for h in row {
            out.extend_from_slice(h);
        }
    }
    out
}

/// Decodes a tile into its rows, or `None` when the bytes are malformed.
pub(crate) fn decode_tile(b: &[u8]) -> Option<Vec<Vec<Hash>>> {
    let width = usize::from(u16::from_be_bytes([*b.first()?, *b.get(1)?]));
    if width as u64 > TILE_WIDTH {
        return None;
    }
    let mut rows = Vec::with_capacity(TILE_HEIGHT as usize);
    let mut at = 2;
    for row in 0..TILE_HEIGHT as usize {
        let n = width >> row;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(b.get(at..at + 32)?.try_into().ok()?);
            at += 32;
        }
        rows.push(v);
    }
    (at == b.len()).then_some(rows)
}

/// sled key of the indexed size (records `0..size` are in the index).
pub(crate) const KEY_SIZE: &[u8] = b"m/size";

/// sled key, in sled's default tree (which no rebuild clears), of the largest checkpoint size
/// this log is known to have signed: its high-water mark (see `Index::signed`).
pub(crate) const KEY_SIGNED: &[u8] = b"m/signed";

/// sled key of the `terms` tree's layout version (see [`TERMS_LAYOUT`]).
pub(crate) const KEY_LAYOUT: &[u8] = b"m/layout";

/// The layout of the `terms` tree: 2 adds the time marks ([`time_mark_key`]), 3 the transfer
/// id buckets ([`id_bucket`]), 4 lists that are rewritten in place until they hold
/// [`LIST_BYTES`] (rather than one key per index write) and 256 ms id buckets. A `terms` tree
/// with another (or no) version is cleared on open and rebuilt from the segments.
pub(crate) const TERMS_LAYOUT: u64 = 4;

/// A list of query hits ([`query_key`]) is rewritten in place by each index write until it
/// holds this many bytes; the next hit starts the next list. Why: sled 0.34 keeps about 120-150
/// bytes in memory for every node it ever made, cached or not, and splits a node at 16 keys,
/// so a process grows by about 15 bytes per key ever written: one key per `(field, value)` and
/// index write (every 10 ms) was 0.5-0.7 keys per record, and memory grew with the log's
/// history. Lists of 4 KiB (512 hits of a plain value) make it about 0.03. The price: sled
/// relogs a list each time it grows, so a paced 3M-record probe wrote 28.3 GB (14.6 GB with a
/// list per write; segments 3.1 GB); lists of 2 KiB wrote 21.2 GB for 0.047 keys per record.
pub(crate) const LIST_BYTES: usize = 4096;

/// The field tag of transfer id buckets in query keys (see [`id_bucket`]).
pub(crate) const ID_BUCKET: u8 = b'X';

/// How many leading characters of a transfer id name its bucket: the gateway's ids are 32
/// lowercase hex digits whose first 12 are the millisecond they were made in, so 10 name a
/// span of 256 ms.
const BUCKET_CHARS: usize = 10;

/// Splits a transfer id of the gateway's form (32 lowercase hex digits) into its bucket (the
/// 256 ms span, [`BUCKET_CHARS`] digits) and the rest; `None` for any other value, which is
/// indexed under its own key.
///
/// Why: an id is unique, so its own key costs sled one key per transfer (most of the `terms`
/// tree's keys and about 7 µs of CPU per transfer). The ids made in one span share their
/// lists instead, each hit carrying the rest of its id, and a lookup reads the lists of one
/// span and keeps the hits whose rest matches. The span is a trade: a bucket costs at least
/// one key (see [`LIST_BYTES`] for what a key costs), so one per millisecond cost up to 1000
/// keys a second (0.25 per record under load, nearly one per record at 100 transfers a
/// second), and 16 ms still 62 a second; 256 ms costs 4 a second, the same order as the time
/// lists and marks (2 a second), while a lookup reads 256 ms of ids: 2,560 hits (70 KiB) at
/// 10k transfers a second.
pub(crate) fn id_bucket(value: &[u8]) -> Option<(&[u8], &[u8])> {
    let hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    (value.len() == 32 && value.iter().all(hex)).then(|| value.split_at(BUCKET_CHARS))
}

/// sled key of a time mark in the `terms` tree: `T | time key` (see [`crate::time_key`]) →
/// the first record index (u64 BE) whose running maximum of record times is in that second.
pub(crate) fn time_mark_key(second: [u8; 8]) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = TIME_MARK;
    k[1..].copy_from_slice(&second);
    k
}

/// The tag byte of time marks in the `terms` tree.
pub(crate) const TIME_MARK: u8 = b'T';

/// sled key of a tile.
pub(crate) fn tile_key(tile_level: u8, tile: u64) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[0] = b't';
    k[1] = tile_level;
    k[2..].copy_from_slice(&tile.to_be_bytes());
    k
}

/// sled key of the right edge's partial tile at `tile_level` (its value: the tile index u64 BE,
/// then the tile encoded as [`encode_tile`] does). Partial tiles are rewritten by every commit,
/// so they live under these few keys, in a small sled node of their own, and only a full tile
/// goes under its [`tile_key`] (written once): rewriting a partial tile in the node that holds
/// the full ones made sled copy and relog that whole node (up to 16 tiles) on every commit.
pub(crate) fn edge_key(tile_level: u8) -> [u8; 2] {
    [b'u', tile_level]
}

/// sled key of the position of record `index`, one key per position: the layout before
/// [`pos_block_key`], still read from an index written by it (nothing writes it now).
pub(crate) fn pos_key(index: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'p';
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

/// sled key of the positions of the records `block * POS_BLOCK ..` of a full block: the
/// positions of every `POS_STRIDE`-th record and of the first record of each segment, each
/// `index | segment | offset` (u64 BE each), in log order. Written once, when the next block
/// starts; until then the block lives under [`POS_EDGE`] (see [`edge_key`] for why). One key
/// per 256 records rather than one per 16 (see [`LIST_BYTES`] for what a key costs).
pub(crate) fn pos_block_key(block: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'P';
    k[1..].copy_from_slice(&block.to_be_bytes());
    k
}

/// sled key of the positions of the last (partial) block, encoded as [`pos_block_key`]'s.
pub(crate) const POS_EDGE: &[u8] = b"v";

/// Bytes of one position in a block: `index | segment | offset`.
pub(crate) const POS_ENTRY: usize = 24;

/// sled key of a list of query hits: `prefix | first index u64 BE`, where `prefix` is
/// [`query_prefix`]: `q | field | len u16 BE | value`
/// (the value: the hits' indexes, u64 BE each; for an [`id_bucket`], `field` is [`ID_BUCKET`],
/// `value` the bucket and each index is followed by the rest of its id). Keys of one
/// `(field, value)` share a prefix and sort in log order, so a cursor is the last index seen.
/// The last list of a `(field, value)` grows in place until it holds [`LIST_BYTES`].
pub(crate) fn query_key(prefix: &[u8], index: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&index.to_be_bytes());
    k
}

/// The common prefix of all keys of `(field, value)` (the `prefix` of [`query_key`]).
pub(crate) fn query_prefix(field: u8, value: &[u8]) -> Vec<u8> {
    let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
    let value = &value[..usize::from(len)];
    let mut k = Vec::with_capacity(4 + value.len() + 8);
    k.push(b'q');
    k.push(field);
    k.extend_from_slice(&len.to_be_bytes());
    k.extend_from_slice(value);
    k
}

#[cfg(test)]
mod tests;
