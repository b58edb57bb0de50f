//! The load driver of `bench/mixed.sh`: keep-alive HTTP/1.1 connections over mTLS to one
//! transfer endpoint (loopgate, or the nginx baseline), each sending transfers back to back for
//! a fixed time, every request drawn from a fixed mix: allowed small bodies, denied requests (a
//! purpose the item does not allow) and allowed large bodies. oha sends one kind of request per
//! run, so it cannot mix.
//!
//! ```text
//! mixed_load --port 8443 --pki loopgate-dev/pki --duration 600 --connections 32 \
//!     --mix 70,20,10 --small-bytes 1024 --large-bytes 4194304 --out run
//! ```
//!
//! Writes `<out>.seconds.csv` (per second: answers, expected answers, p50/p99/max latency in
//! µs) and prints one JSON summary: counts per kind and status, throughput, and latency
//! percentiles (p50, p99, p999) overall and per kind.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use loopgate_tests::client::{Client, Connection};
use loopgate_tests::rng::Rng;
use serde_json::json;

/// The request kinds, in `--mix` order, and the status each should get.
const KINDS: [(&str, u16); 3] = [("small", 201), ("denied", 403), ("large", 201)];

struct Args {
    addr: SocketAddr,
    pki: PathBuf,
    duration: Duration,
    connections: usize,
    mix: [u64; 3],
    small_bytes: usize,
    large_bytes: usize,
    out: PathBuf,
    seed: u64,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 8443)),
        pki: PathBuf::from("loopgate-dev/pki"),
        duration: Duration::from_secs(600),
        connections: 32,
        mix: [70, 20, 10],
        small_bytes: 1024,
        large_bytes: 4 << 20,
        out: PathBuf::from("mixed"),
        seed: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => args.addr.set_port(value()?.parse().context("--port")?),
            "--pki" => args.pki = value()?.into(),
            "--duration" => {
                args.duration = Duration::from_secs(value()?.parse().context("--duration")?);
            }
            "--connections" => args.connections = value()?.parse().context("--connections")?,
            "--mix" => {
                let parts: Vec<u64> = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .context("--mix is three whole numbers: small,denied,large")?;
                let [a, b, c] = parts[..] else {
                    bail!("--mix is three whole numbers: small,denied,large");
                };
                if a + b + c == 0 {
                    bail!("--mix must not be all zero");
                }
                args.mix = [a, b, c];
            }
            "--small-bytes" => args.small_bytes = value()?.parse().context("--small-bytes")?,
            "--large-bytes" => args.large_bytes = value()?.parse().context("--large-bytes")?,
            "--out" => args.out = value()?.into(),
            "--seed" => args.seed = value()?.parse().context("--seed")?,
            other => bail!("unknown argument {other}; see the top of tests/src/bin/mixed_load.rs"),
        }
    }
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    Ok(args)
}

/// One answer (or failure): when it ended, its kind, status (0: no answer) and latency.
#[derive(Clone, Copy)]
struct Sample {
    at_ms: u32,
    kind: u8,
    status: u16,
    micros: u32,
}

fn pick(rng: &mut Rng, mix: &[u64; 3]) -> usize {
    let total: u64 = mix.iter().sum();
    let mut roll = rng.range(0, total);
    for (kind, weight) in mix.iter().enumerate() {
        if roll < *weight {
            return kind;
        }
        roll -= weight;
    }
    0
}

fn drive(
    client: &Client,
    args: &Args,
    bodies: &[Bytes; 2],
    mut rng: Rng,
    start: Instant,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut connection: Option<Connection> = None;
    let deadline = start + args.duration;
    while Instant::now() < deadline {
        let kind = pick(&mut rng, &args.mix);
        let call = client.post_transfer().non_personal();
        let call = match kind {
            0 => call.body(bodies[0].clone()),
            1 => call
                .set("Loop-Purpose", "marketing.campaign")
                .body(bodies[0].clone()),
            _ => call.body(bodies[1].clone()),
        };
        let began = Instant::now();
        let answer = match connection.as_mut() {
            Some(c) => c.try_request(call.build()),
            None => match client.try_open() {
                Ok(mut c) => {
                    let answer = c.try_request(call.build());
                    connection = Some(c);
                    answer
                }
                Err(e) => Err(e),
            },
        };
        let status = match answer {
            Ok(r) => r.status,
            Err(_) => {
                connection = None; // reconnect for the next request
                0
            }
        };
        samples.push(Sample {
            at_ms: u32::try_from(start.elapsed().as_millis()).unwrap_or(u32::MAX),
            kind: kind as u8,
            status,
            micros: u32::try_from(began.elapsed().as_micros()).unwrap_or(u32::MAX),
        });
    }
    samples
}

