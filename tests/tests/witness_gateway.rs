//! The gateway asks its `[[witness]]` to cosign (issue 21): real `loopgate witness serve`
//! processes on 127.0.0.1, a real gateway. Receipts carry the quorum's cosignatures
//! (`"cosigned": true`) or, past `witness_timeout_ms`, the log's signature alone
//! (`"cosigned": false`) while transfers keep flowing; a witness that comes back catches up in
//! one request; a refusing witness is one `system` record, a metric and a `/readyz` line;
//! `loopgate audit verify --witness-key ... --quorum N` checks the cosignatures offline, and so
//! does an independent Python verifier.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use loopgate_tests::client::Client;
use loopgate_tests::gateway::{Folder, Gateway, eventually};
use loopgate_tests::witness::{Witness, WitnessFolder, free_port, independent_verifier};
use loopgate_tests::{Loopgate, Run};
use serde_json::Value;

const HK: &str = "witness.pcpd.hk.example";
const GD: &str = "witness.cac-gd.cn.example";

/// A dev folder's log: its origin and verifier key.
fn log_pub(folder: &Folder) -> String {
    std::fs::read_to_string(folder.path().join("log.pub")).unwrap()
}

/// A witness of `folder`'s log on `port`.
fn witness(folder: &Folder, name: &str, port: u16) -> Witness {
    WitnessFolder::following(name, loopgate::dev::ORIGIN, &log_pub(folder))
        .on_port(port)
        .start()
}

/// One allowed transfer: its receipt.
fn transfer(gw: &Gateway) -> Value {
    let r = Client::tenant(gw, "sz-genomics")
        .post_transfer()
        .non_personal()
        .body("qc run 7")
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    serde_json::from_slice(&r.body).unwrap()
}

fn save(dir: &Path, name: &str, text: &str) -> PathBuf {
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    file
}

/// `loopgate audit verify --receipt FILE --key LOGKEY` with `--witness-key` for each of
/// `keys` and `--quorum N`.
fn verify(gw: &Gateway, receipt: &Path, keys: &[&str], quorum: Option<usize>) -> Run {
    let mut run = Loopgate::new()
        .args(["audit", "verify", "--receipt"])
        .args([receipt])
        .args(["--key"])
        .args([gw.log_pub_path()]);
    for key in keys {
        run = run.args(["--witness-key", key]);
    }
    if let Some(q) = quorum {
        run = run.args(["--quorum".to_owned(), q.to_string()]);
    }
    run.run()
}

