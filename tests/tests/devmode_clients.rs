//! Dev mode as a user meets it, with real clients: `loopgate serve` without `--config` prints
//! copy-paste `curl` commands (an allowed non-personal and personal transfer, a denial, the
//! checkpoint, a regulator query, a block that takes a shipment through its whole custody
//! chain, and a block of the regulator's offline `audit verify` checks on what curl saved); each
//! is run as printed, from the folder it names, over HTTP/1.1 and HTTP/2, and
//! answers what its comment says. The sample bundle's dates are
//! relative to the day the folder was made, so this holds on any day. Then Python `requests`
//! (the client most integrations start from) sends a transfer and declares a shipment, and reads
//! both back.
//!
//! `curl` and Python's `requests` must be installed; outside CI a missing one skips its part
//! with a note, under CI (`CI` set) it fails.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use loopgate_tests::gateway::Gateway;
use loopgate_tests::receipt::assert_verifies;
use serde_json::Value;

/// Whether `program --version` runs; panics under CI when it does not.
fn available(program: &str, args: &[&str], install: &str) -> bool {
    let ok = Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI: this test needs {program} ({install})"
        );
        eprintln!("skipped: {program} is not available ({install})");
    }
    ok
}

/// The first line of the printed shipment block, a script to paste whole.
const CHAIN_BLOCK: &str = "# a shipment of 24 blood tubes";

/// The printed commands before the shipment block, each with the comment above it:
/// continuation lines joined.
fn printed_commands(lines: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut comment = String::new();
    let mut command = String::new();
    for line in lines.iter().take_while(|l| !l.starts_with(CHAIN_BLOCK)) {
        let line = line.trim_end();
        if let Some(text) = line.strip_prefix("# ") {
            comment = text.to_owned();
        } else if line.starts_with("curl ") || !command.is_empty() {
            let (part, more) = match line.strip_suffix('\\') {
                Some(part) => (part, true),
                None => (line, false),
            };
            command.push_str(part.trim());
            command.push(' ');
            if !more {
                out.push((comment.clone(), command.trim().to_owned()));
                command.clear();
            }
        }
    }
    out
}

/// The printed shipment block: from its first comment to the blank line that ends it.
fn chain_block(lines: &[String]) -> String {
    let block: Vec<&str> = lines
        .iter()
        .skip_while(|l| !l.starts_with(CHAIN_BLOCK))
        .take_while(|l| !l.trim().is_empty())
        .map(String::as_str)
        .collect();
    assert!(block.len() > 10, "the shipment block: {lines:#?}");
    block.join("\n")
}

/// The first line of the printed block of the regulator's offline checks.
const VERIFY_BLOCK: &str = "# the regulator's offline checks";

/// The printed block of offline checks: from its first comment to the blank line that ends it.
fn verify_block(lines: &[String]) -> String {
    let block: Vec<&str> = lines
        .iter()
        .skip_while(|l| !l.starts_with(VERIFY_BLOCK))
        .take_while(|l| !l.trim().is_empty())
        .map(String::as_str)
        .collect();
    assert!(block.len() > 10, "the offline checks: {lines:#?}");
    block.join("\n")
}

/// Runs the shipment block in `dir` as `sh` would run it pasted, every curl with `extra`
/// options and its status printed after its body; the statuses, and the last body.
fn run_chain(dir: &Path, block: &str, extra: &str) -> (Vec<u16>, Value) {
    let script = block.replace(
        "curl ",
        &format!("curl {extra} -sS -w '\\n%{{http_code}}\\n' "),
    );
    let out = Command::new("sh")
        .args(["-c", &format!("set -e\n{script}")])
        .current_dir(dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script}\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    let statuses = lines.iter().filter_map(|l| l.parse().ok()).collect();
    let last = lines
        .iter()
        .rev()
        .filter(|l| l.starts_with('{'))
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
        .expect("the chain's view");
    (statuses, last)
}

