//! What `deploy/` ships, checked as an operator's tools see it: the unit's sandbox score and
//! `systemd-analyze verify`, `deploy/install.sh` into a scratch root, and the `.deb`'s contents.
//!
//! The external tools (`systemd-analyze`, `systemd-sysusers`, `systemd-tmpfiles`, `shellcheck`,
//! `dpkg-deb`) are installed by `.ci/run`. On a developer machine without them (or, for the
//! tmpfiles chown, without root) a test prints a loud `SKIPPED` line and passes; with `CI` set it
//! fails instead, so CI cannot go green without having run the check. The `.deb` is built
//! by `.ci/run` (a release build is too slow for every `cargo test`) and handed to
//! `the_deb_ships_the_binary_unit_and_config` through `LOOPGATE_DEB`.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The exposure score `systemd-analyze security` may give the unit, at most ("OK" is below 4.0).
const MAX_EXPOSURE: f64 = 1.5;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn unit_text() -> String {
    read(&deploy_dir().join("loopgate.service"))
}

/// The value of the unit's `key=` line (the last one, as systemd reads a repeated setting).
fn unit_value(key: &str) -> String {
    unit_text()
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("loopgate.service has no {key}="))
        .to_owned()
}

/// Writes to the real stderr: libtest captures `eprintln!` of a passing test, and a skip must
/// show in the run's output.
fn loud(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Whether `tool` runs; when it does not, skip loudly outside CI and fail in CI.
fn have(tool: &str, test: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: `{tool}` is not installed, and CI is set: .ci/run must install it"
        );
        loud(&format!(
            "SKIPPED {test}: `{tool}` is not installed (CI unset); .ci/run installs it"
        ));
    }
    found
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// "→ Overall exposure level for loopgate.service: 1.1 OK 🙂" → 1.1
fn exposure(report: &str) -> Option<f64> {
    let line = report
        .lines()
        .find(|l| l.contains("Overall exposure level for"))?;
    let after = line.rsplit_once(".service:")?.1;
    after.split_whitespace().next()?.parse().ok()
}

#[test]
fn the_exposure_line_is_parsed() {
    let report = "  NAME  DESCRIPTION  EXPOSURE\n\
                  ✗ PrivateNetwork=  Service has access to the host's network  0.5\n\n\
                  → Overall exposure level for loopgate.service: 1.1 OK 🙂\n";
    assert_eq!(exposure(report), Some(1.1));
    assert_eq!(exposure("no summary"), None);
}

#[test]
fn the_unit_scores_at_most_1_5_in_systemd_analyze_security() {
    if !have("systemd-analyze", "the_unit_scores_at_most_1_5") {
        return;
    }
    let unit = deploy_dir().join("loopgate.service");
    let out = run(Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit));
    let report = String::from_utf8_lossy(&out.stdout);
    let score =
        exposure(&report).unwrap_or_else(|| panic!("no overall exposure line in:\n{report}"));
    assert!(
        score <= MAX_EXPOSURE,
        "loopgate.service's exposure is {score}, above {MAX_EXPOSURE}:\n{report}"
    );
}

/// `systemd-analyze verify` checks that every `Exec*=` program exists. The test verifies a copy
/// whose only change is `/usr/bin/loopgate` → the binary cargo just built (the same program the
/// package installs there); every other line, `/bin/kill` included, is verified as shipped.
#[test]
fn the_unit_passes_systemd_analyze_verify() {
    if !have("systemd-analyze", "the_unit_passes_systemd_analyze_verify") {
        return;
    }
    let shipped = unit_text();
    let built = env!("CARGO_BIN_EXE_loopgate");
    let copy = shipped.replace("/usr/bin/loopgate ", &format!("{built} "));
    let changed = shipped
        .lines()
        .zip(copy.lines())
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(
        changed, 2,
        "expected to rewrite ExecStartPre= and ExecStart= only"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loopgate.service");
    std::fs::write(&path, copy).unwrap();
    let out = run(Command::new("systemd-analyze")
        .args(["verify", "--no-pager"])
        .arg(&path));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.trim().is_empty(),
        "systemd-analyze verify is not clean:\n{said}"
    );
}

