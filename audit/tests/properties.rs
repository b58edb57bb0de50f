//! Properties (proptest): every record's proof verifies against every later checkpoint;
//! consistency holds between any two sizes; cutting the last segment at any byte (of its
//! records or of the zeros preallocated after them) and reopening
//! yields exactly the records whose frames are complete (at least the signed ones) or, if
//! the cut reaches below what the log remembers having signed (the stored checkpoint, and the
//! index when it is still there), a refusal: never a silently shorter or corrupt log.
//! `AUDIT_HEAVY=1` runs more cases.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use loopgate_audit::{Log, verify_consistency, verify_dir, verify_inclusion};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(12)))]

    #[test]
    fn proofs_hold_against_every_later_checkpoint(batches in prop::collection::vec(1usize..12, 1..8)) {
        let dir = tempfile::tempdir().unwrap();
        let log = common::open(dir.path());
        let rt = common::rt();
        let mut acks = Vec::new();
        let mut n = 0u64;
        for b in batches {
            let futs: Vec<_> = (0..b as u64).map(|j| log.append(common::record(n + j, 60 + (j as usize * 37) % 400))).collect();
            n += b as u64;
            rt.block_on(async { for f in futs { acks.push(f.await.unwrap()); } });
        }
        let mut cps: Vec<_> = acks.iter().map(|a| a.checkpoint.clone()).collect();
        cps.sort_by_key(|c| c.size());
        cps.dedup_by_key(|c| c.size());
        for a in &acks {
            verify_inclusion(a.index, a.checkpoint.size(), &a.leaf_hash, &a.inclusion_proof, a.checkpoint.root()).unwrap();
            for cp in cps.iter().filter(|c| c.size() > a.index) {
                let p = log.inclusion_proof(a.index, cp.size()).unwrap();
                verify_inclusion(a.index, cp.size(), &a.leaf_hash, &p, cp.root()).unwrap();
            }
        }
        for x in &cps {
            for y in cps.iter().filter(|y| y.size() >= x.size()) {
                let p = log.consistency_proof(x.size(), y.size()).unwrap();
                verify_consistency(x.size(), y.size(), x.root(), y.root(), &p).unwrap();
            }
        }
        for m in 0..=n {
            for k in m..=n {
                let p = log.consistency_proof(m, k).unwrap();
                verify_consistency(m, k, &log.root(m).unwrap(), &log.root(k).unwrap(), &p).unwrap();
            }
        }
    }

    #[test]
    fn a_cut_at_any_byte_recovers_a_prefix_or_refuses(
        first in 0u64..30,
        second in 1u64..30,
        cut_permille in 0u32..=1100,
        keep_index in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let log = common::open(dir.path());
        common::append_all(&log, 0, first, 200);
        common::rt().block_on(log.shutdown()).unwrap();
        drop(log);
        let stored = std::fs::read(dir.path().join("checkpoint")).unwrap();
        let log = common::open(dir.path());
        common::append_all(&log, first, second, 200);
        drop(log);
        // The checkpoint store lags behind the appends, as it may at a crash. The index knows
        // all `first + second` records were signed; without it, only the `first` are known.
        std::fs::write(dir.path().join("checkpoint"), &stored).unwrap();
        if !keep_index {
            std::fs::remove_dir_all(dir.path().join("index")).unwrap();
        }
        let signed = if keep_index { first + second } else { first };

        let last = common::segments(dir.path()).pop().unwrap();
        // The cut falls among the frames, or (above 1000) in the zeros preallocated past them.
        let len = std::fs::metadata(&last).unwrap().len();
        let frames = common::frames(&last);
        let records_end = frames.last().map_or(16, |(_, off, l)| (off + l) as u64);
        let cut = (records_end * u64::from(cut_permille) / 1000).min(len);
        std::fs::OpenOptions::new().write(true).open(&last).unwrap().set_len(cut).unwrap();
        let complete: Vec<u64> = frames.iter().filter(|(_, off, l)| (off + l) as u64 <= cut).map(|f| f.0).collect();
        let before_last = frames.first().map_or(first + second, |f| f.0);
        let survivors = complete.last().map_or(before_last, |i| i + 1);

        match Log::open(common::config(dir.path())) {
            Ok(log) => {
                prop_assert!(survivors >= signed, "open accepted losing signed records");
                prop_assert_eq!(log.size(), survivors);
                for i in 0..survivors {
                    prop_assert_eq!(log.read(i).unwrap(), common::record(i, 200));
                }
                let a = common::append_all(&log, 1000, 1, 200);
                prop_assert_eq!(a[0].index, survivors);
                drop(log);
                prop_assert_eq!(verify_dir(dir.path(), None).unwrap().size, survivors + 1);
            }
            Err(e) => {
                prop_assert!(survivors < signed, "refused a recoverable cut: {}", e);
            }
        }
    }
}
