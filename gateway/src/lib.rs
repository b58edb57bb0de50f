//! The loopgate gateway as a library: the `loopgate` binary (`main.rs`, a thin command line)
//! and the tests use what is exported here, and nothing else is public.
//!
//! The gateway admits cross-boundary transfers over mutual TLS under the policy in force,
//! records every decision durably in the audit log before any byte is forwarded, streams the
//! admitted body to the recipient's upstream, and serves the regulator's and admin's APIs and
//! the operator's ops listener. `gateway/README.md` maps its modules and follows one transfer
//! through them.
//!
//! It does not decide policy (that is `loopgate-policy`, a pure function) and does not define
//! the log's formats (that is `loopgate-audit`).

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod api;
mod clock;
mod config;
mod console;
mod cosign;
mod devmode;
mod identity;
mod liveness;
mod logsink;
mod metrics;
mod pki;
mod record;
mod registry;
mod reply;
mod scope;
mod server;
mod shipment;
mod state;
mod tls;
mod transfer;
mod views;
pub mod witness;

pub use api::routes::table as route_table;
pub use api::shipment::{
    MAX_ID_CHARS, MAX_SEALS, MAX_TEXT_CHARS, ShipmentBody, parse_shipment_body,
};
pub use clock::Clock;
pub use config::{
    Config, ConfigError, Connections, Limits, Lingering, LogFormat, Upstream, WitnessTarget,
    Witnesses, default_worker_threads,
};
pub use logsink::{LogSink, LogSinkGuard};
pub use pki::{DevCa, Issued, PkiError};
pub use registry::ChangeError;
pub use server::{Bound, ServeError, run as serve};
pub use tls::{TlsError, client_auth_config, plain_server_config};
pub use transfer::body::{BodyFault, Expected, Verified, VerifyingBody};
pub use transfer::headers::{HeaderProblem, TransferHeaders, parse as parse_transfer_headers};
pub use transfer::upstream::{UpstreamError, Upstreams};

/// Dev mode (SPEC.md section 7): one local folder with a self-made PKI, the sample bundle, a
/// log key and a config that runs a demo upstream.
pub mod dev {
    pub use crate::devmode::demo::{DemoError, DemoUpstream, received};
    pub use crate::devmode::{
        DevError, DevWitnesses, ORIGIN, PRINCIPALS, TRUST_DOMAIN, WITNESSES, ensure, exists,
        issue_cert, sample_bundle, start_witnesses, write_log_key,
    };
}
