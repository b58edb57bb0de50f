//! A real `loopgate witness serve` on loopback (port chosen by the OS, read from the line
//! `loopgate: witness http://ADDR` it prints), a log to feed it (the audit crate's [`Log`] in a
//! temporary folder: real checkpoints and consistency proofs), and a plain HTTP/1.1 POST.
//!
//! ```text
//! let log = TestLog::new();
//! let witness = WitnessFolder::new(&log).start();
//! let answer = witness.add_checkpoint(0, &[], log.grow(5).text());
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use loopgate_audit::{AddCheckpoint, Checkpoint, Hash, Log, LogConfig, SigningKey};
use tempfile::TempDir;

use crate::client::runtime;
use crate::{Loopgate, loopgate_bin};

/// The test log's origin.
pub const ORIGIN: &str = "loopgate.test/audit";
/// How long a witness may take to print its address, or to stop.
const TIMEOUT: Duration = Duration::from_secs(30);

/// An audit log in a temporary folder and a second handle on its signing key (to sign forged
/// checkpoints with the log's own key).
pub struct TestLog {
    _dir: TempDir,
    log: Log,
    key: SigningKey,
}

impl Default for TestLog {
    fn default() -> Self {
        Self::new()
    }
}

impl TestLog {
    pub fn new() -> Self {
        let dir = TempDir::new().expect("a temporary directory");
        let key = SigningKey::generate(ORIGIN).expect("a key");
        let copy = SigningKey::parse(&key.to_text()).expect("the key parses");
        let log = Log::open(LogConfig::new(dir.path().join("log"), ORIGIN, copy)).expect("a log");
        Self {
            _dir: dir,
            log,
            key,
        }
    }

    /// Appends `n` records and returns the checkpoint signed for the last.
    pub fn grow(&self, n: u64) -> Checkpoint {
        let at = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let start = self.log.size();
        runtime().block_on(async {
            for i in start..start + n {
                self.log
                    .append(crate::log::denial(i, at))
                    .await
                    .expect("appended");
            }
        });
        (*self.log.latest_checkpoint()).clone()
    }

    /// A checkpoint of `size` records as the log signed it (the log must have grown past it).
    pub fn checkpoint_at(&self, size: u64) -> Checkpoint {
        let root = self.log.root(size).expect("a root");
        self.sign(size, root)
    }

    /// A checkpoint signed by the log's key with any size and root (a fork).
    pub fn sign(&self, size: u64, root: Hash) -> Checkpoint {
        Checkpoint::sign(ORIGIN, size, root, &self.key).expect("signed")
    }

    /// The consistency proof between two sizes.
    pub fn proof(&self, from: u64, to: u64) -> Vec<Hash> {
        self.log.consistency_proof(from, to).expect("a proof")
    }

    /// The log's verifier key text.
    pub fn verifier(&self) -> String {
        self.key.verifier().to_string()
    }
}

/// A witness's folder: its key (made by `loopgate witness keygen`), `witness.toml` following
/// one log, and its state directory. Kept across restarts.
pub struct WitnessFolder {
    _tmp: TempDir,
    root: PathBuf,
    /// What `witness keygen` printed: the witness's verifier key.
    pub verifier: String,
}

impl WitnessFolder {
    pub fn new(log: &TestLog) -> Self {
        Self::following("pcpd.test/witness", ORIGIN, &log.verifier())
    }

    /// A witness named `name` (its key's name) that follows the log `origin` with the log's
    /// verifier key `log_key` (a gateway's `log.pub`).
    pub fn following(name: &str, origin: &str, log_key: &str) -> Self {
        let tmp = TempDir::new().expect("a temporary directory");
        let root = tmp.path().to_owned();
        let run = Loopgate::new()
            .args(["witness", "keygen", "--name", name, "--out"])
            .args([root.join("witness.key")])
            .run();
        assert_eq!(run.code, 0, "witness keygen failed: {run:?}");
        let config = format!(
            "listen = \"127.0.0.1:0\"\nkey = \"witness.key\"\nstate_dir = \"state\"\n\n\
             [[log]]\norigin = \"{origin}\"\nkey = \"{}\"\n",
            log_key.trim()
        );
        std::fs::write(root.join("witness.toml"), config).expect("write witness.toml");
        Self {
            _tmp: tmp,
            verifier: run.stdout.trim().to_owned(),
            root,
        }
    }

