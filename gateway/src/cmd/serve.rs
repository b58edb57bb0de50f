//! `loopgate serve [--config FILE]`: runs the gateway. Without `--config`, dev mode: makes
//! `./loopgate-dev/` once (PKI, sample policy, log key, a config with a demo upstream), serves
//! from it, and prints copy-paste curl commands.

use std::path::{Path, PathBuf};

use clap::Args;
use loopgate::dev;
use loopgate::{Bound, Clock, Config, LogFormat, LogSink, LogSinkGuard, ServeError};

use crate::exit::Exit;

/// The dev-mode folder, relative to the working directory.
const DEV_DIR: &str = "loopgate-dev";

/// How long the runtime's last tasks get once `serve` returned.
const RUNTIME_SHUTDOWN: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The gateway config (TOML). Without it: dev mode in ./loopgate-dev/.
    #[arg(long)]
    config: Option<PathBuf>,
}

pub(crate) fn run(args: &ServeArgs) -> Exit {
    let clock = Clock::system();
    let dev = args.config.is_none();
    let config_path = match &args.config {
        Some(path) => path.clone(),
        None => match dev::ensure(Path::new(DEV_DIR), clock.now(), dev::write_log_key) {
            Ok(made) => {
                let verb = if made { "made" } else { "reusing" };
                println!("loopgate: dev mode: {verb} ./{DEV_DIR}/");
                Path::new(DEV_DIR).join("gateway.toml")
            }
            Err(e) => {
                eprintln!("loopgate: cannot make ./{DEV_DIR}/: {e}");
                return Exit::Failure;
            }
        },
    };
    let config = match Config::load(&config_path) {
        Ok(config) => config,
        Err(e) => {
            for line in e.lines() {
                eprintln!("{line}");
            }
            return Exit::Config;
        }
    };
    // Held for the whole run: dropping it writes out the queued diagnostic lines.
    let log_writer = init_tracing(config.log_format);
    let ended = serve(config, clock, dev);
    // Every way `serve` ends comes back here (nothing calls `std::process::exit`, and `main`
    // returns this exit code), so the queued lines always reach stderr, before the last line.
    drop(log_writer);
    match ended {
        Ok(()) => Exit::Success,
        Err((code, message)) => {
            eprintln!("loopgate: {message}");
            code
        }
    }
}

/// Runs the gateway under `config` until it stops: `Err` with the exit code and the line for
/// stderr when it failed. The runtime and what it ran are dropped before this returns, so their
/// last diagnostic lines are queued by then.
fn serve(config: Config, clock: Clock, dev: bool) -> Result<(), (Exit, String)> {
    let clock = if config.clock_offset_days == 0 {
        clock
    } else {
        tracing::warn!(
            offset_days = config.clock_offset_days,
            "[clock] offset_days is set: the gateway's clock is shifted (rehearsals and tests only)"
        );
        Clock::shifted(time::Duration::days(config.clock_offset_days))
    };
    // The control runtime: accepting, the ops listener, reloads, signals, the demo upstream.
    // API connections are served by the lanes (`[server] worker_threads` of them) it starts.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("loopgate-control")
        .enable_all()
        .build()
        .map_err(|e| {
            let message = format!("cannot start the runtime: {e}");
            (Exit::Failure, message)
        })?;
    let received = config
        .demo_upstream
        .as_ref()
        .map(|demo| demo.received.display().to_string());
    let mut config = config;
    let served = runtime.block_on(async {
        // Dev mode's two witnesses, on loopback in this process: both must cosign.
        let witnesses = if dev {
            let started = dev::start_witnesses(Path::new(DEV_DIR), &config.origin)
                .await
                .map_err(|e| (Exit::Failure, format!("dev mode: {e}")))?;
            config.witnesses.targets = started.targets.clone();
            config.witnesses.quorum = started.targets.len();
            config.witnesses.dev = true;
            Some(started)
        } else {
            None
        };
        let targets: Vec<(String, String)> = witnesses.as_ref().map_or_else(Vec::new, |w| {
            w.targets
                .iter()
                .map(|t| (t.name.clone(), t.url.to_string()))
                .collect()
        });
        let served = loopgate::serve(config, clock, |bound| {
            announce(&bound, received.as_deref(), dev, &targets);
        })
        .await;
        if let Some(witnesses) = witnesses {
            witnesses.stop().await;
        }
        served.map_err(|e| (exit_for(&e), e.to_string()))
    });
    // Bounded: a task stuck in a blocking call (a log flush that hangs) must not keep the
    // process from exiting; `serve` has already given up on it.
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    served
}

