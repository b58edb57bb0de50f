//! Dev mode (SPEC.md section 7): one local folder with everything needed to try loopgate — a
//! self-made PKI, the sample bundle, the log key, and a config that also runs a demo upstream.
//! It is made once, whole or not at all (built beside the target and renamed into place), and
//! reused by later runs.

mod bundle;
pub(crate) mod demo;
mod witnesses;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use loopgate_policy::park_date;
use time::OffsetDateTime;

pub use bundle::sample_bundle;
pub use witnesses::{DevWitnesses, WITNESSES, start_witnesses};

use crate::pki::{DevCa, Issued, PkiError};

/// The dev-mode trust domain.
pub const TRUST_DOMAIN: &str = "loopgate.dev";
/// The dev-mode log origin.
pub const ORIGIN: &str = "loopgate.dev/log";

/// The sample principals: `(role, id)`; each gets `pki/<role>-<id>.{pem,key}`.
pub const PRINCIPALS: &[(&str, &str)] = &[
    ("tenant", "sz-genomics"),
    ("tenant", "hk-biolab"),
    ("carrier", "hkp-logistics"),
    ("regulator", "pcpd"),
    ("admin", "park-ops"),
];

/// What can go wrong making or using the dev folder.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// A file could not be written or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Certificates could not be made.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// `dev cert` outside a dev folder.
    #[error("{} has no dev CA (pki/ca.pem and pki/ca.key); run `loopgate serve` without --config first, or pass --dir", .0.display())]
    NoDevCa(PathBuf),
    /// A role or id that cannot be a SPIFFE identity.
    #[error("{0}")]
    BadPrincipal(String),
    /// `dev cert` would overwrite a certificate or key issued before.
    #[error(
        "{} already exists: a certificate for {role}/{id} was issued before, and dev cert never overwrites one; use it, issue one under another --id, or delete {} and {} to issue it again",
        .existing.display(), .pem.display(), .key.display()
    )]
    Exists {
        /// The file found.
        existing: PathBuf,
        /// The certificate's path.
        pem: PathBuf,
        /// The key's path.
        key: PathBuf,
        /// The role asked for.
        role: String,
        /// The id asked for.
        id: String,
    },
    /// A dev witness cannot start.
    #[error("{0}")]
    Witness(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DevError + '_ {
    move |source| DevError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes a new file (never overwrites); keys get mode 0600.
fn create_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), DevError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io(path))?;
    file.write_all(contents).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

fn write_issued(pki: &Path, name: &str, issued: &Issued) -> Result<(), DevError> {
    create_new(
        &pki.join(format!("{name}.pem")),
        issued.cert_pem.as_bytes(),
        0o644,
    )?;
    create_new(
        &pki.join(format!("{name}.key")),
        issued.key_pem.as_bytes(),
        0o600,
    )
}

/// The folders only the gateway's user may read: the CA and client keys, the log (records name
/// tenants, items and digests) and what the demo upstream received (the bodies themselves).
const PRIVATE_FOLDERS: [&str; 3] = ["pki", "data", "received"];

/// Makes `folder` (mode 0700), or narrows an existing one that group or others may read (dev
/// folders made before 0.1 were 0755): the log and the received bodies are nobody else's.
fn private_folder(folder: &Path) -> Result<(), DevError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(folder)
        .map_err(io(folder))?;
    let mode = fs::metadata(folder)
        .map_err(io(folder))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        tracing::warn!(folder = %folder.display(), mode = format!("{:o}", mode & 0o777), "narrowing a dev folder that others could read to 0700");
        fs::set_permissions(folder, fs::Permissions::from_mode(0o700)).map_err(io(folder))?;
    }
    Ok(())
}

/// Whether `dir` is a finished dev folder.
pub fn exists(dir: &Path) -> bool {
    dir.join("gateway.toml").is_file()
}

/// Makes the dev folder at `dir` unless it exists; `log_key` writes the log signing key into the
/// given folder (`log.key`, mode 0600, and `log.pub`). Returns whether it was made now. A folder
/// made by an earlier version gets the certificates of sample principals it lacks (the carrier
/// came with shipments).
pub fn ensure(
    dir: &Path,
    now: OffsetDateTime,
    log_key: impl FnOnce(&Path) -> Result<(), DevError>,
) -> Result<bool, DevError> {
    if exists(dir) {
        for folder in PRIVATE_FOLDERS {
            private_folder(&dir.join(folder))?;
        }
        for (role, id) in PRINCIPALS {
            if !dir.join("pki").join(format!("{role}-{id}.pem")).exists() {
                issue_cert(dir, role, id, now)?;
            }
        }
        return Ok(false);
    }
    let staging = dir.with_extension(format!("partial-{}", std::process::id()));
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(io(&staging))?;
    }
    let made =
        build(&staging, now, log_key).and_then(|()| fs::rename(&staging, dir).map_err(io(dir)));
    if made.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    made.map(|()| true)
}

