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
            frontier.evict_full(frontier.size());
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

#[test]
fn a_cursor_seeks_across_groups_and_last_stays_below_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    // Three groups (as three indexer batches write them) of sender "a", and noise.
    for group in [&[0u64, 2, 4][..], &[10, 12], &[30]] {
        let mut terms = Terms::default();
        for &i in group {
            terms.add(i, &[(Field::Sender, b"a".to_vec())]);
            terms.add(i + 1, &[(Field::Sender, b"b".to_vec())]);
        }
        index.apply_terms(terms).unwrap();
    }
    let mut c = index.cursor(Field::Sender, b"a");
    let seeks = [(0, Some(0)), (1, Some(2)), (5, Some(10)), (11, Some(12))];
    for (at, want) in seeks {
        assert_eq!(c.seek(at).unwrap(), want, "seek {at}");
    }
    assert_eq!(c.seek(13).unwrap(), Some(30));
    assert_eq!(c.seek(31).unwrap(), None);
    // Seeking backwards is allowed too (the cached group is not trusted then).
    assert_eq!(c.seek(3).unwrap(), Some(4));
    assert_eq!(index.cursor(Field::Sender, b"z").seek(0).unwrap(), None);
    assert_eq!(index.last(Field::Sender, b"a", 100).unwrap(), Some(30));
    assert_eq!(index.last(Field::Sender, b"a", 30).unwrap(), Some(12));
    assert_eq!(index.last(Field::Sender, b"a", 11).unwrap(), Some(10));
    assert_eq!(index.last(Field::Sender, b"a", 0).unwrap(), None);
    assert_eq!(index.last(Field::Recipient, b"a", 100).unwrap(), None);
}

#[test]
fn time_marks_follow_the_running_maximum_across_groups() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    let second = |s: u64| (s ^ (1 << 63)).to_be_bytes();
    let time = |s: u64| [(Field::Time, second(s).to_vec())];
    let mut terms = Terms::following(index.time_max().unwrap());
    for (i, s) in [5u64, 5, 7, 6, 7].into_iter().enumerate() {
        terms.add(i as u64, &time(s));
    }
    assert_eq!(terms.running_max(), Some(second(7)));
    index.apply_terms(terms).unwrap();
    assert_eq!(index.time_max().unwrap(), Some(second(7)));
    let mut terms = Terms::following(index.time_max().unwrap());
    terms.add(5, &time(7));
    terms.add(6, &time(9));
    index.apply_terms(terms).unwrap();
    // Marks: second 5 at 0, 7 at 2, 9 at 6 (the dip to 6 at index 3 makes none).
    let at_or_after = |s| index.time_mark(second(s), false).unwrap();
    let after = |s| index.time_mark(second(s), true).unwrap();
    assert_eq!(
        [at_or_after(4), at_or_after(5), at_or_after(6)],
        [Some(0), Some(0), Some(2)]
    );
    assert_eq!(
        [at_or_after(8), at_or_after(9), at_or_after(10)],
        [Some(6), Some(6), None]
    );
    assert_eq!(
        [after(4), after(5), after(7), after(9)],
        [Some(0), Some(2), Some(6), None]
    );
}

/// The signed high-water mark is the largest of what was kept and what the trees cover; it
/// only ever grows, and neither a clear (before a rebuild) nor a reopen loses it.
#[test]
fn the_signed_high_water_mark_outlives_a_clear() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    assert_eq!(index.signed().unwrap(), 0);
    index.set_size(60).unwrap();
    assert_eq!(index.signed().unwrap(), 60);
    index.keep_signed(60).unwrap();
    index.clear().unwrap();
    assert_eq!((index.size().unwrap(), index.signed().unwrap()), (0, 60));
    index.keep_signed(40).unwrap();
    assert_eq!(index.signed().unwrap(), 60);
    drop(index);
    let index = Index::open(dir.path()).unwrap();
    assert_eq!(index.signed().unwrap(), 60);
}

