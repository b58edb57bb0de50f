//! Known-answer tests: the Certificate Transparency 8-leaf test tree (RFC 6962 reference
//! implementation `merkle_tree_test`, also in transparency-dev/merkle `testonly`).

use super::*;

fn hex(s: &str) -> Hash {
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

fn ct_leaves() -> Vec<Vec<u8>> {
    vec![
        vec![],
        vec![0x00],
        vec![0x10],
        vec![0x20, 0x21],
        vec![0x30, 0x31],
        vec![0x40, 0x41, 0x42, 0x43],
        vec![0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
        (0x60..=0x6f).collect(),
    ]
}

const CT_ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn ct_tree() -> LeafHashes {
    LeafHashes(ct_leaves().iter().map(|l| leaf_hash(l)).collect())
}

/// A tree of `n` leaves, leaf `i` being `i`'s little-endian bytes.
fn numbered_leaves(n: u64) -> LeafHashes {
    LeafHashes((0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect())
}

#[test]
fn roots_match_the_ct_test_tree_for_every_size() {
    let tree = ct_tree();
    let mut compact = CompactRange::new();
    assert_eq!(compact.root(), hex(CT_ROOTS[0]));
    for size in 0..=8u64 {
        assert_eq!(
            root(&tree, size).unwrap(),
            hex(CT_ROOTS[size as usize]),
            "size {size}"
        );
        if size < 8 {
            compact.push(tree.0[size as usize]);
            assert_eq!(compact.root(), hex(CT_ROOTS[size as usize + 1]));
        }
    }
}

#[test]
fn inclusion_proofs_match_the_ct_vectors() {
    let tree = ct_tree();
    let cases: [(u64, u64, &[&str]); 4] = [
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (0, 1, &[]),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
    ];
    for (index, size, want) in cases {
        let proof = inclusion_proof(&tree, index, size).unwrap();
        let want: Vec<Hash> = want.iter().map(|h| hex(h)).collect();
        assert_eq!(proof, want, "leaf {index} size {size}");
        let root_hash = hex(CT_ROOTS[size as usize]);
        verify_inclusion(index, size, &tree.0[index as usize], &proof, &root_hash).unwrap();
    }
}

#[test]
fn consistency_proofs_match_the_ct_vectors() {
    let tree = ct_tree();
    let cases: [(u64, u64, &[&str]); 4] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (from, to, want) in cases {
        let proof = consistency_proof(&tree, from, to).unwrap();
        let want: Vec<Hash> = want.iter().map(|h| hex(h)).collect();
        assert_eq!(proof, want, "{from} -> {to}");
        let (r1, r2) = (hex(CT_ROOTS[from as usize]), hex(CT_ROOTS[to as usize]));
        verify_consistency(from, to, &r1, &r2, &proof).unwrap();
    }
}

#[test]
fn every_proof_of_the_ct_tree_verifies_and_tampering_fails() {
    let tree = ct_tree();
    for size in 1..=8u64 {
        let r = root(&tree, size).unwrap();
        for index in 0..size {
            let proof = inclusion_proof(&tree, index, size).unwrap();
            let leaf = tree.0[index as usize];
            verify_inclusion(index, size, &leaf, &proof, &r).unwrap();
            assert!(verify_inclusion(index, size, &[7; 32], &proof, &r).is_err());
            if index + 1 < size {
                assert!(verify_inclusion(index + 1, size, &leaf, &proof, &r).is_err());
            }
            if !proof.is_empty() {
                assert!(verify_inclusion(index, size, &leaf, &proof[1..], &r).is_err());
            }
        }
        for from in 0..=size {
            let proof = consistency_proof(&tree, from, size).unwrap();
            let r1 = root(&tree, from).unwrap();
            verify_consistency(from, size, &r1, &r, &proof).unwrap();
            if from > 0 && from < size {
                assert!(verify_consistency(from, size, &[9; 32], &r, &proof).is_err());
                assert!(verify_consistency(from, size, &r1, &[9; 32], &proof).is_err());
            }
        }
    }
}

#[test]
fn consistency_between_any_two_sizes_up_to_70_verifies_and_tampering_fails() {
    let tree = numbered_leaves(70);
    let roots: Vec<Hash> = (0..=70).map(|size| root(&tree, size).unwrap()).collect();
    for to in 1..=70u64 {
        let r2 = &roots[to as usize];
        // Equal sizes: only the empty proof between equal roots.
        verify_consistency(to, to, r2, r2, &[]).unwrap();
        assert!(verify_consistency(to, to, &[9; 32], r2, &[]).is_err());
        assert!(verify_consistency(to, to, r2, r2, &[*r2]).is_err());
        for from in 1..to {
            let r1 = &roots[from as usize];
            let proof = consistency_proof(&tree, from, to).unwrap();
            verify_consistency(from, to, r1, r2, &proof).unwrap();
            assert!(verify_consistency(from, to, &[9; 32], r2, &proof).is_err());
            assert!(verify_consistency(from, to, r1, &[9; 32], &proof).is_err());
            assert!(verify_consistency(from + 1, to, r1, r2, &proof).is_err());
            for at in [0, proof.len() - 1] {
                let mut bad = proof.clone();
                bad[at][0] ^= 1;
                assert!(verify_consistency(from, to, r1, r2, &bad).is_err());
            }
            assert!(verify_consistency(from, to, r1, r2, &proof[1..]).is_err());
        }
    }
}

#[test]
fn out_of_range_requests_are_errors_not_panics() {
    let tree = ct_tree();
    assert!(inclusion_proof(&tree, 8, 8).is_err());
    assert!(consistency_proof(&tree, 5, 4).is_err());
    assert!(root(&tree, 9).is_err());
    assert!(root_from_inclusion_proof(3, 2, &[0; 32], &[]).is_err());
}

#[test]
fn batched_proofs_equal_single_proofs() {
    let tree = numbered_leaves(37);
    for size in [1u64, 2, 5, 16, 17, 37] {
        let batched = inclusion_proofs(&tree, 0..size, size).unwrap();
        for (i, p) in batched.iter().enumerate() {
            assert_eq!(p, &inclusion_proof(&tree, i as u64, size).unwrap());
        }
    }
}

/// A source that counts its look-ups and records every range it is asked to cache.
struct Counting {
    tree: LeafHashes,
    perfect: std::cell::Cell<u64>,
    ragged: std::cell::RefCell<Vec<(u64, u64)>>,
}

impl Counting {
    fn new(leaves: u64) -> Self {
        Counting {
            tree: numbered_leaves(leaves),
            perfect: std::cell::Cell::new(0),
            ragged: std::cell::RefCell::new(Vec::new()),
        }
    }
}

impl PerfectHashes for Counting {
    fn perfect(&self, level: u8, index: u64) -> Result<Hash> {
        self.perfect.set(self.perfect.get() + 1);
        self.tree.perfect(level, index)
    }

    fn range(&self, lo: u64, hi: u64) -> Result<Hash> {
        self.ragged.borrow_mut().push((lo, hi));
        range_hash_uncached(self, lo, hi)
    }
}

#[test]
fn only_ragged_ranges_reach_a_sources_cache() {
    // A perfect subtree is one look-up and must not fill a source's range cache; every other
    // range of two or more leaves goes through it, so a caching source sees the right edge.
    let is_perfect = |lo: u64, hi: u64| (hi - lo).is_power_of_two() && lo % (hi - lo) == 0;
    let edge = Counting::new(1000);
    root(&edge, 1000).unwrap();
    assert_eq!(
        *edge.ragged.borrow(),
        [
            (0, 1000),
            (512, 1000),
            (768, 1000),
            (896, 1000),
            (960, 1000)
        ],
        "the root of 1000 leaves walks its right edge down to [992, 1000), a perfect subtree"
    );
    let source = Counting::new(1100);
    for size in [3u64, 6, 7, 37, 300, 1000, 1100] {
        root(&source, size).unwrap();
        for i in [0, 1, size / 2, size - 1] {
            inclusion_proof(&source, i, size).unwrap();
        }
        for old in [1, 2, size / 3, size - 1] {
            consistency_proof(&source, old, size).unwrap();
        }
    }
    let ragged = source.ragged.borrow();
    assert!(!ragged.is_empty(), "right edges are ragged ranges");
    for &(lo, hi) in ragged.iter() {
        assert!(hi - lo > 1, "a single leaf reached the cache: {lo}..{hi}");
        assert!(
            !is_perfect(lo, hi),
            "a perfect subtree reached the cache: {lo}..{hi}"
        );
    }
    assert!(
        ragged.iter().any(|&(lo, _)| lo > 0),
        "ragged ranges that do not start at leaf 0 reach the cache too"
    );
}

#[test]
fn a_batch_of_proofs_hashes_the_right_edge_once() {
    let (size, batch) = (1000u64, 0..100u64);
    let single = Counting::new(size);
    for i in batch.clone() {
        inclusion_proof(&single, i, size).unwrap();
    }
    let batched = Counting::new(size);
    inclusion_proofs(&batched, batch, size).unwrap();
    // Each proof of a leaf below 512 needs the 9 perfect subtrees on its path inside [0, 512)
    // and the hash of the ragged [512, 1000): 256 + 128 + 64 + 32 + 8, five look-ups. One by
    // one, every proof pays for that edge; in a batch only the first does.
    assert_eq!(single.perfect.get(), 100 * (9 + 5));
    assert_eq!(batched.perfect.get(), 100 * 9 + 5);
}