#[test]
fn the_unit_runs_the_config_the_package_installs_and_outwaits_its_drain() {
    assert_eq!(
        unit_value("ExecStart"),
        "/usr/bin/loopgate serve --config /etc/loopgate/gateway.toml"
    );
    assert_eq!(
        unit_value("ExecStartPre"),
        "/usr/bin/loopgate check-config --config /etc/loopgate/gateway.toml"
    );
    assert_eq!(unit_value("Type"), "notify");
    assert_eq!(unit_value("User"), "loopgate");
    // Guards against a drain timeout raised in the example config without the unit's stop
    // timeout: systemd would SIGKILL the gateway in the middle of draining.
    let example = read(&deploy_dir().join("gateway.toml"));
    let drain: u64 = example
        .lines()
        .find_map(|l| l.strip_prefix("drain_timeout_secs = "))
        .unwrap()
        .parse()
        .unwrap();
    let stop: u64 = unit_value("TimeoutStopSec")
        .trim_end_matches('s')
        .parse()
        .unwrap();
    assert!(
        stop >= drain + 10,
        "TimeoutStopSec={stop}s leaves no margin over drain_timeout_secs = {drain}"
    );
    // The log lives in the unit's StateDirectory=, the only place the sandbox lets it write.
    assert_eq!(unit_value("StateDirectory"), "loopgate");
    assert!(example.contains("\ndir = \"/var/lib/loopgate/log\"\n"));
    let sysusers = read(&deploy_dir().join("loopgate.sysusers"));
    assert!(
        sysusers.contains("\nu loopgate - \"loopgate compliance gateway\" /var/lib/loopgate\n")
    );
}

#[test]
fn install_sh_is_shellcheck_clean() {
    if !have("shellcheck", "install_sh_is_shellcheck_clean") {
        return;
    }
    run(Command::new("shellcheck").arg(deploy_dir().join("install.sh")));
}

