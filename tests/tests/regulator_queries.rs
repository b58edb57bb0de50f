//! The regulator API end to end (SPEC.md section 4, DESIGN.md invariant 8): record queries with
//! every filter alone and combined equal a brute-force filter over the log read directly, in log
//! order, across pages of 1, 2, 7 and 1000; every record's proof verifies to a signed
//! checkpoint (in process, and with the CLI and Go for a sample); consistency proofs between
//! checkpoints taken before and after more transfers verify; the export equals the records and
//! is streamed; bad parameters and other roles are refused.

#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use loopgate_audit::{Checkpoint, Hash, VerifierKey, leaf_hash};
use loopgate_tests::client::Client;
use loopgate_tests::consistency::go_checks_consistency;
use loopgate_tests::gateway::Gateway;
use loopgate_tests::receipt::assert_verifies;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The gateway with its history, every record of its log (read with the audit crate while it
/// was stopped, then the ones its restart added), and the checkpoint taken half-way.
struct World {
    gw: Gateway,
    records: Vec<Value>,
    early: String,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(build)
}

/// A second sender, a second recipient (with no upstream: its allowed transfers fail) and an
/// item of the second sender that both recipients may receive.
fn start() -> Gateway {
    let gw = Gateway::dev()
        .policy(|bundle| {
            bundle
                .copy_block("id = \"sz-genomics\"", &[("sz-genomics", "sz-biotech")])
                .copy_block("id = \"hk-biolab\"", &[("hk-biolab", "hk-otherlab")])
                .copy_block(
                    "id = \"INV-NP-001\"",
                    &[
                        ("INV-NP-001", "INV-NP-002"),
                        ("owner = \"sz-genomics\"", "owner = \"sz-biotech\""),
                        (
                            "recipients = [\"hk-biolab\"]",
                            "recipients = [\"hk-biolab\", \"hk-otherlab\"]",
                        ),
                    ],
                )
        })
        .start();
    gw.issue_cert("tenant", "sz-biotech");
    gw
}

/// One transfer of the mix: who sends, which item to whom, and how it ends.
#[derive(Clone, Copy)]
enum Kind {
    Np,
    Pi,
    BadPurpose,
    UnknownItem,
    MissingPurpose,
    OtherNp,
    OtherToOtherlab,
    OtherNotOwner,
    RecipientNotAllowed,
}

fn send(gw: &Gateway, kind: Kind, n: usize) -> u16 {
    let body = format!("body {n}").into_bytes();
    let who = match kind {
        Kind::OtherNp | Kind::OtherToOtherlab | Kind::OtherNotOwner => "sz-biotech",
        _ => "sz-genomics",
    };
    let client = Client::tenant(gw, who);
    let np = client.post_transfer().non_personal().body(body.clone());
    let r = match kind {
        Kind::Np => np.send(),
        Kind::Pi => client
            .post_transfer()
            .personal(10 + n as u64)
            .body(body)
            .send(),
        Kind::BadPurpose => np.set("Loop-Purpose", "marketing").send(),
        Kind::UnknownItem => np.set("Loop-Inventory-Item", "INV-NONE").send(),
        Kind::MissingPurpose => np.without("Loop-Purpose").send(),
        Kind::OtherNp => np.set("Loop-Inventory-Item", "INV-NP-002").send(),
        Kind::OtherToOtherlab => np
            .set("Loop-Inventory-Item", "INV-NP-002")
            .set("Loop-Recipient", "hk-otherlab")
            .send(),
        Kind::OtherNotOwner => np.send(),
        Kind::RecipientNotAllowed => np.set("Loop-Recipient", "hk-otherlab").send(),
    };
    r.status
}

const MIX: [Kind; 15] = [
    Kind::Np,
    Kind::BadPurpose,
    Kind::OtherNp,
    Kind::Pi,
    Kind::OtherNotOwner,
    Kind::UnknownItem,
    Kind::Np,
    Kind::OtherToOtherlab,
    Kind::MissingPurpose,
    Kind::Pi,
    Kind::RecipientNotAllowed,
    Kind::OtherNp,
    Kind::BadPurpose,
    Kind::Np,
    Kind::OtherNotOwner,
];

fn build() -> World {
    let gw = start();
    for (n, kind) in MIX.iter().enumerate() {
        let status = send(&gw, *kind, n);
        assert!([201, 400, 403, 502].contains(&status), "{status}");
    }
    let early = checkpoint(&gw);
    for (n, kind) in MIX.iter().rev().enumerate() {
        send(&gw, *kind, 100 + n);
    }
    // Lifecycle records are indexed under the transfer's parties too.
    let hk = Client::tenant(&gw, "hk-biolab");
    let ids: Vec<String> = (0..2)
        .map(|n| {
            let r = Client::tenant(&gw, "sz-genomics")
                .post_transfer()
                .non_personal()
                .body(format!("lifecycle {n}"))
                .send();
            r.json()["transfer_id"].as_str().unwrap().to_owned()
        })
        .collect();
    for id in &ids {
        assert_eq!(
            hk.post_event(id, &loopgate_tests::event::valid("stored"))
                .status,
            201
        );
    }
    let folder = gw.stop();
    let mut records = folder.records();
    let gw = Gateway::resume(folder).start();
    // The restart appended its own records (the policy loaded): read them through the API.
    let size = size_of(&checkpoint(&gw));
    let regulator = Client::regulator(&gw, "pcpd");
    for index in records.len() as u64..size {
        let r = regulator.get(&format!("/v1/audit/records/{index}"));
        records.push(r.json()["record"].clone());
    }
    assert!(records.len() > 50, "{}", records.len());
    World { gw, records, early }
}

fn checkpoint(gw: &Gateway) -> String {
    let r = Client::regulator(gw, "pcpd").get("/v1/audit/checkpoint");
    assert_eq!(r.status, 200);
    r.text()
}

fn size_of(checkpoint: &str) -> u64 {
    checkpoint.lines().nth(1).unwrap().parse().unwrap()
}

fn key(gw: &Gateway) -> VerifierKey {
    VerifierKey::parse(&gw.log_pub()).unwrap()
}

fn hash(b64: &Value) -> Hash {
    Hash::try_from(STANDARD.decode(b64.as_str().unwrap()).unwrap()).unwrap()
}

fn hashes(list: &Value) -> Vec<Hash> {
    list.as_array().unwrap().iter().map(hash).collect()
}

fn time_of(record: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(record["time"].as_str().unwrap(), &Rfc3339).unwrap()
}

/// The brute-force answer: indexes of the records matching every `(name, value)`.
fn expected(records: &[Value], filters: &[(&str, String)]) -> Vec<u64> {
    fn field(name: &str) -> &str {
        match name {
            "tenant" => "sender",
            "inventory_item" => "item",
            other => other,
        }
    }
    records
        .iter()
        .enumerate()
        .filter(|(_, record)| {
            filters.iter().all(|(name, value)| match *name {
                "from" => time_of(record) >= OffsetDateTime::parse(value, &Rfc3339).unwrap(),
                "to" => time_of(record) <= OffsetDateTime::parse(value, &Rfc3339).unwrap(),
                _ => record[field(name)].as_str() == Some(value.as_str()),
            })
        })
        .map(|(index, _)| index as u64)
        .collect()
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Pages through `/v1/audit/records` with `limit`: the indexes, after checking every entry.
fn paged(world: &World, filters: &[(&str, String)], limit: usize) -> Vec<u64> {
    let regulator = Client::regulator(&world.gw, "pcpd");
    let query: String = filters
        .iter()
        .map(|(name, value)| format!("{name}={}&", encode(value)))
        .collect();
    let mut after: Option<u64> = None;
    let mut found = Vec::new();
    loop {
        let cursor = after.map_or(String::new(), |a| format!("&after={a}"));
        let r = regulator.get(&format!("/v1/audit/records?{query}limit={limit}{cursor}"));
        assert_eq!(r.status, 200, "{}", r.text());
        let page = r.json();
        let entries = page["records"].as_array().unwrap();
        for entry in entries {
            let index = entry["log_index"].as_u64().unwrap();
            let leaf = entry["leaf"].as_str().unwrap();
            assert_eq!(
                entry["leaf_hash"].as_str().unwrap(),
                STANDARD.encode(leaf_hash(leaf.as_bytes()))
            );
            let parsed: Value = serde_json::from_str(leaf).unwrap();
            assert_eq!(entry["record"], parsed);
            assert_eq!(parsed, world.records[index as usize], "record {index}");
            found.push(index);
        }
        match page["next"].as_u64() {
            Some(next) => {
                assert_eq!(entries.len(), limit, "only the last page is short");
                assert_eq!(Some(next), found.last().copied(), "next is the cursor");
                after = Some(next);
            }
            None => {
                assert!(page["next"].is_null());
                assert!(entries.len() <= limit);
                break;
            }
        }
    }
    assert!(found.windows(2).all(|w| w[0] < w[1]), "log order");
    found
}

fn filter_sets(world: &World) -> Vec<Vec<(&'static str, String)>> {
    let t = |i: usize| world.records[i]["time"].as_str().unwrap().to_owned();
    let quarter = world.records.len() / 4;
    let s = |v: &str| v.to_owned();
    vec![
        vec![],
        vec![("tenant", s("sz-genomics"))],
        vec![("tenant", s("sz-biotech"))],
        vec![("tenant", s("nobody"))],
        vec![("recipient", s("hk-biolab"))],
        vec![("recipient", s("hk-otherlab"))],
        vec![("inventory_item", s("INV-NP-001"))],
        vec![("inventory_item", s("INV-NP-002"))],
        vec![("inventory_item", s("INV-PI-001"))],
        vec![("decision", s("allow"))],
        vec![("decision", s("deny"))],
        vec![("reason", s("inventory.purpose_not_allowed"))],
        vec![("reason", s("inventory.not_owner"))],
        vec![("reason", s("upstream.unavailable"))],
        vec![("reason", s("request.missing_header"))],
        vec![("from", t(quarter))],
        vec![("to", t(3 * quarter))],
        vec![("from", t(quarter)), ("to", t(3 * quarter))],
        vec![("tenant", s("sz-biotech")), ("decision", s("allow"))],
        vec![
            ("tenant", s("sz-genomics")),
            ("recipient", s("hk-otherlab")),
            ("decision", s("deny")),
        ],
        vec![
            ("inventory_item", s("INV-NP-002")),
            ("recipient", s("hk-otherlab")),
        ],
        vec![
            ("decision", s("deny")),
            ("reason", s("inventory.purpose_not_allowed")),
            ("from", t(quarter)),
        ],
        vec![
            ("tenant", s("sz-genomics")),
            ("inventory_item", s("INV-NP-001")),
            ("to", t(3 * quarter)),
        ],
        vec![
            ("tenant", s("sz-biotech")),
            ("inventory_item", s("INV-PI-001")),
        ],
    ]
}

#[test]
fn every_filter_alone_and_combined_returns_what_brute_force_finds_in_every_page_size() {
    let world = world();
    for filters in filter_sets(world) {
        let want = expected(&world.records, &filters);
        for limit in [2, 7, 1000] {
            assert_eq!(
                paged(world, &filters, limit),
                want,
                "{filters:?} limit {limit}"
            );
        }
    }
    // Pages of one for a few filters (many requests each).
    for filters in [
        vec![("tenant", "sz-biotech".to_owned())],
        vec![("reason", "inventory.purpose_not_allowed".to_owned())],
    ] {
        let want = expected(&world.records, &filters);
        assert!(want.len() > 3, "{filters:?}");
        assert_eq!(paged(world, &filters, 1), want, "{filters:?} limit 1");
    }
    // The mix has every kind the filters look for.
    for filters in filter_sets(world).iter().skip(1).filter(|f| f.len() == 1) {
        let empty = expected(&world.records, filters).is_empty();
        assert_eq!(empty, filters[0].1 == "nobody", "{filters:?}");
    }
}

#[test]
fn defaults_empty_values_and_clamping() {
    let world = world();
    let regulator = Client::regulator(&world.gw, "pcpd");
    let page = regulator.get("/v1/audit/records").json();
    let all: Vec<u64> = (0..world.records.len() as u64).collect();
    let first: Vec<u64> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["log_index"].as_u64().unwrap())
        .collect();
    assert_eq!(first, all[..all.len().min(100)]);
    // SPEC.md's template with some values left empty: empty means absent.
    let r = regulator.get("/v1/audit/records?tenant=&recipient=&inventory_item=&decision=deny&reason=&from=&to=&after=&limit=");
    assert_eq!(r.status, 200, "{}", r.text());
    let denied = expected(&world.records, &[("decision", "deny".into())]);
    assert_eq!(r.json()["records"].as_array().unwrap().len(), denied.len());
    // Above 1000 is clamped, not refused.
    let r = regulator.get("/v1/audit/records?limit=5000");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["records"].as_array().unwrap().len(),
        world.records.len()
    );
}

