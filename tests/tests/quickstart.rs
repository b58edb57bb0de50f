//! The README's quick start holds on a fresh clone: `tests/quickstart.sh` clones the
//! repository's current commit into a temporary folder, checks that README.md still opens with
//! the two commands (dev mode, the test suite), starts dev mode with the binary the tests built
//! (in place of the release build) and runs every block README.md marks `<!-- quickstart -->`
//! as written, in one `sh -e` session; every `loopgate audit verify` in them must say `ok:`.
//! Only 127.0.0.1, on ports the OS chose; about two seconds.
//!
//! It reads the commit, not the working tree: a README edit is checked once committed. It
//! needs `git` and `curl`; outside CI a missing one skips it with a note, under CI (`CI` set)
//! it fails.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use loopgate_tests::{loopgate_bin, workspace_root};

/// Whether `program --version` runs; panics under CI when it does not.
fn available(program: &str) -> bool {
    let ok = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI: this test needs {program}"
        );
        eprintln!("skipped: {program} is not available");
    }
    ok
}

#[test]
fn the_readme_quick_start_runs_as_written_on_a_fresh_clone() {
    let root = workspace_root();
    if !root.join(".git").exists() {
        // A source tarball: nothing to clone.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI: {root:?} is not a git checkout"
        );
        eprintln!("skipped: {} is not a git checkout", root.display());
        return;
    }
    if !available("git") || !available("curl") {
        return;
    }
    let started = Instant::now();
    let out = Command::new("sh")
        .arg(root.join("tests/quickstart.sh"))
        .arg(loopgate_bin())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the quick start failed:\n{stderr}\n{stdout}"
    );
    assert!(
        stderr.contains("ok: the quick start holds"),
        "{stderr}\n{stdout}"
    );
    // Each user's offline check said ok: the tenant's receipt, the carrier's custody receipt,
    // the regulator's checkpoint, record and export, the consistency proof, the whole folder.
    for says in [
        "of transfer",
        "of shipment",
        "ok: checkpoint of",
        "(policy_change) is in the log",
        "the export's",
        "extends the log of size",
        "loopgate-dev/gateway.toml: ok",
    ] {
        assert!(stdout.contains(says), "{says:?} in\n{stdout}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the quick start took {:?}",
        started.elapsed()
    );
}
