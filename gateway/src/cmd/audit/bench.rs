//! `loopgate audit bench`: durable appends/s through the real log (group commit), latency at
//! full load and at half that rate, the same disk's unbatched fdatasync rate, inclusion proofs
//! served per second, and the time `audit verify` takes on the result. A benchmark, not a test.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use loopgate_audit::{Log, LogConfig, SigningKey, verify_dir};

use crate::exit::Exit;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A directory for the benchmark's log (`DIR/log`, which must not exist yet).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Records to append at full load.
    #[arg(long, default_value_t = 200_000)]
    records: u64,
    /// Concurrent appenders.
    #[arg(long, default_value_t = 256)]
    concurrency: u64,
    /// Size of each synthetic record in bytes.
    #[arg(long, default_value_t = 300)]
    record_bytes: usize,
    /// Seconds of the paced run at half the measured rate.
    #[arg(long, default_value_t = 3)]
    paced_seconds: u64,
}

pub(crate) fn run(args: Args) -> Exit {
    match bench(&args) {
        Ok(()) => Exit::Success,
        Err(e) => {
            eprintln!("loopgate audit bench: {e:#}");
            Exit::Usage
        }
    }
}

/// A synthetic decision record of about `bytes` bytes (metadata only, like real records).
fn record(i: u64, bytes: usize) -> Vec<u8> {
    let head = format!(
        r#"{{"v":1,"kind":"decision","time":"2026-01-01T00:00:00Z","transfer_id":"bench-{i}","sender":"tenant-{}","recipient":"hk-biolab","item":"INV-NP-001","decision":"allow","reason":null,"note":""#,
        i % 50
    );
    let fill = bytes.saturating_sub(head.len() + 2);
    format!("{head}{}\"}}", "x".repeat(fill)).into_bytes()
}

struct Run {
    records: u64,
    seconds: f64,
    latencies: Vec<Duration>,
}

impl Run {
    fn rate(&self) -> f64 {
        self.records as f64 / self.seconds
    }
    fn pct(&self, p: f64) -> f64 {
        let mut l = self.latencies.clone();
        l.sort_unstable();
        let i = ((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1));
        l.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    }
}

fn bench(a: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let dir = a.dir.join("log");
    if dir.exists() {
        return Err(format!("{} exists; give an empty --dir", dir.display()).into());
    }
    std::fs::create_dir_all(&a.dir)?;
    let key = SigningKey::generate("loopgate.bench/audit")?;
    let key_text = key.to_text();
    let mut config = LogConfig::new(&dir, "loopgate.bench/audit", key);
    config.max_record_bytes = config.max_record_bytes.max(a.record_bytes + 1024);
    let log = Log::open(config)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    let full = rt.block_on(full_load(
        &log,
        a.records,
        a.concurrency.max(1),
        a.record_bytes,
    ))?;
    let target = full.rate() / 2.0;
    let paced = rt.block_on(paced_load(
        &log,
        target,
        a.paced_seconds,
        a.concurrency.max(1),
        a.record_bytes,
        a.records,
    ))?;
    let fsync = fsync_rate(&a.dir, a.record_bytes)?;
    let proofs = proof_rate(&log)?;
    let size = log.size();
    rt.block_on(log.shutdown())?;
    drop(log);
    drop(rt);
    let t = Instant::now();
    let report = verify_dir(&dir, None)?;
    let verify_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let reopened = Log::open(LogConfig::new(
        &dir,
        "loopgate.bench/audit",
        SigningKey::parse(&key_text)?,
    ))?;
    let open_s = t.elapsed().as_secs_f64();
    drop(reopened);
    print_table(
        &Measured {
            full,
            paced,
            fsync,
            proofs,
            size,
            verified: report.size,
            verify_s,
            open_s,
        },
        a,
    );
    Ok(())
}

/// What one benchmark run measured.
struct Measured {
    full: Run,
    paced: Run,
    fsync: f64,
    proofs: f64,
    size: u64,
    verified: u64,
    verify_s: f64,
    open_s: f64,
}