#[test]
fn bad_parameters_are_refused_with_request_malformed_query() {
    let world = world();
    let regulator = Client::regulator(&world.gw, "pcpd");
    for query in [
        "/v1/audit/records?limit=0",
        "/v1/audit/records?limit=ten",
        "/v1/audit/records?limit=-1",
        "/v1/audit/records?after=x",
        "/v1/audit/records?from=yesterday",
        "/v1/audit/records?to=2026-13-01T00:00:00Z",
        "/v1/audit/records?decision=maybe",
        "/v1/audit/records?sender=sz-genomics",
        "/v1/audit/records?tenant=a&tenant=b",
        "/v1/audit/records?tenant=%zz",
        "/v1/audit/records/0?x=1",
        "/v1/audit/proof/inclusion",
        "/v1/audit/proof/inclusion?log_index=1&tree_size=999999",
        "/v1/audit/proof/inclusion?log_index=5&tree_size=5",
        "/v1/audit/proof/consistency",
        "/v1/audit/proof/consistency?from=3&to=2",
        "/v1/audit/proof/consistency?from=1&to=999999",
        "/v1/audit/export?from=2&to=2026-11-25T00:00:00Z",
        "/v1/audit/export?to=999999",
        "/v1/audit/export?from=9&to=3",
        "/v1/audit/export?format=csv",
        "/v1/audit/retention/overdue?all=1",
        "/v1/audit/counters?tenant=sz-genomics",
    ] {
        let r = regulator.get(query);
        r.assert_error(400, "request.malformed_query", false);
        assert!(!r.json()["message"].as_str().unwrap().is_empty(), "{query}");
    }
    let r = regulator.get("/v1/audit/proof/inclusion?log_index=1&tree_size=999999");
    let size = size_of(&checkpoint(&world.gw));
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains(&size.to_string()),
        "the message says the current size: {}",
        r.text()
    );
    for path in [
        "/v1/audit/records/999999",
        "/v1/audit/records/abc",
        "/v1/audit/nothing",
    ] {
        regulator
            .get(path)
            .assert_error(404, "request.not_found", false);
    }
    let post = regulator.post("/v1/audit/records", "{}");
    post.assert_error(405, "request.method_not_allowed", false);
}

