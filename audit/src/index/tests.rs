//! The tiles hold exactly the perfect subtree hashes, in memory and after a reload from sled.

use super::*;
use crate::tree::{LeafHashes, inclusion_proof, leaf_hash, root};

#[test]
fn frontier_and_index_agree_with_a_plain_tree_across_tile_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    let mut frontier = Frontier::empty(index.clone());
    let mut plain = LeafHashes::default();
    let checkpoints = [1u64, 2, 3, 255, 256, 257, 511, 600, 65_536 + 3];
    for n in 0..*checkpoints.last().unwrap() {
        let h = leaf_hash(&n.to_le_bytes());
        frontier.push(h);
        plain.0.push(h);
        let size = n + 1;
        if checkpoints.contains(&size) {
            let mut add = Additions::default();
            frontier.write_dirty(&mut add);
            add.size(size);
            index.apply(add).unwrap();
            frontier.evict_full();
            assert_eq!(
                frontier.root().unwrap(),
                root(&plain, size).unwrap(),
                "size {size}"
            );
            assert_eq!(root(&index, size).unwrap(), frontier.root().unwrap());
            for i in [0, size / 2, size - 1] {
                assert_eq!(
                    inclusion_proof(&index, i, size).unwrap(),
                    inclusion_proof(&frontier, i, size).unwrap()
                );
            }
            let reloaded = Frontier::load(index.clone(), size).unwrap().unwrap();
            assert_eq!(reloaded.root().unwrap(), frontier.root().unwrap());
        }
    }
    assert_eq!(index.size().unwrap(), 65_539);
}

#[test]
fn a_missing_tile_means_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    assert!(Frontier::load(index.clone(), 5).unwrap().is_none());
    assert!(index.perfect(0, 0).is_err());
}

#[test]
fn query_keys_page_in_log_order() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    let mut add = Additions::default();
    let mut terms = Terms::default();
    for i in 0..20u64 {
        let who = if i % 2 == 0 { "a" } else { "ab" };
        add.record(i, 0, 100 + i);
        terms.add(i, &[(Field::Sender, who.as_bytes().to_vec())]);
    }
    terms.size(20);
    index.apply(add).unwrap();
    index.apply_terms(terms).unwrap();
    assert_eq!(index.terms_size().unwrap(), 20);
    assert_eq!(
        index.query(Field::Sender, b"a", None, 3).unwrap(),
        vec![0, 2, 4]
    );
    assert_eq!(
        index.query(Field::Sender, b"a", Some(4), 10).unwrap(),
        vec![6, 8, 10, 12, 14, 16, 18]
    );
    assert_eq!(
        index.query(Field::Sender, b"ab", None, 5).unwrap(),
        vec![1, 3, 5, 7, 9]
    );
    assert_eq!(index.position(17).unwrap(), Some((16, 0, 116)));
    assert_eq!(index.position(3).unwrap(), Some((0, 0, 100)));
}