impl Index {
    /// Removes the right edge's partial tiles, so that the index no longer holds the tree its
    /// size says (recovery then rebuilds it).
    pub(crate) fn forget_edge(&self) {
        for level in 0..8 {
            self.tree.remove(layout::edge_key(level)).unwrap();
        }
        self.flush().unwrap();
    }

    /// Makes the `terms` tree look like one written before the time marks (layout 1).
    pub(crate) fn forget_time_marks(&self) {
        self.terms.remove(KEY_LAYOUT).unwrap();
        for kv in self.terms.scan_prefix([layout::TIME_MARK]) {
            self.terms.remove(kv.unwrap().0).unwrap();
        }
        self.flush().unwrap();
    }

    /// Makes the `terms` tree look like one written before the id buckets (layout 2): it says
    /// layout 2 and holds no bucket keys.
    pub(crate) fn forget_id_buckets(&self) {
        self.terms.insert(KEY_LAYOUT, &2u64.to_be_bytes()).unwrap();
        for kv in self.terms.scan_prefix([b'q', ID_BUCKET]) {
            self.terms.remove(kv.unwrap().0).unwrap();
        }
        self.flush().unwrap();
    }
}

/// Guards against rewriting partial tiles under their own key (in the sled node of the full
/// tiles, which sled then copied and relogged whole on every commit): a partial tile lives
/// under its level's edge key, a full one under its tile key, and the edge key is cleared when
/// its tile fills up with no next tile behind it.
#[test]
fn partial_tiles_live_under_the_edge_keys() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    let mut frontier = Frontier::empty(index.clone());
    let commit = |frontier: &mut Frontier, size: u64| {
        let mut add = Additions::default();
        frontier.write_dirty(&mut add);
        add.size(size);
        index.apply(add).unwrap();
        frontier.evict_full(frontier.size());
    };
    for n in 0..300u64 {
        frontier.push(leaf_hash(&n.to_le_bytes()));
    }
    commit(&mut frontier, 300);
    let get = |k: &[u8]| index.tree.get(k).unwrap();
    assert!(get(&layout::tile_key(0, 0)).is_some(), "the full tile");
    assert!(
        get(&layout::tile_key(0, 1)).is_none(),
        "no partial tile under its key"
    );
    let edge = get(&layout::edge_key(0)).unwrap();
    assert_eq!(edge[..8], 1u64.to_be_bytes());
    assert_eq!(index.tile(0, 1).unwrap().unwrap(), edge[8..]);
    assert_eq!(index.tile(1, 0).unwrap().unwrap()[..2], 1u16.to_be_bytes());
    for n in 300..512u64 {
        frontier.push(leaf_hash(&n.to_le_bytes()));
    }
    commit(&mut frontier, 512);
    assert!(
        get(&layout::edge_key(0)).is_none(),
        "level 0 has no partial tile at 512"
    );
    assert!(get(&layout::tile_key(0, 1)).is_some());
    assert!(Frontier::load(index.clone(), 512).unwrap().is_some());
}

/// An index written before the edge keys held its partial tiles under their tile keys: it
/// still loads and proves, and the edge key written by later commits takes over.
#[test]
fn partial_tiles_under_their_tile_keys_still_load() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    let mut plain = LeafHashes::default();
    let mut frontier = Frontier::empty(index.clone());
    for n in 0..100u64 {
        let h = leaf_hash(&n.to_le_bytes());
        frontier.push(h);
        plain.0.push(h);
    }
    let mut add = Additions::default();
    frontier.write_dirty(&mut add);
    add.size(100);
    index.apply(add).unwrap();
    // The old layout: the partial tiles under their tile keys.
    for tl in 0..8u8 {
        if let Some(edge) = index.tree.remove(layout::edge_key(tl)).unwrap() {
            let n = u64::from_be_bytes(edge[..8].try_into().unwrap());
            index
                .tree
                .insert(layout::tile_key(tl, n), &edge[8..])
                .unwrap();
        }
    }
    assert!(index.tree.get(layout::tile_key(0, 0)).unwrap().is_some());
    let mut reloaded = Frontier::load(index.clone(), 100).unwrap().unwrap();
    assert_eq!(root(&index, 100).unwrap(), root(&plain, 100).unwrap());
    for n in 100..150u64 {
        let h = leaf_hash(&n.to_le_bytes());
        reloaded.push(h);
        plain.0.push(h);
    }
    let mut add = Additions::default();
    reloaded.write_dirty(&mut add);
    add.size(150);
    index.apply(add).unwrap();
    assert_eq!(root(&index, 150).unwrap(), root(&plain, 150).unwrap());
    assert_eq!(
        inclusion_proof(&index, 120, 150).unwrap(),
        inclusion_proof(&plain, 120, 150).unwrap()
    );
    assert!(Frontier::load(index.clone(), 150).unwrap().is_some());
}

