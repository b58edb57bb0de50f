//! Data transfers, from the request to what happens to the data after it crossed: the pipeline
//! of DESIGN.md (`pipeline`, which reads as its steps), and beside it what it uses and writes —
//! the headers it reads, the body it verifies while forwarding, the upstream pools, the records
//! it writes, the rule-19 counters it decides with, the idempotency keys, and the transfer's
//! history and lifecycle events read back from the log. `gateway/README.md` follows one transfer
//! through these files.

pub(crate) mod body;
mod forward;
pub(crate) mod headers;
pub(crate) mod history;
pub(crate) mod id;
pub(crate) mod idempotency;
pub(crate) mod lifecycle;
pub(crate) mod pipeline;
pub(crate) mod records;
pub(crate) mod upstream;
pub(crate) mod volume;
