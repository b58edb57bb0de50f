//! The stored checkpoint catches up with the log after a burst (probe item 8): the log stores
//! its latest checkpoint at most once a second while appends go on, and used to store the
//! last one only at the next append, so after a burst it stayed hundreds of records behind for
//! as long as the log was idle, and `audit verify --data-dir` did not notice those records cut
//! from the end. Now, a moment after the burst, the stored checkpoint covers the whole log, and
//! a cut tail is found even without the index (which also remembers the size).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use loopgate_tests::Loopgate;
use loopgate_tests::client::Client;
use loopgate_tests::gateway::{Gateway, eventually};
use loopgate_tests::log::cut_before;

/// The size in the stored checkpoint file.
fn stored_size(gw: &Gateway) -> u64 {
    let text = std::fs::read_to_string(gw.dir().join("data/checkpoint")).unwrap();
    text.lines().nth(1).unwrap().parse().unwrap()
}

#[test]
fn after_a_burst_the_stored_checkpoint_covers_the_log_and_a_cut_tail_is_found() {
    let gw = Gateway::dev().start();
    let sender = Client::tenant(&gw, "sz-genomics");
    for n in 0..40 {
        let r = sender
            .post_transfer()
            .non_personal()
            .body(format!("burst {n}"))
            .send();
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let latest = Client::regulator(&gw, "pcpd").get("/v1/audit/checkpoint");
    let size: u64 = latest.text().lines().nth(1).unwrap().parse().unwrap();
    // Idle: no append comes, yet within about a second the stored checkpoint catches up.
    let caught_up = eventually(Duration::from_secs(5), || {
        (stored_size(&gw) == size).then_some(())
    });
    assert!(
        caught_up.is_some(),
        "the stored checkpoint stayed at {} of {size} records",
        stored_size(&gw)
    );

    // kill -9: nothing is stored at shutdown. The last two records are cut, and the index
    // (the other witness of the size) is gone too: the stored checkpoint alone finds the cut.
    let folder = gw.kill();
    cut_before(&folder, size - 2);
    std::fs::remove_dir_all(folder.path().join("data/index")).unwrap();
    let run = Loopgate::new()
        .args(["audit", "verify", "--data-dir"])
        .args([folder.path().join("data")])
        .run();
    assert_eq!(run.code, 1, "{run:?}");
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(
        said.contains(&format!("records {}..{size} are missing", size - 2)),
        "{said}"
    );
}