/// Transfer ids of the gateway's form share one key per millisecond (bucket) and index write;
/// a lookup must still return exactly one id's hits. Ids: four in one millisecond, two in
/// another, one with capitals and one short (both under their own keys).
const IDS: [&[u8]; 8] = [
    b"0190f3a1b2c3aaaaaaaaaaaaaaaaaaaa",
    b"0190f3a1b2c3aaaaaaaaaaaaaaaaaaab",
    b"0190f3a1b2c30000000000000000000a",
    b"0190f3a1b2c3ffffffffffffffffffff",
    b"0190f3a1b2c4aaaaaaaaaaaaaaaaaaaa",
    b"0190f3a1b2c4aaaaaaaaaaaaaaaaaaab",
    b"0190F3A1B2C3AAAAAAAAAAAAAAAAAAAA",
    b"t-1",
];

proptest::proptest! {
    #[test]
    fn bucketed_ids_answer_exactly_their_own_hits(
        ids in proptest::collection::vec(0usize..IDS.len(), 1..200),
        cuts in proptest::collection::vec(1usize..40, 1..10),
        probes in proptest::collection::vec(0u64..210, 8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(dir.path()).unwrap();
        // Groups of records as the indexer writes them, cut at random sizes.
        let mut at = 0;
        let mut cut = cuts.iter().cycle();
        while at < ids.len() {
            let end = (at + cut.next().unwrap()).min(ids.len());
            let mut terms = Terms::default();
            for (i, &id) in ids.iter().enumerate().take(end).skip(at) {
                terms.add(i as u64, &[(Field::Transfer, IDS[id].to_vec())]);
            }
            index.apply_terms(terms).unwrap();
            at = end;
        }
        for (id, value) in IDS.iter().enumerate() {
            let want: Vec<u64> = (0..ids.len() as u64).filter(|&i| ids[i as usize] == id).collect();
            proptest::prop_assert_eq!(
                index.query(Field::Transfer, value, None, 1000).unwrap(), want.clone()
            );
            let mut cursor = index.cursor(Field::Transfer, value);
            for &p in &probes {
                let after: Vec<u64> = want.iter().copied().filter(|&i| i > p).collect();
                proptest::prop_assert_eq!(
                    index.query(Field::Transfer, value, Some(p), 3).unwrap(),
                    after.iter().copied().take(3).collect::<Vec<_>>()
                );
                proptest::prop_assert_eq!(
                    cursor.seek(p).unwrap(),
                    want.iter().copied().find(|&i| i >= p)
                );
                proptest::prop_assert_eq!(
                    index.last(Field::Transfer, value, p).unwrap(),
                    want.iter().copied().rfind(|&i| i < p)
                );
            }
        }
    }
}

#[test]
fn only_ids_of_the_gateways_form_are_bucketed() {
    assert_eq!(
        layout::id_bucket(IDS[0]),
        Some((&b"0190f3a1b2c3"[..], &b"aaaaaaaaaaaaaaaaaaaa"[..]))
    );
    for plain in [
        IDS[6],
        IDS[7],
        &IDS[0][..31],
        b"0190f3a1b2c3aaaaaaaaaaaaaaaaaaaag",
    ] {
        assert_eq!(layout::id_bucket(plain), None);
    }
    // A bucketed id and a plain id never share keys, whatever the field.
    assert_ne!(
        Place::of(Field::Transfer, IDS[0]).prefix,
        Place::of(Field::Sender, IDS[0]).prefix
    );
}
