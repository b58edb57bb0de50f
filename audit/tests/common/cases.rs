//! The number of proptest cases of the audit suites, shared by the integration tests and the
//! crate's own power-loss tests (which include this file by path).

/// Proptest cases: `light`, or ten times as many with `AUDIT_HEAVY=1`.
pub fn cases(light: u32) -> u32 {
    if std::env::var_os("AUDIT_HEAVY").is_some() {
        light * 10
    } else {
        light
    }
}
