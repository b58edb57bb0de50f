//! AFL target for the record decoder (`loopgate_audit::Record::from_leaf`), which the verifier,
//! the index rebuild and the API run on leaf bytes read back from disk: any bytes must give a
//! record or an error, never a panic; a record it accepts encodes again (`to_leaf`) and decodes
//! to the same record.

use loopgate_audit::Record;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(record) = Record::from_leaf(data) {
            let leaf = record.to_leaf().expect("an accepted record encodes");
            let again = Record::from_leaf(&leaf).expect("its encoding decodes");
            assert_eq!(record, again);
            let _ = record.index_terms();
            let _ = record.instant();
        }
    });
}
