//! A log rolled back is found, end to end (the log's truth is its segment files; a checkpoint
//! once signed is a promise about them). Records cut from the end of the log at a frame
//! boundary leave a well-formed shorter log, so the gateway must remember how much it signed:
//! it refuses to start, naming the gap, while its stored checkpoint or its index remembers it.
//! With both removed too, nothing in the folder remembers; then a checkpoint kept elsewhere
//! (a regulator's) finds the cut, offline with `audit verify --checkpoint` and online with Go's
//! tlog, which rejects every consistency proof the re-signed shorter log serves.

#![allow(clippy::unwrap_used)]

use loopgate_tests::Loopgate;
use loopgate_tests::client::Client;
use loopgate_tests::consistency::go_checks_consistency;
use loopgate_tests::gateway::{Folder, Gateway};
use loopgate_tests::log::cut_before;

/// Sends `n` allowed transfers (two records each).
fn transfers(gw: &Gateway, n: usize) {
    for _ in 0..n {
        let r = Client::tenant(gw, "sz-genomics")
            .post_transfer()
            .non_personal()
            .body("telemetry")
            .send();
        assert_eq!(r.status, 201, "{}", r.text());
    }
}

/// The latest checkpoint as a regulator keeps it, and its size.
fn kept_checkpoint(gw: &Gateway) -> (String, u64) {
    let r = Client::regulator(gw, "pcpd").get("/v1/audit/checkpoint");
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let size = text.lines().nth(1).unwrap().parse().unwrap();
    (text, size)
}

/// A stopped gateway's folder after some transfers, with a regulator's copy of its latest
/// checkpoint, which covers the whole log.
fn world() -> (Folder, String, u64) {
    let gw = Gateway::dev().start();
    transfers(&gw, 4);
    let (kept, size) = kept_checkpoint(&gw);
    let folder = gw.stop();
    assert_eq!(
        folder.records().len() as u64,
        size,
        "the checkpoint covers it all"
    );
    (folder, kept, size)
}

fn verify(folder: &Folder, checkpoint: Option<&std::path::Path>) -> loopgate_tests::Run {
    let mut run = Loopgate::new()
        .args(["audit", "verify", "--data-dir"])
        .args([folder.path().join("data")])
        .args(["--key"])
        .args([folder.path().join("log.pub")]);
    if let Some(path) = checkpoint {
        run = run.args(["--checkpoint"]).args([path]);
    }
    run.run()
}

#[test]
fn a_log_cut_at_a_frame_boundary_is_refused_at_start_naming_the_gap() {
    let (folder, _, size) = world();
    let cut = size - 3;
    cut_before(&folder, cut);
    // The stored checkpoint rolled back too (removed): the index still remembers.
    std::fs::remove_file(folder.path().join("data/checkpoint")).unwrap();
    let (code, stderr, folder) = Gateway::resume(folder).start_refused();
    assert_ne!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the log has signed a checkpoint of {size} records but its segments hold {cut}: records {cut}..{size} are missing"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("restore the missing segment files"),
        "{stderr}"
    );
    // Still refused the next time: the refusal cleared nothing.
    let (code, again, _) = Gateway::resume(folder).start_refused();
    assert_ne!(code, Some(0), "{again}");
    assert!(
        again.contains(&format!("records {cut}..{size} are missing")),
        "{again}"
    );
}

#[test]
fn with_checkpoint_and_index_gone_only_a_checkpoint_kept_elsewhere_finds_the_cut() {
    let (folder, kept, size) = world();
    let cut = size - 3;
    cut_before(&folder, cut);
    std::fs::remove_file(folder.path().join("data/checkpoint")).unwrap();
    std::fs::remove_dir_all(folder.path().join("data/index")).unwrap();
    let kept_file = folder.path().join("kept-checkpoint.txt");
    std::fs::write(&kept_file, &kept).unwrap();

    // What the folder holds is self-consistent: verify alone cannot tell.
    let alone = verify(&folder, None);
    assert_eq!(alone.code, 0, "{alone:?}");
    assert!(
        alone.stdout.contains(&format!("ok: {cut} records")),
        "{alone:?}"
    );
    // Against the regulator's checkpoint: the first missing record is named.
    let against = verify(&folder, Some(&kept_file));
    assert_eq!(against.code, 1, "{against:?}");
    assert!(
        against
            .stderr
            .contains(&format!("record {cut} is the first missing")),
        "{against:?}"
    );

    // The gateway starts on it (nothing it can see remembers) and signs a shorter tree; once
    // it has grown past the kept size, no proof it serves links the kept checkpoint to its
    // new ones.
    let gw = Gateway::resume(folder).start();
    transfers(&gw, 4);
    let (new, new_size) = kept_checkpoint(&gw);
    assert!(new_size > size, "{new_size} > {size}");
    let regulator = Client::regulator(&gw, "pcpd");
    let proof = regulator
        .get(&format!(
            "/v1/audit/proof/consistency?from={size}&to={new_size}"
        ))
        .json();
    if let Some((accepted, said)) = go_checks_consistency(&kept, &new, &proof, &gw.log_pub_path()) {
        assert!(!accepted, "Go accepted a proof across the cut: {said}");
        assert!(said.contains("consistency"), "{said}");
    }
    // Our own verifier agrees, and the log as it is now fails against the kept checkpoint.
    let folder = gw.stop();
    let against = verify(&folder, Some(&kept_file));
    assert_eq!(against.code, 1, "{against:?}");
    // A checkpoint signed after the cut holds: the log is sound from there on.
    std::fs::write(&kept_file, &new).unwrap();
    let run = verify(&folder, Some(&kept_file));
    assert_eq!(run.code, 0, "{run:?}");
}
