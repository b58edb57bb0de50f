//! The transfer path's building blocks.

pub mod body;
pub mod headers;
