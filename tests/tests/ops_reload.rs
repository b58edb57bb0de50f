//! SIGHUP (SPEC.md section 8): the gateway re-reads its config, certificates, CRLs and policy
//! bundle without dropping a connection. Connections already open keep working on their
//! session (unless the new CRLs revoke their certificate: ops_revocation.rs), new ones get the
//! new certificate and are checked against the new CRLs; a new bundle
//! that validates is logged as a `policy_change` whose index every later decision names, while
//! a transfer already streaming finishes under the version it started with; anything broken is
//! refused with one error line and the running config, certificate and policy keep serving; a
//! changed listener address needs a restart and the running one stays; upstream clients are
//! rebuilt from the new `[[upstream]]` entries.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::time::Duration;

use loopgate_tests::client::{Client, Http};
use loopgate_tests::gateway::{Bundle, ConfigToml, Gateway, eventually};
use loopgate_tests::upstream::Answering;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

fn now() -> time::OffsetDateTime {
    loopgate::Clock::system().now()
}

fn der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

fn checkpoint(client: &Client) -> http::Request<loopgate_tests::client::TestBody> {
    client
        .builder(http::Method::GET, "/v1/audit/checkpoint")
        .body(loopgate_tests::client::TestBody::empty())
        .unwrap()
}

#[test]
fn sighup_swaps_the_server_certificate_without_dropping_connections() {
    let gw = Gateway::dev().start();
    let h1 = Client::regulator(&gw, "pcpd").with_http(Http::One);
    let h2 = Client::regulator(&gw, "pcpd").http2();
    let mut old_h1 = h1.open();
    let mut old_h2 = h2.open();
    assert_eq!(old_h2.version(), http::Version::HTTP_2);
    let old_cert = old_h1.peer_certificate().to_vec();
    for connection in [&mut old_h1, &mut old_h2] {
        assert_eq!(connection.try_request(checkpoint(&h1)).unwrap().status, 200);
    }
    let policy_version = gw.metrics().value("loopgate_policy_version", &[]);

    // A new server certificate from the dev CA, written over the old files.
    let loopback: [IpAddr; 1] = [[127, 0, 0, 1].into()];
    let issued = gw
        .dev_ca()
        .issue_server(&["localhost"], &loopback, now())
        .unwrap();
    std::fs::write(gw.pki("server.pem"), &issued.cert_pem).unwrap();
    std::fs::write(gw.pki("server.key"), &issued.key_pem).unwrap();
    assert!(gw.reload(), "the reload was refused:\n{}", gw.stderr());

    // The open connections (HTTP/1.1 keep-alive and HTTP/2) still work on their session.
    let r = old_h1.try_request(checkpoint(&h1)).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let r = old_h2.try_request(checkpoint(&h2)).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    // A new connection gets the new certificate.
    let new_cert = h1.open().peer_certificate().to_vec();
    assert_ne!(new_cert, old_cert);
    assert_eq!(new_cert, der(&issued.cert_pem));
    // Same bundle bytes: no new policy version.
    let metrics = gw.metrics();
    assert_eq!(
        metrics.value("loopgate_policy_version", &[]),
        policy_version
    );

    // A broken key is refused with one error line; the new certificate keeps serving.
    std::fs::write(gw.pki("server.key"), "not a key").unwrap();
    assert!(!gw.reload(), "a broken key was accepted");
    let stderr = gw.stderr_once(|s| s.contains("reload refused"));
    let refused: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("reload refused"))
        .collect();
    assert_eq!(refused.len(), 1, "{stderr}");
    assert!(refused[0].contains("server.key"), "{}", refused[0]);
    assert_eq!(h1.open().peer_certificate(), new_cert.as_slice());
    assert_eq!(old_h1.try_request(checkpoint(&h1)).unwrap().status, 200);
    std::fs::write(gw.pki("server.key"), &issued.key_pem).unwrap();

    // A new listener address needs a restart: logged, and the running one stays.
    gw.edit_config(|c: ConfigToml| c.set("server", "listen", "127.0.0.1:1"));
    assert!(gw.reload(), "{}", gw.stderr());
    assert!(
        gw.stderr_once(|s| s.contains("takes effect only after a restart"))
            .contains("takes effect only after a restart"),
        "{}",
        gw.stderr()
    );
    assert_eq!(h2.open().try_request(checkpoint(&h2)).unwrap().status, 200);
}

/// The `policy_version` of the decision record at `index` and the index of the last
/// `policy_change` before it, from the stopped gateway's log.
fn versions(records: &[serde_json::Value], index: usize) -> (u64, u64) {
    let decision = &records[index];
    assert_eq!(decision["kind"], "decision", "{decision}");
    let last_change = records[..index]
        .iter()
        .rposition(|r| r["kind"] == "policy_change")
        .unwrap();
    (
        decision["policy_version"].as_u64().unwrap(),
        last_change as u64,
    )
}

