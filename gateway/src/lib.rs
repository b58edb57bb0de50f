//! The loopgate gateway as a library: identity, TLS and the dev-mode PKI today; the transfer
//! pipeline, regulator and admin APIs build on these. The `loopgate` binary (`main.rs`) is a thin
//! command line over this crate and `loopgate-policy`.
//!
//! It does not decide policy (that is `loopgate-policy`, a pure function) and does not define the
//! log's formats (that is `loopgate-audit`).

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod api;
pub mod clock;
pub mod config;
pub mod demo_upstream;
pub mod devmode;
pub mod identity;
pub mod liveness;
pub mod logsink;
pub mod metrics;
pub mod pki;
pub mod records;
pub mod registry;
pub mod server;
pub mod stamp;
pub mod state;
pub mod tls;
pub mod transfer;
pub mod upstream;
pub mod views;
