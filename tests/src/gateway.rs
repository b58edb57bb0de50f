//! A real `loopgate serve` on loopback: a dev folder made by `loopgate dev init`, its bundle and
//! config edited by the test, every listener on `127.0.0.1:0`, the ports read from the lines the
//! binary prints, and SIGTERM (then SIGKILL) when the handle is dropped.
//!
//! ```text
//! let gw = Gateway::dev()
//!     .policy(|bundle| bundle.edit_after("id = \"sz-genomics\"", "status = \"approved\"", "status = \"suspended\""))
//!     .config(|config| config.limit("upstream_timeout_secs", 1))
//!     .start();
//! ```

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::loopgate_bin;
use crate::metrics::Exposition;

/// How long a gateway may take to print its addresses.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a gateway may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The dev bundle's text, edited in place by the tests.
#[derive(Debug, Clone)]
pub struct Bundle(pub String);

impl Bundle {
    /// Replaces the first `from` after the first `anchor` (e.g. a field of one `[[tenant]]`).
    pub fn edit_after(mut self, anchor: &str, from: &str, to: &str) -> Self {
        let start = self
            .0
            .find(anchor)
            .unwrap_or_else(|| panic!("{anchor:?} is not in the bundle:\n{}", self.0));
        let at = self.0[start..]
            .find(from)
            .map(|at| start + at)
            .unwrap_or_else(|| panic!("{from:?} does not follow {anchor:?} in the bundle"));
        self.0.replace_range(at..at + from.len(), to);
        self
    }

    /// Replaces the first `from`, which must be there.
    pub fn replace(self, from: &str, to: &str) -> Self {
        self.edit_after(from, from, to)
    }

    /// The whole table (from its `[[...]]` or `[...]` line to the next blank line) that holds
    /// `anchor`, e.g. `block("id = \"sz-genomics\"")`, to append an edited copy.
    pub fn block(&self, anchor: &str) -> String {
        let at = self
            .0
            .find(anchor)
            .unwrap_or_else(|| panic!("{anchor:?} is not in the bundle"));
        let start = self.0[..at].rfind("\n[").map_or(0, |i| i + 1);
        let end = self.0[at..].find("\n\n").map_or(self.0.len(), |i| at + i);
        self.0[start..end].to_owned()
    }

    /// Appends a copy of the table holding `anchor` with every `(from, to)` replaced in it.
    pub fn copy_block(self, anchor: &str, replacements: &[(&str, &str)]) -> Self {
        let mut copy = self.block(anchor);
        for (from, to) in replacements {
            assert!(
                copy.contains(from),
                "{from:?} is not in the table of {anchor:?}"
            );
            copy = copy.replace(from, to);
        }
        self.append(&copy)
    }

    /// Appends text (one more table).
    pub fn append(mut self, text: &str) -> Self {
        self.0.push('\n');
        self.0.push_str(text);
        self
    }

    /// Appends `INV-HGR-001`, a non-personal item of human genetic resources information from
    /// `sz-genomics` to `hk-biolab`, with the information filing and backup it needs
    /// (`HGR-F-TEST-001`, `HGR-B-TEST-001`), valid from 30 days ago for a year: what a
    /// regulator that sees `hgr` sees.
    pub fn with_hgr_item(self) -> Self {
        let (from, until) = (bundle_day(-30), bundle_day(365));
        self.append(&format!(
            r#"
[[inventory_item]]
id = "INV-HGR-001"
owner = "sz-genomics"
recipients = ["hk-biolab"]
data_class = "non_personal"
hgr = true
hgr_approvals = ["HGR-F-TEST-001", "HGR-B-TEST-001"]
categories = ["genomic_sequence"]
purposes = ["research.cohort_study"]
methods = ["storage", "analysis"]
max_transfer_bytes = 1048576
retention_days = 30
status = "approved"
valid_from = {from}
valid_until = {until}

[[hgr_approval]]
reference = "HGR-F-TEST-001"
kind = "information_filing"
authority = "nhc"
holder = "sz-genomics"
covers = ["INV-HGR-001"]
valid_from = {from}
valid_until = {until}
status = "effective"

[[hgr_approval]]
reference = "HGR-B-TEST-001"
kind = "information_backup"
authority = "nhc"
holder = "sz-genomics"
covers = ["INV-HGR-001"]
valid_from = {from}
valid_until = {until}
status = "effective"
"#
        ))
    }

