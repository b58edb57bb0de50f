//! Shipments of samples (RULES.md S1-S12, SPEC.md section 3): the sender declares a shipment
//! (`declare`: rules S1-S8, decided and logged like a transfer), then the sender, the named
//! carrier and the recipient report each step of its custody (`custody`: rules S9-S11), each a
//! `custody` record in the same log (`records`). A shipment's state is the fold of its chain
//! (`chain`), read from the log whenever a step is checked or shown; `view` keeps the
//! regulators' list of open and discrepant shipments (rule S12 is judged when it is read).

pub(crate) mod chain;
pub(crate) mod custody;
pub(crate) mod declare;
pub(crate) mod records;
pub(crate) mod view;