    /// Listens on `port` (kept across restarts, so a gateway's `[[witness]] url` stays right).
    pub fn on_port(self, port: u16) -> Self {
        let config = self.root.join("witness.toml");
        let text = std::fs::read_to_string(&config).expect("witness.toml");
        let text = text.replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
        std::fs::write(&config, text).expect("write witness.toml");
        self
    }

    /// The size of the checkpoint in its state (the only log it follows), `None` before any:
    /// the note in the state slot (`<origin hash>.<0|1>.state`) with the higher sequence number
    /// on its header line (`loopgate-witness-state 1 <seq> <length> <sha256>`).
    pub fn state_size(&self) -> Option<u64> {
        let dir = std::fs::read_dir(self.root.join("state")).ok()?;
        let mut latest: Option<(u64, u64)> = None;
        for entry in dir.map_while(Result::ok) {
            if entry.path().extension().is_some_and(|e| e == "state") {
                let text = std::fs::read_to_string(entry.path()).ok()?;
                let mut lines = text.lines();
                let Some(seq) = lines.next().and_then(|h| h.split(' ').nth(2)) else {
                    continue; // an empty slot
                };
                let seq: u64 = seq.parse().ok()?;
                let size: u64 = lines.nth(1)?.parse().ok()?;
                if latest.is_none_or(|(s, _)| s < seq) {
                    latest = Some((seq, size));
                }
            }
        }
        latest.map(|(_, size)| size)
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Serves HTTPS: a CA and a server certificate for 127.0.0.1 (made with the gateway's dev
    /// PKI) and a `[tls]` table naming them.
    pub fn with_tls(self) -> Self {
        let now = loopgate::Clock::system().now();
        let ca = loopgate::DevCa::generate("witness test CA", now).expect("a CA");
        let ip = std::net::IpAddr::from([127, 0, 0, 1]);
        let server = ca
            .issue_server(&[], &[ip], now)
            .expect("a server certificate");
        std::fs::write(self.root.join("ca.pem"), ca.cert_pem()).expect("write ca.pem");
        std::fs::write(self.root.join("server.pem"), &server.cert_pem).expect("write the cert");
        std::fs::write(self.root.join("server.key"), &server.key_pem).expect("write the key");
        let config = self.root.join("witness.toml");
        let mut text = std::fs::read_to_string(&config).expect("witness.toml");
        text.push_str("\n[tls]\ncert = \"server.pem\"\nkey = \"server.key\"\n");
        std::fs::write(&config, text).expect("write witness.toml");
        self
    }

    /// Starts `loopgate witness serve` on this folder and waits for its address.
    pub fn start(self) -> Witness {
        let stderr = self.root.join(format!("stderr-{}.log", std::process::id()));
        let mut child = Command::new(loopgate_bin())
            .args(["witness", "serve", "--config"])
            .arg(self.root.join("witness.toml"))
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("loopgate starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let tls = self
            .root
            .join("ca.pem")
            .exists()
            .then(|| client_config(&self.root.join("ca.pem")));
        let mut witness = Witness {
            folder: Some(self),
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr,
            tls,
        };
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = lines.recv_timeout(left) else {
                let _ = witness.child.kill();
                panic!(
                    "the witness did not announce its address:\n{}",
                    witness.stderr()
                );
            };
            let scheme = if witness.tls.is_some() {
                "https"
            } else {
                "http"
            };
            if let Some(addr) = line.strip_prefix(&format!("loopgate: witness {scheme}://")) {
                witness.addr = addr.parse().expect("an address");
                return witness;
            }
        }
    }
}

/// A witness's answer.
#[derive(Debug, Clone)]
pub struct WitnessAnswer {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// A running `loopgate witness serve`; dropping it kills the process.
pub struct Witness {
    folder: Option<WitnessFolder>,
    child: Child,
    addr: SocketAddr,
    stderr: PathBuf,
    /// The client side of HTTPS, when the witness serves it.
    tls: Option<Arc<rustls::ClientConfig>>,
}

/// A client trusting only `ca`, offering h2 and HTTP/1.1 in ALPN as curl does.
fn client_config(ca: &Path) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("ca.pem") {
        roots.add(cert.expect("a certificate")).expect("a CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A loopback port free right now (bound and released): for a witness that must come back on
/// the same address.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Witness {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its submission prefix URL.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Its folder, while it runs.
    pub fn folder(&self) -> &WitnessFolder {
        self.folder.as_ref().expect("the folder")
    }

    /// `POST /add-checkpoint` with `old`, `proof` and the checkpoint note `checkpoint`.
    pub fn add_checkpoint(&self, old: u64, proof: &[Hash], checkpoint: &str) -> WitnessAnswer {
        let body = AddCheckpoint {
            old,
            proof: proof.to_vec(),
            checkpoint: checkpoint.to_owned(),
        }
        .to_body();
        self.request("POST", "/add-checkpoint", body.as_bytes())
    }

    /// One HTTP/1.1 request (`Connection: close`).
    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> WitnessAnswer {
        let tcp = TcpStream::connect(self.addr).expect("connect to the witness");
        tcp.set_read_timeout(Some(TIMEOUT)).expect("a timeout");
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: witness\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        let mut out = Vec::new();
        match &self.tls {
            None => {
                let mut tcp = tcp;
                tcp.write_all(&request).expect("send the request");
                tcp.read_to_end(&mut out).expect("read the answer");
            }
            Some(config) => {
                let name = rustls::pki_types::ServerName::from(self.addr.ip());
                let conn = rustls::ClientConnection::new(config.clone(), name).expect("TLS");
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                tls.write_all(&request).expect("send the request over TLS");
                // A close without close_notify after a whole answer is still an answer.
                if let Err(e) = tls.read_to_end(&mut out) {
                    assert!(!out.is_empty(), "no answer over TLS: {e}");
                }
                // A client that honours ALPN speaks what was agreed: it must be HTTP/1.1,
                // the only protocol the witness serves.
                assert_eq!(
                    tls.conn.alpn_protocol(),
                    Some(&b"http/1.1"[..]),
                    "the witness agreed to another protocol than HTTP/1.1 in ALPN"
                );
            }
        }
        let text = String::from_utf8(out).expect("a UTF-8 answer");
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status: {text:?}"));
        let content_type = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-type")
                    .then(|| value.trim().to_owned())
            })
            .unwrap_or_default();
        WitnessAnswer {
            status,
            content_type,
            body: body.to_owned(),
        }
    }

    /// What it wrote to stderr so far (its log lines).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// SIGKILL, then the folder back (to start it again).
    pub fn kill(mut self) -> WitnessFolder {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.folder.take().expect("the folder")
    }

    /// SIGTERM and wait: its exit code (`None` when it had to be killed) and stderr.
    pub fn stop(mut self) -> (Option<i32>, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (status.code(), self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        (None, self.stderr())
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the independent cosignature/v1 verifier (`tests/interop/cosignature_v1.py`, written
/// from the spec, sharing no code with ours) on the checkpoint note in `note` for
/// `witness_key`: `Ok(what it printed)` when it accepts the cosignature, else `Err`.
pub fn independent_verifier(witness_key: &str, note: &Path) -> Result<String, String> {
    let out = Command::new("python3")
        .arg(crate::workspace_root().join("tests/interop/cosignature_v1.py"))
        .arg(witness_key)
        .arg(note)
        .output()
        .expect("python3 runs");
    match crate::printed(&out) {
        (true, text) => Ok(text),
        (false, text) => Err(text),
    }
}
