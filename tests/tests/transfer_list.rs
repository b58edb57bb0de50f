//! What a tenant finds again (issue 23): a denial names its `transfer_id`, which its sender
//! looks up like any transfer while every other tenant gets the 404 of an unknown id; and
//! `GET /v1/transfers` lists the calling tenant's own transfers, newest first, paged by the
//! `next` cursor, never another tenant's whatever the parameters say.

#![allow(clippy::unwrap_used)]

use loopgate_tests::client::{Client, TransferCall};
use loopgate_tests::gateway::Gateway;
use loopgate_tests::receipt::assert_verifies;
use serde_json::Value;

/// The dev gateway with a second sender, `sz-biotech`, owning `INV-NP-002` (to `hk-biolab`),
/// and a tenant with no transfers, `hk-otherlab`.
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
                    ],
                )
        })
        .start();
    gw.issue_cert("tenant", "sz-biotech");
    gw.issue_cert("tenant", "hk-otherlab");
    gw
}

fn denied(call: TransferCall<'_>) -> TransferCall<'_> {
    call.set("Loop-Purpose", "marketing")
}

/// The transfer id of a 201 receipt or of a logged denial.
fn id_of(r: &loopgate_tests::client::Response) -> String {
    r.json()["transfer_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no transfer_id: {} {}", r.status, r.text()))
        .to_owned()
}

#[test]
fn a_denial_names_its_transfer_and_only_its_sender_finds_it() {
    let gw = start();
    let sz = Client::tenant(&gw, "sz-genomics");
    let r = denied(sz.post_transfer().non_personal()).body("x").send();
    let index = r
        .assert_error(403, "inventory.purpose_not_allowed", true)
        .unwrap();
    let id = id_of(&r);

    // The sender looks it up like any transfer: denied, the reason, its decision record and a
    // receipt of that record.
    let view = sz.get_transfer(&id);
    assert_eq!(view.status, 200, "{}", view.text());
    let view = view.json();
    assert_eq!(view["status"], "denied");
    assert_eq!(view["transfer_id"], id.as_str());
    let records = view["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{view}");
    assert_eq!(records[0]["log_index"], index);
    assert_eq!(records[0]["record"]["decision"], "deny");
    assert_eq!(
        records[0]["record"]["reason"],
        "inventory.purpose_not_allowed"
    );
    assert_eq!(view["receipt"]["log_index"], index);
    assert_verifies(&view["receipt"], &gw.log_pub_path());

    // A denial for malformed headers names its transfer too.
    let r = sz
        .post_transfer()
        .non_personal()
        .without("Loop-Purpose")
        .send();
    r.assert_error(400, "request.missing_header", true);
    assert_eq!(sz.get_transfer(&id_of(&r)).json()["status"], "denied");

    // Any other tenant, a sender or not, gets exactly what an unknown id gets: the id tells
    // it nothing.
    let unknown = "0123456789abcdef0123456789abcdef";
    for tenant in ["sz-biotech", "hk-otherlab"] {
        let client = Client::tenant(&gw, tenant);
        let theirs = client.get_transfer(&id);
        theirs.assert_error(404, "request.not_found", false);
        let nothing = client.get_transfer(unknown);
        nothing.assert_error(404, "request.not_found", false);
        assert_eq!(
            theirs.text().replace(&id, unknown),
            nothing.text(),
            "{tenant}"
        );
    }
    // Lifecycle reports of a stranger: the same 404.
    let allowed = sz.post_transfer().non_personal().body("y").send();
    assert_eq!(allowed.status, 201, "{}", allowed.text());
    Client::tenant(&gw, "hk-otherlab")
        .post_event(
            &id_of(&allowed),
            r#"{"event":"stored","at":"2026-01-01T00:00:00Z"}"#,
        )
        .assert_error(404, "request.not_found", false);
}

/// Every page of `path` by `client`, following `next`: the entries in order, and the pages'
/// sizes.
fn all_pages(client: &Client, path: &str) -> (Vec<Value>, Vec<usize>) {
    let mut entries = Vec::new();
    let mut sizes = Vec::new();
    let mut url = path.to_owned();
    loop {
        let r = client.get(&url);
        assert_eq!(r.status, 200, "{url}: {}", r.text());
        let page = r.json();
        let listed = page["transfers"].as_array().unwrap().clone();
        sizes.push(listed.len());
        match page["next"].as_u64() {
            Some(next) => {
                assert_eq!(listed.last().unwrap()["log_index"], next, "{page}");
                url = format!("{path}&after={next}");
            }
            None => {
                assert_eq!(page["next"], Value::Null);
                entries.extend(listed);
                return (entries, sizes);
            }
        }
        entries.extend(listed);
        assert!(sizes.len() < 20, "the pages never end");
    }
}