    /// Appends a `[[regulator]]` entry that sees `sees` (scope names: `hgr`, `personal`, `all`, ...).
    pub fn with_regulator(self, id: &str, authority: &str, sees: &[&str]) -> Self {
        let sees: Vec<String> = sees.iter().map(|s| format!("{s:?}")).collect();
        self.append(&format!(
            "\n[[regulator]]\nid = {id:?}\nauthority = {authority:?}\nsees = [{}]\n",
            sees.join(", ")
        ))
    }
}

/// Today (the system clock, UTC) plus `days`, as a bundle date (`YYYY-MM-DD`).
pub fn bundle_day(days: i64) -> String {
    let day = loopgate::Clock::system().now().date() + time::Duration::days(days);
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// The dev `gateway.toml`, parsed, edited by the tests.
#[derive(Debug, Clone)]
pub struct ConfigToml(pub toml::Table);

impl ConfigToml {
    fn table(&mut self, name: &str) -> &mut toml::Table {
        self.0
            .entry(name)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .unwrap_or_else(|| panic!("[{name}] is not a table"))
    }

    /// Sets `[limits] key = value`.
    pub fn limit(mut self, key: &str, value: i64) -> Self {
        self.table("limits")
            .insert(key.to_owned(), toml::Value::Integer(value));
        self
    }

    /// Sets `[section] key = value`.
    pub fn set(mut self, section: &str, key: &str, value: impl Into<toml::Value>) -> Self {
        self.table(section).insert(key.to_owned(), value.into());
        self
    }

    /// Adds a `[[witness]]` table (plain `http` on loopback: no `ca`).
    pub fn witness(self, name: &str, url: &str, key: &str) -> Self {
        self.witness_table(name, url, key, None)
    }

    /// A `[[witness]]` served over `https`, trusting only `ca` for it.
    pub fn witness_with_ca(self, name: &str, url: &str, key: &str, ca: &Path) -> Self {
        self.witness_table(name, url, key, Some(ca))
    }

    fn witness_table(mut self, name: &str, url: &str, key: &str, ca: Option<&Path>) -> Self {
        let mut witness = toml::Table::new();
        witness.insert("name".into(), name.into());
        witness.insert("url".into(), url.into());
        witness.insert("key".into(), key.trim().into());
        if let Some(ca) = ca {
            witness.insert("ca".into(), ca.display().to_string().into());
        }
        let list = self
            .0
            .entry("witness")
            .or_insert_with(|| toml::Value::Array(Vec::new()));
        if let toml::Value::Array(list) = list {
            list.push(toml::Value::Table(witness));
        }
        self
    }

    /// Removes the demo upstream and sends `tenant`'s transfers to `url` (trusting the dev CA).
    pub fn upstream(self, tenant: &str, url: &str) -> Self {
        self.upstream_with_ca(tenant, url, Path::new("pki/ca.pem"))
    }

    /// Removes the demo upstream and sends `tenant`'s transfers to `url`, trusting `ca`.
    pub fn upstream_with_ca(mut self, tenant: &str, url: &str, ca: &Path) -> Self {
        self.0.remove("demo_upstream");
        let mut upstream = toml::Table::new();
        upstream.insert("tenant".into(), tenant.into());
        upstream.insert("url".into(), url.into());
        upstream.insert("ca".into(), ca.display().to_string().into());
        self.0.insert(
            "upstream".into(),
            toml::Value::Array(vec![toml::Value::Table(upstream)]),
        );
        self
    }
}

type PolicyEdit = Box<dyn FnOnce(Bundle) -> Bundle>;
type ConfigEdit = Box<dyn FnOnce(ConfigToml) -> ConfigToml>;
type FolderEdit = Box<dyn FnOnce(&Path)>;

/// Builds and starts a gateway; see the module documentation.
#[must_use]
pub struct GatewayBuilder {
    policy: Vec<PolicyEdit>,
    config: Vec<ConfigEdit>,
    files: Vec<FolderEdit>,
    fsize_limit: Option<u64>,
    nofile_limit: Option<u64>,
    sighup_ignored: bool,
    dev_mode: bool,
    folder: Option<Folder>,
    /// The folder is new though given (see [`Gateway::in_folder`]).
    first_start: bool,
    env: Vec<(String, String)>,
}

/// A dev folder and the temporary directory that holds it (kept across restarts).
pub struct Folder {
    _tmp: TempDir,
    root: PathBuf,
}

impl Folder {
    /// A new dev folder made by `loopgate dev init`.
    pub fn init() -> Self {
        let tmp = TempDir::new().expect("a temporary directory");
        let root = tmp.path().join("loopgate-dev");
        let run = crate::Loopgate::new()
            .args(["dev", "init", "--dir"])
            .args([root.as_os_str()])
            .run();
        assert_eq!(run.code, 0, "loopgate dev init failed: {run:?}");
        Self { _tmp: tmp, root }
    }

    /// The dev folder (`.../loopgate-dev`).
    pub fn path(&self) -> &Path {
        &self.root
    }

    fn temp_root(&self) -> &Path {
        self._tmp.path()
    }

    /// Every record in the log of a stopped gateway's folder, in log order, parsed (the log is
    /// opened with the audit crate, as `loopgate audit verify` reads it).
    pub fn records(&self) -> Vec<serde_json::Value> {
        let key = std::fs::read_to_string(self.root.join("log.key")).expect("log.key");
        let key = loopgate_audit::SigningKey::parse(key.trim()).expect("a signing key");
        let config =
            loopgate_audit::LogConfig::new(self.root.join("data"), loopgate::dev::ORIGIN, key);
        let log = loopgate_audit::Log::open(config).expect("the log opens");
        (0..log.size())
            .map(|i| serde_json::from_slice(&log.read(i).expect("a record")).expect("JSON"))
            .collect()
    }
}

/// Runs `"$@"` (the gateway) and stops it when the test process goes away: a gateway kept in a
/// `static` for a whole test file is never dropped, but its stdin pipe closes when the process
/// ends, and then the watcher sends SIGTERM and removes the temporary folder. SIGTERM to the
/// script is passed on, and the script exits with the gateway's status.
const WATCHDOG: &str = r#"
exec 3<&0
"$@" </dev/null &
pid=$!
trap 'kill -TERM $pid 2>/dev/null' TERM INT
(
    cat <&3 >/dev/null
    : > "$LOOPGATE_TEST_FOLDER/orphaned"
    kill -TERM $pid 2>/dev/null
) &
watcher=$!
exec 3<&-
while :; do
    wait $pid
    status=$?
    kill -0 $pid 2>/dev/null || break
done
kill $watcher 2>/dev/null
if [ -e "$LOOPGATE_TEST_FOLDER/orphaned" ]; then rm -rf "$LOOPGATE_TEST_FOLDER"; fi
exit $status
"#;

/// A running `loopgate serve`; dropping it stops the process.
pub struct Gateway {
    folder: Option<Folder>,
    child: Child,
    /// The watchdog's stdin: when the test process ends, it closes and the gateway stops.
    stdin: Option<ChildStdin>,
    api: SocketAddr,
    ops: SocketAddr,
    demo: Option<SocketAddr>,
    stderr: PathBuf,
    /// Every line it printed on stdout so far.
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Gateway {
    /// A gateway on a fresh dev folder.
    pub fn dev() -> GatewayBuilder {
        GatewayBuilder {
            policy: Vec::new(),
            config: Vec::new(),
            files: Vec::new(),
            fsize_limit: None,
            nofile_limit: None,
            sighup_ignored: false,
            dev_mode: false,
            folder: None,
            first_start: false,
            env: Vec::new(),
        }
    }

    /// Every line it printed on stdout so far.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().expect("stdout lines").clone()
    }

    /// Every line dev mode printed on stdout, once its banner is complete (its last block, the
    /// offline checks, ends with `audit verify --export`). Panics after 10 s without it.
    pub fn banner(&self) -> Vec<String> {
        eventually(Duration::from_secs(10), || {
            let lines = self.stdout();
            lines
                .iter()
                .any(|l| l.contains("audit verify --export"))
                .then_some(lines)
        })
        .expect("dev mode printed its commands")
    }

    /// The HTTPS API address.
    pub fn api(&self) -> SocketAddr {
        self.api
    }

    /// The plain-HTTP ops address.
    pub fn ops(&self) -> SocketAddr {
        self.ops
    }

    /// The demo upstream's address, when the config has one.
    pub fn demo(&self) -> Option<SocketAddr> {
        self.demo
    }

    /// The dev folder.
    pub fn dir(&self) -> &Path {
        self.folder
            .as_ref()
            .expect("a running gateway has its folder")
            .path()
    }

    /// Edits the running gateway's `gateway.toml` (what its next SIGHUP reload reads).
    pub fn edit_config(&self, edit: impl FnOnce(ConfigToml) -> ConfigToml) {
        let path = self.dir().join("gateway.toml");
        let text = std::fs::read_to_string(&path).expect("gateway.toml");
        let config = edit(ConfigToml(text.parse().expect("gateway.toml is TOML")));
        std::fs::write(&path, toml::to_string(&config.0).expect("TOML"))
            .expect("write gateway.toml");
    }

    /// A file of the dev PKI (`pki/<name>`).
    pub fn pki(&self, name: &str) -> PathBuf {
        self.dir().join("pki").join(name)
    }

    /// The log's verifier key file.
    pub fn log_pub_path(&self) -> PathBuf {
        self.dir().join("log.pub")
    }

    /// The log's verifier key (`name+id+key`).
    pub fn log_pub(&self) -> String {
        std::fs::read_to_string(self.log_pub_path())
            .expect("log.pub")
            .trim()
            .to_owned()
    }

    /// What the demo upstream stored completely: file names (transfer ids), sorted.
    pub fn received(&self) -> Vec<String> {
        self.received_files().0
    }

    /// The transfers (file names) whose body the demo upstream stored, whole or in part, and
    /// that contain `needle`: a test on a shared gateway checks its own bodies this way.
    pub fn received_containing(&self, needle: &[u8]) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.dir().join("received")) else {
            return Vec::new();
        };
        let mut found: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| {
                std::fs::read(e.path())
                    .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
            })
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        found.sort();
        found
    }

    /// Bodies the demo upstream started but never completed (`<transfer_id>.part` while it
    /// reads, `<transfer_id>.aborted` once it saw the body cut off), sorted.
    pub fn partial(&self) -> Vec<String> {
        self.received_files().1
    }

    /// Bodies the demo upstream saw cut off (`<transfer_id>.aborted`): it is done with them and
    /// will never complete them.
    pub fn aborted(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.dir().join("received")) else {
            return Vec::new();
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|name| name.strip_suffix(".aborted").map(str::to_owned))
            .collect();
        ids.sort();
        ids
    }

    /// The bytes the demo upstream stored for `transfer_id`, if it stored them completely.
    pub fn received_body(&self, transfer_id: &str) -> Option<Vec<u8>> {
        std::fs::read(self.dir().join("received").join(transfer_id)).ok()
    }

    fn received_files(&self) -> (Vec<String>, Vec<String>) {
        let Ok(entries) = std::fs::read_dir(self.dir().join("received")) else {
            return (Vec::new(), Vec::new());
        };
        let (mut part, mut whole): (Vec<String>, Vec<String>) = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .partition(|name| name.ends_with(".part") || name.ends_with(".aborted"));
        for name in &mut part {
            let end = name.rfind('.').unwrap_or(name.len());
            name.truncate(end);
        }
        whole.sort();
        part.sort();
        part.dedup();
        (whole, part)
    }

    /// `GET path` on the ops listener: status and body.
    pub fn ops_get(&self, path: &str) -> (u16, String) {
        let mut tcp = TcpStream::connect(self.ops).expect("connect to the ops listener");
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        std::io::Write::write_all(
            &mut tcp,
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
        let mut text = String::new();
        tcp.read_to_string(&mut text).unwrap();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
        let body = text
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_owned();
        (status, body)
    }

    /// Issues one more client certificate with `loopgate dev cert`: (cert PEM, key PEM).
    pub fn issue_cert(&self, role: &str, id: &str) -> (String, String) {
        let run = crate::Loopgate::new()
            .args(["dev", "cert", "--role", role, "--id", id, "--dir"])
            .args([self.dir().as_os_str()])
            .run();
        assert_eq!(run.code, 0, "loopgate dev cert failed: {run:?}");
        let read = |ext: &str| {
            std::fs::read_to_string(self.pki(&format!("{role}-{id}.{ext}"))).expect("issued")
        };
        (read("pem"), read("key"))
    }

    /// The dev CA, for certificates `loopgate dev cert` would not make.
    pub fn dev_ca(&self) -> loopgate::DevCa {
        let read = |name: &str| std::fs::read_to_string(self.pki(name)).expect("dev CA file");
        loopgate::DevCa::load(&read("ca.pem"), &read("ca.key")).expect("the dev CA loads")
    }

    /// What the gateway wrote on stderr so far (its tracing lines).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// What the gateway wrote on stderr, once `done` holds for it or after 10 s. A running
    /// gateway's lines reach stderr from its logging thread, a moment after the event that
    /// logged them (after the process exited, `stderr` has them all).
    pub fn stderr_once(&self, done: impl Fn(&str) -> bool) -> String {
        eventually(Duration::from_secs(10), || {
            let stderr = self.stderr();
            done(&stderr).then_some(stderr)
        })
        .unwrap_or_else(|| self.stderr())
    }

    /// Stops the gateway (SIGTERM; it must exit 0) and starts it again on the same folder,
    /// bundle and config.
    pub fn restart(self) -> Gateway {
        Self::resume(self.stop()).start()
    }

    /// A first start in a folder made beforehand (e.g. to read its `log.pub` first): the
    /// edits of a new folder (ports the OS chooses, short drains) apply as for [`Self::dev`].
    pub fn in_folder(folder: Folder) -> GatewayBuilder {
        GatewayBuilder {
            folder: Some(folder),
            first_start: true,
            ..Self::dev()
        }
    }

    /// A gateway on a folder an earlier one used (its log, keys and received bodies).
    pub fn resume(folder: Folder) -> GatewayBuilder {
        GatewayBuilder {
            folder: Some(folder),
            ..Self::dev()
        }
    }

    /// Stops the gateway with SIGTERM and returns its folder; panics if it does not exit 0.
    pub fn stop(self) -> Folder {
        let (code, folder, stderr) = self.stop_unchecked();
        assert_eq!(
            code,
            Some(0),
            "loopgate did not stop cleanly on SIGTERM:\n{stderr}"
        );
        folder
    }

    /// The peak resident memory of the `loopgate` process so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    /// The current resident memory of the `loopgate` process (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// The threads of the `loopgate` process now (`Threads` of `/proc/<pid>/status`).
    pub fn threads(&self) -> u64 {
        self.status_kib("Threads:")
    }

    /// A KiB field (or a count) of the `loopgate` process's `/proc/<pid>/status`.
    fn status_kib(&self, field: &str) -> u64 {
        // The child is the watchdog shell; the gateway is its child.
        let out = Command::new("pgrep")
            .args(["-P", &self.child.id().to_string()])
            .output()
            .expect("pgrep");
        let pids = String::from_utf8_lossy(&out.stdout);
        pids.split_whitespace()
            .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
            .filter(|status| {
                status
                    .lines()
                    .any(|l| l.starts_with("Name:") && l.contains("loopgate"))
            })
            .find_map(|status| {
                let line = status.lines().find(|l| l.starts_with(field))?;
                line.split_whitespace().nth(1)?.parse().ok()
            })
            .unwrap_or_else(|| panic!("the gateway's {field}"))
    }

    /// Sends SIGHUP to the `loopgate` process itself and returns at once (the gateway reloads
    /// in the background). Not through the watchdog shell: a shell started with SIGHUP ignored
    /// (under `nohup`, or by a CI runner that does so) cannot trap it to pass it on.
    pub fn begin_reload(&self) {
        let pid = self.pid().expect("the gateway is running");
        let _ = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status();
    }

    /// Sends SIGHUP and waits until the gateway has handled it (its `loopgate_reloads_total`
    /// moved): true when the reload was applied, false when it was refused.
    pub fn reload(&self) -> bool {
        let count =
            |m: &Exposition, result: &str| m.value("loopgate_reloads_total", &[("result", result)]);
        let before = self.metrics();
        self.begin_reload();
        let after = eventually(Duration::from_secs(10), || {
            let now = self.metrics();
            (count(&now, "ok") + count(&now, "refused")
                > count(&before, "ok") + count(&before, "refused"))
            .then_some(now)
        })
        .unwrap_or_else(|| panic!("SIGHUP was not handled:\n{}", self.stderr()));
        count(&after, "ok") > count(&before, "ok")
    }

    /// `GET /metrics`, parsed strictly.
    pub fn metrics(&self) -> Exposition {
        let (status, body) = self.ops_get("/metrics");
        assert_eq!(status, 200, "/metrics: {body}");
        Exposition::parse(&body).unwrap_or_else(|e| panic!("/metrics does not parse: {e}\n{body}"))
    }

    /// Sends SIGTERM and returns at once (the gateway drains, then exits).
    pub fn begin_stop(&self) {
        self.signal_gateway("-TERM");
    }

    /// Sends `signal` (`-TERM`) to the `loopgate` process itself, or to the watchdog shell
    /// (which passes SIGTERM on) once that process is gone: a shell that started with a signal
    /// ignored (under `nohup`, or a runner that ignores SIGTERM) cannot trap it.
    fn signal_gateway(&self, signal: &str) {
        let pid = self.pid().unwrap_or_else(|| self.child.id());
        let _ = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status();
    }

    /// Stops the gateway with SIGTERM: its exit code (`None` when it had to be killed), its
    /// folder and its stderr.
    pub fn stop_unchecked(mut self) -> (Option<i32>, Folder, String) {
        let code = self.terminate();
        let stderr = self.stderr();
        (code, self.folder.take().expect("the folder"), stderr)
    }

    /// SIGTERM, wait, then SIGKILL; the exit code when it exited by itself.
    fn terminate(&mut self) -> Option<i32> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status.code();
        }
        self.signal_gateway("-TERM");
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.terminate();
        self.stdin.take();
    }
}

