//! loopgate's audit log (filled in by the audit-log issue): an append-only, fsync'd segment log
//! with RFC 9162 Merkle proofs and C2SP signed checkpoints. It does not evaluate policy and does
//! no network I/O.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]