fn install_sh(destdir: &Path, extra: &[&str]) -> Output {
    run(Command::new("bash")
        .arg(deploy_dir().join("install.sh"))
        .args(["--binary", env!("CARGO_BIN_EXE_loopgate")])
        .args(extra)
        .arg(format!("DESTDIR={}", destdir.display()))
        .env_remove("DESTDIR"))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn install_sh_fills_a_scratch_root_and_keeps_an_existing_config() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let out = install_sh(r, &[]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("DESTDIR set"), "{said}");

    let expected = [
        ("usr/bin/loopgate", 0o755),
        ("usr/lib/systemd/system/loopgate.service", 0o644),
        ("usr/lib/sysusers.d/loopgate.conf", 0o644),
        ("usr/lib/tmpfiles.d/loopgate.conf", 0o644),
        ("usr/share/doc/loopgate/examples/gateway.toml", 0o644),
        ("usr/share/doc/loopgate/examples/policy.toml", 0o644),
        ("usr/share/doc/loopgate/README.md", 0o644),
        ("etc/loopgate/gateway.toml", 0o644),
        ("usr/share/bash-completion/completions/loopgate", 0o644),
        ("usr/share/zsh/site-functions/_loopgate", 0o644),
        ("usr/share/fish/vendor_completions.d/loopgate.fish", 0o644),
        ("usr/share/man/man1/loopgate.1", 0o644),
        ("usr/share/man/man1/loopgate-policy-apply.1", 0o644),
    ];
    for (path, want) in expected {
        assert_eq!(mode(&r.join(path)), want, "{path}");
    }
    // What an operator's shell and man read: the files deploy/ ships, every man page.
    assert_eq!(
        read(&r.join("usr/share/bash-completion/completions/loopgate")),
        read(&deploy_dir().join("completions/loopgate.bash"))
    );
    let pages = std::fs::read_dir(deploy_dir().join("man")).unwrap().count();
    assert_eq!(
        std::fs::read_dir(r.join("usr/share/man/man1"))
            .unwrap()
            .count(),
        pages
    );
    assert_eq!(mode(&r.join("etc/loopgate")), 0o750);
    assert_eq!(
        read(&r.join("usr/lib/systemd/system/loopgate.service")),
        unit_text(),
        "with the default prefix the unit is installed as shipped"
    );
    assert_eq!(
        read(&r.join("etc/loopgate/gateway.toml")),
        read(&deploy_dir().join("gateway.toml"))
    );
    let version = run(Command::new(r.join("usr/bin/loopgate")).arg("--version"));
    assert!(String::from_utf8_lossy(&version.stdout).contains("loopgate"));

    // Guards against an upgrade clobbering the operator's config.
    let config = r.join("etc/loopgate/gateway.toml");
    std::fs::write(&config, "# the operator's config\n").unwrap();
    let out = install_sh(r, &["--prefix", "/usr/local"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("kept the existing"));
    assert_eq!(read(&config), "# the operator's config\n");

    // Another prefix: the unit runs the binary from there.
    let unit = read(&r.join("usr/local/lib/systemd/system/loopgate.service"));
    assert!(unit.contains(
        "\nExecStart=/usr/local/bin/loopgate serve --config /etc/loopgate/gateway.toml\n"
    ));
    assert!(unit.contains("\nExecStartPre=/usr/local/bin/loopgate check-config "));
    assert!(!unit.contains("/usr/bin/loopgate"));
    assert_eq!(mode(&r.join("usr/local/bin/loopgate")), 0o755);
}

/// What the package's postinst does on the host (`systemd-sysusers`, then `systemd-tmpfiles
/// --create`), done in a scratch root filled by install.sh: the user exists, `/etc/loopgate` is
/// readable by its group only and `/var/lib/loopgate` is its own. Needs root for the chown.
#[test]
fn sysusers_and_tmpfiles_make_the_user_and_its_folders() {
    let test = "sysusers_and_tmpfiles_make_the_user_and_its_folders";
    if !have("systemd-sysusers", test) || !have("systemd-tmpfiles", test) {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    install_sh(r, &[]);
    if std::fs::metadata(r.join("etc/loopgate/gateway.toml"))
        .unwrap()
        .uid()
        != 0
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: CI must run as root"
        );
        loud(&format!(
            "SKIPPED {test}: systemd-tmpfiles needs root to chown"
        ));
        return;
    }
    run(Command::new("systemd-sysusers").arg(format!("--root={}", r.display())));
    let passwd = read(&r.join("etc/passwd"));
    let user = passwd
        .lines()
        .find(|l| l.starts_with("loopgate:"))
        .unwrap_or_else(|| panic!("no loopgate user in:\n{passwd}"));
    let f: Vec<&str> = user.split(':').collect();
    assert_eq!(
        f[4..6],
        ["loopgate compliance gateway", "/var/lib/loopgate"]
    );
    let (uid, gid): (u32, u32) = (f[2].parse().unwrap(), f[3].parse().unwrap());
    assert!(uid > 0 && uid < 1000, "a system user: {user}");

    run(Command::new("systemd-tmpfiles")
        .arg(format!("--root={}", r.display()))
        .arg("--create"));
    let owned = |path: &str| {
        let m = std::fs::metadata(r.join(path)).unwrap();
        (m.permissions().mode() & 0o7777, m.uid(), m.gid())
    };
    assert_eq!(owned("etc/loopgate"), (0o750, 0, gid));
    assert_eq!(owned("etc/loopgate/pki"), (0o750, 0, gid));
    assert_eq!(owned("var/lib/loopgate"), (0o700, uid, gid));
}

