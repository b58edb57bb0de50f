use std::os::unix::fs::PermissionsExt;

use time::macros::datetime;

use super::*;
use crate::config::Config;

const NOW: OffsetDateTime = datetime!(2026-11-25 04:00 UTC);

fn fake_log_key(dir: &Path) -> Result<(), DevError> {
    create_new(&dir.join("log.key"), b"test key\n", 0o600)?;
    create_new(&dir.join("log.pub"), b"test verifier\n", 0o644)
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_folder_has_everything_spec_lists_and_is_reused() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("loopgate-dev");
    assert!(ensure(&dir, NOW, write_log_key).unwrap());
    for file in [
        "gateway.toml",
        "policy.toml",
        "log.key",
        "log.pub",
        "pki/ca.pem",
        "pki/ca.key",
        "pki/server.pem",
        "pki/server.key",
        "pki/tenant-sz-genomics.pem",
        "pki/tenant-sz-genomics.key",
        "pki/tenant-hk-biolab.pem",
        "pki/regulator-pcpd.pem",
        "pki/admin-park-ops.key",
    ] {
        assert!(dir.join(file).is_file(), "{file} is missing");
    }
    assert!(dir.join("data").is_dir() && dir.join("received").is_dir());
    for key in [
        "pki/ca.key",
        "pki/server.key",
        "pki/admin-park-ops.key",
        "log.key",
    ] {
        assert_eq!(mode(&dir.join(key)), 0o600, "{key}");
    }
    assert!(
        fs::read_to_string(dir.join("pki/ca.key"))
            .unwrap()
            .contains("BEGIN PRIVATE KEY")
    );

    let config = Config::load(&dir.join("gateway.toml")).unwrap();
    assert_eq!(config.check_files(), Vec::<String>::new());

    let before = fs::read(dir.join("pki/ca.pem")).unwrap();
    assert!(!ensure(&dir, NOW, |_| panic!("must not be called on reuse")).unwrap());
    assert_eq!(fs::read(dir.join("pki/ca.pem")).unwrap(), before);
}

#[test]
fn the_log_key_is_a_signer_key_with_its_verifier_beside_it() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("loopgate-dev");
    ensure(&dir, NOW, write_log_key).unwrap();
    let key = loopgate_audit::SigningKey::parse(&fs::read_to_string(dir.join("log.key")).unwrap())
        .unwrap();
    let public = fs::read_to_string(dir.join("log.pub")).unwrap();
    assert_eq!(public.trim(), key.verifier().to_string());
    assert!(public.starts_with("loopgate.dev/log+"));
    assert_eq!(mode(&dir.join("log.key")), 0o600);
}

#[test]
fn a_failure_leaves_no_half_made_folder() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("loopgate-dev");
    let failing = |_: &Path| Err(DevError::BadPrincipal("simulated".into()));
    assert!(ensure(&dir, NOW, failing).is_err());
    assert!(!dir.exists());
    assert_eq!(
        fs::read_dir(root.path()).unwrap().count(),
        0,
        "staging folder left behind"
    );
}

#[test]
fn dev_cert_issues_from_the_dev_ca_and_refuses_without_one() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("loopgate-dev");
    ensure(&dir, NOW, fake_log_key).unwrap();
    let cert = issue_cert(&dir, "tenant", "sz-other", NOW).unwrap();
    assert_eq!(cert, dir.join("pki/tenant-sz-other.pem"));
    let der = rustls::pki_types::pem::PemObject::from_pem_file(&cert)
        .map(|c: rustls::pki_types::CertificateDer<'static>| c.as_ref().to_vec())
        .unwrap();
    let principal = crate::identity::principal_from_cert(&der, TRUST_DOMAIN).unwrap();
    assert_eq!(principal.to_string(), "tenant/sz-other");
    assert_eq!(mode(&dir.join("pki/tenant-sz-other.key")), 0o600);

    // Never overwrites an existing identity.
    assert!(matches!(
        issue_cert(&dir, "tenant", "sz-other", NOW),
        Err(DevError::Exists { .. })
    ));
    assert!(matches!(
        issue_cert(&dir, "operator", "x", NOW),
        Err(DevError::BadPrincipal(_))
    ));
    assert!(matches!(
        issue_cert(root.path(), "tenant", "x", NOW),
        Err(DevError::NoDevCa(_))
    ));
}

#[test]
fn the_log_the_keys_and_the_received_bodies_are_private_also_in_an_older_folder() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("loopgate-dev");
    assert!(ensure(&dir, NOW, fake_log_key).unwrap());
    for folder in ["pki", "data", "received"] {
        assert_eq!(mode(&dir.join(folder)), 0o700, "{folder}");
    }
    // A folder made before they were private.
    for folder in ["data", "received"] {
        fs::set_permissions(dir.join(folder), fs::Permissions::from_mode(0o755)).unwrap();
    }
    assert!(!ensure(&dir, NOW, fake_log_key).unwrap());
    for folder in ["pki", "data", "received"] {
        assert_eq!(mode(&dir.join(folder)), 0o700, "{folder} narrowed on reuse");
    }
}
