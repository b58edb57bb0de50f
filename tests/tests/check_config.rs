//! `loopgate check-config --config FILE` as a real process: exit 0, or 64 with one line per
//! problem (SPEC.md section 7).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use loopgate::DevCa;
use loopgate_tests::{BundleText, Loopgate};
use tempfile::TempDir;
use time::macros::datetime;

/// A folder with a complete, valid config and every file it names.
fn gateway_folder() -> (TempDir, PathBuf) {
    let dir = TempDir::new().unwrap();
    let now = datetime!(2026-06-01 00:00 UTC);
    let ca = DevCa::generate("park CA", now).unwrap();
    let server = ca
        .issue_server(&["localhost"], &["127.0.0.1".parse().unwrap()], now)
        .unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("ca.pem", ca.cert_pem());
    write("server.pem", &server.cert_pem);
    write("server.key", &server.key_pem);
    std::fs::set_permissions(
        dir.path().join("server.key"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let keygen = Loopgate::new()
        .args(["keygen", "--name", "loop.example/loopgate", "--out"])
        .args([dir.path().join("log.key").as_os_str()])
        .run();
    assert_eq!(keygen.code, 0, "{keygen:?}");
    BundleText::example().write_to(dir.path());
    let config = r#"
[server]
listen = "127.0.0.1:8443"
trust_domain = "loop.example"

[tls]
client_ca = "ca.pem"
cert = "server.pem"
key = "server.key"

[log]
dir = "data"
key = "log.key"
origin = "loop.example/loopgate"

[policy]
bundle = "policy.toml"

[[upstream]]
tenant = "hk-biolab"
url = "https://127.0.0.1:9443/ingest"
ca = "ca.pem"
"#;
    write("gateway.toml", config);
    let path = dir.path().join("gateway.toml");
    (dir, path)
}

fn check(config: &Path) -> loopgate_tests::Run {
    Loopgate::new()
        .args(["check-config", "--config"])
        .args([config.as_os_str()])
        .run()
}

#[test]
fn a_complete_config_is_ok() {
    let (_dir, config) = gateway_folder();
    let run = check(&config);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout.trim(), format!("{}: ok", config.display()));
}

#[test]
fn every_unusable_file_is_one_line_and_exit_64() {
    let (dir, config) = gateway_folder();
    std::fs::remove_file(dir.path().join("server.pem")).unwrap();
    std::fs::write(dir.path().join("policy.toml"), "[[tenant]]\nid = 3\n").unwrap();
    let run = check(&config);
    assert_eq!(run.code, 64, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with(&config.display().to_string())),
        "{run:?}"
    );
    assert!(lines.iter().any(|l| l.contains("server.pem")), "{run:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("policy.toml:2:6: `id` of [[tenant]] #1 must be a string")),
        "{run:?}"
    );
}

#[test]
fn a_log_key_others_can_read_is_refused() {
    let (dir, config) = gateway_folder();
    let key = dir.path().join("log.key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let run = check(&config);
    assert_eq!(run.code, 64, "{run:?}");
    assert!(
        run.stdout.contains("log.key") && run.stdout.contains("chmod 600"),
        "{run:?}"
    );
}

#[test]
fn a_bad_value_or_unknown_key_is_exit_64() {
    let (_dir, config) = gateway_folder();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("trust_domain", "trust_domian")).unwrap();
    let run = check(&config);
    assert_eq!(run.code, 64, "{run:?}");
    assert!(
        run.stdout.contains("unknown field `trust_domian`"),
        "{run:?}"
    );

    std::fs::write(
        &config,
        text.replace("[server]\n", "[server]\nworker_threads = -2\n"),
    )
    .unwrap();
    let run = check(&config);
    assert_eq!(run.code, 64, "{run:?}");
    assert!(
        run.stdout
            .contains("[server] worker_threads is -2; use 1 to 1024"),
        "{run:?}"
    );

    let run = check(Path::new("/nonexistent/gateway.toml"));
    assert_eq!(run.code, 64, "{run:?}");
    assert!(run.stdout.contains("cannot read the config"), "{run:?}");
}

#[test]
fn a_public_ops_listener_and_a_readable_tls_key_are_warnings() {
    let (dir, config) = gateway_folder();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("[server]\n", "[server]\nops_listen = \"0.0.0.0:9464\"\n"),
    )
    .unwrap();
    let key = dir.path().join("server.key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let run = check(&config);
    assert_eq!(run.code, 0, "{run:?}");
    let shown = config.display().to_string();
    let warnings: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with(&format!("{shown}: warning: ")))
        .collect();
    assert_eq!(warnings.len(), 2, "{run:?}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("ops_listen 0.0.0.0:9464") && w.contains("loopback")),
        "{run:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("server.key") && w.contains("0644") && w.contains("chmod 600")),
        "{run:?}"
    );
    assert!(run.stdout.ends_with(&format!("{shown}: ok\n")), "{run:?}");
}

/// Regression: `[policy] bundle` naming the wrong file (the config itself, a PEM file) gave one
/// error per table or per line of that file; now one line says it is not a bundle at all.
#[test]
fn a_bundle_path_to_the_wrong_file_is_one_line() {
    let (dir, config) = gateway_folder();
    for wrong in ["gateway.toml", "ca.pem"] {
        let text = std::fs::read_to_string(&config)
            .unwrap()
            .replace("bundle = \"policy.toml\"", &format!("bundle = \"{wrong}\""));
        let edited = dir.path().join("edited.toml");
        std::fs::write(&edited, text).unwrap();
        let run = check(&edited);
        assert_eq!(run.code, 64, "{run:?}");
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines.len(), 1, "{run:?}");
        assert!(lines[0].contains("[policy] bundle "), "{run:?}");
        assert!(lines[0].contains("it is not a policy bundle"), "{run:?}");
        assert!(
            lines[0].contains("is [policy] bundle the right file?"),
            "{run:?}"
        );
    }
    // A bundle with a mistake is still reported problem by problem.
    std::fs::write(dir.path().join("policy.toml"), "[[tenant]]\nid = 3\n").unwrap();
    let run = check(&config);
    assert!(run.stdout.contains("policy.toml:2:6:"), "{run:?}");
}