/// The exit status of a `serve` that failed: 75 (EX_TEMPFAIL, so systemd restarts it) when a
/// restart is the cure (stopping hung: the log's flush or the connection threads), 73 when
/// another process holds the log folder, 64 when a file the config names cannot be read or is
/// invalid (the policy bundle, a certificate, key or CA: what `check-config` reports with 64
/// too), else 1.
fn exit_for(error: &ServeError) -> Exit {
    match error {
        ServeError::StopTimedOut(_) => Exit::TempFail,
        ServeError::Log(loopgate_audit::Error::Locked { .. }) => Exit::Locked,
        ServeError::Read { .. }
        | ServeError::Bundle { .. }
        | ServeError::Tls(_)
        | ServeError::Demo(loopgate::dev::DemoError::Tls(_)) => Exit::Config,
        _ => Exit::Failure,
    }
}

/// Installs the diagnostic subscriber. Lines go to stderr in batches, every 50 ms, from the
/// [`LogSink`]'s thread, not from the tokio worker that logs them (one `write` per request was
/// about 3% of the CPU of small transfers, and a thread woken per line more). Nothing is
/// dropped: a full buffer is written by the thread that logs. The returned guard writes what is
/// buffered when dropped; keep it until the end.
pub(crate) fn init_tracing(format: LogFormat) -> LogSinkGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = LogSink::start();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(writer);
    let _ = match format {
        // One flat object per line (`message`, `principal`, `route`, ... beside `level` and
        // `timestamp`), as journald and log shippers expect.
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    guard
}

