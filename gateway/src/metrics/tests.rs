use std::time::Duration;

use super::{LogGauges, Metrics, certificate_expiry};
use crate::pki::DevCa;

fn log() -> LogGauges {
    LogGauges {
        records: 7,
        queued: 0,
        available: true,
        checkpoint_age_secs: 1.5,
        policy_version: 3,
    }
}

#[test]
fn every_family_is_exported_with_bounded_labels() {
    let metrics = Metrics::new();
    metrics.request("/v1/transfers", 201);
    metrics.decision(true, Some("upstream.unavailable"));
    metrics.decision(false, Some("tenant.suspended"));
    metrics.transfer_bytes(42);
    let in_flight = metrics.transfer_started();
    metrics.append_latency(0.002);
    metrics.reload(false);
    metrics.shipment_decision(None);
    metrics.shipment_decision(Some("sample.quantity_exceeded"));
    metrics.custody_step("sealed", None);
    metrics.custody_step("picked_up", Some("auth.forbidden"));
    let text = metrics.render(log());
    for line in [
        "loopgate_http_requests_total{route=\"/v1/transfers\",status=\"201\"} 1",
        "loopgate_decisions_total{decision=\"allow\",reason=\"none\"} 1",
        "loopgate_decisions_total{decision=\"deny\",reason=\"tenant.suspended\"} 1",
        "loopgate_transfer_bytes_total 42",
        "loopgate_transfers_in_flight 1",
        "loopgate_log_records 7",
        "loopgate_log_append_seconds_count 1",
        "loopgate_checkpoint_age_seconds 1.5",
        "loopgate_policy_version 3",
        "loopgate_reloads_total{result=\"refused\"} 1",
        "loopgate_shipment_decisions_total{decision=\"allow\",reason=\"none\"} 1",
        "loopgate_shipment_decisions_total{decision=\"deny\",reason=\"sample.quantity_exceeded\"} 1",
        "loopgate_custody_steps_total{event=\"sealed\",result=\"accepted\"} 1",
        "loopgate_custody_steps_total{event=\"picked_up\",result=\"auth.forbidden\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} missing:\n{text}");
    }
    drop(in_flight);
    assert!(
        metrics
            .render(log())
            .lines()
            .any(|l| l == "loopgate_transfers_in_flight 0")
    );
}

#[test]
fn certificate_expiry_is_the_earliest_not_after_in_the_file() {
    let now = time::OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap();
    let ca = DevCa::generate("test CA", now).unwrap();
    let server = ca.issue_server(&["localhost"], &[], now).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.pem");
    std::fs::write(&path, format!("{}{}", server.cert_pem, ca.cert_pem())).unwrap();
    let expiry = certificate_expiry(&path).unwrap();
    // The server certificate is valid for a year from `now`; the CA for longer.
    let year = Duration::from_secs(365 * 86_400).as_secs() as i64;
    assert_eq!(expiry, now.unix_timestamp() + year);
    std::fs::write(&path, "not a certificate").unwrap();
    let error = certificate_expiry(&path).unwrap_err().to_string();
    assert!(error.contains("PEM certificate"), "{error}");
}
