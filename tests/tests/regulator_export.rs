//! The regulator's export of a large log (SPEC.md section 4, DESIGN.md invariant 9): streamed
//! with constant memory. The records are appended straight into the stopped gateway's log
//! (valid denied decisions; far quicker than transfers), then the export is read whole and
//! checked line by line; the gateway's resident memory, sampled while it streams, must grow by
//! far less than the export's size. 40,000 records (about 42 MiB of JSON Lines) in every run,
//! which a buffered export could not serve within the bound; 200,000 with `LOOPGATE_HEAVY=1`.

#![allow(clippy::unwrap_used)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use loopgate_audit::leaf_hash;
use loopgate_tests::client::Client;
use loopgate_tests::gateway::Gateway;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

fn export_of(records: u64, max_growth_kib: u64) {
    let folder = Gateway::dev().start().stop();
    let existing = folder.records();
    let before = existing.len() as u64;
    // Record times never decrease along a log the gateway writes: start after its last record,
    // one millisecond apart.
    let last = existing.last().unwrap()["time"]
        .as_str()
        .unwrap()
        .to_owned();
    let base = OffsetDateTime::parse(&last, &Rfc3339).unwrap() + Duration::seconds(1);
    let at = move |i: u64| base + Duration::milliseconds(i as i64);
    let size =
        loopgate_tests::log::append(&folder, records, |i| loopgate_tests::log::denial(i, at(i)));
    assert_eq!(size, before + records);
    let gw = Gateway::resume(folder).start();
    let regulator = Client::regulator(&gw, "pcpd");
    // Warm up every path the export takes, then watch the resident memory while it runs.
    assert_eq!(regulator.get("/v1/audit/export?from=0&to=10").status, 200);
    let baseline = gw.rss_kib();
    let done = std::sync::atomic::AtomicBool::new(false);
    let (r, peak) = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(gw.rss_kib());
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            peak
        });
        let r = regulator.get("/v1/audit/export");
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (r, sampler.join().unwrap())
    });
    assert_eq!(r.status, 200);
    assert!(r.headers.get("content-length").is_none(), "streamed");
    let text = r.text();
    let mut count = 0u64;
    for (i, line) in text.lines().enumerate() {
        let entry: Value = serde_json::from_str(line).unwrap();
        assert_eq!(entry["log_index"].as_u64(), Some(i as u64));
        let leaf = entry["leaf"].as_str().unwrap();
        assert_eq!(
            entry["leaf_hash"].as_str().unwrap(),
            STANDARD.encode(leaf_hash(leaf.as_bytes()))
        );
        if (before..before + records).contains(&(i as u64)) {
            let n = i as u64 - before;
            assert_eq!(leaf.as_bytes(), loopgate_tests::log::denial(n, at(n)));
        }
        count += 1;
    }
    assert!(count >= before + records, "{count}");
    let exported_kib = text.len() as u64 / 1024;
    let growth = peak.saturating_sub(baseline);
    eprintln!(
        "export of {count} records: {exported_kib} KiB sent; gateway RSS {baseline} KiB before, at most {peak} KiB during"
    );
    assert!(
        growth < max_growth_kib,
        "the gateway's RSS grew by {growth} KiB for a {exported_kib} KiB export"
    );

    // A time range over the synthetic records: exact, both ends inclusive.
    let (from, to) = (at(10), at(19));
    let fmt = |t: OffsetDateTime| t.format(&Rfc3339).unwrap();
    let r = regulator.get(&format!(
        "/v1/audit/export?from={}&to={}",
        fmt(from),
        fmt(to)
    ));
    let indexes: Vec<u64> = r
        .text()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["log_index"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(indexes, (before + 10..before + 20).collect::<Vec<u64>>());
}

/// The most the gateway's resident memory may grow while it streams an export, KiB: its
/// channel holds a few 64 KiB chunks, and sled's page cache warms up on the way. A buffered
/// export of the records below needs several times this.
const MAX_GROWTH_KIB: u64 = 8 * 1024;

#[test]
fn an_export_of_40k_records_is_complete_and_streamed_in_constant_memory() {
    // About 42 MiB of JSON Lines: five times the bound.
    export_of(40_000, MAX_GROWTH_KIB);
}

#[test]
fn an_export_of_200k_records_keeps_the_gateways_memory_flat() {
    if std::env::var_os("LOOPGATE_HEAVY").is_none() {
        eprintln!("skipped: set LOOPGATE_HEAVY=1 for the 200k-record export");
        return;
    }
    // About 210 MiB of JSON Lines; a buffered export would take at least that much.
    export_of(200_000, MAX_GROWTH_KIB);
}
