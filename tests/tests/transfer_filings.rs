//! Rule 14 end to end (RULES.md v2): the GBA Standard Contract is filed by each party with the
//! authority of its own place, each within `filing_working_days` working days of the contract
//! taking effect **on its own side's calendar**. A contract effective on 30 September 2026,
//! before the Mainland's National Day Golden Week (1-7 October off, Saturday 10 October worked)
//! and Hong Kong's one holiday (1 October; 19 October, the day after Chung Yeung, comes after
//! both deadlines): ten working days end on 20 October in Shenzhen and on 15 October in Hong
//! Kong. Both parties filing on 16 October: the Mainland processor is on time, the Hong Kong
//! recipient late, and the allowed transfer's decision says `filed_late:recipient`.

#![allow(clippy::unwrap_used)]

use loopgate_tests::client::Client;
use loopgate_tests::gateway::{Bundle, Gateway};
use serde_json::{Value, json};

const MAINLAND_DEFAULT: &str =
    "[calendar.mainland]\nweekend = [\"saturday\", \"sunday\"]\nholidays = []\nworkdays = []";
const HONG_KONG_DEFAULT: &str =
    "[calendar.hong_kong]\nweekend = [\"saturday\", \"sunday\"]\nholidays = []\nworkdays = []";

/// The 2026 calendars of both sides, and a GBA filing effective before Golden Week with each
/// party's `filed_on` as given (`None`: not filed).
fn autumn_2026(processor: Option<&str>, recipient: Option<&str>) -> impl FnOnce(Bundle) -> Bundle {
    let entry = |party: &str, authority: &str, number: &str, filed: Option<&str>| match filed {
        Some(day) => format!(
            "{{ party = \"{party}\", authority = \"{authority}\", filed_on = {day}, number = \"{number}\" }}"
        ),
        None => format!("{{ party = \"{party}\", authority = \"{authority}\" }}"),
    };
    let filings = [
        entry("processor", "guangdong_cac", "GD-SC-2026-0930", processor),
        entry("recipient", "dpo", "DPO-GBA-2026-0930", recipient),
    ]
    .join(",\n  ");
    move |bundle: Bundle| {
        bundle
            .replace(
                MAINLAND_DEFAULT,
                "[calendar.mainland]\nweekend = [\"saturday\", \"sunday\"]\n\
                 holidays = [2026-10-01, 2026-10-02, 2026-10-03, 2026-10-04, 2026-10-05, 2026-10-06, 2026-10-07]\n\
                 workdays = [2026-10-10]",
            )
            .replace(
                HONG_KONG_DEFAULT,
                "[calendar.hong_kong]\nweekend = [\"saturday\", \"sunday\"]\n\
                 holidays = [2026-10-01, 2026-10-19]\nworkdays = []",
            )
            .append(&format!(
                r#"
[[contract_filing]]
reference = "GBA-SC-2026-0930"
route = "gba_sc"
processor = "sz-genomics"
recipient = "hk-biolab"
effective_on = 2026-09-30
filings = [
  {filings},
]
pia_completed_on = 2026-09-20
pia_report_sha256 = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
categories = ["clinical_phenotype"]
purposes = ["research.cohort_study"]
methods = ["storage", "analysis"]
covers_sensitive = false
separate_consent = true
status = "effective"
"#
            ))
    }
}

/// A personal transfer under the autumn filing: the response.
fn send(gw: &Gateway) -> loopgate_tests::client::Response {
    Client::tenant(gw, "sz-genomics")
        .post_transfer()
        .personal(40)
        .set("Loop-Contract-Filing", "GBA-SC-2026-0930")
        .body("cohort rows")
        .send()
}

/// The decision record of transfer `id`, as its sender sees it.
fn decision(gw: &Gateway, id: &str) -> Value {
    Client::tenant(gw, "sz-genomics").decision_of(id)
}

#[test]
fn the_hong_kong_recipient_is_late_where_the_mainland_processor_filing_the_same_day_is_not() {
    let gw = Gateway::dev()
        .policy(autumn_2026(Some("2026-10-16"), Some("2026-10-16")))
        .start();
    let r = send(&gw);
    assert_eq!(
        r.status,
        201,
        "late filing is flagged, not denied: {}",
        r.text()
    );
    let id = r.json()["transfer_id"].as_str().unwrap().to_owned();
    let record = decision(&gw, &id);
    assert_eq!(record["decision"], "allow");
    assert_eq!(record["flags"], json!(["filed_late:recipient"]), "{record}");
    assert_eq!(record["filing"], "GBA-SC-2026-0930");
    assert_eq!(record["route"], "gba_sc");
    assert_eq!(record["legal_entity"], "sz-genomics");
    assert_eq!(
        record["filing_numbers"],
        json!([
            {"party": "processor", "number": "GD-SC-2026-0930"},
            {"party": "recipient", "number": "DPO-GBA-2026-0930"}
        ])
    );
    assert_eq!(
        record["pia_report_sha256"],
        "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
    );
}

#[test]
fn each_deadline_is_its_own_sides_last_working_day() {
    // Both on their last day (15 October in Hong Kong, 20 October in Shenzhen): no flag.
    let gw = Gateway::dev()
        .policy(autumn_2026(Some("2026-10-20"), Some("2026-10-15")))
        .start();
    let r = send(&gw);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["transfer_id"].as_str().unwrap().to_owned();
    assert_eq!(decision(&gw, &id)["flags"], json!([]));
    drop(gw);

    // A day later each: both late, in the route's order of parties.
    let gw = Gateway::dev()
        .policy(autumn_2026(Some("2026-10-21"), Some("2026-10-16")))
        .start();
    let r = send(&gw);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["transfer_id"].as_str().unwrap().to_owned();
    assert_eq!(
        decision(&gw, &id)["flags"],
        json!(["filed_late:processor", "filed_late:recipient"])
    );
}

#[test]
fn a_party_that_never_filed_is_overdue_and_named_in_the_denial() {
    let gw = Gateway::dev()
        .policy(autumn_2026(Some("2026-10-09"), None))
        .start();
    let index = send(&gw)
        .assert_error(403, "contract.filing_overdue", true)
        .unwrap();
    let record = Client::regulator(&gw, "pcpd")
        .get(&format!("/v1/audit/records/{index}"))
        .json();
    let record = &record["record"];
    assert_eq!(record["decision"], "deny");
    assert_eq!(record["rule"], 14);
    assert_eq!(record["overdue_party"], "recipient", "{record}");
    assert_eq!(
        record["filing_numbers"],
        json!([{"party": "processor", "number": "GD-SC-2026-0930"}])
    );
}
