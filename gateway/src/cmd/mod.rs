//! One module per CLI command family.

pub(crate) mod policy;
