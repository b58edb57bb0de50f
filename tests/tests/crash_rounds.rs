//! kill -9 under load (DESIGN.md invariants 2-4): rounds on one dev folder, each driving
//! concurrent transfers (allowed small, allowed 4 MiB, denied, personal) from several client
//! threads, SIGKILLing the gateway at a random moment and starting it again. After every round:
//! `loopgate audit verify` passes; every receipt and `log_index` a client got is in the log with
//! identical leaf bytes; every admission has exactly one outcome (`interrupted` only from
//! recovery); what the demo upstream stored belongs to a completed transfer with the digest the
//! log names; and the log extends every checkpoint seen before.
//!
//! `LOOPGATE_CRASH_ROUNDS` sets the number of rounds (default 20, `200` for a long run);
//! `LOOPGATE_CRASH_SEED` replays a run (the seed is printed).

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use loopgate_tests::client::{Client, Response};
use loopgate_tests::gateway::{Folder, Gateway};
use loopgate_tests::ledger::Ledger;
use loopgate_tests::rng::Rng;
use serde_json::Value;

const DEFAULT_ROUNDS: u64 = 20;
/// Client threads per round.
const CLIENTS: usize = 4;
/// The "large" transfer.
const LARGE_BYTES: usize = 4 << 20;
/// Load runs this long (at most) before the kill, in milliseconds.
const KILL_AFTER_MS: (u64, u64) = (50, 1200);

/// What one client was told.
#[derive(Debug)]
enum Told {
    /// A `201` receipt.
    Receipt(Value),
    /// An error body with a `log_index` (a denial, or a failed transfer).
    Logged { code: String, log_index: u64 },
}

/// Sends a random mix until the gateway is gone; returns what it was told.
fn drive(client: &Client, mut rng: Rng, large: &Bytes) -> Vec<Told> {
    let mut told = Vec::new();
    // Bounded so that a gateway that never dies cannot hang the test.
    for n in 0..10_000u32 {
        let roll = rng.range(0, 100);
        let small = Bytes::from(format!("row {n} of client data {}\n", rng.next_u64()).repeat(8));
        let call = client.post_transfer();
        let call = match roll {
            0..55 => call.non_personal().body(small),
            55..70 => call.personal(rng.range(1, 50)).body(small),
            70..88 => call
                .non_personal()
                .set("Loop-Purpose", "marketing.campaign")
                .body(small),
            _ => call.non_personal().body(large.clone()),
        };
        let Ok(response) = call.try_send() else {
            break; // killed
        };
        told.push(classify(&response));
    }
    told
}

fn classify(r: &Response) -> Told {
    if r.status == 201 {
        return Told::Receipt(r.json());
    }
    let json = r.json();
    let code = json["error"].as_str().unwrap_or_default().to_owned();
    match json["log_index"].as_u64() {
        Some(log_index) => Told::Logged { code, log_index },
        None => panic!(
            "an error without log_index while the gateway ran: {}",
            r.text()
        ),
    }
}

/// SHA-256 of `bytes`, base64, as outcome records carry it.
fn sha256_b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// Everything the clients were told so far, across rounds.
#[derive(Default)]
struct History {
    receipts: Vec<Value>,
    logged: Vec<(String, u64)>,
    checkpoints: Vec<String>,
    /// Bodies stored by the upstream whose outcome is `interrupted`: the kill fell between the
    /// upstream storing the body and the outcome record being durable (no receipt was given).
    stored_but_interrupted: BTreeSet<String>,
    /// Receipts whose signature and proof were checked already.
    verified: usize,
}

