//! One module per CLI command family: a clap `Args` (or subcommand) type and `run`.

pub(crate) mod admin;
pub(crate) mod audit;
pub(crate) mod check_config;
pub(crate) mod dev;
pub(crate) mod docs;
pub(crate) mod keygen;
pub(crate) mod policy;
pub(crate) mod serve;
pub(crate) mod tenant;
pub(crate) mod witness;
