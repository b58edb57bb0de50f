//! RFC 9162 section 2.1 Merkle tree hashing, proof construction and proof verification.
//!
//! Proofs are built from *perfect subtree* hashes: `perfect(level, index)` is the hash of the
//! `2^level` leaves starting at `index << level`. Any source of such hashes (the sled tiles, the
//! writer's in-memory frontier, a plain vector in tests) implements [`PerfectHashes`]; a proof
//! then costs O(log n) look-ups.

mod compact;
mod verify;

#[cfg(test)]
mod tests;

use ring::digest::{Context, SHA256};

pub use compact::CompactRange;
pub use verify::{root_from_inclusion_proof, verify_consistency, verify_inclusion};

use crate::error::{Error, Result};

/// A SHA-256 hash: a leaf hash, an interior node hash or a root.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of the empty string (RFC 9162 2.1.1).
pub fn empty_root() -> Hash {
    sha256(&[&[]])
}

/// The leaf hash `SHA-256(0x00 || leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    sha256(&[&[0x00], leaf])
}

/// The interior node hash `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[0x01], left, right])
}

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut ctx = Context::new(&SHA256);
    for part in parts {
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// A source of perfect subtree hashes.
pub trait PerfectHashes {
    /// The hash of the `2^level` leaves starting at leaf `index << level`. Asking for a subtree
    /// that is not complete is an error.
    fn perfect(&self, level: u8, index: u64) -> Result<Hash>;

    /// `MTH(D[lo:hi])` for a range that is not a perfect subtree; a source may cache these.
    fn range(&self, lo: u64, hi: u64) -> Result<Hash> {
        range_hash_uncached(self, lo, hi)
    }
}

/// The largest power of two strictly smaller than `n` (`n >= 2`).
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Inclusion proofs of every leaf in `indexes` to the tree of `size` leaves, sharing the
/// hashes of the tree's right edge (the ranges that are not perfect subtrees) between them:
/// what one commit batch needs.
pub(crate) fn inclusion_proofs<H: PerfectHashes + ?Sized>(
    h: &H,
    indexes: std::ops::Range<u64>,
    size: u64,
) -> Result<Vec<Vec<Hash>>> {
    let memo = Memo {
        inner: h,
        edges: std::cell::RefCell::new(std::collections::HashMap::new()),
    };
    indexes.map(|i| inclusion_proof(&memo, i, size)).collect()
}

/// Caches the hashes of non-perfect ranges computed through it.
struct Memo<'a, H: ?Sized> {
    inner: &'a H,
    edges: std::cell::RefCell<std::collections::HashMap<(u64, u64), Hash>>,
}

impl<H: PerfectHashes + ?Sized> PerfectHashes for Memo<'_, H> {
    fn perfect(&self, level: u8, index: u64) -> Result<Hash> {
        self.inner.perfect(level, index)
    }

    fn range(&self, lo: u64, hi: u64) -> Result<Hash> {
        if let Some(h) = self.edges.borrow().get(&(lo, hi)) {
            return Ok(*h);
        }
        let h = range_hash_uncached(self, lo, hi)?;
        self.edges.borrow_mut().insert((lo, hi), h);
        Ok(h)
    }
}

/// `MTH(D[lo:hi])` for a range in the shape the RFC's recursion produces (`lo` a multiple of the
/// largest power of two not above `hi - lo`), from perfect subtree hashes.
pub(crate) fn range_hash<H: PerfectHashes + ?Sized>(h: &H, lo: u64, hi: u64) -> Result<Hash> {
    let n = hi - lo;
    if n > 1 && !(n.is_power_of_two() && lo % n == 0) {
        return h.range(lo, hi);
    }
    range_hash_uncached(h, lo, hi)
}