#[test]
fn sighup_refuses_a_broken_bundle_and_logs_a_valid_one_as_the_new_policy_version() {
    let gw = Gateway::dev().start();
    let sz = Client::tenant(&gw, "sz-genomics");
    let allowed = sz.post_transfer().non_personal().body("one").send();
    assert_eq!(allowed.status, 201, "{}", allowed.text());
    let bundle_path = gw.dir().join("policy.toml");
    let good = std::fs::read_to_string(&bundle_path).unwrap();
    let first_version = gw.metrics().value("loopgate_policy_version", &[]);

    // Broken: refused, one error line naming the file, and the old policy keeps deciding.
    std::fs::write(&bundle_path, good.replace("[[tenant]]", "[[tennant]]")).unwrap();
    assert!(!gw.reload(), "a broken bundle was accepted");
    let stderr = gw.stderr_once(|s| s.contains("reload refused"));
    let refused: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("reload refused"))
        .collect();
    assert_eq!(refused.len(), 1, "{stderr}");
    assert!(refused[0].contains("policy.toml"), "{}", refused[0]);
    let still = sz.post_transfer().non_personal().body("two").send();
    assert_eq!(still.status, 201, "{}", still.text());
    assert_eq!(
        gw.metrics().value("loopgate_policy_version", &[]),
        first_version
    );

    // Valid and different: the sender is suspended from now on.
    let suspended = Bundle(good)
        .edit_after(
            "id = \"sz-genomics\"",
            "status = \"approved\"",
            "status = \"suspended\"",
        )
        .0;
    std::fs::write(&bundle_path, suspended).unwrap();
    assert!(gw.reload(), "{}", gw.stderr());
    let new_version = gw.metrics().value("loopgate_policy_version", &[]);
    assert!(new_version > first_version);
    let denied = sz.post_transfer().non_personal().body("three").send();
    let denied_at = denied.assert_error(403, "tenant.suspended", true).unwrap();

    let records = gw.stop().records();
    let (used, change) = versions(&records, denied_at as usize);
    assert_eq!((used, change), (new_version as u64, new_version as u64));
    assert_eq!(records[change as usize]["principal"], "system");
    // The decisions before the reload name the first version.
    let before: Vec<u64> = records[..change as usize]
        .iter()
        .filter(|r| r["kind"] == "decision")
        .map(|r| r["policy_version"].as_u64().unwrap())
        .collect();
    assert_eq!(before, vec![first_version as u64; 2]);
}

#[test]
fn sighup_applies_a_new_crl_at_the_next_handshake() {
    let gw = Gateway::dev().start();
    let ca = gw.dev_ca();
    let issued = ca
        .issue_client("spiffe://loopgate.dev/tenant/sz-genomics", now())
        .unwrap();
    let client = Client::with_cert(&gw, &issued.cert_pem, &issued.key_pem);
    let transfer = |client: &Client| client.post_transfer().non_personal().body("x").build();
    let mut open = client.open();
    assert_eq!(open.try_request(transfer(&client)).unwrap().status, 201);

    // A CRL that revokes it, named in the config from now on.
    let crl = ca.revocation_list(&[&issued.serial], 1, now()).unwrap();
    std::fs::write(gw.pki("crl.pem"), crl).unwrap();
    gw.edit_config(|c: ConfigToml| {
        c.set(
            "tls",
            "crls",
            toml::Value::Array(vec![toml::Value::from("pki/crl.pem")]),
        )
    });
    assert!(gw.reload(), "{}", gw.stderr());
    let refused = client.post_transfer().non_personal().body("y").try_send();
    assert!(
        refused.is_err(),
        "a revoked certificate was let in: {refused:?}"
    );
    // A connection it opened before the reload is closed now (see ops_revocation.rs).
    let kept = open.try_request(transfer(&client)).map(|r| r.status);
    assert_ne!(
        kept,
        Ok(201),
        "a revoked certificate's open connection still served"
    );
    // Others from the same CA still get in.
    let ok = Client::tenant(&gw, "sz-genomics")
        .post_transfer()
        .non_personal()
        .body("z")
        .send();
    assert_eq!(ok.status, 201, "{}", ok.text());
}

