//! `Log::select` against brute force (proptest): random records (few transfer ids, senders,
//! recipients, items, verdicts and reasons, some records lacking those fields; most ids of the
//! gateway's form, several sharing a millisecond and so an index bucket; times non-decreasing with
//! repeats and sub-second parts) appended through a real log with small segments, then random
//! selections (0-3 terms, optional from/to, limit 1..50) paged with `after = next` until `None`
//! must return exactly the matching records in log order (and `select_newest_first`, paged the
//! same way, those below the cursor in reverse), before and after the index is deleted and
//! rebuilt. `time_bounds` must be exact for such times. `AUDIT_HEAVY=1` runs more
//! cases.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::time::Duration;

use loopgate_audit::{Field, Kind, Log, Outcome, Record, Selection, Verdict, time_key};
use proptest::prelude::*;
use time::OffsetDateTime;
use time::macros::datetime;

/// What the test knows about one appended record, independently of the index.
#[derive(Debug, Clone)]
struct Model {
    kind: &'static str,
    time: OffsetDateTime,
    transfer: Option<String>,
    sender: Option<String>,
    recipient: Option<String>,
    item: Option<String>,
    decision: Option<&'static str>,
    reason: Option<String>,
}

impl Model {
    fn value(&self, field: Field) -> Option<String> {
        match field {
            Field::Kind => Some(self.kind.to_owned()),
            Field::Transfer => self.transfer.clone(),
            Field::Sender => self.sender.clone(),
            Field::Recipient => self.recipient.clone(),
            Field::Item => self.item.clone(),
            Field::Decision => self.decision.map(str::to_owned),
            Field::Reason => self.reason.clone(),
            other => panic!("the test does not select on {other:?}"),
        }
    }
}

const STEPS_MS: [i64; 7] = [0, 0, 0, 250, 700, 1000, 2600];
const FIELDS: [Field; 7] = [
    Field::Transfer,
    Field::Sender,
    Field::Recipient,
    Field::Item,
    Field::Decision,
    Field::Reason,
    Field::Kind,
];

/// Builds record `i` from its random choices; returns its model and leaf.
/// Transfer ids: the gateway's form (32 lowercase hex digits, the first 12 the millisecond)
/// with four sharing a millisecond and two another, and two of other forms.
const IDS: [&str; 8] = [
    "0190f3a1b2c3aaaaaaaaaaaaaaaaaaaa",
    "0190f3a1b2c3aaaaaaaaaaaaaaaaaaab",
    "0190f3a1b2c30000000000000000000a",
    "0190f3a1b2c3ffffffffffffffffffff",
    "0190f3a1b2c4aaaaaaaaaaaaaaaaaaaa",
    "0190f3a1b2c4aaaaaaaaaaaaaaaaaaab",
    "0190F3A1B2C3AAAAAAAAAAAAAAAAAAAA",
    "t-1",
];

/// Builds record `i` from its random choices; returns its model and leaf.
fn build(time: OffsetDateTime, c: Choice) -> (Model, Vec<u8>) {
    let (kind, sender, recipient, item, verdict, id) = c;
    let opt = |n: u8, p: &str| (n > 0).then(|| format!("{p}-{}", n - 1));
    let tid = IDS[usize::from(id) % IDS.len()].to_owned();
    let mut m = Model {
        kind: "decision",
        time,
        transfer: Some(tid.clone()),
        sender: None,
        recipient: None,
        item: None,
        decision: None,
        reason: None,
    };
    let record = match kind {
        0..=3 => {
            m.sender = opt(sender, "s");
            m.recipient = opt(recipient, "r");
            m.item = opt(item, "i");
            let (v, reason) = match verdict {
                0 | 1 => (Verdict::Allow, None),
                n => (Verdict::Deny, Some(format!("c-{}", n - 2))),
            };
            m.decision = Some(if v == Verdict::Allow { "allow" } else { "deny" });
            m.reason = reason.clone();
            Record::decision(
                time,
                &tid,
                m.sender.as_deref(),
                m.recipient.as_deref(),
                m.item.as_deref(),
                v,
                reason.as_deref(),
            )
            .unwrap()
        }
        4 => {
            m.kind = "outcome";
            Record::outcome(time, &tid, Outcome::Completed).unwrap()
        }
        _ => {
            m.kind = "system";
            m.transfer = None;
            Record::new(Kind::System, time).unwrap()
        }
    };
    (m, record.to_leaf().unwrap())
}

