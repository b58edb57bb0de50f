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
//!
//! The runbook's client-certificate recipe (`deploy/README.md`, the block marked
//! `<!-- client-certificate-recipe -->`) is run as written too, with the dev CA on its first
//! line, and the certificate it makes sends a transfer; with another trust domain it is refused.
//! It needs `openssl`.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use loopgate_tests::client::Client;
use loopgate_tests::gateway::Gateway;
use loopgate_tests::{loopgate_bin, workspace_root};

/// Whether `program --version` (`openssl version`) runs; panics under CI when it does not.
fn available(program: &str) -> bool {
    let version = if program == "openssl" {
        "version"
    } else {
        "--version"
    };
    let ok = Command::new(program)
        .arg(version)
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

/// The runbook's recipe: the fenced block after its marker, first line (the settings) excluded.
fn recipe() -> String {
    let text = std::fs::read_to_string(workspace_root().join("deploy/README.md")).unwrap();
    let (_, after) = text
        .split_once("<!-- client-certificate-recipe -->\n```sh\n")
        .expect("deploy/README.md marks its client-certificate recipe");
    let (block, _) = after.split_once("\n```").unwrap();
    let (settings, rest) = block.split_once('\n').unwrap();
    assert!(settings.starts_with("ca="), "{settings}");
    rest.to_owned()
}

/// Runs the recipe in `dir` with these settings; the certificate and key it made.
fn issue(dir: &std::path::Path, settings: &str, role: &str, id: &str) -> (String, String) {
    let out = Command::new("sh")
        .args(["-e", "-c", &format!("{settings}\n{}", recipe())])
        .current_dir(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the recipe failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("TLS Web Client Authentication"), "{stdout}");
    let read = |ext: &str| std::fs::read_to_string(dir.join(format!("{role}-{id}.{ext}"))).unwrap();
    (read("pem"), read("key"))
}

#[test]
fn the_runbook_client_certificate_recipe_makes_a_certificate_the_gateway_accepts() {
    if !available("openssl") {
        return;
    }
    let gw = Gateway::dev().start();
    let dir = tempfile::TempDir::new().unwrap();
    let ca = format!(
        "ca={} ca_key={}",
        gw.pki("ca.pem").display(),
        gw.pki("ca.key").display()
    );
    let settings = format!("{ca} domain=loopgate.dev role=tenant id=sz-genomics days=30");
    let (cert, key) = issue(dir.path(), &settings, "tenant", "sz-genomics");
    let r = Client::with_cert(&gw, &cert, &key)
        .post_transfer()
        .non_personal()
        .body("qc run 44")
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["record"]["sender"], "sz-genomics");

    // The identity is the URI SAN: the same recipe for another trust domain is refused.
    let other = tempfile::TempDir::new().unwrap();
    let settings = format!("{ca} domain=other.example role=tenant id=sz-genomics days=30");
    let (cert, key) = issue(other.path(), &settings, "tenant", "sz-genomics");
    let r = Client::with_cert(&gw, &cert, &key)
        .post_transfer()
        .non_personal()
        .body("qc run 45")
        .send();
    r.assert_error(401, "auth.bad_identity", false);
}
