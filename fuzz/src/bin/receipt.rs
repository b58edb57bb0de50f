//! AFL target for the offline receipt verifier (`loopgate_audit::verify_receipt`), which anyone
//! holding a receipt runs: any JSON must be refused with an error or accepted, never a panic.
//! The seeds `in/receipt/` are real receipts of a dev gateway whose verifier key is `KEY`, so
//! the fuzzer starts from inputs that pass every check and mutates them one field at a time. A
//! receipt it accepts must name an inclusion proof that leads to a checkpoint signed by `KEY`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use loopgate_audit::{Receipt, VerifierKey, leaf_hash, verify_inclusion};

/// The verifier key (`log.pub`) of the dev gateway that issued the seed receipts.
const KEY: &str = "loopgate.dev/log+f5f8edd2+ATMWGb7tRYowlIuWeasNZ77QILgVR9FwtrWEj+GJrn6v";

fn main() {
    let key = VerifierKey::parse(KEY).expect("the seed key parses");
    afl::fuzz!(|data: &[u8]| {
        let Ok(receipt) = serde_json::from_slice::<Receipt>(data) else {
            return;
        };
        if let Ok(checkpoint) = loopgate_audit::verify_receipt(&receipt, &key) {
            // Accepted: the leaf really is at log_index under the signed root.
            assert!(receipt.log_index < checkpoint.size());
            let hash = leaf_hash(receipt.leaf.as_bytes());
            let proof: Vec<[u8; 32]> = receipt
                .inclusion_proof
                .iter()
                .map(|h| {
                    let bytes = STANDARD.decode(h).expect("an accepted proof decodes");
                    <[u8; 32]>::try_from(bytes).expect("32-byte hashes")
                })
                .collect();
            verify_inclusion(
                receipt.log_index,
                checkpoint.size(),
                &hash,
                &proof,
                checkpoint.root(),
            )
            .expect("an accepted receipt's proof verifies");
        }
    });
}