fn check_round(folder: &Folder, history: &mut History, round: u64) {
    let dir = folder.path();
    let verify = loopgate_tests::Loopgate::new()
        .args(["audit", "verify", "--data-dir"])
        .args([dir.join("data").as_os_str()])
        .run();
    assert_eq!(verify.code, 0, "round {round}: audit verify: {verify:?}");

    let ledger = Ledger::open(dir);
    // Acknowledged means durable: every receipt is in the log, byte for byte, and verifies.
    let mut receipted = BTreeSet::new();
    for (n, receipt) in history.receipts.iter().enumerate() {
        let index = receipt["log_index"].as_u64().unwrap();
        assert_eq!(
            ledger.leaf_text(index),
            receipt["leaf"].as_str(),
            "round {round}: the receipt of record {index} is not what the log holds"
        );
        if n >= history.verified {
            // Signatures once, when new; the leaf bytes above every round.
            let parsed: loopgate_audit::Receipt = serde_json::from_value(receipt.clone()).unwrap();
            loopgate_audit::verify_receipt(&parsed, &ledger.key).unwrap();
        }
        receipted.insert(receipt["transfer_id"].as_str().unwrap().to_owned());
    }
    for (code, index) in &history.logged {
        let record = ledger
            .records
            .get(*index as usize)
            .unwrap_or_else(|| panic!("round {round}: log_index {index} ({code}) is lost"));
        assert_eq!(
            record["reason"].as_str(),
            Some(code.as_str()),
            "round {round}: record {index}"
        );
    }

    history.verified = history.receipts.len();
    let admissions = ledger.assert_every_admission_has_one_outcome();
    let endings: BTreeMap<&str, &str> = admissions
        .iter()
        .map(|(id, a)| (id.as_str(), a.ending().unwrap()))
        .collect();

    // What the upstream stored.
    let received = dir.join("received");
    let mut stored = BTreeSet::new();
    for entry in std::fs::read_dir(&received).into_iter().flatten() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(id) = name
            .strip_suffix(".part")
            .or_else(|| name.strip_suffix(".aborted"))
        {
            // Started, never completed: never a completed transfer.
            let ending = endings.get(id).copied();
            assert!(
                matches!(ending, Some("failed" | "interrupted")),
                "round {round}: a partial body for transfer {id} ending {ending:?}"
            );
            continue;
        }
        let ending = endings.get(name.as_str()).copied();
        match ending {
            Some("completed") => {
                let admission = &admissions[&name];
                let outcome = &admission.outcomes[0].1;
                let body = std::fs::read(received.join(&name)).unwrap();
                assert_eq!(
                    outcome["sha256"].as_str(),
                    Some(sha256_b64(&body).as_str()),
                    "round {round}: the stored body of {name} is not what the log says"
                );
                assert_eq!(outcome["size"].as_u64(), Some(body.len() as u64));
            }
            // The one window no gateway can close without the upstream's help: the upstream
            // stored the body and the gateway died before its outcome record was durable.
            // Recovery says `interrupted` (the gateway does not know), and no receipt was given.
            Some("interrupted") => {
                assert!(
                    !receipted.contains(&name),
                    "round {round}: {name} has a receipt but an interrupted outcome"
                );
                history.stored_but_interrupted.insert(name.clone());
            }
            other => panic!("round {round}: the upstream stored {name}, whose ending is {other:?}"),
        }
        stored.insert(name);
    }
    for (id, ending) in &endings {
        if *ending == "completed" {
            assert!(
                stored.contains(*id),
                "round {round}: completed transfer {id} has no stored body"
            );
        }
    }

    history.checkpoints.extend(
        history
            .receipts
            .iter()
            .map(|r| r["checkpoint"].as_str().unwrap().to_owned()),
    );
    history.checkpoints.sort();
    history.checkpoints.dedup();
    ledger.assert_extends(&history.checkpoints);
    history
        .checkpoints
        .push(ledger.checkpoint.text().to_owned());
}

#[test]
fn sigkill_under_load_loses_nothing_acknowledged() {
    let rounds: u64 = std::env::var("LOOPGATE_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(DEFAULT_ROUNDS);
    let (mut rng, seed) = Rng::from_env("LOOPGATE_CRASH_SEED");
    let large = Bytes::from(
        (0..LARGE_BYTES)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>(),
    );
    let began = Instant::now();
    let mut history = History::default();
    let mut folder: Option<Folder> = None;
    for round in 0..rounds {
        let gw = match folder.take() {
            None => Gateway::dev().start(),
            Some(f) => Gateway::resume(f).start(),
        };
        let sz = Client::tenant(&gw, "sz-genomics");
        let kill_after = Duration::from_millis(rng.range(KILL_AFTER_MS.0, KILL_AFTER_MS.1));
        let forks: Vec<Rng> = (0..CLIENTS).map(|_| rng.fork()).collect();
        let (told, killed) = std::thread::scope(|s| {
            let threads: Vec<_> = forks
                .into_iter()
                .map(|r| {
                    let (sz, large) = (&sz, &large);
                    s.spawn(move || drive(sz, r, large))
                })
                .collect();
            std::thread::sleep(kill_after);
            let killed = gw.kill();
            let told: Vec<Told> = threads
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect();
            (told, killed)
        });
        let sent = told.len();
        for t in told {
            match t {
                Told::Receipt(r) => history.receipts.push(r),
                Told::Logged { code, log_index } => history.logged.push((code, log_index)),
            }
        }
        // The restart recovers (torn tail cut, `interrupted` outcomes written); a clean stop
        // leaves the folder to check in process.
        let restarted = Gateway::resume(killed).start();
        let stopped = restarted.stop();
        check_round(&stopped, &mut history, round);
        eprintln!(
            "round {round}: killed after {kill_after:?}, {sent} answers, {} receipts so far",
            history.receipts.len()
        );
        folder = Some(stopped);
    }
    assert!(
        !history.receipts.is_empty() && !history.logged.is_empty(),
        "the load got no answers at all (seed {seed})"
    );
    eprintln!(
        "{rounds} rounds in {:?} (seed {seed}): {} receipts, {} logged errors, {} bodies stored with an interrupted outcome",
        began.elapsed(),
        history.receipts.len(),
        history.logged.len(),
        history.stored_but_interrupted.len()
    );
}