/// The `q` quantile (0..=1) of sorted values, nearest rank.
fn quantile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn percentiles(mut micros: Vec<u32>) -> serde_json::Value {
    micros.sort_unstable();
    let ms = |q| f64::from(quantile(&micros, q)) / 1000.0;
    json!({"count": micros.len(), "p50_ms": ms(0.5), "p99_ms": ms(0.99), "p999_ms": ms(0.999)})
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let client = Client::from_files(
        args.addr,
        &args.pki.join("ca.pem"),
        &args.pki.join("tenant-sz-genomics.pem"),
        &args.pki.join("tenant-sz-genomics.key"),
    )
    .map_err(anyhow::Error::msg)?;
    // Fails early and clearly when nothing listens or the certificates do not fit.
    client
        .try_open()
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.addr))?;
    let bodies = [
        Bytes::from(vec![b's'; args.small_bytes]),
        Bytes::from(
            (0..args.large_bytes)
                .map(|i| (i % 251) as u8)
                .collect::<Vec<u8>>(),
        ),
    ];
    let mut rng = Rng::new(args.seed);
    let forks: Vec<Rng> = (0..args.connections).map(|_| rng.fork()).collect();
    let start = Instant::now();
    let samples: Vec<Sample> = std::thread::scope(|s| {
        let threads: Vec<_> = forks
            .into_iter()
            .map(|r| {
                let (client, args, bodies) = (&client, &args, &bodies);
                s.spawn(move || drive(client, args, bodies, r, start))
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().expect("a driver thread"))
            .collect()
    });
    let elapsed = start.elapsed().as_secs_f64();

    // Per second: answers, expected answers, latency p50/p99/max.
    let mut seconds: BTreeMap<u32, Vec<(bool, u32)>> = BTreeMap::new();
    for s in &samples {
        let expected = s.status == KINDS[usize::from(s.kind)].1;
        seconds
            .entry(s.at_ms / 1000)
            .or_default()
            .push((expected, s.micros));
    }
    let mut csv = String::from("second,answers,expected,p50_us,p99_us,max_us\n");
    for (second, entries) in &seconds {
        let mut micros: Vec<u32> = entries.iter().map(|(_, m)| *m).collect();
        micros.sort_unstable();
        let expected = entries.iter().filter(|(ok, _)| *ok).count();
        csv.push_str(&format!(
            "{second},{},{expected},{},{},{}\n",
            entries.len(),
            quantile(&micros, 0.5),
            quantile(&micros, 0.99),
            micros.last().copied().unwrap_or(0)
        ));
    }
    let csv_path = PathBuf::from(format!("{}.seconds.csv", args.out.display()));
    std::fs::write(&csv_path, csv).with_context(|| csv_path.display().to_string())?;

    let mut kinds = serde_json::Map::new();
    let mut bytes = 0u64;
    for (k, (name, want)) in KINDS.iter().enumerate() {
        let of_kind: Vec<&Sample> = samples
            .iter()
            .filter(|s| usize::from(s.kind) == k)
            .collect();
        let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
        for s in &of_kind {
            *statuses.entry(s.status.to_string()).or_default() += 1;
        }
        let expected = of_kind.iter().filter(|s| s.status == *want).count() as u64;
        if *want == 201 {
            let size = if k == 0 {
                args.small_bytes
            } else {
                args.large_bytes
            };
            bytes += expected * size as u64;
        }
        let mut entry = percentiles(of_kind.iter().map(|s| s.micros).collect());
        entry["expected_status"] = json!(want);
        entry["expected"] = json!(expected);
        entry["statuses"] = json!(statuses);
        kinds.insert((*name).to_owned(), entry);
    }
    let expected: u64 = kinds
        .values()
        .map(|k| k["expected"].as_u64().unwrap_or(0))
        .sum();
    let mut total = percentiles(samples.iter().map(|s| s.micros).collect());
    total["expected"] = json!(expected);
    let summary = json!({
        "seconds": elapsed,
        "connections": args.connections,
        "mix": args.mix,
        "requests_per_s": samples.len() as f64 / elapsed,
        "expected_per_s": expected as f64 / elapsed,
        "body_mb_per_s": bytes as f64 / elapsed / 1e6,
        "all": total,
        "kinds": kinds,
    });
    println!("{summary}");
    Ok(())
}
