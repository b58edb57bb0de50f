//! Checking a consistency proof between two signed checkpoints with Go's
//! `golang.org/x/mod/sumdb/{note,tlog}` (`tests/go/consistency`), built offline against Debian's
//! golang-golang-x-mod-dev by the same `receipt::build_go_tool` as the receipt checker.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::receipt::build_go_tool;

/// The Go consistency checker, built once per test process; `None` (with a loud note) only when
/// Go or golang.org/x/mod is missing outside CI.
pub fn go_consistency_checker() -> Option<&'static Path> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        build_go_tool(
            "consistency",
            "consistency-checker",
            "the Go consistency checker",
        )
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
    Some(crate::printed(&out))
}
