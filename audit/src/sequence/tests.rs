//! The sequence numbers contiguously and cuts a failed batch before the next one.

use super::*;
use crate::store::{fsio::fault, scan};

#[test]
fn batches_are_contiguous_and_a_failed_batch_leaves_no_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let active = ActiveSegment::create(dir.path(), 0).unwrap();
    let mut seq = Sequence::new(dir.path().to_owned(), 0, active, 200);
    let d = seq.append(&[b"a", b"bb"]).unwrap();
    assert_eq!((d.first, d.segment), (0, 0));
    assert_eq!(d.offsets, vec![SEGMENT_HEADER, SEGMENT_HEADER + 25]);

    fault::set(dir.path(), true);
    assert!(seq.append(&[b"lost"]).is_err());
    assert!(seq.append(&[b"lost again"]).is_err());
    fault::set(dir.path(), false);
    assert_eq!(seq.next(), 2);

    // Big enough to roll to a second segment on the next append.
    let big = vec![b'x'; 300];
    let d = seq.append(&[&big]).unwrap();
    assert_eq!(d.first, 2);
    let d = seq.append(&[b"c"]).unwrap();
    assert_eq!((d.first, d.segment), (3, 3));

    let mut seen = Vec::new();
    let path = dir.path().join(layout::segment_name(0));
    let s = scan(&path, 0, SEGMENT_HEADER, 0, |i, _, leaf| {
        seen.push((i, leaf.to_vec()));
        Ok(())
    })
    .unwrap();
    assert_eq!(s.bad, None);
    assert_eq!(
        seen,
        vec![(0, b"a".to_vec()), (1, b"bb".to_vec()), (2, big)]
    );
}
