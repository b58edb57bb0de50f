//! `loopgate audit ...`: offline verification and the log benchmark.

mod bench;
mod fill;
mod verify;

use crate::exit::Exit;

/// Verify or benchmark the audit log.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Verify a data directory (every record, the root, the signed checkpoint), or offline a
    /// receipt or record answer, a checkpoint, a consistency proof, an export;
    /// exit 0 when sound, 1 naming the first bad index, 2 on bad usage or unreadable input.
    Verify(verify::Args),
    /// Append synthetic records through the real log and report durable appends/s, latency
    /// and the disk's unbatched fdatasync rate.
    Bench(bench::Args),
    /// Append synthetic, realistic records to a stopped gateway's log (benchmarks only; see
    /// bench/README.md).
    #[command(hide = true)]
    Fill(fill::Args),
}

pub(crate) fn run(args: Args) -> Exit {
    match args.command {
        Command::Verify(a) => verify::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Fill(a) => fill::run(a),
    }
}