/// The results as a Markdown table.
fn print_table(m: &Measured, a: &Args) {
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| records appended (full load) | {} x {} B, {} concurrent appenders |",
        m.full.records, a.record_bytes, a.concurrency
    );
    println!(
        "| durable appends/s (group commit) | {:.0} |",
        m.full.rate()
    );
    println!(
        "| ack latency p50 / p99 at full load | {:.2} ms / {:.2} ms |",
        m.full.pct(0.50),
        m.full.pct(0.99)
    );
    println!(
        "| ack latency p50 / p99 at half rate ({:.0}/s achieved) | {:.2} ms / {:.2} ms |",
        m.paced.rate(),
        m.paced.pct(0.50),
        m.paced.pct(0.99)
    );
    println!(
        "| unbatched write+fdatasync/s, same disk | {:.0} |",
        m.fsync
    );
    println!(
        "| ratio durable appends / fdatasync | {:.1}x |",
        m.full.rate() / m.fsync
    );
    println!(
        "| inclusion proofs/s from a {}-record log (2 threads) | {:.0} |",
        m.size, m.proofs
    );
    println!(
        "| audit verify of {} records | {:.2} s |",
        m.verified, m.verify_s
    );
    println!(
        "| open (recovery scan) of {} records | {:.2} s |",
        m.verified, m.open_s
    );
}

async fn full_load(
    log: &Log,
    n: u64,
    conc: u64,
    bytes: usize,
) -> Result<Run, loopgate_audit::Error> {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (log, next) = (log.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, loopgate_audit::Error>(lat);
                }
                let t = Instant::now();
                log.append(record(i, bytes)).await?;
                lat.push(t.elapsed());
            }
        }));
    }
    let latencies = join(tasks, n).await?;
    Ok(Run {
        records: n,
        seconds: start.elapsed().as_secs_f64(),
        latencies,
    })
}

/// Appends at `rate` records/s for `secs` seconds; latency from each record's scheduled time.
async fn paced_load(
    log: &Log,
    rate: f64,
    secs: u64,
    conc: u64,
    bytes: usize,
    offset: u64,
) -> Result<Run, loopgate_audit::Error> {
    let n = (rate * secs as f64) as u64;
    let next = Arc::new(AtomicU64::new(0));
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (log, next) = (log.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= n {
                    return Ok::<_, loopgate_audit::Error>(lat);
                }
                let due = start + Duration::from_secs_f64(k as f64 / rate);
                tokio::time::sleep_until(due).await;
                log.append(record(offset + k, bytes)).await?;
                lat.push(due.elapsed());
            }
        }));
    }
    let latencies = join(tasks, n).await?;
    Ok(Run {
        records: n,
        seconds: start.elapsed().as_secs_f64(),
        latencies,
    })
}

/// One record-sized write and one fdatasync at a time, for two seconds.
fn fsync_rate(dir: &Path, bytes: usize) -> std::io::Result<f64> {
    let path = dir.join("fdatasync-probe");
    let f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)?;
    let buf = vec![b'x'; bytes.max(1)];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(2) {
        f.write_all_at(&buf, n * buf.len() as u64)?;
        f.sync_data()?;
        n += 1;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    drop(f);
    std::fs::remove_file(&path)?;
    Ok(rate)
}

/// Inclusion proofs of pseudo-random records to the full size, two threads, two seconds.
fn proof_rate(log: &Log) -> Result<f64, loopgate_audit::Error> {
    let size = log.size();
    if size == 0 {
        return Ok(0.0);
    }
    let start = Instant::now();
    let handles: Vec<_> = (0..2u64)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ t;
                let mut n = 0u64;
                while start.elapsed() < Duration::from_secs(2) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    log.inclusion_proof(x % size, size)?;
                    n += 1;
                }
                Ok::<_, loopgate_audit::Error>(n)
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        total += h
            .join()
            .map_err(|_| loopgate_audit::Error::Unavailable("proof thread panicked".into()))??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

type Appender = tokio::task::JoinHandle<Result<Vec<Duration>, loopgate_audit::Error>>;

/// Waits for every appender and gathers their acknowledgement latencies.
async fn join(tasks: Vec<Appender>, n: u64) -> Result<Vec<Duration>, loopgate_audit::Error> {
    let mut latencies = Vec::with_capacity(n as usize);
    for t in tasks {
        latencies.extend(
            t.await
                .map_err(|e| loopgate_audit::Error::Unavailable(e.to_string()))??,
        );
    }
    Ok(latencies)
}
