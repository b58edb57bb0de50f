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
    // Three index writes of sender "a" (one list, grown in place), and noise.
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

/// Transfer ids of the gateway's form share the lists of their 256 ms span (bucket); a lookup
/// must still return exactly one id's hits. Ids: four in one millisecond, two in the next
/// (all in one bucket), one with capitals and one short (both under their own keys).
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
        Some((&b"0190f3a1b2"[..], &b"c3aaaaaaaaaaaaaaaaaaaa"[..]))
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

/// Guards the layout that keeps sled's keys few (sled 0.34 holds memory for every node it
/// ever made, so memory grows with the keys ever written, see `layout::LIST_BYTES`): 20k
/// records of 3 senders, written as the indexer writes them (a group per 10 ms, here 20
/// records), with a gateway's terms (kind, time, sender, recipient, item, decision and a
/// transfer id of the gateway's form, 2 per millisecond). The layout before wrote 0.5-0.7
/// keys per record in the gateway (here 1.0, with one id bucket per millisecond); this 0.03.
#[test]
fn the_index_writes_few_sled_keys_per_record() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    let mut frontier = Frontier::empty(index.clone());
    let n = 20_000u64;
    let second = |s: u64| (s ^ (1 << 63)).to_be_bytes().to_vec();
    let mut terms = Terms::following(None);
    let mut add = Additions::default();
    for i in 0..n {
        frontier.push(leaf_hash(&i.to_le_bytes()));
        add.record(i, 0, 16 + 1000 * i);
        let ms = 0x0190_f3a1_b2c3 + i / 2;
        let id = format!(
            "{ms:012x}{:020x}",
            i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 4
        );
        let sender = format!("tenant-{}", i % 3);
        let decision: &[u8] = if i % 7 == 0 { b"deny" } else { b"allow" };
        terms.add(
            i,
            &[
                (Field::Kind, b"decision".to_vec()),
                (Field::Time, second(1_700_000_000 + i / 2000)),
                (Field::Transfer, id.into_bytes()),
                (Field::Sender, sender.into_bytes()),
                (Field::Recipient, b"hk-biolab".to_vec()),
                (Field::Item, b"INV-NP-001".to_vec()),
                (Field::Decision, decision.to_vec()),
            ],
        );
        if (i + 1) % 20 == 0 {
            frontier.write_dirty(&mut add);
            add.size(i + 1);
            index.apply_batch(std::mem::take(&mut add)).unwrap();
            frontier.evict_full(i + 1);
            terms.size(i + 1);
            let max = terms.running_max();
            index
                .apply_terms(std::mem::replace(&mut terms, Terms::following(max)))
                .unwrap();
        }
    }
    let mut by_tag = BTreeMap::<String, usize>::new();
    for tree in [&index.tree, &index.terms] {
        for kv in tree.iter() {
            let key = kv.unwrap().0;
            let tag = key.get(..2).unwrap_or(&key).escape_ascii().to_string();
            *by_tag.entry(tag).or_default() += 1;
        }
    }
    let keys: usize = by_tag.values().sum();
    assert!(
        keys * 25 <= n as usize,
        "{keys} sled keys for {n} records, more than 0.04 per record: {by_tag:?}"
    );
    // And the lists answer as they did.
    let sender: Vec<u64> = (0..n).filter(|i| i % 3 == 1).collect();
    assert_eq!(
        index
            .query(Field::Sender, b"tenant-1", None, n as usize)
            .unwrap(),
        sender
    );
    assert_eq!(
        index
            .query(Field::Sender, b"tenant-1", Some(9_000), 3)
            .unwrap(),
        [9_001, 9_004, 9_007]
    );
    assert_eq!(
        index.last(Field::Decision, b"deny", 19_999).unwrap(),
        Some(19_992)
    );
    let id = format!(
        "{:012x}{:020x}",
        0x0190_f3a1_b2c3u64 + 12_345 / 2,
        12_345u64.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 4
    );
    assert_eq!(
        index
            .query(Field::Transfer, id.as_bytes(), None, 10)
            .unwrap(),
        [12_345]
    );
    for i in [0, 15, 16, 255, 256, 4_097, n - 1] {
        assert_eq!(
            index.position(i).unwrap(),
            Some((i / 16 * 16, 0, 16 + 1000 * (i / 16 * 16))),
            "{i}"
        );
    }
}

