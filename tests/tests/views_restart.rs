//! The views the regulator API answers from (overdue retention, counters, the shipments' list)
//! and the idempotency keys live in sled beside the log's index, with the log index they cover
//! (DESIGN.md 9): a restart replays only the records past it, not the log; a deleted index
//! (`data/index`) rebuilds them from the log, and the answers stay the same.

#![allow(clippy::unwrap_used)]

use loopgate_tests::client::Client;
use loopgate_tests::gateway::{ConfigToml, Gateway};
use loopgate_tests::shipment::declaration;
use serde_json::Value;

/// The `views caught up with the log` line of the last start: records replayed, the log's
/// size, and whether the views were rebuilt from scratch.
fn caught_up(gw: &Gateway) -> (u64, u64, bool) {
    let stderr = gw.stderr_once(|s| s.contains("views caught up with the log"));
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains("views caught up with the log"))
        .unwrap_or_else(|| panic!("no start line:\n{stderr}"))
        .to_owned();
    let field = |name: &str| -> String {
        let at = line
            .find(&format!("{name}="))
            .unwrap_or_else(|| panic!("{name} in {line}"));
        line[at + name.len() + 1..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    (
        field("records_replayed").parse().unwrap(),
        field("log_size").parse().unwrap(),
        field("views_rebuilt") == "true",
    )
}

/// What the regulator sees: the overdue list, the counters and the shipments (without their
/// `as_of`).
fn answers(gw: &Gateway) -> [Value; 3] {
    let pcpd = Client::regulator(gw, "pcpd");
    [
        "/v1/audit/retention/overdue",
        "/v1/audit/counters",
        "/v1/audit/shipments",
    ]
    .map(|path| {
        let r = pcpd.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let mut json = r.json();
        json.as_object_mut().unwrap().remove("as_of");
        json
    })
}

#[test]
fn a_restart_replays_only_what_the_views_miss_and_a_lost_index_rebuilds_them() {
    let gw = Gateway::dev().start();
    let (_, _, rebuilt) = caught_up(&gw);
    assert!(rebuilt, "a new log's views are built");
    let sz = Client::tenant(&gw, "sz-genomics");
    for i in 0..20 {
        let r = sz
            .post_transfer()
            .non_personal()
            .body(format!("qc run {i}"))
            .send();
        assert_eq!(r.status, 201, "{}", r.text());
    }
    for subjects in [10, 32] {
        let r = sz.post_transfer().personal(subjects).body("cohort").send();
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let r = sz.declare(&declaration());
    assert_eq!(r.status, 201, "{}", r.text());
    let before = answers(&gw);
    assert_eq!(before[1]["counters"][0]["subjects"], 42, "{:#}", before[1]);
    assert_eq!(before[2]["shipments"].as_array().unwrap().len(), 1);

    // A restart: the stop brought the views up to the log, so nothing is read back from it.
    let gw = gw.restart();
    let (replayed, size, rebuilt) = caught_up(&gw);
    assert!(!rebuilt);
    assert!(size > 40, "{size} records");
    assert_eq!(replayed, 0, "{replayed} of {size} records replayed");
    assert_eq!(answers(&gw), before);

    // A year later (past the items' retention): the overdue list, from kept views...
    let gw = Gateway::resume(gw.stop())
        .config(|c: ConfigToml| c.set("clock", "offset_days", 400))
        .start();
    let kept = answers(&gw);
    assert_eq!(
        kept[0]["transfers"].as_array().unwrap().len(),
        22,
        "{:#}",
        kept[0]
    );
    // ... and from views rebuilt from the log once the index is gone: the same.
    let folder = gw.stop();
    std::fs::remove_dir_all(folder.path().join("data").join("index")).unwrap();
    let gw = Gateway::resume(folder).start();
    let (replayed, size, rebuilt) = caught_up(&gw);
    assert!(rebuilt);
    assert_eq!(replayed, size, "the whole log is read back");
    assert_eq!(answers(&gw), kept);
}