#[test]
fn install_sh_refuses_a_missing_binary_and_a_relative_prefix() {
    let root = tempfile::tempdir().unwrap();
    let script = deploy_dir().join("install.sh");
    let missing = Command::new("bash")
        .arg(&script)
        .args(["--binary", "/nonexistent/loopgate"])
        .arg(format!("DESTDIR={}", root.path().display()))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cargo build --release"));
    let relative = Command::new("bash")
        .arg(&script)
        .args([
            "--prefix",
            "usr",
            "--binary",
            env!("CARGO_BIN_EXE_loopgate"),
        ])
        .arg(format!("DESTDIR={}", root.path().display()))
        .output()
        .unwrap();
    assert_eq!(relative.status.code(), Some(2));
    assert!(!root.path().join("usr").exists());
}

/// The shell completions and man pages `deploy/` ships, as the binary generates them now: a
/// flag or command changed without regenerating them fails here. `LOOPGATE_BLESS=1` rewrites
/// them instead (then commit the result).
#[test]
fn the_shipped_completions_and_man_pages_are_current() {
    let bin = env!("CARGO_BIN_EXE_loopgate");
    let bless = std::env::var_os("LOOPGATE_BLESS").is_some();
    let mut stale = Vec::new();
    let mut compare = |shipped: PathBuf, generated: Vec<u8>| {
        if bless {
            std::fs::write(&shipped, &generated).unwrap();
        } else if std::fs::read(&shipped).ok().as_deref() != Some(generated.as_slice()) {
            stale.push(shipped.display().to_string());
        }
    };
    for (shell, file) in SHIPPED_COMPLETIONS {
        let out = run(Command::new(bin).args(["completions", shell]));
        compare(deploy_dir().join("completions").join(file), out.stdout);
    }
    let pages = tempfile::tempdir().unwrap();
    run(Command::new(bin).args(["man", "--dir"]).arg(pages.path()));
    let names = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let shipped_dir = deploy_dir().join("man");
    if bless {
        for old in names(&shipped_dir) {
            std::fs::remove_file(shipped_dir.join(old)).unwrap();
        }
    }
    for name in names(pages.path()) {
        compare(
            shipped_dir.join(&name),
            std::fs::read(pages.path().join(&name)).unwrap(),
        );
    }
    assert_eq!(
        names(&shipped_dir),
        names(pages.path()),
        "deploy/man/ has other pages than `loopgate man --dir` writes; run this test with LOOPGATE_BLESS=1"
    );
    assert!(
        stale.is_empty(),
        "out of date (run `LOOPGATE_BLESS=1 cargo test -p loopgate --test deploy` and commit): {stale:?}"
    );
}

/// The completion scripts `deploy/completions/` ships: the shell and the file.
const SHIPPED_COMPLETIONS: [(&str, &str); 3] = [
    ("bash", "loopgate.bash"),
    ("zsh", "_loopgate"),
    ("fish", "loopgate.fish"),
];