#[test]
fn other_roles_get_403_on_every_regulator_endpoint() {
    // Not the shared world: refusals are logged (README, "Quotas"), and the other tests
    // compare the world's log with what they read.
    let gw = &Gateway::dev().start();
    for client in [
        Client::tenant(gw, "sz-genomics"),
        Client::tenant(gw, "hk-biolab"),
        Client::principal(gw, "admin", "park-ops"),
    ] {
        for path in [
            "/v1/audit/records",
            "/v1/audit/records/0",
            "/v1/audit/proof/inclusion?log_index=0",
            "/v1/audit/proof/consistency?from=1",
            "/v1/audit/export",
            "/v1/audit/retention/overdue",
            "/v1/audit/counters",
            "/v1/audit/checkpoint",
        ] {
            client.get(path).assert_error(403, "auth.forbidden", false);
        }
    }
}

#[test]
fn every_record_proves_into_the_latest_checkpoint() {
    let world = world();
    let gw = &world.gw;
    let key = key(gw);
    let regulator = Client::regulator(gw, "pcpd");
    let latest = Checkpoint::open(&checkpoint(gw), &key).unwrap();
    for (index, record) in world.records.iter().enumerate() {
        let r = regulator.get(&format!("/v1/audit/records/{index}"));
        assert_eq!(r.status, 200, "{}", r.text());
        let body = r.json();
        assert_eq!(
            loopgate_tests::json_keys(&body),
            [
                "checkpoint",
                "inclusion_proof",
                "leaf",
                "leaf_hash",
                "log_index",
                "record"
            ]
        );
        assert_eq!(&body["record"], record);
        assert_eq!(body["checkpoint"].as_str(), Some(latest.text()));
        // In process: the receipt verifier of the audit crate (the record is the receipt).
        let mut receipt = body.clone();
        receipt["transfer_id"] = record
            .get("transfer_id")
            .cloned()
            .unwrap_or_else(|| json!(""));
        receipt["upstream_status"] = Value::Null;
        let parsed: loopgate_audit::Receipt = serde_json::from_value(receipt.clone()).unwrap();
        loopgate_audit::verify_receipt(&parsed, &key)
            .unwrap_or_else(|e| panic!("record {index}: {e}"));
        // The CLI and Go's sumdb/tlog for a sample.
        if index % 25 == 3 || index + 1 == world.records.len() {
            assert_verifies(&receipt, &gw.log_pub_path());
        }
    }
}

