//! The transfer path's building blocks.

pub mod body;
