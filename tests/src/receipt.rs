//! Checking a transfer receipt (SPEC.md section 3) offline, three independent ways: in process
//! with `loopgate_audit::verify_receipt`, with `loopgate audit verify --receipt` as a process, and
//! with a Go program built on `golang.org/x/mod/sumdb/{note,tlog}` (`tests/go/receipt`), compiled
//! offline against Debian's golang-golang-x-mod-dev as the audit crate's interop test does.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::{Loopgate, loopgate_bin, workspace_root};

/// Where Debian's golang-golang-x-mod-dev installs golang.org/x/mod (GOPATH mode, no network).
const GOPATH: &str = "/usr/share/gocode";

/// Asserts `receipt` verifies in process, with the CLI and with Go, against `log_pub_file`.
pub fn assert_verifies(receipt: &Value, log_pub_file: &Path) {
    let key_text = std::fs::read_to_string(log_pub_file).expect("log.pub");
    let key = loopgate_audit::VerifierKey::parse(key_text.trim()).expect("a verifier key");
    let parsed: loopgate_audit::Receipt =
        serde_json::from_value(receipt.clone()).expect("the receipt has SPEC.md's fields");
    if let Err(e) = loopgate_audit::verify_receipt(&parsed, &key) {
        panic!("verify_receipt refused the receipt: {e}\n{receipt:#}");
    }

    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("receipt.json");
    std::fs::write(&file, receipt.to_string()).unwrap();
    let run = Loopgate::new()
        .args(["audit", "verify", "--receipt"])
        .args([file.as_os_str()])
        .args(["--key".as_ref(), log_pub_file.as_os_str()])
        .run();
    assert_eq!(run.code, 0, "loopgate audit verify --receipt: {run:?}");
    assert!(run.stdout.starts_with("ok: "), "{run:?}");

    if let Some(go) = go_checker() {
        let out = Command::new(go)
            .arg(&file)
            .arg(log_pub_file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the Go verifier refused the receipt: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Asserts all three refuse `receipt` (a tampered one).
pub fn assert_refused(receipt: &Value, log_pub_file: &Path) {
    let key_text = std::fs::read_to_string(log_pub_file).expect("log.pub");
    let key = loopgate_audit::VerifierKey::parse(key_text.trim()).expect("a verifier key");
    if let Ok(parsed) = serde_json::from_value::<loopgate_audit::Receipt>(receipt.clone()) {
        assert!(loopgate_audit::verify_receipt(&parsed, &key).is_err());
    }
    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("receipt.json");
    std::fs::write(&file, receipt.to_string()).unwrap();
    let run = Loopgate::new()
        .args(["audit", "verify", "--receipt"])
        .args([file.as_os_str()])
        .args(["--key".as_ref(), log_pub_file.as_os_str()])
        .run();
    assert_ne!(run.code, 0, "a tampered receipt verified: {run:?}");
    if let Some(go) = go_checker() {
        let out = Command::new(go)
            .arg(&file)
            .arg(log_pub_file)
            .output()
            .unwrap();
        assert!(!out.status.success(), "Go accepted a tampered receipt");
    }
}

/// The Go receipt checker, built once per test process; `None` (with a loud note) only when Go
/// or golang.org/x/mod is missing outside CI.
pub fn go_checker() -> Option<&'static Path> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| build_go_tool("receipt", "receipt-checker", "the Go receipt verifier"))
        .as_deref()
}

/// Builds `tests/go/<dir>/main.go` offline (GOPATH mode against Debian's
/// golang-golang-x-mod-dev) into `target/tmp/<name>`. `None`, with a loud note, when Go or
/// golang.org/x/mod is missing; under CI that fails the test instead.
pub(crate) fn build_go_tool(dir: &str, name: &str, what: &str) -> Option<PathBuf> {
    let has_go = Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_go || !Path::new(GOPATH).join("src/golang.org/x/mod").is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI: {what} needs `go` and golang-golang-x-mod-dev (apt-get install -y golang-go golang-golang-x-mod-dev)"
        );
        eprintln!(
            "\n!!!!! SKIPPING {what}: `go` or golang.org/x/mod is missing.\n!!!!! apt-get install -y golang-go golang-golang-x-mod-dev\n"
        );
        return None;
    }
    // target/<profile>/loopgate -> target/tmp/
    let tmp = loopgate_bin()
        .parent()
        .and_then(Path::parent)
        .map_or_else(std::env::temp_dir, |target| target.join("tmp"));
    std::fs::create_dir_all(&tmp).unwrap();
    let building = tmp.join(format!("{name}.{}", std::process::id()));
    let out = tmp.join(name);
    let built = Command::new("go")
        .args(["build", "-o"])
        .arg(&building)
        .arg("main.go")
        .current_dir(workspace_root().join("tests/go").join(dir))
        .env("GO111MODULE", "off")
        .env("GOPATH", GOPATH)
        .env("GOPROXY", "off")
        .env("GOFLAGS", "")
        .env("GOCACHE", tmp.join("gocache"))
        .output()
        .expect("go starts");
    assert!(
        built.status.success(),
        "go build of tests/go/{dir} failed: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    std::fs::rename(&building, &out).unwrap();
    Some(out)
}
