//! No audit, no transfer (DESIGN.md invariant 1, SPEC.md sections 1-2): when the log cannot be
//! written the gateway fails closed — `503 audit.unavailable` with no `log_index`, `/readyz`
//! red, nothing forwarded — and serves again once the disk has room, in the same process
//! (whether the segment write or the index hit the full disk: a failed index is reopened and
//! catches up with the segments without a restart).
//!
//! The log lives on a small tmpfs that the test fills (root can mount here and in CI). Where
//! mounting is refused, the gateway runs under `prlimit --fsize` instead, so that its segment
//! writes fail with EFBIG once the file would pass the limit (that path cannot free the space,
//! so it checks the failure only).

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use loopgate_tests::client::{Client, Response};
use loopgate_tests::gateway::{ConfigToml, Gateway, eventually};
use loopgate_tests::tmpfs::Tmpfs;

/// RLIMIT_FSIZE for the fallback: above every file start-up writes, reached by the log after
/// some transfers.
const FSIZE_LIMIT: u64 = 256 * 1024;

fn transfer(gw: &Gateway, body: &'static str) -> Response {
    Client::tenant(gw, "sz-genomics")
        .post_transfer()
        .non_personal()
        .body(body)
        .send()
}

/// Sends transfers until the log refuses one (the segment's last page may still take a few
/// records), then checks that a transfer sent while the log is down is refused with nothing
/// forwarded and `/readyz` red.
fn assert_fails_closed(gw: &Gateway) {
    let first = (0..2000)
        .map(|_| transfer(gw, "qc run 50"))
        .find(|r| r.status != 201)
        .expect("the log never failed on a full disk");
    first.assert_error(503, "audit.unavailable", false);
    let (received, started) = (gw.received(), gw.partial());
    let r = transfer(gw, "qc run 50");
    r.assert_error(503, "audit.unavailable", false);
    let (status, body) = gw.ops_get("/readyz");
    assert_eq!(status, 503, "/readyz: {body}");
    assert_eq!(gw.ops_get("/healthz").0, 200, "the process is up");
    assert_eq!(gw.received(), received, "forwarded while the log was down");
    assert_eq!(gw.partial(), started, "forwarded while the log was down");
}

#[test]
fn a_full_disk_fails_closed_and_the_gateway_recovers_when_space_returns() {
    let Some(tmpfs) = Tmpfs::mount("8m") else {
        eprintln!("tmpfs mount refused: checking fail-closed under prlimit --fsize instead");
        under_a_file_size_limit();
        return;
    };
    let data = tmpfs.path.join("data");
    let data_text = data.display().to_string();
    let gw = Gateway::dev()
        .config(move |c: ConfigToml| c.set("log", "dir", data_text.as_str()))
        .start();
    let r = transfer(&gw, "qc run 49");
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(gw.ops_get("/readyz").0, 200);

    tmpfs.fill("filler");
    assert_fails_closed(&gw);

    // Space returns. Whichever hit the full disk (a segment write, retried by itself, or the
    // index store, which sled then refuses to write until it is reopened), the same process
    // serves again: /readyz turns green by itself, without any request, and the next transfer
    // is forwarded.
    std::fs::remove_file(tmpfs.path.join("filler")).unwrap();
    let mut gw = gw;
    eventually(Duration::from_secs(20), || {
        assert_eq!(
            gw.exit_status(),
            None,
            "the gateway stopped:\n{}",
            gw.stderr()
        );
        (gw.ops_get("/readyz").0 == 200).then_some(())
    })
    .unwrap_or_else(|| panic!("/readyz never turned green again:\n{}", gw.stderr()));
    if gw.stderr().contains("index reopened") {
        eprintln!("the index had hit the full disk and was reopened in the same process");
    } else {
        eprintln!("a segment write had hit the full disk and was retried");
    }
    let recovered = transfer(&gw, "qc run 51");
    assert_eq!(
        recovered.status,
        201,
        "{}\n{}",
        recovered.text(),
        gw.stderr()
    );
    assert_eq!(gw.exit_status(), None, "the same process serves");
    let id = recovered.json()["transfer_id"].as_str().unwrap().to_owned();
    assert_eq!(gw.received_body(&id).unwrap(), b"qc run 51");
    assert_eq!(gw.ops_get("/readyz").0, 200);
    loopgate_tests::receipt::assert_verifies(&recovered.json(), &gw.log_pub_path());
    // The log on disk is whole: the failed writes left nothing half-acknowledged behind.
    drop(gw);
    let verify = loopgate_tests::Loopgate::new()
        .args(["audit", "verify", "--data-dir"])
        .args([data.as_os_str()])
        .run();
    assert_eq!(verify.code, 0, "{verify:?}");
}

#[test]
fn a_file_size_limit_fails_closed_and_the_same_process_serves_once_it_is_lifted() {
    // Regression (SIGXFSZ): a write past RLIMIT_FSIZE used to kill the process; the gateway
    // catches the signal, the write fails with EFBIG, and the log fails closed.
    let mut gw = under_a_file_size_limit();
    // The limit is lifted on the running process (as space returning would): the log, and
    // its index if the index was the one to hit the limit, come back without a restart.
    let pid = gw.pid().expect("the gateway's pid");
    let lifted = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), "--fsize=unlimited:unlimited"])
        .status()
        .unwrap();
    assert!(lifted.success());
    eventually(Duration::from_secs(20), || {
        assert_eq!(
            gw.exit_status(),
            None,
            "the gateway stopped:\n{}",
            gw.stderr()
        );
        (gw.ops_get("/readyz").0 == 200).then_some(())
    })
    .unwrap_or_else(|| panic!("/readyz never turned green again:\n{}", gw.stderr()));
    eprintln!(
        "index reopened in the same process: {}",
        gw.stderr().contains("index reopened")
    );
    let r = transfer(&gw, "qc run 52");
    assert_eq!(r.status, 201, "{}\n{}", r.text(), gw.stderr());
    let id = r.json()["transfer_id"].as_str().unwrap().to_owned();
    assert_eq!(gw.received_body(&id).unwrap(), b"qc run 52");
    loopgate_tests::receipt::assert_verifies(&r.json(), &gw.log_pub_path());
    let folder = gw.stop();
    let verify = loopgate_tests::Loopgate::new()
        .args(["audit", "verify", "--data-dir"])
        .args([folder.path().join("data").as_os_str()])
        .run();
    assert_eq!(verify.code, 0, "{verify:?}");
}

/// Also the fallback when tmpfs cannot be mounted: a file-size limit a little above what
/// start-up writes, reached after some transfers.
fn under_a_file_size_limit() -> Gateway {
    let gw = Gateway::dev().file_size_limit(FSIZE_LIMIT).start();
    assert_fails_closed(&gw);
    gw
}