fn build(
    dir: &Path,
    now: OffsetDateTime,
    log_key: impl FnOnce(&Path) -> Result<(), DevError>,
) -> Result<(), DevError> {
    let pki = dir.join("pki");
    for folder in PRIVATE_FOLDERS {
        private_folder(&dir.join(folder))?;
    }
    let ca = DevCa::generate("loopgate dev CA", now)?;
    create_new(&pki.join("ca.pem"), ca.cert_pem().as_bytes(), 0o644)?;
    create_new(&pki.join("ca.key"), ca.key_pem().as_bytes(), 0o600)?;
    let loopback: [IpAddr; 2] = [
        "127.0.0.1".parse().map_err(bad_ip)?,
        "::1".parse().map_err(bad_ip)?,
    ];
    let server = ca.issue_server(&["localhost"], &loopback, now)?;
    write_issued(&pki, "server", &server)?;
    for (role, id) in PRINCIPALS {
        issue_principal(&ca, &pki, role, id, now)?;
    }
    create_new(
        &dir.join("policy.toml"),
        sample_bundle(park_date(now)).as_bytes(),
        0o644,
    )?;
    create_new(&dir.join("gateway.toml"), GATEWAY_TOML.as_bytes(), 0o644)?;
    log_key(dir)
}

fn bad_ip(e: std::net::AddrParseError) -> DevError {
    DevError::BadPrincipal(e.to_string())
}

fn issue_principal(
    ca: &DevCa,
    pki: &Path,
    role: &str,
    id: &str,
    now: OffsetDateTime,
) -> Result<PathBuf, DevError> {
    let spiffe = format!("spiffe://{TRUST_DOMAIN}/{role}/{id}");
    crate::identity::parse_spiffe_id(&spiffe, TRUST_DOMAIN)
        .map_err(|e| DevError::BadPrincipal(e.to_string()))?;
    let issued = ca.issue_client(&spiffe, now)?;
    let name = format!("{role}-{id}");
    write_issued(pki, &name, &issued)?;
    Ok(pki.join(format!("{name}.pem")))
}

/// Writes a new log signing key as `log.key` (mode 0600) and its verifier key as `log.pub`.
pub fn write_log_key(dir: &Path) -> Result<(), DevError> {
    let key = loopgate_audit::SigningKey::generate(ORIGIN)
        .map_err(|e| DevError::BadPrincipal(format!("cannot make the log key: {e}")))?;
    create_new(
        &dir.join("log.key"),
        format!("{}\n", key.to_text()).as_bytes(),
        0o600,
    )?;
    create_new(
        &dir.join("log.pub"),
        format!("{}\n", key.verifier()).as_bytes(),
        0o644,
    )
}

/// `loopgate dev cert`: one more client certificate from the dev CA in `dir`.
pub fn issue_cert(
    dir: &Path,
    role: &str,
    id: &str,
    now: OffsetDateTime,
) -> Result<PathBuf, DevError> {
    let pki = dir.join("pki");
    let (cert, key) = (pki.join("ca.pem"), pki.join("ca.key"));
    let (Ok(cert), Ok(key)) = (fs::read_to_string(&cert), fs::read_to_string(&key)) else {
        return Err(DevError::NoDevCa(dir.to_owned()));
    };
    let ca = DevCa::load(&cert, &key)?;
    // Both checked before either is written: a key left without its certificate (or the
    // reverse) would be refused as "exists" forever.
    let (pem, key) = (
        pki.join(format!("{role}-{id}.pem")),
        pki.join(format!("{role}-{id}.key")),
    );
    if let Some(existing) = [&pem, &key].into_iter().find(|p| p.exists()) {
        return Err(DevError::Exists {
            existing: existing.clone(),
            pem: pem.clone(),
            key: key.clone(),
            role: role.to_owned(),
            id: id.to_owned(),
        });
    }
    issue_principal(&ca, &pki, role, id, now)
}

/// The dev-mode config: a full, commented example of every key.
const GATEWAY_TOML: &str = include_str!("gateway.toml");

#[cfg(test)]
mod tests;
