//! One module per CLI command family.

pub(crate) mod check_config;
pub(crate) mod dev;
pub(crate) mod policy;
pub(crate) mod serve;
