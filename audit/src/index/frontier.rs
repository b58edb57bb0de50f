//! The writer's in-memory right edge of the tree: the tiles a commit changes, kept in memory
//! until they are written to the index, so a commit computes its root and proofs without
//! reading sled.

use std::collections::{BTreeMap, BTreeSet};

use super::{Additions, Index};
use crate::error::Result;
use crate::layout::{self, TILE_HEIGHT, TILE_WIDTH};
use crate::tree::{self, Hash, PerfectHashes, node_hash};

type Rows = Vec<Vec<Hash>>;

/// The tree's right edge in memory, over the index.
pub(crate) struct Frontier {
    size: u64,
    tiles: BTreeMap<(u8, u64), Rows>,
    dirty: BTreeSet<(u8, u64)>,
    index: Index,
}

impl std::fmt::Debug for Frontier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frontier")
            .field("size", &self.size)
            .field("tiles", &self.tiles.len())
            .field("dirty", &self.dirty.len())
            .finish_non_exhaustive()
    }
}

impl Frontier {
    /// The empty tree.
    pub(crate) fn empty(index: Index) -> Self {
        Self {
            size: 0,
            tiles: BTreeMap::new(),
            dirty: BTreeSet::new(),
            index,
        }
    }

    /// The right edge of the indexed tree of `size` leaves, or `None` when the index does not
    /// hold exactly that tree's partial tiles (then it must be rebuilt).
    pub(crate) fn load(index: Index, size: u64) -> Result<Option<Self>> {
        let mut f = Self::empty(index);
        f.size = size;
        let mut tl = 0u32;
        while tl * TILE_HEIGHT < 64 && size >> (tl * TILE_HEIGHT) > 0 {
            let width = (size >> (tl * TILE_HEIGHT)) % TILE_WIDTH;
            if width > 0 {
                let n = size >> (tl * TILE_HEIGHT) >> TILE_HEIGHT;
                let rows = f
                    .index
                    .tile(tl as u8, n)?
                    .and_then(|b| layout::decode_tile(&b));
                match rows {
                    Some(rows) if rows[0].len() as u64 == width => {
                        f.tiles.insert((tl as u8, n), rows);
                    }
                    _ => return Ok(None),
                }
            }
            tl += 1;
        }
        Ok(Some(f))
    }

    /// Leaves in the tree.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash.
    pub(crate) fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        let mut level = 0u32;
        let mut idx = self.size;
        loop {
            let (tl, r) = ((level / TILE_HEIGHT) as u8, level % TILE_HEIGHT);
            let n = (idx << r) >> TILE_HEIGHT;
            let rows = self
                .tiles
                .entry((tl, n))
                .or_insert_with(|| vec![Vec::new(); TILE_HEIGHT as usize]);
            let row = &mut rows[r as usize];
            row.push(hash);
            self.dirty.insert((tl, n));
            if idx & 1 == 0 || row.len() < 2 {
                break;
            }
            hash = node_hash(&row[row.len() - 2], &hash);
            idx >>= 1;
            level += 1;
        }
        self.size += 1;
    }

    /// The root of the current tree.
    pub(crate) fn root(&self) -> Result<Hash> {
        tree::root(self, self.size)
    }

    /// Moves the changed tiles into `add`.
    pub(crate) fn write_dirty(&mut self, add: &mut Additions) {
        for key in std::mem::take(&mut self.dirty) {
            if let Some(rows) = self.tiles.get(&key) {
                let encoded = layout::encode_tile(rows);
                if rows[0].len() as u64 == TILE_WIDTH {
                    add.full_tile(key.0, key.1, encoded);
                } else {
                    add.partial_tile(key.0, key.1, &encoded);
                }
            }
        }
    }

    /// Drops from memory the full tiles that the index holds, given that it covers the first
    /// `indexed` leaves (the writer's index trails its commits; until a full tile is written,
    /// proofs read it from here).
    pub(crate) fn evict_full(&mut self, indexed: u64) {
        let dirty = &self.dirty;
        self.tiles.retain(|&(tl, n), rows| {
            dirty.contains(&(tl, n))
                || (rows[0].len() as u64) < TILE_WIDTH
                || tile_end(tl, n) > u128::from(indexed)
        });
    }
}

impl PerfectHashes for Frontier {
    fn perfect(&self, level: u8, index: u64) -> Result<Hash> {
        let (tl, tile, row, pos) = layout::tile_coords(level, index);
        if let Some(h) = self
            .tiles
            .get(&(tl, tile))
            .and_then(|rows| rows[row].get(pos))
        {
            return Ok(*h);
        }
        self.index.perfect(level, index)
    }
}

/// The number of leaves up to the end of tile `n` of tile level `tl`: a full tile's row 0
/// holds `TILE_WIDTH` hashes of tree level `tl * TILE_HEIGHT`.
fn tile_end(tl: u8, n: u64) -> u128 {
    (u128::from(n) + 1) << (TILE_HEIGHT * (u32::from(tl) + 1))
}