#[test]
fn inclusion_and_consistency_proofs_verify_against_signed_checkpoints() {
    let world = world();
    let gw = &world.gw;
    let key = key(gw);
    let regulator = Client::regulator(gw, "pcpd");
    let early = Checkpoint::open(&world.early, &key).unwrap();
    let late = Checkpoint::open(&checkpoint(gw), &key).unwrap();
    assert!(early.size() < late.size());

    for (size, root) in [(early.size(), *early.root()), (late.size(), *late.root())] {
        for index in [0, size / 2, size - 1] {
            let r = regulator.get(&format!(
                "/v1/audit/proof/inclusion?log_index={index}&tree_size={size}"
            ));
            assert_eq!(r.status, 200, "{}", r.text());
            let body = r.json();
            assert_eq!(
                (body["log_index"].as_u64(), body["tree_size"].as_u64()),
                (Some(index), Some(size))
            );
            // The exact leaf bytes (a re-serialised record could order its keys otherwise).
            let record = regulator.get(&format!("/v1/audit/records/{index}")).json();
            assert_eq!(record["record"], world.records[index as usize]);
            let leaf_hash = leaf_hash(record["leaf"].as_str().unwrap().as_bytes());
            loopgate_audit::verify_inclusion(
                index,
                size,
                &leaf_hash,
                &hashes(&body["hashes"]),
                &root,
            )
            .unwrap_or_else(|e| panic!("{index} in {size}: {e}"));
        }
    }
    // tree_size defaults to the latest checkpoint's size.
    let body = regulator
        .get("/v1/audit/proof/inclusion?log_index=4")
        .json();
    assert_eq!(body["tree_size"].as_u64(), Some(late.size()));

    let path = format!(
        "/v1/audit/proof/consistency?from={}&to={}",
        early.size(),
        late.size()
    );
    let body = regulator.get(&path).json();
    assert_eq!(
        (body["from"].as_u64(), body["to"].as_u64()),
        (Some(early.size()), Some(late.size()))
    );
    let proof = hashes(&body["hashes"]);
    assert!(!proof.is_empty());
    loopgate_audit::verify_consistency(
        early.size(),
        late.size(),
        early.root(),
        late.root(),
        &proof,
    )
    .unwrap();
    // The proof does not hold for other roots: swapped, or a tampered hash.
    assert!(
        loopgate_audit::verify_consistency(
            early.size(),
            late.size(),
            late.root(),
            early.root(),
            &proof
        )
        .is_err()
    );
    let mut tampered = proof.clone();
    tampered[0][0] ^= 1;
    assert!(
        loopgate_audit::verify_consistency(
            early.size(),
            late.size(),
            early.root(),
            late.root(),
            &tampered
        )
        .is_err()
    );
    // Go's sumdb/tlog agrees, and refuses the tampered proof.
    let new_text = checkpoint(gw);
    if let Some((ok, said)) =
        go_checks_consistency(&world.early, &new_text, &body, &gw.log_pub_path())
    {
        assert!(ok, "Go refused the consistency proof: {said}");
        let mut bad = body.clone();
        bad["hashes"][0] = json!(STANDARD.encode(tampered[0]));
        let (ok, _) =
            go_checks_consistency(&world.early, &new_text, &bad, &gw.log_pub_path()).unwrap();
        assert!(!ok, "Go accepted a tampered consistency proof");
    }
    // `to` defaults to the latest size; equal sizes give an empty proof.
    let body = regulator
        .get(&format!(
            "/v1/audit/proof/consistency?from={}",
            early.size()
        ))
        .json();
    assert_eq!(body["to"].as_u64(), Some(late.size()));
    assert_eq!(hashes(&body["hashes"]), proof);
    let same = format!("/v1/audit/proof/consistency?from={0}&to={0}", late.size());
    assert_eq!(regulator.get(&same).json()["hashes"], json!([]));
}

