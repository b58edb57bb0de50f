use std::path::Path;

use super::*;

fn example() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/gateway.toml");
    std::fs::read_to_string(path).unwrap()
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/loopgate/gateway.toml"), text)
}

#[test]
fn the_example_config_is_valid_and_resolved() {
    let config = parse(&example()).unwrap();
    assert_eq!(config.listen.to_string(), "0.0.0.0:8443");
    assert_eq!(config.ops_listen.to_string(), "127.0.0.1:9464");
    assert_eq!(config.trust_domain, "loop.example");
    assert_eq!(
        config.upstreams["hk-biolab"].url.to_string(),
        "https://10.20.0.15:9443/ingest"
    );
    assert_eq!(config.limits.drain_timeout, Duration::from_secs(30));
    assert_eq!(config.log_format, LogFormat::Text);
    assert!(!config.tls.allow_tls12);
}

fn dev_example() -> String {
    include_str!("../devmode/gateway.toml").to_owned()
}

#[test]
fn the_dev_mode_config_is_valid() {
    let config = parse(&dev_example()).unwrap();
    let demo = config.demo_upstream.unwrap();
    assert_eq!(demo.tenant, "hk-biolab");
    assert_eq!(demo.received, Path::new("/etc/loopgate/received"));
    assert!(config.upstreams.is_empty());
}

#[test]
fn the_examples_document_every_key() {
    // Guards against a new config key that the examples (the operators' models) do not show.
    let keys = [
        "listen",
        "ops_listen",
        "worker_threads",
        "trust_domain",
        "client_ca",
        "crls",
        "cert",
        "key",
        "allow_tls12",
        "dir",
        "origin",
        "bundle",
        "tenant",
        "url",
        "ca",
        "max_header_bytes",
        "header_timeout_secs",
        "body_idle_timeout_secs",
        "upstream_connect_timeout_secs",
        "upstream_timeout_secs",
        "drain_timeout_secs",
        "max_connections",
        "max_connections_per_principal",
        "max_handshakes",
        "handshake_timeout_secs",
        "idle_timeout_secs",
        "keepalive_interval_secs",
        "max_concurrent_streams",
        "stop_timeout_secs",
        "lingering_bytes",
        "lingering_time_secs",
        "lingering_timeout_secs",
        "idempotency_retention_hours",
        "requests_per_second_per_principal",
        "request_burst",
        "max_exports",
        "max_exports_per_principal",
        "cache_mb",
        "witness_quorum",
        "witness_timeout_ms",
        "format",
    ];
    let text = example();
    for key in keys {
        assert!(
            text.contains(&format!("\n{key} = ")),
            "deploy/gateway.toml does not show `{key}`"
        );
    }
}

#[test]
fn witnesses_are_validated_and_the_quorum_defaults_to_all_of_them() {
    let key = loopgate_audit::WitnessSigningKey::generate("w.example/witness").unwrap();
    let key = key.verifier().to_string();
    let with = |extra: &str| {
        format!(
            "{}\n[[witness]]\nname = \"a\"\nurl = \"http://127.0.0.1:7380/\"\nkey = \"{key}\"\n\n\
             [[witness]]\nname = \"b\"\nurl = \"https://w.example/loop\"\nkey = \"{key}\"\nca = \"ca.pem\"\n{extra}",
            example().replace("witness_quorum = 0\n", "")
        )
    };
    let config = parse(&with("")).unwrap();
    assert_eq!(config.witnesses.quorum, 2);
    assert_eq!(
        config.witnesses.targets[0].url.to_string(),
        "http://127.0.0.1:7380/"
    );
    assert_eq!(
        config.witnesses.targets[1].ca.as_deref(),
        Some(Path::new("/etc/loopgate/ca.pem"))
    );
    assert_eq!(config.witnesses.timeout, Duration::from_millis(2000));
    let bad = with("\n[[witness]]\nname = \"a\"\nurl = \"http://10.0.0.1/\"\nkey = \"x\"\n");
    let problems = parse(&bad).unwrap_err().to_string();
    assert!(problems.contains("the name is used twice"), "{problems}");
    assert!(
        problems.contains("plain http only to a loopback address"),
        "{problems}"
    );
    assert!(
        problems.contains("paste the witness's verifier key"),
        "{problems}"
    );
    let quorum = example().replace("witness_quorum = 0", "witness_quorum = 1");
    let problems = parse(&quorum).unwrap_err().to_string();
    assert!(problems.contains("there is no [[witness]]"), "{problems}");
}

#[test]
fn relative_paths_resolve_against_the_config_folder() {
    let text = example().replace("/etc/loopgate/pki/server.pem", "pki/server.pem");
    let config = Config::parse(Path::new("/srv/gw/gateway.toml"), &text).unwrap();
    assert_eq!(config.tls.cert, Path::new("/srv/gw/pki/server.pem"));
}

#[test]
fn unknown_keys_are_refused_with_their_position() {
    let text = example().replace(
        "allow_tls12 = false",
        "allow_tls12 = false\nalow_tls13 = true",
    );
    let line = text
        .lines()
        .position(|l| l.starts_with("alow_tls13"))
        .unwrap()
        + 1;
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "/etc/loopgate/gateway.toml: {line}:1: unknown field `alow_tls13`"
        )),
        "{err}"
    );
}

