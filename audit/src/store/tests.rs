//! The walk over the segments: contiguity, torn tails and corruption, cut-short segments, and
//! a visitor that stops it.

use super::walk::Walked;
use super::*;

/// Writes the segment holding records `first..first + count` (each its own commit batch) into
/// `dir`, returning its path and the offsets of its frames.
fn write_segment(dir: &Path, first: u64, count: u64) -> (PathBuf, Vec<u64>) {
    let mut bytes = layout::segment_header(first).to_vec();
    let mut offsets = Vec::new();
    for i in first..first + count {
        offsets.push(bytes.len() as u64);
        layout::encode_frame(&mut bytes, i, i, format!("record {i}").as_bytes());
    }
    let path = dir.join(layout::segment_name(first));
    std::fs::write(&path, bytes).unwrap();
    (path, offsets)
}

/// Walks the segments in `dir` with `floor`, collecting `(index, first, offset)` per record.
fn walk_dir(dir: &Path, floor: u64) -> (Result<Walked>, Vec<(u64, u64, u64)>) {
    let mut seen = Vec::new();
    let mut each = |i: u64, first, offset, leaf: &[u8]| {
        assert_eq!(leaf, format!("record {i}").as_bytes());
        seen.push((i, first, offset));
        Ok(())
    };
    let walked = walk(&list_segments(dir).unwrap(), floor, &mut each);
    (walked, seen)
}

fn flip_byte(path: &Path, at: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[usize::try_from(at).unwrap()] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn the_walk_visits_every_record_in_order_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (_, a) = write_segment(dir.path(), 0, 3);
    let (_, b) = write_segment(dir.path(), 3, 2);
    let (c_path, c) = write_segment(dir.path(), 5, 4);
    let (walked, seen) = walk_dir(dir.path(), 9);
    let expected: Vec<_> = [(0, &a), (3, &b), (5, &c)]
        .into_iter()
        .flat_map(|(first, offsets)| {
            offsets
                .iter()
                .zip(first..)
                .map(move |(&offset, i)| (i, first, offset))
        })
        .collect();
    assert_eq!(seen, expected);
    let end = std::fs::metadata(&c_path).unwrap().len();
    let walked = walked.unwrap();
    assert_eq!(
        walked,
        Walked {
            next: 9,
            last: Some(SegmentEnd {
                first: 5,
                path: c_path,
                end,
                torn: None
            }),
        }
    );
    assert_eq!(walked.last.unwrap().header().unwrap(), Header::Sound);
    let empty = tempfile::tempdir().unwrap();
    let (walked, _) = walk_dir(empty.path(), 0);
    assert_eq!(
        walked.unwrap(),
        Walked {
            next: 0,
            last: None
        }
    );
}

#[test]
fn a_gap_between_segments_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    write_segment(dir.path(), 0, 3);
    let (path, _) = write_segment(dir.path(), 4, 2);
    let (walked, seen) = walk_dir(dir.path(), 0);
    match walked {
        Err(Error::Corrupt {
            segment,
            offset: 0,
            index: 3,
            what,
        }) => {
            assert_eq!(segment, path);
            assert_eq!(what, "segment starts at record 4 but record 3 comes next");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(seen.len(), 3, "the records before the gap are visited");
}

#[test]
fn a_bad_frame_in_the_last_segment_beyond_the_floor_is_a_torn_tail_at_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    write_segment(dir.path(), 0, 3);
    let (path, offsets) = write_segment(dir.path(), 3, 3);
    let len = std::fs::metadata(&path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len - 2).unwrap();
    let (walked, seen) = walk_dir(dir.path(), 5);
    let walked = walked.unwrap();
    assert_eq!((walked.next, seen.len()), (5, 5));
    let last = walked.last.unwrap();
    assert_eq!((last.first, &last.path, last.end), (3, &path, offsets[2]));
    let torn = last.torn.unwrap();
    assert_eq!((torn.offset, torn.index), (offsets[2], 5));
    assert!(torn.truncated);

    // The same frame below the floor was acknowledged: corruption, not a torn tail.
    let (walked, _) = walk_dir(dir.path(), 6);
    match walked {
        Err(Error::Corrupt {
            offset,
            index,
            what,
            ..
        }) => {
            assert_eq!((offset, index), (offsets[2], 5));
            assert!(
                what.ends_with("(below the 6 records this log has signed)"),
                "{what}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_bad_frame_in_a_middle_segment_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let (path, offsets) = write_segment(dir.path(), 0, 3);
    write_segment(dir.path(), 3, 2);
    flip_byte(&path, offsets[1] + FRAME_HEADER as u64);
    let (walked, seen) = walk_dir(dir.path(), 0);
    match walked {
        Err(Error::Corrupt {
            segment,
            offset,
            index,
            what,
        }) => {
            assert_eq!((segment, offset, index), (path, offsets[1], 1));
            assert_eq!(what, "checksum mismatch");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(seen.len(), 1);
}

#[test]
fn a_bad_header_in_the_last_segment_is_cut_short_or_damaged_by_the_file_length() {
    let dir = tempfile::tempdir().unwrap();
    write_segment(dir.path(), 0, 2);
    let path = dir.path().join(layout::segment_name(2));
    std::fs::write(&path, &layout::segment_header(2)[..10]).unwrap();
    let (walked, _) = walk_dir(dir.path(), 2);
    let walked = walked.unwrap();
    assert_eq!(walked.next, 2);
    let last = walked.last.unwrap();
    assert_eq!((last.first, last.end), (2, 0));
    assert_eq!(last.torn.as_ref().map(|t| t.offset), Some(0));
    assert_eq!(last.header().unwrap(), Header::CutShort);

    // A whole header that does not match the name, and bytes (not a later batch) after it.
    let mut bytes = layout::segment_header(7).to_vec();
    bytes.extend_from_slice(&[0xff; 30]);
    std::fs::write(&path, bytes).unwrap();
    let (walked, _) = walk_dir(dir.path(), 2);
    let last = walked.unwrap().last.unwrap();
    assert_eq!(last.end, 0);
    assert_eq!(last.header().unwrap(), Header::Damaged);
}

/// Stops once it has seen record `at`.
struct StopAt {
    at: u64,
    seen: Vec<u64>,
}

impl Visit for StopAt {
    fn record(&mut self, index: u64, _: u64, _: u64, _: &[u8]) -> Result<()> {
        self.seen.push(index);
        Ok(())
    }

    fn stop(&mut self) -> bool {
        self.seen.contains(&self.at)
    }
}

#[test]
fn a_stop_ends_the_walk_after_reading_the_segment_before_judging_it() {
    let dir = tempfile::tempdir().unwrap();
    let (a_path, _) = write_segment(dir.path(), 0, 3);
    let (b_path, offsets) = write_segment(dir.path(), 3, 3);
    write_segment(dir.path(), 6, 2);
    flip_byte(&b_path, offsets[2] + FRAME_HEADER as u64);
    let segments = list_segments(dir.path()).unwrap();
    let mut visit = StopAt {
        at: 3,
        seen: Vec::new(),
    };
    let walked = walk(&segments, 0, &mut visit).unwrap();
    assert_eq!(visit.seen, [0, 1, 2, 3, 4]);
    assert_eq!(walked.next, 3);
    assert_eq!(walked.last.map(|s| s.path), Some(a_path));
    // Without the stop, the bad frame in the middle segment is judged: corruption.
    visit.at = u64::MAX;
    assert!(matches!(
        walk(&segments, 0, &mut visit),
        Err(Error::Corrupt { index: 5, .. })
    ));
}