fn range_hash_uncached<H: PerfectHashes + ?Sized>(h: &H, lo: u64, hi: u64) -> Result<Hash> {
    let n = hi - lo;
    if n == 0 {
        return Ok(empty_root());
    }
    if n.is_power_of_two() && lo % n == 0 {
        let level = n.trailing_zeros() as u8;
        return h.perfect(level, lo >> level);
    }
    let k = split_point(n);
    let left = range_hash(h, lo, lo + k)?;
    let right = range_hash(h, lo + k, hi)?;
    Ok(node_hash(&left, &right))
}

/// The root hash of the tree of the first `size` leaves.
pub fn root<H: PerfectHashes + ?Sized>(h: &H, size: u64) -> Result<Hash> {
    range_hash(h, 0, size)
}

/// The inclusion proof (audit path, RFC 9162 2.1.3.1) of leaf `index` in the tree of `size`.
pub fn inclusion_proof<H: PerfectHashes + ?Sized>(
    h: &H,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>> {
    if index >= size {
        return Err(Error::OutOfRange {
            what: "leaf index",
            value: index,
            size,
        });
    }
    let mut proof = Vec::with_capacity(64);
    path(h, index, 0, size, &mut proof)?;
    Ok(proof)
}

fn path<H: PerfectHashes + ?Sized>(
    h: &H,
    m: u64,
    lo: u64,
    hi: u64,
    out: &mut Vec<Hash>,
) -> Result<()> {
    let n = hi - lo;
    if n <= 1 {
        return Ok(());
    }
    let k = split_point(n);
    if m < k {
        path(h, m, lo, lo + k, out)?;
        out.push(range_hash(h, lo + k, hi)?);
    } else {
        path(h, m - k, lo + k, hi, out)?;
        out.push(range_hash(h, lo, lo + k)?);
    }
    Ok(())
}

/// The consistency proof (RFC 9162 2.1.4.1) between the trees of sizes `from` and `to`. Empty
/// when `from == to` or `from == 0`.
pub fn consistency_proof<H: PerfectHashes + ?Sized>(
    h: &H,
    from: u64,
    to: u64,
) -> Result<Vec<Hash>> {
    if from > to {
        return Err(Error::OutOfRange {
            what: "consistency proof's first size",
            value: from,
            size: to,
        });
    }
    let mut proof = Vec::with_capacity(64);
    if from > 0 && from < to {
        subproof(h, from, 0, to, true, &mut proof)?;
    }
    Ok(proof)
}

fn subproof<H: PerfectHashes + ?Sized>(
    h: &H,
    m: u64,
    lo: u64,
    hi: u64,
    complete: bool,
    out: &mut Vec<Hash>,
) -> Result<()> {
    let n = hi - lo;
    if m == n {
        if !complete {
            out.push(range_hash(h, lo, hi)?);
        }
        return Ok(());
    }
    let k = split_point(n);
    if m <= k {
        subproof(h, m, lo, lo + k, complete, out)?;
        out.push(range_hash(h, lo + k, hi)?);
    } else {
        subproof(h, m - k, lo + k, hi, false, out)?;
        out.push(range_hash(h, lo, lo + k)?);
    }
    Ok(())
}

/// Perfect subtree hashes over a plain list of leaf hashes, computed on demand. For tests,
/// small trees and the verifier of a receipt; O(2^level) per look-up.
#[derive(Debug, Clone, Default)]
pub struct LeafHashes(pub Vec<Hash>);

impl PerfectHashes for LeafHashes {
    fn perfect(&self, level: u8, index: u64) -> Result<Hash> {
        let width = 1u64.checked_shl(u32::from(level)).unwrap_or(u64::MAX);
        let lo = index.saturating_mul(width);
        let hi = lo.saturating_add(width);
        if hi > self.0.len() as u64 {
            return Err(Error::OutOfRange {
                what: "subtree end",
                value: hi,
                size: self.0.len() as u64,
            });
        }
        let mut row: Vec<Hash> = self.0[lo as usize..hi as usize].to_vec();
        while row.len() > 1 {
            row = row.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
        }
        Ok(row[0])
    }
}