/// Lists the `.deb` that `.ci/run` builds (`cargo deb -p loopgate`), given by `LOOPGATE_DEB`.
#[test]
fn the_deb_ships_the_binary_unit_and_config() {
    let Some(deb) = std::env::var_os("LOOPGATE_DEB") else {
        loud(
            "SKIPPED the_deb_ships_the_binary_unit_and_config: LOOPGATE_DEB is not set \
             (.ci/run builds the .deb and sets it)",
        );
        return;
    };
    let deb = PathBuf::from(deb);
    let listing = run(Command::new("dpkg-deb").arg("-c").arg(&deb));
    let listing = String::from_utf8_lossy(&listing.stdout);
    // "-rwxr-xr-x 0/0  57879504 2026-11-25 00:00 ./usr/bin/loopgate" → (mode, owner, path)
    let entries: Vec<(&str, &str, &str)> = listing
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((*f.first()?, *f.get(1)?, f.last()?.trim_start_matches('.')))
        })
        .collect();
    let expected = [
        ("/usr/bin/loopgate", "-rwxr-xr-x"),
        ("/usr/lib/systemd/system/loopgate.service", "-rw-r--r--"),
        ("/usr/lib/sysusers.d/loopgate.conf", "-rw-r--r--"),
        ("/usr/lib/tmpfiles.d/loopgate.conf", "-rw-r--r--"),
        ("/etc/loopgate/gateway.toml", "-rw-r--r--"),
        (
            "/usr/share/doc/loopgate/examples/gateway.toml",
            "-rw-r--r--",
        ),
        ("/usr/share/doc/loopgate/examples/policy.toml", "-rw-r--r--"),
        ("/usr/share/doc/loopgate/README.md", "-rw-r--r--"),
        ("/usr/share/doc/loopgate/copyright", "-rw-r--r--"),
        (
            "/usr/share/bash-completion/completions/loopgate",
            "-rw-r--r--",
        ),
        ("/usr/share/zsh/vendor-completions/_loopgate", "-rw-r--r--"),
        (
            "/usr/share/fish/vendor_completions.d/loopgate.fish",
            "-rw-r--r--",
        ),
        // cargo-deb compresses man pages, as Debian's policy asks.
        ("/usr/share/man/man1/loopgate.1.gz", "-rw-r--r--"),
        (
            "/usr/share/man/man1/loopgate-tenant-suspend.1.gz",
            "-rw-r--r--",
        ),
    ];
    let pages = std::fs::read_dir(deploy_dir().join("man")).unwrap().count();
    let packed = entries
        .iter()
        .filter(|(_, _, p)| p.starts_with("/usr/share/man/man1/loopgate"))
        .count();
    assert_eq!(packed, pages, "every page of deploy/man/:\n{listing}");
    for (path, want) in expected {
        let found = entries.iter().find(|(_, _, p)| *p == path);
        let (got, owner, _) = found.unwrap_or_else(|| panic!("{path} is not in:\n{listing}"));
        assert_eq!((*got, *owner), (want, "0/0"), "{path}");
    }

    let info = run(Command::new("dpkg-deb").arg("-I").arg(&deb));
    let info = String::from_utf8_lossy(&info.stdout);
    for field in [
        " Package: loopgate\n",
        " Version: 0.1.0-1\n",
        " Section: net\n",
        " Priority: optional\n",
    ] {
        assert!(info.contains(field), "no `{}` in:\n{info}", field.trim());
    }
    let depends = info
        .lines()
        .find_map(|l| l.strip_prefix(" Depends: "))
        .unwrap_or_else(|| panic!("no Depends in:\n{info}"));
    assert!(
        depends.contains("libc6") && depends.contains("systemd"),
        "{depends}"
    );
    assert!(info.contains(" Architecture: "), "{info}");

    let control = tempfile::tempdir().unwrap();
    run(Command::new("dpkg-deb")
        .arg("-e")
        .arg(&deb)
        .arg(control.path()));
    // dpkg keeps an operator's edits to a conffile across upgrades.
    assert_eq!(
        read(&control.path().join("conffiles")).trim(),
        "/etc/loopgate/gateway.toml"
    );
    // The user must exist before tmpfiles chowns /etc/loopgate to its group; the unit is
    // installed but not enabled or started (there is no PKI yet), and restarted on upgrade.
    let postinst = read(&control.path().join("postinst"));
    let sysusers = postinst.find("systemd-sysusers").unwrap();
    let tmpfiles = postinst
        .find("systemd-tmpfiles --create loopgate.conf")
        .unwrap();
    assert!(sysusers < tmpfiles, "{postinst}");
    assert!(
        postinst.contains("try-restart loopgate.service"),
        "{postinst}"
    );
    assert!(!postinst.contains("deb-systemd-invoke start"), "{postinst}");
    // enable = false: the unit is enabled again on upgrade only if it was enabled before.
    assert!(
        postinst.contains("deb-systemd-helper debian-installed loopgate.service"),
        "{postinst}"
    );
}