impl GatewayBuilder {
    /// Edits the dev bundle (`policy.toml`) before the gateway starts.
    pub fn policy(mut self, edit: impl FnOnce(Bundle) -> Bundle + 'static) -> Self {
        self.policy.push(Box::new(edit));
        self
    }

    /// Edits `gateway.toml` before the gateway starts (after the listeners are set to port 0).
    pub fn config(mut self, edit: impl FnOnce(ConfigToml) -> ConfigToml + 'static) -> Self {
        self.config.push(Box::new(edit));
        self
    }

    /// Changes files of the dev folder (given its path) before the gateway starts, after the
    /// bundle and config edits: e.g. puts a log written elsewhere in place.
    pub fn files(mut self, edit: impl FnOnce(&Path) + 'static) -> Self {
        self.files.push(Box::new(edit));
        self
    }

    /// Starts everything under `nohup`: the watchdog shell and the gateway begin with SIGHUP
    /// ignored, as under some CI runners.
    pub fn sighup_ignored(mut self) -> Self {
        self.sighup_ignored = true;
        self
    }

    /// Runs the gateway under `prlimit --fsize=BYTES:unlimited`: a write past that size fails
    /// with EFBIG (the soft limit; `prlimit --pid PID --fsize=unlimited` lifts it).
    pub fn file_size_limit(mut self, bytes: u64) -> Self {
        self.fsize_limit = Some(bytes);
        self
    }