fn ids(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["transfer_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_list_pages_newest_first_through_the_callers_own_transfers_only() {
    let gw = start();
    let sz = Client::tenant(&gw, "sz-genomics");
    let bio = Client::tenant(&gw, "sz-biotech");
    // Five transfers of sz-genomics (three delivered, two denied), interleaved with two of
    // sz-biotech (one delivered, one denied).
    let mut mine = Vec::new();
    let mut theirs = Vec::new();
    for n in 0..5 {
        let call = sz.post_transfer().non_personal();
        let call = if n % 2 == 1 { denied(call) } else { call };
        mine.push(id_of(&call.body(format!("run {n}")).send()));
        if n < 2 {
            let call = bio
                .post_transfer()
                .non_personal()
                .set("Loop-Inventory-Item", "INV-NP-002");
            let call = if n == 1 { denied(call) } else { call };
            theirs.push(id_of(&call.body(format!("bio {n}")).send()));
        }
    }
    let newest_first = |ids: &[String]| ids.iter().rev().cloned().collect::<Vec<_>>();

    // Two at a time: 2, 2, 1, newest first, the cursor following on.
    let (entries, sizes) = all_pages(&sz, "/v1/transfers?role=sender&limit=2");
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(ids(&entries), newest_first(&mine));
    let indexes: Vec<u64> = entries
        .iter()
        .map(|e| e["log_index"].as_u64().unwrap())
        .collect();
    assert!(indexes.windows(2).all(|w| w[0] > w[1]), "{indexes:?}");
    // What an entry holds.
    let oldest = entries.last().unwrap();
    assert_eq!(oldest["role"], "sender");
    assert_eq!(oldest["sender"], "sz-genomics");
    assert_eq!(oldest["recipient"], "hk-biolab");
    assert_eq!(oldest["item"], "INV-NP-001");
    assert_eq!(oldest["purpose"], "research.instrument_qc");
    assert_eq!(oldest["decision"], "allow");
    assert_eq!(oldest["status"], "completed");
    assert_eq!(oldest["reason"], Value::Null);
    assert_eq!(oldest["size"], 5);
    let digest = ring::digest::digest(&ring::digest::SHA256, b"run 0");
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(oldest["sha256_hex"], hex.as_str());
    assert!(oldest["outcome_log_index"].as_u64() > oldest["log_index"].as_u64());
    assert!(oldest["time"].as_str().unwrap().ends_with('Z'), "{oldest}");
    let second = &entries[3];
    assert_eq!(second["decision"], "deny");
    assert_eq!(second["status"], "denied");
    assert_eq!(second["reason"], "inventory.purpose_not_allowed");
    assert_eq!(second["sha256_hex"], Value::Null);
    // The same, in one page, and without `role` (sz-genomics is never a recipient).
    let (one, sizes) = all_pages(&sz, "/v1/transfers?limit=1000");
    assert_eq!(sizes, [5]);
    assert_eq!(ids(&one), newest_first(&mine));
    let r = sz.get("/v1/transfers");
    assert_eq!(
        ids(r.json()["transfers"].as_array().unwrap()),
        newest_first(&mine)
    );

    // The other sender sees its own two only.
    let (entries, _) = all_pages(&bio, "/v1/transfers?role=sender&limit=1");
    assert_eq!(ids(&entries), newest_first(&theirs));
    // The recipient sees what both sent it, as the recipient; as a sender, nothing.
    let hk = Client::tenant(&gw, "hk-biolab");
    let (entries, sizes) = all_pages(&hk, "/v1/transfers?role=recipient&limit=3");
    assert_eq!(sizes, [3, 3, 1]);
    let mut both: Vec<String> = ids(&entries);
    both.sort();
    let mut sent: Vec<String> = mine.iter().chain(&theirs).cloned().collect();
    sent.sort();
    assert_eq!(both, sent);
    assert!(
        entries.iter().all(|e| e["role"] == "recipient"),
        "{entries:?}"
    );
    let (entries, _) = all_pages(&hk, "/v1/transfers?role=sender");
    assert!(entries.is_empty(), "{entries:?}");
    // A tenant with no transfers has an empty list.
    let other = Client::tenant(&gw, "hk-otherlab");
    let (entries, sizes) = all_pages(&other, "/v1/transfers?limit=2");
    assert_eq!((entries.len(), sizes), (0, vec![0]));

    // No parameter widens the list: a tenant filter is an unknown parameter, and bad values
    // are 400 request.malformed_query, none of them logged.
    for query in [
        "tenant=sz-genomics",
        "sender=sz-genomics",
        "recipient=hk-biolab",
        "role=admin",
        "role=sender&role=recipient",
        "limit=0",
        "limit=ten",
        "after=-1",
    ] {
        other.get(&format!("/v1/transfers?{query}")).assert_error(
            400,
            "request.malformed_query",
            false,
        );
    }
    // Other roles are refused.
    Client::regulator(&gw, "pcpd")
        .get("/v1/transfers")
        .assert_error(403, "auth.forbidden", false);
}