/// Export lines as JSON values, after checking each envelope's hash and record.
fn lines(r: &loopgate_tests::client::Response) -> Vec<Value> {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.headers.get("content-type").unwrap().to_str().unwrap(),
        "application/jsonl"
    );
    let text = r.text();
    assert!(text.is_empty() || text.ends_with('\n'));
    text.lines()
        .map(|line| {
            let entry: Value = serde_json::from_str(line).unwrap();
            let leaf = entry["leaf"].as_str().unwrap();
            assert_eq!(
                entry["leaf_hash"].as_str().unwrap(),
                STANDARD.encode(leaf_hash(leaf.as_bytes()))
            );
            assert_eq!(
                entry["record"],
                serde_json::from_str::<Value>(leaf).unwrap()
            );
            entry
        })
        .collect()
}

#[test]
fn the_export_is_every_record_as_json_lines_streamed() {
    let world = world();
    let regulator = Client::regulator(&world.gw, "pcpd");
    let r = regulator.get("/v1/audit/export");
    assert!(
        r.headers.get("content-length").is_none(),
        "streamed, not buffered: {:?}",
        r.headers
    );
    let all = lines(&r);
    let records: Vec<&Value> = all.iter().map(|e| &e["record"]).collect();
    let want: Vec<&Value> = world.records.iter().collect();
    assert_eq!(records, want);
    for (i, entry) in all.iter().enumerate() {
        assert_eq!(entry["log_index"].as_u64(), Some(i as u64));
    }

    // The same over HTTP/2.
    let h2 = lines(&regulator.clone().http2().get("/v1/audit/export"));
    assert_eq!(h2, all);

    let part = lines(&regulator.get("/v1/audit/export?from=5&to=17"));
    let indexes: Vec<u64> = part
        .iter()
        .map(|e| e["log_index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, (5..17).collect::<Vec<u64>>());
    let half = world.records.len() / 2;
    let tail = lines(&regulator.get(&format!("/v1/audit/export?from={half}")));
    assert_eq!(tail.len(), world.records.len() - half);
    assert!(lines(&regulator.get("/v1/audit/export?from=3&to=3")).is_empty());

    let quarter = world.records.len() / 4;
    let (from, to) = (
        world.records[quarter]["time"].as_str().unwrap(),
        world.records[3 * quarter]["time"].as_str().unwrap(),
    );
    let by_time = lines(&regulator.get(&format!(
        "/v1/audit/export?from={}&to={}",
        encode(from),
        encode(to)
    )));
    let indexes: Vec<u64> = by_time
        .iter()
        .map(|e| e["log_index"].as_u64().unwrap())
        .collect();
    let want = expected(
        &world.records,
        &[("from", from.to_owned()), ("to", to.to_owned())],
    );
    assert_eq!(indexes, want);
}

#[test]
fn counters_show_the_year_to_date_subjects_per_legal_entity_and_route() {
    let world = world();
    let regulator = Client::regulator(&world.gw, "pcpd");
    let body = regulator.get("/v1/audit/counters").json();
    assert!(body["as_of"].is_string());
    let subjects: u64 = world
        .records
        .iter()
        .filter(|r| r["kind"] == "decision" && r["decision"] == "allow")
        .filter_map(|r| r["data_subjects"].as_u64())
        .sum();
    assert!(subjects > 0);
    assert_eq!(
        body["counters"],
        json!([{
            "legal_entity": "sz-genomics",
            "tenants": ["sz-genomics"],
            "year_start": body["counters"][0]["year_start"],
            "route": "gba_sc",
            "subjects": subjects,
            "sensitive_subjects": 0,
        }])
    );
    let year_start = body["counters"][0]["year_start"].as_str().unwrap();
    assert!(year_start.ends_with("-01-01"), "{year_start}");
    // By legal entity, or by one of its tenants (`processor`, the first version's name).
    for query in ["legal_entity=sz-genomics", "processor=sz-genomics"] {
        let mine = regulator.get(&format!("/v1/audit/counters?{query}")).json();
        assert_eq!(mine["counters"], body["counters"], "{query}");
    }
    for query in ["legal_entity=sz-biotech", "processor=sz-biotech"] {
        let none = regulator.get(&format!("/v1/audit/counters?{query}")).json();
        assert_eq!(none["counters"], json!([]), "{query}");
    }
    // Every allowed personal decision names its filing's route.
    for record in &world.records {
        if record["kind"] == "decision" && record["decision"] == "allow" {
            let personal = record["data_class"] == "personal";
            let route = if personal {
                json!("gba_sc")
            } else {
                Value::Null
            };
            assert_eq!(record["route"], route, "{record}");
        }
    }
}