    /// Runs the gateway under `prlimit --nofile=COUNT`: at most that many open descriptors
    /// (soft and hard limit).
    pub fn descriptor_limit(mut self, count: u64) -> Self {
        self.nofile_limit = Some(count);
        self
    }

    /// Sets an environment variable of the gateway process (e.g. `NOTIFY_SOCKET`). The
    /// gateway never inherits the test's own `NOTIFY_SOCKET`, `WATCHDOG_USEC` or `WATCHDOG_PID`.
    pub fn env(mut self, name: &str, value: impl Into<String>) -> Self {
        self.env.push((name.to_owned(), value.into()));
        self
    }

    /// Runs `loopgate serve` without `--config`, in the folder's parent directory: dev mode,
    /// as the README's first command runs it (on the folder's edited `gateway.toml`, so still
    /// on ports the OS chose), printing its copy-paste commands.
    pub fn dev_mode(mut self) -> Self {
        self.dev_mode = true;
        self
    }

    /// Makes the folder (unless restarting), applies the edits, starts `loopgate serve` and
    /// waits until it printed its addresses.
    pub fn start(self) -> Gateway {
        let (mut gateway, lines, has_demo) = self.spawn();
        let deadline = Instant::now() + START_TIMEOUT;
        let (mut api, mut ops, mut demo) = (None, None, None);
        while api.is_none() || ops.is_none() || (has_demo && demo.is_none()) {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = lines.recv_timeout(left) else {
                let code = gateway.terminate();
                panic!(
                    "loopgate serve did not announce its addresses (exit {code:?}):\n{}",
                    gateway.stderr()
                );
            };
            let addr = |prefix: &str| -> Option<SocketAddr> {
                let rest = line.strip_prefix(prefix)?;
                rest.split_whitespace().next()?.parse().ok()
            };
            api = api.or_else(|| addr("loopgate: api https://"));
            ops = ops.or_else(|| addr("loopgate: ops http://"));
            demo = demo.or_else(|| addr("loopgate: demo upstream https://"));
        }
        gateway.api = api.expect("api");
        gateway.ops = ops.expect("ops");
        gateway.demo = demo;
        gateway
    }