/// The receipt of `GET /v1/transfers/{id}` (the sender's view).
fn view_receipt(gw: &Gateway, id: &str) -> Value {
    let r = Client::tenant(gw, "sz-genomics").get(&format!("/v1/transfers/{id}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let view: Value = serde_json::from_slice(&r.body).unwrap();
    view["receipt"].clone()
}

/// The witness's `witness request` lines that cosigned (status 200).
fn cosigned_requests(w: &Witness) -> Vec<String> {
    w.stderr()
        .lines()
        .filter(|l| l.contains("witness request") && l.contains("status=200"))
        .map(str::to_owned)
        .collect()
}

/// The peer addresses (`peer=IP:PORT`) of the witness's cosigned requests, once it logged at
/// least `at_least` of them: one address, one kept connection.
fn cosigning_peers(w: &Witness, at_least: usize) -> std::collections::BTreeSet<String> {
    eventually(Duration::from_secs(5), || {
        let lines = cosigned_requests(w);
        (lines.len() >= at_least).then_some(lines)
    })
    .unwrap_or_else(|| panic!("{}", w.stderr()))
    .iter()
    .map(|l| {
        l.split_whitespace()
            .find(|w| w.starts_with("peer="))
            .unwrap_or_default()
            .to_owned()
    })
    .collect()
}

#[test]
fn with_quorum_2_receipts_are_cosigned_and_a_witness_that_comes_back_catches_up_in_one_request() {
    let folder = Folder::init();
    let (hk_port, gd_port) = (free_port(), free_port());
    let hk = witness(&folder, HK, hk_port);
    let gd = witness(&folder, GD, gd_port);
    let (hk_key, gd_key) = (hk.folder().verifier.clone(), gd.folder().verifier.clone());
    let (hk_url, gd_url) = (hk.url(), gd.url());
    let (k1, k2) = (hk_key.clone(), gd_key.clone());
    let gw = Gateway::in_folder(folder)
        .config(move |c| {
            c.witness("hk", &hk_url, &k1)
                .witness("gd", &gd_url, &k2)
                .set("log", "witness_quorum", 2)
                .set("log", "witness_timeout_ms", 1500)
        })
        .start();

    // Both up: the receipt carries both cosignatures, and verifies offline with both keys.
    let receipt = transfer(&gw);
    assert_eq!(receipt["cosigned"], true, "{receipt}");
    let dir = tempfile::tempdir().unwrap();
    let file = save(dir.path(), "receipt.json", &receipt.to_string());
    let ok = verify(&gw, &file, &[&hk_key, &gd_key], Some(2));
    assert_eq!(ok.code, 0, "{ok:?}");
    assert!(ok.stdout.contains("cosigned by at least 2"), "{ok:?}");
    let note = save(
        dir.path(),
        "checkpoint.txt",
        receipt["checkpoint"].as_str().unwrap(),
    );
    for key in [&hk_key, &gd_key] {
        independent_verifier(key, &note).unwrap_or_else(|e| panic!("python: {e}"));
    }
    // The regulator's checkpoint is a cosigned one, and an inclusion proof leads to it.
    let cp = Client::regulator(&gw, "pcpd").get("/v1/audit/checkpoint");
    let cp_file = save(dir.path(), "latest.txt", &cp.text());
    let checked = Loopgate::new()
        .args(["audit", "verify", "--checkpoint"])
        .args([&cp_file])
        .args(["--key"])
        .args([gw.log_pub_path()])
        .args([
            "--witness-key",
            &hk_key,
            "--witness-key",
            &gd_key,
            "--quorum",
            "2",
        ])
        .run();
    assert_eq!(checked.code, 0, "{checked:?}");
    let size: u64 = cp.text().lines().nth(1).unwrap().parse().unwrap();
    let index = receipt["log_index"].as_u64().unwrap();
    let proof =
        Client::regulator(&gw, "pcpd").get(&format!("/v1/audit/proof/inclusion?log_index={index}"));
    let proof: Value = serde_json::from_slice(&proof.body).unwrap();
    assert_eq!(proof["tree_size"], size, "{proof}");
    // The tenant's view of the transfer proves into the latest cosigned checkpoint too.
    let id = receipt["transfer_id"].as_str().unwrap().to_owned();
    let view = view_receipt(&gw, &id);
    assert_eq!(view["cosigned"], true, "{view}");
    let file = save(dir.path(), "view.json", &view.to_string());
    let ok = verify(&gw, &file, &[&hk_key, &gd_key], Some(2));
    assert_eq!(ok.code, 0, "{ok:?}");

    // One witness down: with quorum 2 the receipt comes after the timeout, uncosigned, and
    // transfers keep flowing.
    let gd_folder = gd.kill();
    let before = gd_folder.state_size().unwrap();
    let mut uncosigned = Value::Null;
    for _ in 0..3 {
        let started = Instant::now();
        let receipt = transfer(&gw);
        assert_eq!(receipt["cosigned"], false, "{receipt}");
        assert!(
            started.elapsed() >= Duration::from_millis(1400),
            "{:?}",
            started.elapsed()
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        uncosigned = receipt;
    }
    // A transfer no cosigned checkpoint covers: its view says so, with the log's checkpoint;
    // the first one's view is still proven into the latest cosigned checkpoint (older).
    let cosigned_now = Client::regulator(&gw, "pcpd")
        .get("/v1/audit/checkpoint")
        .text();
    let view = view_receipt(&gw, uncosigned["transfer_id"].as_str().unwrap());
    assert_eq!(view["cosigned"], false, "{view}");
    assert_ne!(view["checkpoint"], cosigned_now.as_str(), "{view}");
    let first = view_receipt(&gw, &id);
    assert_eq!(first["cosigned"], true, "{first}");
    assert_eq!(first["checkpoint"], cosigned_now.as_str(), "{first}");
    let (code, _) = gw.ops_get("/readyz");
    assert_eq!(code, 200, "a witness down never makes the gateway unready");
    let (_, ready) = gw.ops_get("/readyz");
    assert!(
        ready.contains("witness gd: ") && ready.contains("unreachable"),
        "{ready}"
    );
    let latest: u64 = Client::regulator(&gw, "pcpd")
        .get("/v1/audit/checkpoint")
        .text()
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    // ... but nothing else is appended now: the size the witness must jump to.
    let current = gw.metrics().value("loopgate_log_records", &[]) as u64;
    assert!(current > before + 5, "{current} vs {before}");
    assert!(latest < current);

    // It comes back on the same address: one request from its old size to the current one.
    let gd = gd_folder.start();
    let caught_up = eventually(Duration::from_secs(15), || {
        (gd.folder().state_size() == Some(current)).then_some(())
    });
    assert!(
        caught_up.is_some(),
        "the witness holds {:?}, the log {current}:\n{}",
        gd.folder().state_size(),
        gd.stderr()
    );
    // Its log lines come in batches: wait for the first, then for any that would follow.
    eventually(Duration::from_secs(5), || {
        (!cosigned_requests(&gd).is_empty()).then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    let requests = cosigned_requests(&gd);
    assert_eq!(requests.len(), 1, "{requests:#?}\n{}", gd.stderr());
    assert!(!gd.stderr().contains("status=409"), "{}", gd.stderr());
    let receipt = transfer(&gw);
    assert_eq!(receipt["cosigned"], true, "{receipt}");
    drop(hk);
}

#[test]
fn with_quorum_1_a_witness_down_leaves_the_other_s_cosignature() {
    let folder = Folder::init();
    let hk = witness(&folder, HK, 0);
    let hk_key = hk.folder().verifier.clone();
    let gd_key = WitnessFolder::following(GD, loopgate::dev::ORIGIN, &log_pub(&folder))
        .verifier
        .clone();
    let closed = format!("http://127.0.0.1:{}", free_port());
    let (hk_url, k1, k2) = (hk.url(), hk_key.clone(), gd_key.clone());
    let gw = Gateway::in_folder(folder)
        .config(move |c| {
            c.witness("hk", &hk_url, &k1)
                .witness("gd", &closed, &k2)
                .set("log", "witness_quorum", 1)
                .set("log", "witness_timeout_ms", 3000)
        })
        .start();
    let receipt = transfer(&gw);
    assert_eq!(receipt["cosigned"], true, "{receipt}");
    let dir = tempfile::tempdir().unwrap();
    let file = save(dir.path(), "receipt.json", &receipt.to_string());
    // Accepts with N = 1 of the two keys; rejects N + 1 = 2, and a wrong key.
    let one = verify(&gw, &file, &[&hk_key, &gd_key], Some(1));
    assert_eq!(one.code, 0, "{one:?}");
    let two = verify(&gw, &file, &[&hk_key, &gd_key], Some(2));
    assert_eq!(two.code, 1, "{two:?}");
    assert!(two.stderr.contains("cosignature"), "{two:?}");
    let wrong = verify(&gw, &file, &[&gd_key], Some(1));
    assert_eq!(wrong.code, 1, "{wrong:?}");
    // Without --quorum, every key given must have cosigned.
    let all = verify(&gw, &file, &[&hk_key, &gd_key], None);
    assert_eq!(all.code, 1, "{all:?}");
    // More receipts: every round's request to hk comes on the one connection kept open.
    for _ in 0..3 {
        assert_eq!(transfer(&gw)["cosigned"], true);
    }
    let peers = cosigning_peers(&hk, 4);
    assert_eq!(peers.len(), 1, "{peers:?}");
    let metrics = gw.metrics();
    assert!(metrics.value("loopgate_witness_failures", &[("witness", "gd")]) >= 1.0);
    assert!(metrics.value("loopgate_witness_cosigned_size", &[("witness", "hk")]) >= 1.0);
    // Every request is timed, per witness (the failed ones too), and so is each receipt's wait.
    for w in ["hk", "gd"] {
        let requests = metrics.value("loopgate_witness_request_seconds_count", &[("witness", w)]);
        assert!(requests >= 1.0, "{w}: {requests}");
    }
    let waits = metrics.value("loopgate_witness_receipt_wait_seconds_count", &[]);
    assert!(waits >= 4.0, "{waits}");
    // A restarted gateway remembers what the witness holds: its first request carries the
    // proof from there, and the witness never answers 409.
    let held = hk.folder().state_size().unwrap();
    let gw = gw.restart();
    let receipt = transfer(&gw);
    assert_eq!(receipt["cosigned"], true, "{receipt}");
    assert!(hk.folder().state_size().unwrap() > held);
    // Its log lines come in batches: wait for the request that cosigned after the restart.
    eventually(Duration::from_secs(5), || {
        (cosigned_requests(&hk).len() >= 2).then_some(())
    })
    .unwrap_or_else(|| panic!("{}", hk.stderr()));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!hk.stderr().contains("status=409"), "{}", hk.stderr());

    // With both witnesses down, a restarted gateway still shows the size it remembers of hk
    // (not 0) on /metrics and /readyz, until hk answers again.
    let held = hk.folder().state_size().unwrap();
    drop(hk);
    let gw = gw.restart();
    // (The cosigning task reads it from sled once the gateway is up.)
    let size = eventually(Duration::from_secs(5), || {
        let size =
            gw.metrics()
                .value("loopgate_witness_cosigned_size", &[("witness", "hk")]) as u64;
        (size > 0).then_some(size)
    });
    assert_eq!(size, Some(held), "the remembered size of hk");
    let (_, ready) = gw.ops_get("/readyz");
    assert!(
        ready.contains(&format!(
            "witness hk: size {held} as remembered from before the start"
        )),
        "{ready}"
    );
}

#[test]
fn a_refusing_witness_is_one_system_record_a_metric_and_a_readyz_line_and_transfers_flow() {
    let folder = Folder::init();
    let hk = witness(&folder, HK, 0);
    // A witness configured with another log's key: it refuses every checkpoint with 403.
    let other = loopgate_audit::SigningKey::generate(loopgate::dev::ORIGIN).unwrap();
    let bad =
        WitnessFolder::following(GD, loopgate::dev::ORIGIN, &other.verifier().to_string()).start();
    let (hk_url, hk_key, bad_url, bad_key) = (
        hk.url(),
        hk.folder().verifier.clone(),
        bad.url(),
        bad.folder().verifier.clone(),
    );
    let gw = Gateway::in_folder(folder)
        .config(move |c| {
            c.witness("hk", &hk_url, &hk_key)
                .witness("gd", &bad_url, &bad_key)
                .set("log", "witness_quorum", 1)
                .set("log", "witness_timeout_ms", 3000)
        })
        .start();
    // Past the refusal backoff (5 s), so the refusing witness is asked again and refuses again.
    let until = Instant::now() + Duration::from_secs(7);
    let mut sent = 0;
    while Instant::now() < until {
        let receipt = transfer(&gw);
        assert_eq!(receipt["cosigned"], true, "{receipt}");
        sent += 1;
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(sent >= 5);
    let refusals = gw
        .metrics()
        .value("loopgate_witness_refusals", &[("witness", "gd")]);
    assert!(refusals >= 2.0, "{refusals}");
    assert_eq!(
        gw.metrics()
            .value("loopgate_witness_refusals", &[("witness", "hk")]),
        0.0
    );
    let (_, ready) = gw.ops_get("/readyz");
    assert!(
        ready.contains("witness gd: ") && ready.contains("REFUSED 403"),
        "{ready}"
    );
    assert!(bad.stderr().contains("status=403"), "{}", bad.stderr());
    let folder = gw.stop();
    let records: Vec<Value> = folder
        .records()
        .into_iter()
        .filter(|r| r["kind"] == "system" && r["event"] == "witness_refused")
        .collect();
    assert_eq!(records.len(), 1, "once per distinct refusal: {records:#?}");
    let details = &records[0];
    assert_eq!(details["witness"], "gd");
    assert_eq!(details["status"], 403);
    assert!(
        details["message"].as_str().unwrap().contains("signature"),
        "{details}"
    );
}

#[test]
fn dev_mode_runs_two_witnesses_so_the_first_receipt_is_already_cosigned() {
    let started = Instant::now();
    let gw = Gateway::dev().dev_mode().start();
    let receipt = transfer(&gw);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "dev mode's first start and transfer took {:?}",
        started.elapsed()
    );
    assert_eq!(receipt["cosigned"], true, "{receipt}");
    // Both witnesses' keys, one per line, beside log.pub; their keys and state in witnesses/.
    let keys = std::fs::read_to_string(gw.dir().join("witnesses.pub")).unwrap();
    let keys: Vec<&str> = keys.lines().collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys[0].starts_with(&format!("{HK}+")), "{keys:?}");
    assert!(keys[1].starts_with(&format!("{GD}+")), "{keys:?}");
    for name in [HK, GD] {
        let dir = gw.dir().join("witnesses");
        assert!(dir.join(format!("{name}.key")).is_file());
        assert!(dir.join(name).is_dir());
    }
    let dir = tempfile::tempdir().unwrap();
    let file = save(dir.path(), "receipt.json", &receipt.to_string());
    let both = verify(&gw, &file, &[keys[0], keys[1]], Some(2));
    assert_eq!(both.code, 0, "{both:?}");
    let pub_file = gw.dir().join("witnesses.pub").display().to_string();
    let from_file = verify(&gw, &file, &[&pub_file], Some(2));
    assert_eq!(from_file.code, 0, "{from_file:?}");
    let note = save(
        dir.path(),
        "checkpoint.txt",
        receipt["checkpoint"].as_str().unwrap(),
    );
    for key in &keys {
        independent_verifier(key, &note).unwrap_or_else(|e| panic!("python: {e}"));
    }
    // The banner's offline checks pass both witnesses' keys and the quorum.
    let lines = gw.banner();
    let verifies: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("audit verify"))
        .collect();
    assert_eq!(verifies.len(), 5, "{lines:#?}");
    for line in verifies {
        assert!(
            line.contains("--witness-key loopgate-dev/witnesses.pub --quorum 2"),
            "{line}"
        );
    }
}

/// Witnesses over `https` (`[[witness]] ca`): the gateway trusts only the CA each one names,
/// and sends every round over one kept TLS connection. A witness whose certificate that CA did
/// not issue is never asked past the handshake: a failure on `/metrics` and `/readyz`, and
/// nothing cosigned.
#[test]
fn https_witnesses_are_trusted_through_their_ca_only_over_one_kept_tls_connection() {
    let folder = Folder::init();
    let start_tls = |name: &str| {
        WitnessFolder::following(name, loopgate::dev::ORIGIN, &log_pub(&folder))
            .with_tls()
            .start()
    };
    let (hk, gd) = (start_tls(HK), start_tls(GD));
    let hk_ca = hk.folder().path().join("ca.pem");
    let (hk_url, gd_url) = (hk.url(), gd.url());
    assert!(hk_url.starts_with("https://"), "{hk_url}");
    let (k1, k2) = (hk.folder().verifier.clone(), gd.folder().verifier.clone());
    let gw = Gateway::in_folder(folder)
        .config(move |c| {
            // gd is given hk's CA, which did not issue gd's certificate.
            c.witness_with_ca("hk", &hk_url, &k1, &hk_ca)
                .witness_with_ca("gd", &gd_url, &k2, &hk_ca)
                .set("log", "witness_quorum", 1)
                .set("log", "witness_timeout_ms", 3000)
        })
        .start();
    for _ in 0..4 {
        assert_eq!(transfer(&gw)["cosigned"], true);
    }
    let peers = cosigning_peers(&hk, 4);
    assert_eq!(peers.len(), 1, "{peers:?}");
    let metrics = gw.metrics();
    assert!(metrics.value("loopgate_witness_failures", &[("witness", "gd")]) >= 1.0);
    assert_eq!(
        metrics.value("loopgate_witness_cosigned_size", &[("witness", "gd")]),
        0.0
    );
    let (_, ready) = gw.ops_get("/readyz");
    let line = ready
        .lines()
        .find(|l| l.starts_with("witness gd:"))
        .unwrap_or_else(|| panic!("{ready}"))
        .to_owned();
    assert!(line.contains("TLS handshake"), "{line}");
    assert_eq!(gd.folder().state_size(), None);
    assert!(cosigned_requests(&gd).is_empty(), "{}", gd.stderr());
}
