//! `witness.toml`, in two stages like `gateway.toml`: the file exactly as written (serde,
//! unknown keys refused), then validated values with the keys and TLS material loaded.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use loopgate_audit::{VerifierKey, WitnessSigningKey};
use serde::Deserialize;

use crate::config::{self, ConfigError};

/// `witness.toml` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWitnessConfig {
    /// `host:port` to listen on; plain HTTP only on a loopback address.
    listen: String,
    /// The witness's signing key file (`loopgate witness keygen` writes it; mode 0600).
    key: String,
    /// Where the latest cosigned checkpoint of each log is kept.
    state_dir: String,
    /// The submission prefix: requests go to `<prefix>/add-checkpoint`. Empty (the default)
    /// or a path starting with `/` and not ending with one, e.g. `/witness`.
    #[serde(default)]
    prefix: String,
    /// HTTPS: the server certificate chain and key (PEM). Without it, plain HTTP.
    #[serde(default)]
    tls: Option<RawTls>,
    /// The logs this witness cosigns, one table each.
    #[serde(default)]
    log: Vec<RawLog>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    /// Server certificate chain (PEM).
    cert: String,
    /// Its private key (PEM).
    key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    /// The log's checkpoint origin line, e.g. `loopgate.example/audit`.
    origin: String,
    /// The log's verifier key, `<name>+<hex id>+<base64(0x01 || public key)>` (its `log.pub`).
    key: String,
}

/// A validated witness config: the witness key and every log key parsed, TLS loaded.
#[derive(Debug)]
pub struct WitnessConfig {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// The witness's signing key.
    pub key: WitnessSigningKey,
    /// The state directory (made if missing).
    pub state_dir: PathBuf,
    /// The submission prefix (`""` or `/path`).
    pub prefix: String,
    /// The HTTPS server config, or `None` for plain HTTP (loopback only).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The logs: origin and verifier key.
    pub logs: Vec<(String, VerifierKey)>,
}

impl WitnessConfig {
    /// Reads and validates `path`; relative paths in it resolve against its folder. Every
    /// problem is reported at once (`ConfigError::Invalid`).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::parse(path, &config::read(path)?)
    }

    /// Validates config text as if read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let raw: RawWitnessConfig = config::from_toml(path, text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut problems = Vec::new();
        let config = validate(raw, base, &mut problems);
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(ConfigError::Invalid {
                path: path.to_owned(),
                problems,
            }),
        }
    }
}

fn validate(
    raw: RawWitnessConfig,
    base: &Path,
    problems: &mut Vec<String>,
) -> Option<WitnessConfig> {
    let listen = raw
        .listen
        .parse::<SocketAddr>()
        .map_err(|_| {
            problems.push(format!(
                "listen = {:?}: use an IP address and port, e.g. \"127.0.0.1:7380\"",
                raw.listen
            ))
        })
        .ok();
    let tls = raw.tls.as_ref().and_then(|tls| {
        crate::tls::plain_server_config(&base.join(&tls.cert), &base.join(&tls.key))
            .map(|config| {
                // The witness speaks HTTP/1.1 only (keep-alive, as the spec asks): never h2.
                let mut config = (*config).clone();
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                Arc::new(config)
            })
            .map_err(|e| problems.push(format!("[tls]: {e}")))
            .ok()
    });
    if let Some(addr) = listen
        && raw.tls.is_none()
        && !addr.ip().is_loopback()
    {
        problems.push(format!(
            "listen = \"{addr}\" without [tls]: plain HTTP is allowed on loopback only; add \
             [tls] cert and key, or listen on 127.0.0.1"
        ));
    }
    let key = WitnessSigningKey::load(&base.join(&raw.key))
        .map_err(|e| {
            problems.push(format!(
                "key = {:?}: {e}; make one with `loopgate witness keygen`",
                raw.key
            ))
        })
        .ok();
    if raw.state_dir.is_empty() {
        problems.push("state_dir is empty: name a directory for the witness's state".into());
    }
    if !raw.prefix.is_empty()
        && (!raw.prefix.starts_with('/') || raw.prefix.ends_with('/') || raw.prefix.contains("//"))
    {
        problems.push(format!(
            "prefix = {:?}: use \"\" or a path like \"/witness\" (a leading /, no trailing /)",
            raw.prefix
        ));
    }
    if raw.log.is_empty() {
        problems.push("no [[log]]: add one table per log to cosign, with origin and key".into());
    }
    let mut seen = HashSet::new();
    let mut logs = Vec::new();
    for (i, log) in raw.log.iter().enumerate() {
        let at = format!("[[log]] {} ({:?})", i + 1, log.origin);
        if log.origin.is_empty() || log.origin.contains('\n') || log.origin.trim() != log.origin {
            problems.push(format!("{at}: origin must be one non-empty line"));
            continue;
        }
        if !seen.insert(log.origin.clone()) {
            problems.push(format!(
                "{at}: the origin is listed twice; keep one table per log"
            ));
            continue;
        }
        match VerifierKey::parse(&log.key) {
            Ok(key) => logs.push((log.origin.clone(), key)),
            Err(e) => problems.push(format!("{at}: key: {e}; paste the log's log.pub")),
        }
    }
    Some(WitnessConfig {
        listen: listen?,
        key: key?,
        state_dir: base.join(&raw.state_dir),
        prefix: raw.prefix,
        tls: if raw.tls.is_some() { Some(tls?) } else { None },
        logs,
    })
}