    /// As [`Self::start`], for a start that must fail: waits for `loopgate serve` to exit and
    /// returns its exit code, its stderr and the folder. Panics (after stopping it) when it
    /// serves instead.
    pub fn start_refused(self) -> (Option<i32>, String, Folder) {
        let (mut gateway, lines, _) = self.spawn();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(code) = gateway.exit_status() {
                let stderr = gateway.stderr();
                let folder = gateway.folder.take().expect("the folder");
                return (Some(code), stderr, folder);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left.min(Duration::from_millis(50))) {
                Ok(line) if line.starts_with("loopgate: api https://") => {
                    let (_, folder, stderr) = gateway.stop_unchecked();
                    drop(folder);
                    panic!("loopgate serve started, but it should have refused to:\n{stderr}");
                }
                _ if left.is_zero() => {
                    let code = gateway.terminate();
                    panic!(
                        "loopgate serve neither served nor exited (exit {code:?}):\n{}",
                        gateway.stderr()
                    );
                }
                _ => {}
            }
        }
    }

    /// Applies the edits and spawns `loopgate serve`: the gateway (addresses not yet known),
    /// the lines of its stdout, and whether it runs a demo upstream.
    fn spawn(self) -> (Gateway, mpsc::Receiver<String>, bool) {
        let fresh = self.folder.is_none() || self.first_start;
        let folder = self.folder.unwrap_or_else(Folder::init);
        let dir = folder.path().to_owned();
        if fresh || !self.policy.is_empty() {
            let path = dir.join("policy.toml");
            let mut bundle = Bundle(std::fs::read_to_string(&path).expect("policy.toml"));
            for edit in self.policy {
                bundle = edit(bundle);
            }
            std::fs::write(&path, bundle.0).expect("write policy.toml");
        }
        let config_path = dir.join("gateway.toml");
        if fresh || !self.config.is_empty() {
            let text = std::fs::read_to_string(&config_path).expect("gateway.toml");
            let mut config = ConfigToml(text.parse().expect("gateway.toml is TOML"));
            if fresh {
                config = config
                    .set("server", "listen", "127.0.0.1:0")
                    .set("server", "ops_listen", "127.0.0.1:0")
                    .set("demo_upstream", "listen", "127.0.0.1:0")
                    // Tests stop gateways often; no transfer of theirs runs for long.
                    .limit("drain_timeout_secs", 2)
                    // Load tests send thousands of requests from one tenant as fast as they
                    // can; the quota has its own tests (quotas.rs), which set it lower.
                    .limit("requests_per_second_per_principal", 1_000_000)
                    .limit("request_burst", 1_000_000);
            }
            for edit in self.config {
                config = edit(config);
            }
            std::fs::write(&config_path, toml::to_string(&config.0).expect("TOML"))
                .expect("write gateway.toml");
        }
        for edit in self.files {
            edit(&dir);
        }
        let has_demo = std::fs::read_to_string(&config_path)
            .expect("gateway.toml")
            .contains("[demo_upstream]");

        let stderr_path = dir.join(format!("stderr-{}.log", unique()));
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let mut command = if self.sighup_ignored {
            let mut nohup = Command::new("nohup");
            nohup.arg("sh");
            nohup
        } else {
            Command::new("sh")
        };
        command.args(["-c", WATCHDOG, "watchdog"]);
        if self.fsize_limit.is_some() || self.nofile_limit.is_some() {
            command.arg("prlimit");
            if let Some(bytes) = self.fsize_limit {
                // Only the soft limit: a test may lift it from the running process (raising
                // a hard limit needs CAP_SYS_RESOURCE).
                command.arg(format!("--fsize={bytes}:unlimited"));
            }
            if let Some(count) = self.nofile_limit {
                command.arg(format!("--nofile={count}"));
            }
            command.arg("--");
        }
        command.arg(loopgate_bin()).arg("serve");
        if self.dev_mode {
            command.current_dir(folder.temp_root());
        } else {
            command.arg("--config").arg(&config_path);
        }
        command
            .env("RUST_LOG", "info")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .envs(self.env)
            .env("LOOPGATE_TEST_FOLDER", folder.temp_root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = command.spawn().expect("loopgate serve starts");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        let printed: Arc<Mutex<Vec<String>>> = Arc::default();
        let kept = printed.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                kept.lock().expect("stdout lines").push(line.clone());
                if tx.send(line).is_err() {
                    // Keep draining so the gateway never blocks on a full pipe.
                    continue;
                }
            }
        });
        let gateway = Gateway {
            folder: Some(folder),
            child,
            stdin,
            api: SocketAddr::from(([0, 0, 0, 0], 0)),
            ops: SocketAddr::from(([0, 0, 0, 0], 0)),
            demo: None,
            stderr: stderr_path,
            stdout: printed,
        };
        (gateway, rx, has_demo)
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Polls `check` every 20 ms until it returns `Some` or `timeout` passes.
pub fn eventually<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Crash helpers (tests/tests/crash_*.rs): the gateway's own process, and SIGKILL.
impl Gateway {
    /// The exit status of a gateway that exited by itself (`None` while it runs).
    pub fn exit_status(&mut self) -> Option<i32> {
        let status = self.child.try_wait().ok().flatten()?;
        Some(status.code().unwrap_or(-1))
    }

    /// The `loopgate` process's id (the child is the watchdog shell that runs it), while it
    /// runs.
    pub fn pid(&self) -> Option<u32> {
        let out = Command::new("pgrep")
            .args(["-P", &self.child.id().to_string()])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|pid| pid.parse::<u32>().ok())
            .find(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|name| name.trim() == "loopgate")
            })
    }

    /// How many file descriptors the `loopgate` process holds now (`/proc/<pid>/fd`).
    pub fn descriptors(&self) -> usize {
        let pid = self.pid().expect("the gateway runs");
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .expect("the gateway's /proc/<pid>/fd")
            .count()
    }

    /// SIGKILL to the `loopgate` process at once (no drain, no flush: a crash), then waits for
    /// it to be gone and returns its folder.
    pub fn kill(mut self) -> Folder {
        let pid = self.pid().expect("the gateway is running");
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        // The watchdog shell exits with the gateway's status (137).
        let _ = self.child.wait();
        self.folder.take().expect("the folder")
    }
}
