//! No audit, no transfer (DESIGN.md invariant 1, SPEC.md sections 1-2): when the log cannot be
//! written the gateway fails closed — `503 audit.unavailable` with no `log_index`, `/readyz`
//! red, nothing forwarded — and serves again once the disk has room.
//!
//! The log lives on a small tmpfs that the test fills (root can mount here and in CI). Where
//! mounting is refused, the gateway runs under `prlimit --fsize` instead, so that its segment
//! writes fail with EFBIG once the file would pass the limit (that path cannot free the space,
//! so it checks the failure only).

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use loopgate_tests::client::{Client, Response};
use loopgate_tests::gateway::{ConfigToml, Gateway, eventually};

/// RLIMIT_FSIZE for the fallback: above every file start-up writes, reached by the log after
/// some transfers.
const FSIZE_LIMIT: u64 = 256 * 1024;

/// A tmpfs mounted for the test; unmounted when dropped.
struct Tmpfs {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .is_ok_and(|o| o.status.success());
        mounted.then_some(Self { _dir: dir, path })
    }

    /// Writes `name` until the file system is full.
    fn fill(&self, name: &str) {
        let mut file = std::fs::File::create(self.path.join(name)).unwrap();
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        // Whatever is left is smaller than a block: take it byte by byte.
        while file.write_all(&[0]).is_ok() {}
        let _ = file.sync_all();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

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
        return under_a_file_size_limit();
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

    // Space returns. A log whose segment write hit the full disk probes it and serves again by
    // itself. When the index store (sled) was the one to hit it, sled refuses every later
    // write: the gateway keeps answering 503 while the disk is full, then, once a probe shows
    // the disk takes writes, stops with exit status 75 for the service manager to restart it
    // (systemd: Restart=on-failure), and recovery rebuilds the index from the segments.
    std::fs::remove_file(tmpfs.path.join("filler")).unwrap();
    let mut gw = gw;
    let came_back = eventually(Duration::from_secs(20), || {
        if let Some(code) = gw.exit_status() {
            return Some(Some(code));
        }
        let r = Client::tenant(&gw, "sz-genomics")
            .post_transfer()
            .non_personal()
            .body("qc run 50")
            .try_send();
        matches!(r, Ok(r) if r.status == 201).then_some(None)
    })
    .unwrap_or_else(|| {
        panic!(
            "neither served again nor asked for a restart:\n{}",
            gw.stderr()
        )
    });
    let gw = match came_back {
        None => {
            eprintln!("the log came back by itself (its segment write had hit the full disk)");
            gw
        }
        Some(code) => {
            eprintln!("the gateway asked for a restart (its index had hit the full disk)");
            let (_, folder, stderr) = gw.stop_unchecked();
            assert_eq!(code, 75, "{stderr}");
            assert!(stderr.contains("needs reopening"), "{stderr}");
            Gateway::resume(folder).start()
        }
    };
    let recovered = eventually(Duration::from_secs(10), || {
        let r = transfer(&gw, "qc run 51");
        (r.status == 201).then_some(r)
    })
    .unwrap_or_else(|| panic!("no recovery after freeing space:\n{}", gw.stderr()));
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
fn a_file_size_limit_fails_closed() {
    // Regression (SIGXFSZ): a write past RLIMIT_FSIZE used to kill the process; the gateway
    // catches the signal, the write fails with EFBIG, and the log fails closed.
    under_a_file_size_limit();
}

/// Also the fallback when tmpfs cannot be mounted: a file-size limit a little above what
/// start-up writes, reached after some transfers.
fn under_a_file_size_limit() {
    let gw = Gateway::dev().file_size_limit(FSIZE_LIMIT).start();
    assert_fails_closed(&gw);
}
