//! Proof verification, RFC 9162 sections 2.1.3.2 and 2.1.4.2.

use super::{Hash, node_hash};
use crate::error::{Error, Result};

/// The root that an inclusion proof of leaf `index` (with hash `leaf`) leads to in the tree of
/// `size` leaves (RFC 9162 2.1.3.2 steps 1-5); an error when the proof has the wrong length.
pub fn root_from_inclusion_proof(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
) -> Result<Hash> {
    if index >= size {
        return Err(Error::BadProof(format!(
            "leaf index {index} is not below the tree size {size}"
        )));
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(Error::BadProof("inclusion proof is too long".into()));
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(Error::BadProof("inclusion proof is too short".into()));
    }
    Ok(r)
}

/// Checks that leaf hash `leaf` is at `index` in the tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<()> {
    let got = root_from_inclusion_proof(index, size, leaf, proof)?;
    if &got == root {
        Ok(())
    } else {
        Err(Error::BadProof(format!(
            "inclusion proof of leaf {index} does not lead to the root of tree size {size}"
        )))
    }
}

/// Checks that the tree of `size2` leaves with root `root2` extends the tree of `size1` leaves
/// with root `root1` (RFC 9162 2.1.4.2).
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    root1: &Hash,
    root2: &Hash,
    proof: &[Hash],
) -> Result<()> {
    if size1 > size2 {
        return Err(Error::BadProof(format!(
            "first tree size {size1} is larger than the second {size2}"
        )));
    }
    if size1 == size2 {
        return if proof.is_empty() && root1 == root2 {
            Ok(())
        } else {
            Err(Error::BadProof(
                "equal tree sizes need an empty proof and equal roots".into(),
            ))
        };
    }
    if size1 == 0 {
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(Error::BadProof(
                "a proof from the empty tree must be empty".into(),
            ))
        };
    }
    let Some((first, mut rest)) = proof.split_first() else {
        return Err(Error::BadProof("consistency proof is empty".into()));
    };
    // Step 2: if size1 is an exact power of two, prepend root1 to the proof.
    let mut seed = *first;
    if size1.is_power_of_two() {
        seed = *root1;
        rest = proof;
    }
    let (mut f_n, mut s_n) = (size1 - 1, size2 - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut fr, mut sr) = (seed, seed);
    for c in rest {
        if s_n == 0 {
            return Err(Error::BadProof("consistency proof is too long".into()));
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(Error::BadProof("consistency proof is too short".into()));
    }
    if &fr != root1 {
        return Err(Error::BadProof(format!(
            "consistency proof does not lead to the root of tree size {size1}"
        )));
    }
    if &sr != root2 {
        return Err(Error::BadProof(format!(
            "consistency proof does not lead to the root of tree size {size2}"
        )));
    }
    Ok(())
}
