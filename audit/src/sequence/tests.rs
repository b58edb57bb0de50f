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

/// The active segment is kept zero-filled to the next whole PREALLOCATE (so a batch's
/// fdatasync changes no metadata), the zeros read as its clean end, a closed segment is cut to
/// its records, and a failed batch's repair cuts the zeros too.
#[test]
fn the_active_segment_is_filled_ahead_with_zeros_and_cut_when_closed() {
    let dir = tempfile::tempdir().unwrap();
    let max = 2 * PREALLOCATE + PREALLOCATE / 2;
    let active = ActiveSegment::create(dir.path(), 0).unwrap();
    let mut seq = Sequence::new(dir.path().to_owned(), 0, active, max);
    let path = dir.path().join(layout::segment_name(0));
    let size = || std::fs::metadata(&path).unwrap().len();
    let scan_all = || scan(&path, 0, SEGMENT_HEADER, 0, |_, _, _| Ok(())).unwrap();

    seq.append(&[b"a", b"bb"]).unwrap();
    assert_eq!(size(), PREALLOCATE);
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        bytes[usize::try_from(SEGMENT_HEADER).unwrap() + 51..]
            .iter()
            .all(|&b| b == 0)
    );
    let s = scan_all();
    assert_eq!((s.bad, s.next_index, s.end), (None, 2, SEGMENT_HEADER + 51));

    // Past the first PREALLOCATE: filled to the next one; then capped at the segment's limit.
    let leaf = vec![b'x'; 700 << 10];
    seq.append(&[&leaf]).unwrap();
    assert_eq!(size(), PREALLOCATE, "within the zeros");
    seq.append(&[&leaf]).unwrap();
    assert_eq!(size(), 2 * PREALLOCATE);
    seq.append(&[&leaf]).unwrap();
    assert_eq!(size(), max);
    assert_eq!(scan_all().next_index, 5);

    // A failed batch: its repair cuts the file to the records, the next batch fills again.
    fault::set(dir.path(), true);
    assert!(seq.append(&[b"lost"]).is_err());
    fault::set(dir.path(), false);
    let d = seq.append(&[b"c"]).unwrap();
    assert_eq!(d.first, 5);
    let records_end = d.offsets[0] + 25;
    assert_eq!(size(), max);
    // Over the limit: the next batch rolls over, and the closed segment holds only records.
    seq.append(&[&leaf]).unwrap();
    let d = seq.append(&[b"d"]).unwrap();
    assert_eq!((d.first, d.segment), (7, 7));
    assert_eq!(size(), records_end + 24 + leaf.len() as u64);
    let s = scan_all();
    assert_eq!((s.bad, s.next_index, s.end), (None, 7, size()));
    let next = dir.path().join(layout::segment_name(7));
    assert_eq!(std::fs::metadata(next).unwrap().len(), PREALLOCATE);
}

/// Zeros are the end only when nothing but zeros follows them (anything else is damage, for
/// recovery to classify); a file ending inside a zero header is the end too.
#[test]
fn zeros_end_a_segment_only_when_nothing_follows_them() {
    let dir = tempfile::tempdir().unwrap();
    let active = ActiveSegment::create(dir.path(), 0).unwrap();
    let mut seq = Sequence::new(dir.path().to_owned(), 0, active, 1 << 16);
    seq.append(&[b"a"]).unwrap();
    let path = dir.path().join(layout::segment_name(0));
    let end = SEGMENT_HEADER + 25;
    let scan_all = || scan(&path, 0, SEGMENT_HEADER, 0, |_, _, _| Ok(())).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();

    file.set_len(end + 10).unwrap();
    assert_eq!(scan_all().bad, None);

    file.set_len(1 << 16).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, b"x", 60_000).unwrap();
    let s = scan_all();
    let bad = s.bad.unwrap();
    assert_eq!((bad.offset, bad.index, bad.truncated), (end, 1, false));
    assert!(bad.what.contains("zeros"), "{}", bad.what);
}