/// Runs a printed command in `dir` with `extra` curl options; its status, HTTP version and
/// body.
fn run(dir: &Path, command: &str, extra: &str) -> (u16, String, String) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{command} -sS {extra} -w '\\n%{{http_code}} %{{http_version}}'"
        ))
        .current_dir(dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{command}: {}{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (body, tail) = text.rsplit_once('\n').unwrap();
    let (status, version) = tail.split_once(' ').unwrap();
    (status.parse().unwrap(), version.to_owned(), body.to_owned())
}

#[test]
fn every_printed_curl_command_works_over_http1_and_http2_and_python_requests_too() {
    let gw = Gateway::dev().dev_mode().start();
    let lines = gw.banner();
    let commands = printed_commands(&lines);
    assert_eq!(commands.len(), 5, "{lines:#?}");
    let dir = gw.dir().parent().unwrap().to_owned();
    let log_pub = gw.log_pub_path();
    if available("curl", &["--version"], "apt-get install -y curl") {
        for (extra, version) in [("--http1.1", "1.1"), ("--http2", "2")] {
            let mut denied = None;
            for (comment, command) in &commands {
                assert!(
                    command.contains(&format!(":{}/", gw.api().port())),
                    "{command}"
                );
                let (status, used, body) = run(&dir, command, extra);
                assert_eq!(used, version, "{command}");
                if comment.starts_with("an allowed") {
                    assert_eq!(status, 201, "{comment}: {body}");
                    let receipt: Value = serde_json::from_str(&body).unwrap();
                    assert_eq!(receipt["record"]["outcome"], "completed");
                    assert_verifies(&receipt, &log_pub);
                } else if comment.starts_with("a denied") {
                    assert_eq!(status, 403, "{comment}: {body}");
                    let error: Value = serde_json::from_str(&body).unwrap();
                    assert_eq!(error["error"], "inventory.purpose_not_allowed");
                    denied = error["log_index"].as_u64();
                    assert!(denied.is_some(), "{body}");
                } else if comment.contains("checkpoint") {
                    assert_eq!(status, 200, "{comment}: {body}");
                    let size: u64 = body.lines().nth(1).unwrap().parse().unwrap();
                    assert!(size > 0, "{body}");
                    assert!(body.contains("\n\n\u{2014} "), "a signed note: {body}");
                } else {
                    assert!(comment.contains("query"), "{comment}");
                    assert_eq!(status, 200, "{comment}: {body}");
                    let page: Value = serde_json::from_str(&body).unwrap();
                    let indexes: Vec<u64> = page["records"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r["log_index"].as_u64().unwrap())
                        .collect();
                    assert!(indexes.contains(&denied.unwrap()), "{body}");
                }
            }
        }
        // Two allowed transfers per protocol reached the demo upstream.
        assert_eq!(gw.received().len(), 4);
        // The shipment block, pasted whole: eight steps of 201, then the closed chain.
        let block = chain_block(&lines);
        for extra in ["--http1.1", "--http2"] {
            let (statuses, view) = run_chain(&dir, &block, extra);
            assert_eq!(
                statuses,
                [201, 201, 201, 201, 201, 201, 201, 201, 200],
                "{extra}"
            );
            assert_eq!(view["status"], "closed", "{view}");
            assert_eq!(view["quantity_held"], 0);
            assert_eq!(view["custody"].as_array().unwrap().len(), 8);
        }
        // The offline checks, pasted whole: each `audit verify` says ok, on files curl saved.
        let block = verify_block(&lines);
        let out = Command::new("sh")
            .args(["-c", &format!("set -e\n{block}")])
            .current_dir(&dir)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{block}\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let oks: Vec<&str> = stdout.lines().filter(|l| l.starts_with("ok: ")).collect();
        assert_eq!(oks.len(), 5, "{stdout}");
        assert!(oks[1].contains("record 0 (policy_change)"), "{stdout}");
        assert!(oks[4].contains("the export's"), "{stdout}");
    }

    // `verify` per request: a Session's `verify` loses to REQUESTS_CA_BUNDLE when that is set.
    let python = "import sys, requests\n\
        dev, url = sys.argv[1], sys.argv[2]\n\
        tls = dict(verify=dev + '/pki/ca.pem',\n\
                   cert=(dev + '/pki/tenant-sz-genomics.pem', dev + '/pki/tenant-sz-genomics.key'))\n\
        r = requests.post(url + '/v1/transfers', data=b'qc run 43', headers={\n\
            'Loop-Inventory-Item': 'INV-NP-001', 'Loop-Recipient': 'hk-biolab',\n\
            'Loop-Purpose': 'research.instrument_qc'}, **tls)\n\
        assert r.status_code == 201, (r.status_code, r.text)\n\
        view = requests.get(url + '/v1/transfers/' + r.json()['transfer_id'], **tls)\n\
        assert view.status_code == 200, view.text\n\
        print(view.json()['status'])\n\
        s = requests.post(url + '/v1/shipments', json={'sample_item': 'SMP-BLOOD-001',\n\
            'recipient': 'hk-biolab', 'quantity': 3, 'purpose': 'research.cohort_study',\n\
            'carrier': 'hkp-logistics'}, **tls)\n\
        assert s.status_code == 201, (s.status_code, s.text)\n\
        chain = requests.get(url + '/v1/shipments/' + s.json()['shipment_id'], **tls).json()\n\
        print(chain['status'], chain['holder'], chain['next_events'])\n";
    if available(
        "python3",
        &["-c", "import requests"],
        "python3 -m pip install requests",
    ) {
        let out = Command::new("python3")
            .args(["-c", python])
            .arg(gw.dir())
            .arg(format!("https://localhost:{}", gw.api().port()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "completed\nopen sender ['sealed']"
        );
    }
}