proptest::proptest! {
    /// Lists grow in place across index writes until full, then continue under a new key: a
    /// cursor, a page and `last` still find exactly the hits, across many lists.
    #[test]
    fn lists_that_fill_up_answer_exactly_their_hits(
        senders in proptest::collection::vec(0u8..3, 600..2_500),
        cuts in proptest::collection::vec(1usize..300, 1..10),
        probes in proptest::collection::vec(0u64..2_600, 8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(dir.path()).unwrap();
        let mut at = 0;
        let mut cut = cuts.iter().cycle();
        while at < senders.len() {
            let end = (at + cut.next().unwrap()).min(senders.len());
            let mut terms = Terms::default();
            for (i, &s) in senders.iter().enumerate().take(end).skip(at) {
                terms.add(i as u64, &[(Field::Sender, vec![b'a' + s])]);
            }
            index.apply_terms(terms).unwrap();
            at = end;
        }
        for s in 0..3u8 {
            let value = [b'a' + s];
            let want: Vec<u64> = (0..senders.len() as u64)
                .filter(|&i| senders[i as usize] == s)
                .collect();
            proptest::prop_assert_eq!(
                index.query(Field::Sender, &value, None, 10_000).unwrap(), want.clone()
            );
            // Full lists of 512 hits, and the open one.
            let lists = index.terms.scan_prefix(Place::of(Field::Sender, &value).prefix).count();
            proptest::prop_assert_eq!(lists, want.len().div_ceil(512));
            let mut cursor = index.cursor(Field::Sender, &value);
            for &p in &probes {
                proptest::prop_assert_eq!(
                    index.query(Field::Sender, &value, Some(p), 3).unwrap(),
                    want.iter().copied().filter(|&i| i > p).take(3).collect::<Vec<_>>()
                );
                proptest::prop_assert_eq!(
                    cursor.seek(p).unwrap(),
                    want.iter().copied().find(|&i| i >= p)
                );
                proptest::prop_assert_eq!(
                    index.last(Field::Sender, &value, p).unwrap(),
                    want.iter().copied().rfind(|&i| i < p)
                );
            }
        }
    }
}

/// Positions live in blocks of 256 records (the last one under the edge key), with each
/// segment's first record; a commit replayed after a crash cut it before its size replaces
/// what it had written; and an index written with one key per position still answers.
#[test]
fn positions_live_in_blocks_and_survive_a_replay() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    // Segments start at records 0, 300 and 520; record i is at 16 + 10 * (i - first).
    let first = |i: u64| [520, 300, 0].into_iter().find(|&f| f <= i).unwrap();
    let offset = |i: u64| SEGMENT_HEADER + 10 * (i - first(i));
    let commit = |range: std::ops::Range<u64>, single: bool| {
        let mut add = Additions::default();
        for i in range.clone() {
            add.record(i, first(i), offset(i));
        }
        add.size(range.end);
        if single {
            index.apply(add).unwrap();
        } else {
            index.apply_batch(add).unwrap();
        }
    };
    commit(0..100, false);
    commit(100..530, true);
    commit(530..600, false);
    let check = |upto: u64| {
        for i in 0..upto {
            let from = (i / 16 * 16).max(first(i));
            assert_eq!(
                index.position(i).unwrap(),
                Some((from, first(i), offset(from))),
                "{i}"
            );
        }
    };
    check(600);
    assert_eq!(index.tree.scan_prefix(b"P").count(), 2, "blocks 0 and 1");
    assert_eq!(
        index.tree.scan_prefix(b"p").count(),
        0,
        "no key per position"
    );
    // A replay from record 200, as after a crash before the size of a later commit.
    commit(200..650, true);
    check(650);
    // The layout before: one key per position, the blocks starting later.
    index.tree.clear().unwrap();
    for i in (0..300).step_by(16) {
        let mut v = first(i).to_be_bytes().to_vec();
        v.extend_from_slice(&offset(i).to_be_bytes());
        index.tree.insert(layout::pos_key(i), v).unwrap();
    }
    commit(300..400, false);
    check(400);
}
