//! AFL target for the policy bundle parser: any UTF-8 text must give a bundle or a list of
//! located problems, never a panic, a hang or a stack overflow.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = loopgate_policy::parse_bundle(text);
        }
    });
}
