//! `loopgate audit fill` (hidden, for benchmarks): appends synthetic but realistic records to a
//! gateway's log, through the real `loopgate_audit::Log` as the gateway writes them: transfer
//! decisions (most allowed, each then with a `completed` outcome; the rest denied for a rule's
//! reason), and shipment declarations, from `--senders` tenants, spread evenly over the last
//! `--days` days with times that never decrease along the log. The gateway must be stopped (the
//! log's folder is locked while it runs); at its next start it reads the new records into its
//! views. What `bench/console.sh` times `GET /v1/audit/stats` on. Not for production logs.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Instant;

use loopgate_audit::{Kind, Log, LogConfig, Outcome, Record, SigningKey, Verdict};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::exit::Exit;
use loopgate::{Clock, Config};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The gateway's config file (its log is appended to; the gateway must be stopped).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Records to append.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Days the records' times are spread over, ending now.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Sending tenants (`bench-tenant-01`, ...).
    #[arg(long, default_value_t = 20)]
    senders: u32,
}

pub(crate) fn run(args: Args) -> Exit {
    match fill(&args) {
        Ok(()) => Exit::Success,
        Err(e) => {
            eprintln!("loopgate audit fill: {e:#}");
            Exit::Failure
        }
    }
}

/// Real reason codes of denied transfers, and of denied shipment declarations.
const TRANSFER_DENIALS: [&str; 5] = [
    "inventory.purpose_not_allowed",
    "recipient.not_whitelisted",
    "contract.filing_overdue",
    "request.body_too_large",
    "tenant.suspended",
];
const SHIPMENT_DENIALS: [&str; 2] = ["sample.quantity_exceeded", "carrier.not_whitelisted"];
const CLASSES: [&str; 3] = ["non_personal", "personal", "important"];
/// Records appended and not yet acknowledged, at most (the log queues up to 65,536).
const IN_FLIGHT: usize = 8192;

/// A small deterministic generator (xorshift), so two fills of the same size are the same.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The records of the `i`th event at `at`: one, or a decision and its outcome.
fn event(rng: &mut Rng, i: u64, at: OffsetDateTime, senders: u32) -> Vec<Record> {
    let sender = format!("bench-tenant-{:02}", rng.below(u64::from(senders)) + 1);
    let id = format!("bench-{i:012x}");
    let roll = rng.below(100);
    if roll < 8 {
        let denied = roll < 2;
        let mut r = match Record::new(Kind::Shipment, at) {
            Ok(r) => r,
            Err(_) => return Vec::new(),
        };
        r.shipment_id = Some(id);
        r.sender = Some(sender);
        r.recipient = Some("hk-biolab".to_owned());
        r.sample_item = Some("SMP-BLOOD-001".to_owned());
        r.decision = Some(if denied {
            Verdict::Deny
        } else {
            Verdict::Allow
        });
        let reason = denied.then(|| SHIPMENT_DENIALS[usize::from(roll == 1)].to_owned());
        r.reason = Some(reason);
        for (k, v) in [
            ("carrier", json!("hkp-logistics")),
            ("quantity", json!(24)),
            ("purpose", json!("research.cohort_study")),
            ("policy_version", json!(1)),
            ("rule", json!(denied.then_some("S5"))),
            ("hgr", json!(true)),
            (
                "evaluated_on",
                json!(loopgate_policy::park_date(at).to_string()),
            ),
        ] {
            r.details.insert(k.to_owned(), v);
        }
        return vec![r];
    }
    let class = CLASSES[usize::try_from(rng.below(3)).unwrap_or(0)];
    let denied = roll >= 85;
    let reason = denied.then(|| {
        TRANSFER_DENIALS[usize::try_from(rng.below(TRANSFER_DENIALS.len() as u64)).unwrap_or(0)]
    });
    let verdict = if denied {
        Verdict::Deny
    } else {
        Verdict::Allow
    };
    let Ok(mut decision) = Record::decision(
        at,
        &id,
        Some(&sender),
        Some("hk-biolab"),
        Some("INV-BENCH-001"),
        verdict,
        reason,
    ) else {
        return Vec::new();
    };
    let subjects = (class == "personal").then(|| rng.below(500) + 1);
    for (k, v) in [
        ("purpose", json!("research.cohort_study")),
        ("policy_version", json!(1)),
        ("data_class", json!(class)),
        ("hgr", json!(false)),
        ("data_subjects", json!(subjects)),
        ("route", json!("gba_sc")),
        ("retention_days", json!(30)),
        (
            "evaluated_on",
            json!(loopgate_policy::park_date(at).to_string()),
        ),
    ] {
        decision.details.insert(k.to_owned(), v);
    }
    if denied {
        return vec![decision];
    }
    let Ok(mut outcome) = Record::outcome(at, &id, Outcome::Completed) else {
        return vec![decision];
    };
    outcome.sender = Some(sender);
    outcome.recipient = Some("hk-biolab".to_owned());
    outcome.item = Some("INV-BENCH-001".to_owned());
    for (k, v) in [
        ("size", json!(rng.below(1 << 20) + 1024)),
        (
            "sha256",
            json!("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
        ),
        ("upstream_status", json!(201)),
        ("data_class", json!(class)),
        ("hgr", json!(false)),
    ] {
        outcome.details.insert(k.to_owned(), v);
    }
    vec![decision, outcome]
}

fn fill(a: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load(&a.config)?;
    let key = SigningKey::load(&config.log_key)?;
    let mut log_config = LogConfig::new(config.log_dir.clone(), config.origin.clone(), key);
    log_config.cache_bytes = config.log_cache_bytes;
    let log = Log::open(log_config)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    let before = log.size();
    // The gateway's clock, shifted as `[clock] offset_days` shifts it.
    let now = if config.clock_offset_days == 0 {
        Clock::system().now()
    } else {
        Clock::shifted(Duration::days(config.clock_offset_days)).now()
    };
    rt.block_on(append_all(&log, a, now))?;
    let appended = log.size() - before;
    rt.block_on(log.shutdown())?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "appended {appended} records in {seconds:.1} s ({:.0}/s); the log holds {}",
        appended as f64 / seconds.max(1e-9),
        before + appended
    );
    Ok(())
}

async fn append_all(log: &Log, a: &Args, now: OffsetDateTime) -> Result<(), loopgate_audit::Error> {
    let span = Duration::days(i64::from(a.days.max(1)));
    let start = now - span;
    // About 1.85 records per event (decisions and their outcomes, shipments).
    let events = (a.records as f64 / 1.85).ceil().max(1.0) as u64;
    let step = span / (events as f64);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut waiting = VecDeque::with_capacity(IN_FLIGHT);
    let mut appended = 0;
    let mut i = 0;
    while appended < a.records {
        let at = start + step * (i as f64);
        for record in event(&mut rng, i, at.min(now), a.senders) {
            if appended >= a.records {
                break;
            }
            let (_, acked) = log.append_record(&record)?;
            waiting.push_back(acked);
            appended += 1;
            if waiting.len() >= IN_FLIGHT {
                if let Some(oldest) = waiting.pop_front() {
                    oldest.await?;
                }
            }
        }
        i += 1;
    }
    for acked in waiting {
        acked.await?;
    }
    Ok(())
}