/// A record's random choices: kind, sender, recipient, item, verdict, transfer id.
type Choice = (u8, u8, u8, u8, u8, u8);
type Choices = Vec<(Choice, usize)>;

/// Appends the records in order, in commit batches of varying size; returns models and leaves.
fn append_all(log: &Log, choices: &Choices) -> (Vec<Model>, Vec<Vec<u8>>) {
    let rt = common::rt();
    let mut time = datetime!(2026-11-25 13:00:00.125 UTC);
    let (mut models, mut leaves) = (Vec::new(), Vec::new());
    let mut pending = Vec::new();
    let mut acked = 0;
    for (i, (c, step)) in choices.iter().enumerate() {
        time += Duration::from_millis(STEPS_MS[*step % STEPS_MS.len()] as u64);
        let (m, leaf) = build(time, *c);
        // Called in log order: each append is queued when it is called.
        pending.push(log.append(leaf.clone()));
        models.push(m);
        leaves.push(leaf);
        if pending.len() > i % 11 {
            rt.block_on(async {
                for f in pending.drain(..) {
                    assert_eq!(f.await.unwrap().index, acked);
                    acked += 1;
                }
            });
        }
    }
    rt.block_on(async {
        for f in pending {
            f.await.unwrap();
        }
    });
    assert_eq!(log.size(), models.len() as u64);
    (models, leaves)
}

/// A random selection, from small numbers: terms as (field, value choice), from/to as
/// (record, offset choice), the first cursor and the limit.
type Sel = (
    Vec<(usize, u8)>,
    Option<(usize, u8)>,
    Option<(usize, u8)>,
    Option<usize>,
    usize,
);

fn sel_strategy() -> impl Strategy<Value = Sel> {
    (
        prop::collection::vec((0usize..7, 0u8..8), 0..=3),
        prop::option::of((0usize..1000, 0u8..7)),
        prop::option::of((0usize..1000, 0u8..7)),
        prop::option::weighted(0.2, 0usize..1000),
        1usize..50,
    )
}

fn term(field: Field, v: u8) -> (Field, Vec<u8>) {
    if field == Field::Transfer {
        return (field, IDS[usize::from(v)].as_bytes().to_vec());
    }
    let v = v % 4;
    let value = match field {
        Field::Sender => format!("s-{v}"),
        Field::Recipient => format!("r-{v}"),
        Field::Item => format!("i-{v}"),
        Field::Decision => ["allow", "deny", "allow", "maybe"][usize::from(v)].to_owned(),
        Field::Reason => format!("c-{v}"),
        _ => ["decision", "outcome", "system", "lifecycle"][usize::from(v)].to_owned(),
    };
    (field, value.into_bytes())
}

fn to_selection(s: &Sel, models: &[Model]) -> Selection {
    const OFFSETS_MS: [i64; 7] = [-1500, -400, -1, 0, 1, 300, 1000];
    let at = |(r, o): (usize, u8)| {
        models[r % models.len()].time + time::Duration::milliseconds(OFFSETS_MS[usize::from(o)])
    };
    Selection {
        terms: s.0.iter().map(|(f, v)| term(FIELDS[*f], *v)).collect(),
        from: s.1.map(at),
        to: s.2.map(at),
        after: s.3.map(|a| (a % (models.len() + 2)) as u64),
        limit: s.4,
    }
}

/// The matching indexes, by brute force over the models.
fn brute_force(sel: &Selection, models: &[Model]) -> Vec<u64> {
    (0..models.len())
        .filter(|&i| {
            let m = &models[i];
            sel.after.is_none_or(|a| i as u64 > a)
                && sel.from.is_none_or(|f| m.time >= f)
                && sel.to.is_none_or(|t| m.time <= t)
                && sel
                    .terms
                    .iter()
                    .all(|(f, v)| m.value(*f).is_some_and(|x| x.as_bytes() == v.as_slice()))
        })
        .map(|i| i as u64)
        .collect()
}

