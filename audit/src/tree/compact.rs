//! A compact range: the O(log n) perfect subtree hashes that summarise a prefix of the log.

use super::{Hash, empty_root, node_hash};

/// The perfect subtree hashes covering leaves `[0, size)`, largest first: enough to compute the
/// root and to keep appending. Used by the verifier and by recovery to hash a log in one pass
/// with O(log n) memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    /// One hash per set bit of `size`, from the highest bit to the lowest.
    hashes: Vec<Hash>,
}

impl CompactRange {
    /// The empty range.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many leaves it covers.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        let mut level = 0u32;
        let index = self.size;
        while (index >> level) & 1 == 1 {
            let Some(left) = self.hashes.pop() else {
                break;
            };
            hash = node_hash(&left, &hash);
            level += 1;
        }
        self.hashes.push(hash);
        self.size += 1;
    }

    /// The root of the tree of `size` leaves.
    pub fn root(&self) -> Hash {
        let mut iter = self.hashes.iter().rev();
        let Some(first) = iter.next() else {
            return empty_root();
        };
        let mut acc = *first;
        for left in iter {
            acc = node_hash(left, &acc);
        }
        acc
    }
}