#[test]
fn every_bad_value_is_reported_at_once() {
    let text = example()
        .replace("\"0.0.0.0:8443\"", "\"localhost:8443\"")
        .replace(
            "trust_domain = \"loop.example\"",
            "trust_domain = \"Loop Example\"",
        )
        .replace("https://10.20.0.15:9443/ingest", "http://10.20.0.15/ingest")
        .replace("drain_timeout_secs = 30", "drain_timeout_secs = 0")
        .replace("format = \"text\"", "format = \"xml\"");
    let ConfigError::Invalid { problems, .. } = parse(&text).unwrap_err() else {
        panic!("expected Invalid");
    };
    assert_eq!(problems.len(), 5, "{problems:#?}");
    assert!(problems[0].contains("[server] listen \"localhost:8443\""));
    assert!(problems[1].contains("trust_domain \"Loop Example\""));
    assert!(problems[2].contains("must be an https:// URL"));
    assert!(problems[3].contains("drain_timeout_secs is 0"));
    assert!(problems[4].contains("format \"xml\""));
}

#[test]
fn lingering_bounds_are_checked() {
    let config = parse(&example()).unwrap();
    assert_eq!(config.lingering.bytes, 64 * 1024 * 1024);
    assert_eq!(config.lingering.time, Duration::from_secs(30));
    assert_eq!(config.lingering.timeout, Duration::from_secs(5));
    let text = example()
        .replace("lingering_time_secs = 30", "lingering_time_secs = 0")
        .replace("lingering_bytes = 67108864", "lingering_bytes = 0");
    let ConfigError::Invalid { problems, .. } = parse(&text).unwrap_err() else {
        panic!("expected Invalid");
    };
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].contains("lingering_time_secs is 0"),
        "{problems:#?}"
    );
}

#[test]
fn a_second_upstream_for_one_tenant_is_refused() {
    let text = format!(
        "{}\n[[upstream]]\ntenant = \"hk-biolab\"\nurl = \"https://10.0.0.9/\"\nca = \"ca.pem\"\n",
        example()
    );
    // [[upstream]] after [logging] still belongs to the top level in TOML.
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("defined twice"), "{err}");
}

#[test]
fn the_clock_offset_defaults_to_zero_and_is_bounded() {
    assert_eq!(parse(&example()).unwrap().clock_offset_days, 0);
    assert_eq!(parse(&dev_example()).unwrap().clock_offset_days, 0);
    let shifted = dev_example().replace("offset_days = 0", "offset_days = -400");
    assert_eq!(parse(&shifted).unwrap().clock_offset_days, -400);
    let far = dev_example().replace("offset_days = 0", "offset_days = 40000");
    let err = parse(&far).unwrap_err().to_string();
    assert!(err.contains("[clock] offset_days is 40000"), "{err}");
    let typo = dev_example().replace("offset_days = 0", "offset_day = 1");
    assert!(
        parse(&typo)
            .unwrap_err()
            .to_string()
            .contains("unknown field `offset_day`")
    );
}

#[test]
fn worker_threads_default_to_one_per_cpu_and_are_bounded() {
    let config = parse(&example()).unwrap();
    assert_eq!(config.worker_threads, super::default_worker_threads());
    assert!(config.worker_threads >= 1);
    let set = |n: &str| example().replace("worker_threads = 0", &format!("worker_threads = {n}"));
    assert_eq!(parse(&set("3")).unwrap().worker_threads, 3);
    for bad in ["-1", "1025"] {
        let ConfigError::Invalid { problems, .. } = parse(&set(bad)).unwrap_err() else {
            panic!("{bad}: expected Invalid");
        };
        assert!(
            problems
                .iter()
                .any(|p| p.contains("[server] worker_threads is")),
            "{bad}: {problems:#?}"
        );
    }
}

#[test]
fn the_connection_keys_have_defaults_and_refuse_zero() {
    let config = parse(&example()).unwrap();
    let connections = &config.limits.connections;
    assert_eq!(connections.max, 4096);
    assert_eq!(connections.per_principal, 64);
    assert_eq!(connections.idle_timeout, Duration::from_secs(60));
    assert_eq!(connections.stop_timeout, Duration::from_secs(10));
    let defaults = super::Connections::default();
    assert_eq!(defaults.handshakes, connections.handshakes);
    assert_eq!(defaults.keepalive_interval, connections.keepalive_interval);
    assert_eq!(connections.max_streams, 100);
    assert_eq!(config.limits.max_exports, 64);
    assert_eq!(config.limits.max_exports_per_principal, 8);
    assert_eq!(defaults.max_streams, connections.max_streams);
    assert_eq!(defaults.handshake_timeout, connections.handshake_timeout);

    let text = example()
        .replace(
            "max_connections_per_principal = 64",
            "max_connections_per_principal = 0",
        )
        .replace("idle_timeout_secs = 60", "idle_timeout_secs = 0");
    let err = parse(&text).unwrap_err().lines().join("\n");
    assert!(
        err.contains("[limits] max_connections_per_principal is 0; use 1 to 1000000"),
        "{err}"
    );
    assert!(
        err.contains("[limits] idle_timeout_secs is 0; use a number of seconds from 1 to 86400"),
        "{err}"
    );
}
