//! End-to-end test harness for loopgate: runs the real `loopgate` binary as a child process.
//!
//! Builders keep the tests short (`Loopgate::new().args([...]).run()`,
//! `BundleText::example().replace(..).write_to(&dir)`), so each test reads as the case it checks.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Whether a finished helper process succeeded, and what it printed (stdout, then stderr).
pub fn printed(out: &std::process::Output) -> (bool, String) {
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// The workspace root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The `loopgate` binary, built once per test process with the same profile as the tests.
/// `LOOPGATE_BIN` overrides it (e.g. to test an installed package).
pub fn loopgate_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("LOOPGATE_BIN") {
            return PathBuf::from(bin);
        }
        // target/<profile>/deps/<this test> -> target/<profile>/loopgate
        let exe = std::env::current_exe().expect("the test knows its own path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binaries live in target/<profile>/deps");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
        let mut build = Command::new(cargo);
        build
            .current_dir(workspace_root())
            .args(["build", "--quiet", "-p", "loopgate", "--bin", "loopgate"]);
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        // What cargo sets for the running test, not for a build: ring's build script reruns
        // when CARGO_MANIFEST_DIR changes, so passing these on rebuilt half the tree each time
        // `cargo test` and this build took turns.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name == "CARGO_MANIFEST_DIR"
                || name == "CARGO_MANIFEST_PATH"
                || name == "CARGO_CRATE_NAME"
                || name == "CARGO_PRIMARY_PACKAGE"
                || name == "CARGO_TARGET_TMPDIR"
                || name.starts_with("CARGO_PKG_")
            {
                build.env_remove(name.as_ref());
            }
        }
        let status = build.status().expect("cargo can be started");
        assert!(status.success(), "building the loopgate binary failed");
        profile_dir.join("loopgate")
    })
}

/// One run of the binary: exit code and both streams.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The single JSON line printed on stdout.
    pub fn json(&self) -> serde_json::Value {
        let line = self.stdout.trim();
        assert_eq!(line.lines().count(), 1, "expected one JSON line: {self:?}");
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// A `loopgate` command line.
#[derive(Debug, Default)]
pub struct Loopgate {
    args: Vec<OsString>,
}

impl Loopgate {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn run(self) -> Run {
        let output = Command::new(loopgate_bin())
            .args(&self.args)
            .env_remove("RUST_LOG")
            .output()
            .expect("loopgate starts");
        Run {
            code: output.status.code().expect("loopgate exited, not killed"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// The text of a policy bundle, starting from the reference bundle and edited in place.
#[derive(Debug, Clone)]
pub struct BundleText(pub String);

impl BundleText {
    /// The repository's copy of `examples/policy-v2.toml`, the reference bundle of the rules'
    /// second version (kept identical by a test).
    pub fn example() -> Self {
        Self::fixture("policy/tests/fixtures/policy.toml")
    }

    /// The first version's reference bundle (`examples/policy.toml` before the second version):
    /// refused by `policy check`, rewritten by `policy migrate`.
    pub fn first_version() -> Self {
        Self::fixture("policy/tests/fixtures/policy-v1.toml")
    }

    fn fixture(relative: &str) -> Self {
        let path = workspace_root().join(relative);
        Self(std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
    }

    /// Replaces the first occurrence of `from`, which must be there.
    pub fn replace(mut self, from: &str, to: &str) -> Self {
        let at = self
            .0
            .find(from)
            .unwrap_or_else(|| panic!("{from:?} is not in the bundle"));
        self.0.replace_range(at..at + from.len(), to);
        self
    }

    /// Appends text (e.g. one more `[[tenant]]`).
    pub fn append(mut self, text: &str) -> Self {
        self.0.push('\n');
        self.0.push_str(text);
        self
    }

    /// 1-based line of the first occurrence of `needle`.
    pub fn line_of(&self, needle: &str) -> usize {
        let at = self
            .0
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} is not in the bundle"));
        self.0[..at].matches('\n').count() + 1
    }

    /// Writes the bundle as `dir/policy.toml` and returns the path.
    pub fn write_to(&self, dir: &Path) -> PathBuf {
        let path = dir.join("policy.toml");
        std::fs::write(&path, &self.0).expect("write the bundle");
        path
    }
}

/// The keys of a JSON object in the order it has them (sorted, as serde_json keeps them), for
/// checking the exact set of keys an answer has; empty for anything else.
pub fn json_keys(value: &serde_json::Value) -> Vec<&str> {
    value
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

pub mod client;
pub mod consistency;
pub mod event;
pub mod gateway;
pub mod ledger;
pub mod log;
pub mod metrics;
pub mod raw;
pub mod receipt;
pub mod rng;
pub mod shipment;
pub mod tiles;
pub mod tmpfs;
pub mod upstream;
pub mod witness;
