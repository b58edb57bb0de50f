//! End-to-end test harness for loopgate: runs the real binary.
#![forbid(unsafe_code)]