/// Pages through `sel` with `after = next` until `None`; checks the page contract on the way.
fn page_through(log: &Log, sel: &Selection) -> Vec<(u64, Vec<u8>)> {
    let mut sel = sel.clone();
    let mut all = Vec::new();
    for n in 0.. {
        let page = log.select(&sel).unwrap();
        assert!(page.records.len() <= sel.limit);
        assert!(
            n == 0 || !page.records.is_empty(),
            "a cursor led to an empty page"
        );
        all.extend(page.records.iter().cloned());
        match page.next {
            Some(next) => {
                assert_eq!(page.records.len(), sel.limit, "a short page with a cursor");
                assert_eq!(Some(next), page.records.last().map(|r| r.0));
                sel.after = Some(next);
            }
            None => break,
        }
    }
    all
}

/// [`page_through`] newest first: `after` is then the cursor below which the next page lies.
fn page_back(log: &Log, sel: &Selection) -> Vec<u64> {
    let mut sel = sel.clone();
    let mut all = Vec::new();
    for n in 0.. {
        let page = log.select_newest_first(&sel).unwrap();
        assert!(page.records.len() <= sel.limit);
        assert!(
            n == 0 || !page.records.is_empty(),
            "a cursor led to an empty page"
        );
        all.extend(page.records.iter().map(|r| r.0));
        match page.next {
            Some(next) => {
                assert_eq!(page.records.len(), sel.limit, "a short page with a cursor");
                assert_eq!(Some(next), page.records.last().map(|r| r.0));
                sel.after = Some(next);
            }
            None => break,
        }
    }
    all
}

fn check(log: &Log, sels: &[Sel], models: &[Model], leaves: &[Vec<u8>]) -> Vec<Vec<u64>> {
    let mut answers = Vec::new();
    for s in sels {
        let sel = to_selection(s, models);
        let got = page_through(log, &sel);
        let want = brute_force(&sel, models);
        let got_idx: Vec<u64> = got.iter().map(|r| r.0).collect();
        assert_eq!(got_idx, want, "selection {sel:?}");
        for (i, leaf) in &got {
            assert_eq!(leaf, &leaves[*i as usize]);
        }
        // Newest first: the same records below the cursor, in reverse.
        let back = page_back(log, &sel);
        let mut want_back = brute_force(
            &Selection {
                after: None,
                ..sel.clone()
            },
            models,
        );
        want_back.retain(|&i| sel.after.is_none_or(|a| i < a));
        want_back.reverse();
        assert_eq!(back, want_back, "newest first: selection {sel:?}");
        // The time bounds are exact for non-decreasing times (per second).
        let (lo, hi) = log.time_bounds(sel.from, sel.to).unwrap();
        let sec = |t: OffsetDateTime| time_key(t);
        for (i, m) in models.iter().enumerate() {
            let i = i as u64;
            let in_seconds = sel.from.is_none_or(|f| sec(m.time) >= sec(f))
                && sel.to.is_none_or(|t| sec(m.time) <= sec(t));
            assert_eq!(
                (lo..hi).contains(&i),
                in_seconds,
                "record {i} at {} and bounds {lo}..{hi} for {sel:?}",
                m.time
            );
        }
        answers.push(got_idx);
    }
    answers
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(10)))]

    #[test]
    fn select_pages_through_exactly_the_brute_force_answer(
        choices in prop::collection::vec(((0u8..6, 0u8..4, 0u8..3, 0u8..3, 0u8..4, 0u8..8), 0usize..7), 1..120),
        sels in prop::collection::vec(sel_strategy(), 12),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = common::config(dir.path());
        config.segment_max_bytes = 2048;
        let log = Log::open(config).unwrap();
        let (models, leaves) = append_all(&log, &choices);
        let before = check(&log, &sels, &models, &leaves);
        common::rt().block_on(log.shutdown()).unwrap();
        drop(log);

        // The index is a cache: rebuilt from the segments, it answers the same.
        std::fs::remove_dir_all(dir.path().join("index")).unwrap();
        let mut config = common::config(dir.path());
        config.segment_max_bytes = 2048;
        let log = Log::open(config).unwrap();
        let after = check(&log, &sels, &models, &leaves);
        prop_assert_eq!(before, after);
    }
}
