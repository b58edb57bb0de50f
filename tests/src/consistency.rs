//! Checking a consistency proof between two signed checkpoints with Go's
//! `golang.org/x/mod/sumdb/{note,tlog}` (`tests/go/consistency`), built offline against Debian's
//! golang-golang-x-mod-dev the way `receipt::go_checker` builds the receipt checker.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::{loopgate_bin, workspace_root};

/// Where Debian's golang-golang-x-mod-dev installs golang.org/x/mod (GOPATH mode, no network).
const GOPATH: &str = "/usr/share/gocode";

/// The Go consistency checker, built once per test process; `None` (with a loud note) only when
/// Go or golang.org/x/mod is missing outside CI.
pub fn go_consistency_checker() -> Option<&'static Path> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        let has_go = Command::new("go")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !has_go || !Path::new(GOPATH).join("src/golang.org/x/mod").is_dir() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI: the consistency test needs `go` and golang-golang-x-mod-dev"
            );
            eprintln!("\n!!!!! SKIPPING the Go consistency checker: `go` or golang.org/x/mod is missing.\n");
            return None;
        }
        let tmp = loopgate_bin()
            .parent()
            .and_then(Path::parent)
            .map_or_else(std::env::temp_dir, |target| target.join("tmp"));
        std::fs::create_dir_all(&tmp).unwrap();
        let building = tmp.join(format!("consistency-checker.{}", std::process::id()));
        let out = tmp.join("consistency-checker");
        let built = Command::new("go")
            .args(["build", "-o"])
            .arg(&building)
            .arg("main.go")
            .current_dir(workspace_root().join("tests/go/consistency"))
            .env("GO111MODULE", "off")
            .env("GOPATH", GOPATH)
            .env("GOPROXY", "off")
            .env("GOFLAGS", "")
            .env("GOCACHE", tmp.join("gocache"))
            .output()
            .expect("go starts");
        assert!(
            built.status.success(),
            "go build of tests/go/consistency failed: {}",
            String::from_utf8_lossy(&built.stderr)
        );
        std::fs::rename(&building, &out).unwrap();
        Some(out)
    })
    .as_deref()
}

/// Runs the Go checker on two checkpoint texts and a `{"from", "to", "hashes"}` proof: whether
/// it accepted them, and what it printed. `None` when Go is not available.
pub fn go_checks_consistency(
    old: &str,
    new: &str,
    proof: &Value,
    log_pub_file: &Path,
) -> Option<(bool, String)> {
    let go = go_consistency_checker()?;
    let dir = tempfile::TempDir::new().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let out = Command::new(go)
        .arg(write("old.txt", old))
        .arg(write("new.txt", new))
        .arg(write("proof.json", &proof.to_string()))
        .arg(log_pub_file)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), said))
}