#[test]
fn a_transfer_in_flight_finishes_under_the_policy_it_started_with() {
    let gw = Gateway::dev().start();
    let sz = Client::tenant(&gw, "sz-genomics");
    let bundle_path = gw.dir().join("policy.toml");
    let suspended = Bundle(std::fs::read_to_string(&bundle_path).unwrap())
        .edit_after(
            "id = \"sz-genomics\"",
            "status = \"approved\"",
            "status = \"suspended\"",
        )
        .0;
    let first_version = gw.metrics().value("loopgate_policy_version", &[]);
    let r = std::thread::scope(|s| {
        let sending = s.spawn(|| {
            sz.post_transfer()
                .non_personal()
                .slow(["one ", "two ", "three"], Duration::from_millis(300))
                .send()
        });
        eventually(Duration::from_secs(5), || {
            (!gw.partial().is_empty()).then_some(())
        })
        .expect("the transfer started");
        std::fs::write(&bundle_path, &suspended).unwrap();
        assert!(gw.reload(), "{}", gw.stderr());
        sending.join().unwrap()
    });
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["transfer_id"].as_str().unwrap().to_owned();
    assert_eq!(gw.received_body(&id).unwrap(), b"one two three");
    let view = sz.get_transfer(&id).json();
    assert_eq!(
        view["records"][0]["record"]["policy_version"],
        first_version as u64
    );
    sz.post_transfer()
        .non_personal()
        .body("after")
        .send()
        .assert_error(403, "tenant.suspended", true);
}

#[test]
fn sighup_rebuilds_the_upstream_clients_from_the_config() {
    let (first, second) = (Answering::start(201), Answering::start(202));
    let (url, ca) = (first.url(), first.ca_path());
    let gw = Gateway::dev()
        .config(move |c: ConfigToml| c.upstream_with_ca("hk-biolab", &url, &ca))
        .start();
    let sz = Client::tenant(&gw, "sz-genomics");
    let r = sz
        .post_transfer()
        .non_personal()
        .body("to the first")
        .send();
    assert_eq!(r.json()["upstream_status"], 201, "{}", r.text());

    // The recipient moved to another upstream, with a CA of its own.
    gw.edit_config(|c: ConfigToml| {
        c.upstream_with_ca("hk-biolab", &second.url(), &second.ca_path())
    });
    assert!(gw.reload(), "{}", gw.stderr());
    let r = sz
        .post_transfer()
        .non_personal()
        .body("to the second")
        .send();
    assert_eq!(r.json()["upstream_status"], 202, "{}", r.text());
    assert_eq!(first.bodies(), vec![bytes::Bytes::from("to the first")]);
    assert_eq!(second.bodies(), vec![bytes::Bytes::from("to the second")]);
}

/// Regression: the harness signalled its watchdog shell, which passed SIGHUP on with a trap; a
/// shell that starts with SIGHUP ignored (under `nohup`, or a CI runner that does so) cannot
/// trap it, and every reload test failed with "SIGHUP was not handled". The gateway installs
/// its own handler whatever it inherited, so a SIGHUP sent to it reloads.
#[test]
fn sighup_reloads_a_gateway_started_with_sighup_ignored() {
    let gw = Gateway::dev().sighup_ignored().start();
    assert!(gw.reload(), "the reload was refused:\n{}", gw.stderr());
    let r = Client::regulator(&gw, "pcpd").get("/v1/audit/checkpoint");
    assert_eq!(r.status, 200, "{}", r.text());
    gw.stop();
}

/// Whether this process has SIGHUP ignored (`SigIgn` in `/proc/self/status`, bit 0 is SIGHUP).
fn sighup_ignored_here() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .map(|m| u64::from_str_radix(m.trim(), 16).unwrap())
        .unwrap();
    mask & 1 == 1
}

/// Set by the test below for the reload tests it runs again as a child process.
const UNDER_NOHUP: &str = "LOOPGATE_TEST_UNDER_NOHUP";

/// The suite under `nohup` (or a CI runner that starts it with SIGHUP ignored): this test binary
/// runs two reload tests again in a child process that inherited SIGHUP ignored, with the
/// harness's ordinary `Gateway::dev()`; they pass because the harness signals the `loopgate`
/// process, which installs its own handler, not the watchdog shell, which cannot trap a signal
/// it started with ignored (a harness that did failed every reload test there with "SIGHUP was
/// not handled").
#[test]
fn reload_tests_pass_in_a_test_process_started_with_sighup_ignored() {
    if std::env::var_os(UNDER_NOHUP).is_some() {
        // The child's own copy of this test: it only checks it is where it should be.
        assert!(
            sighup_ignored_here(),
            "{UNDER_NOHUP} is set but SIGHUP is not ignored"
        );
        return;
    }
    let this = std::env::current_exe().unwrap();
    let out = std::process::Command::new("sh")
        .args(["-c", "trap '' HUP; exec \"$0\" \"$@\""])
        .arg(&this)
        .args([
            "--exact",
            "--test-threads=1",
            "reload_tests_pass_in_a_test_process_started_with_sighup_ignored",
            "sighup_swaps_the_server_certificate_without_dropping_connections",
            "sighup_refuses_a_broken_bundle_and_logs_a_valid_one_as_the_new_policy_version",
        ])
        .env(UNDER_NOHUP, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 3 passed"),
        "the reload tests under SIGHUP ignored:\n{stdout}\n{stderr}"
    );
}
