//! A C2SP `tlog-witness` server: `POST <prefix>/add-checkpoint` checks that a log's new
//! checkpoint is signed by the log and consistent with the last one this witness cosigned,
//! keeps it durably, and answers a `cosignature/v1` line; `GET <prefix>/<origin hash>/checkpoint`
//! serves the latest cosigned checkpoint (the spec's monitoring API).
//!
//! `loopgate witness serve --config witness.toml` runs it ([`WitnessConfig::load`], [`run`]).
//! Another part of the process (dev mode) can run one with a [`WitnessConfig`] it builds
//! itself and [`run_until`] its own stop signal. [`Witness`] is the decision and the state
//! without HTTP. The formats are `loopgate-audit`'s: `WitnessSigningKey`,
//! `WitnessVerifierKey`, `AddCheckpoint` (the request a log sends), `parse_cosignature_lines`
//! (the answer it reads) and `verify_cosigned` (the quorum a client checks).

mod config;
mod core;
mod serve;
mod state;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use self::config::WitnessConfig;
pub use self::core::{Answer, Witness};
pub use self::serve::{Bound, run, run_until};

/// What stops a witness from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// The state directory or a state file cannot be read, or a state file is damaged.
    #[error("witness state {}: {why}", path.display())]
    State {
        /// The directory or file.
        path: PathBuf,
        /// What is wrong, and what to do.
        why: String,
    },
    /// Another witness process holds the state directory (its `lock` file).
    #[error(
        "witness state {}: another witness process holds it{}; stop that one first, or give this one another state_dir",
        dir.display(),
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Locked {
        /// The state directory.
        dir: PathBuf,
        /// The holder's pid, when it wrote it.
        pid: Option<u32>,
    },
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}; free the port or change listen")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A signal handler cannot be installed.
    #[error("cannot watch {name}: {source}")]
    Signal {
        /// The signal.
        name: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}