/// Prints where loopgate listens (tests read these lines) and, in dev mode, what to try.
fn announce(bound: &Bound, received: Option<&str>, dev: bool, witnesses: &[(String, String)]) {
    println!("loopgate: api https://{}", bound.api);
    println!("loopgate: ops http://{}", bound.ops);
    if let (Some(demo), Some(received)) = (bound.demo, received) {
        println!("loopgate: demo upstream https://{demo} stores bodies in {received}");
    }
    for (name, url) in witnesses {
        println!("loopgate: witness {name} {url}");
    }
    if dev {
        print!("{}", dev_commands(bound.api.port(), witnesses.len()));
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

fn dev_commands(port: u16, witnesses: usize) -> String {
    // With the dev witnesses, every offline check also wants both cosignatures.
    let key = if witnesses == 0 {
        format!("--key {DEV_DIR}/log.pub")
    } else {
        format!(
            "--key {DEV_DIR}/log.pub --witness-key {DEV_DIR}/witnesses.pub --quorum {witnesses}"
        )
    };
    let cosigned = if witnesses == 0 {
        String::new()
    } else {
        format!(", cosigned by the {witnesses} witnesses of {DEV_DIR}/witnesses.pub")
    };
    let curl = |who: &str| {
        format!(
            "curl --cacert {DEV_DIR}/pki/ca.pem --cert {DEV_DIR}/pki/{who}.pem --key {DEV_DIR}/pki/{who}.key"
        )
    };
    let tenant = curl("tenant-sz-genomics");
    let url = format!("https://localhost:{port}");
    format!(
        r#"
Try it (from this folder):

# an allowed non-personal transfer: 201 and a signed receipt
{tenant} \
  -H 'Loop-Inventory-Item: INV-NP-001' -H 'Loop-Recipient: hk-biolab' \
  -H 'Loop-Purpose: research.instrument_qc' --data-binary 'qc run 42: all sensors nominal' \
  {url}/v1/transfers

# an allowed personal transfer under the filed GBA Standard Contract
{tenant} \
  -H 'Loop-Inventory-Item: INV-PI-001' -H 'Loop-Recipient: hk-biolab' \
  -H 'Loop-Purpose: research.cohort_study' -H 'Loop-Contract-Filing: GBA-SC-DEMO-001' \
  -H 'Loop-Data-Subjects: 250' --data-binary 'cohort 7: 250 phenotype rows' \
  {url}/v1/transfers

# a denied transfer (purpose not on the item): 403 inventory.purpose_not_allowed, logged
{tenant} \
  -H 'Loop-Inventory-Item: INV-NP-001' -H 'Loop-Recipient: hk-biolab' \
  -H 'Loop-Purpose: marketing' --data-binary 'x' \
  {url}/v1/transfers

# the regulator's view: the latest signed checkpoint (verify with {DEV_DIR}/log.pub{cosigned})
{regulator} {url}/v1/audit/checkpoint

# the regulator's query: sz-genomics's denied transfers, ten at a time
{regulator} '{url}/v1/audit/records?tenant=sz-genomics&decision=deny&limit=10'

# a shipment of 24 blood tubes through its whole custody chain: declared and sealed by the
# sender, picked up, cleared and delivered by the carrier, received, stored, used and destroyed
# by the recipient (paste the block as one; each step answers 201 with a receipt)
now() {{ date -u +%Y-%m-%dT%H:%M:%SZ; }}
shipment=$({tenant} -sS \
  -d '{{"sample_item":"SMP-BLOOD-001","recipient":"hk-biolab","quantity":24,"purpose":"research.cohort_study","carrier":"hkp-logistics"}}' \
  {url}/v1/shipments | sed -n 's/.*"shipment_id":"\([0-9a-f]*\)".*/\1/p')
events={url}/v1/shipments/$shipment/events
{tenant} -d '{{"event":"sealed","at":"'$(now)'","seal_ids":["SEAL-0001","SEAL-0002"]}}' $events; echo
{carrier} -d '{{"event":"picked_up","at":"'$(now)'","seal_ids":["SEAL-0001","SEAL-0002"]}}' $events; echo
{carrier} -d '{{"event":"border_cleared","at":"'$(now)'","customs_declaration":"HK-CUS-2026-000123"}}' $events; echo
{carrier} -d '{{"event":"delivered","at":"'$(now)'"}}' $events; echo
{recipient} -d '{{"event":"received","at":"'$(now)'","quantity":24,"seal_ids":["SEAL-0001","SEAL-0002"]}}' $events; echo
{recipient} -d '{{"event":"stored","at":"'$(now)'","facility":"HKP-BIOBANK-1"}}' $events; echo
{recipient} -d '{{"event":"used","at":"'$(now)'","quantity":4,"project":"cohort-7"}}' $events; echo
{recipient} -d '{{"event":"destroyed","at":"'$(now)'","quantity":20,"method":"autoclave","certificate_sha256":"'$(printf 'destruction certificate' | sha256sum | cut -c1-64)'"}}' $events; echo
# the chain as its parties see it: status closed, nothing held
{tenant} {url}/v1/shipments/$shipment

# the regulator's offline checks with the log's verifier key: a receipt, a record, the signed
# checkpoint, the proof that the log only grew, an export rebuilt into the checkpoint's root
# (paste the block as one; each check prints ok: and exits 0, or exits 1 naming what failed)
{regulator} -sS -o checkpoint-old.txt {url}/v1/audit/checkpoint
{tenant} -sS -o receipt.json \
  -H 'Loop-Inventory-Item: INV-NP-001' -H 'Loop-Recipient: hk-biolab' \
  -H 'Loop-Purpose: research.instrument_qc' --data-binary 'qc run 43' {url}/v1/transfers
{loopgate} audit verify --receipt receipt.json {key}
{regulator} -sS -o record.json {url}/v1/audit/records/0
{loopgate} audit verify --receipt record.json {key}
{regulator} -sS -o checkpoint.txt {url}/v1/audit/checkpoint
{loopgate} audit verify --checkpoint checkpoint.txt {key}
{regulator} -sS -o proof.json \
  "{url}/v1/audit/proof/consistency?from=$(sed -n 2p checkpoint-old.txt)&to=$(sed -n 2p checkpoint.txt)"
{loopgate} audit verify --consistency checkpoint-old.txt checkpoint.txt --proof proof.json {key}
{regulator} -sS -o export.jsonl "{url}/v1/audit/export?to=$(sed -n 2p checkpoint.txt)"
{loopgate} audit verify --export export.jsonl --checkpoint checkpoint.txt {key}

"#,
        loopgate = this_binary(),
        regulator = curl("regulator-pcpd"),
        carrier = curl("carrier-hkp-logistics"),
        recipient = curl("tenant-hk-biolab"),
    )
}

/// This binary's path as the shell reads it (the banner's `audit verify` commands run it), quoted
/// when it holds more than letters, digits and `/._-`; `loopgate` when the OS cannot tell.
fn this_binary() -> String {
    let Ok(path) = std::env::current_exe() else {
        return "loopgate".to_owned();
    };
    let path = path.to_string_lossy().into_owned();
    if path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b))
    {
        path
    } else {
        format!("'{}'", path.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_that_hung_or_a_log_to_reopen_exits_75_for_a_restart() {
        let hung = ServeError::StopTimedOut(std::time::Duration::from_secs(30));
        assert_eq!(exit_for(&hung).code(), 75);
        assert!(hung.to_string().contains("stop_timeout_secs"), "{hung}");
        let bind = ServeError::Bind {
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 1)),
            source: std::io::Error::other("in use"),
        };
        assert_eq!(exit_for(&bind).code(), 1);
    }
}
