//! Layout arithmetic.

use super::*;

#[test]
fn segment_names_round_trip() {
    assert_eq!(segment_name(42), "00000000000000000042.seg");
    assert_eq!(parse_segment_name(&segment_name(42)), Some(42));
    assert_eq!(parse_segment_name("42.seg"), None);
    assert_eq!(parse_segment_header(&segment_header(7)), Some(7));
    assert_eq!(parse_segment_header(&[0; 16]), None);
}

#[test]
fn frames_round_trip_and_detect_damage() {
    let mut buf = Vec::new();
    encode_frame(&mut buf, 5, 3, b"hello");
    let h = FrameHeader::decode(buf[..FRAME_HEADER].try_into().unwrap());
    assert_eq!((h.len, h.index, h.batch), (5, 5, 3));
    assert!(h.checks(&buf[FRAME_HEADER..]));
    assert!(!h.checks(b"hellp"));
    assert_eq!(h.frame_len(), buf.len() as u64);
}

#[test]
fn tile_coordinates() {
    assert_eq!(tile_coords(0, 0), (0, 0, 0, 0));
    assert_eq!(tile_coords(0, 257), (0, 1, 0, 1));
    assert_eq!(tile_coords(3, 33), (0, 1, 3, 1));
    assert_eq!(tile_coords(8, 1), (1, 0, 0, 1));
    assert_eq!(tile_coords(9, 0), (1, 0, 1, 0));
    assert_eq!(tile_offset(4, 0, 3), Some(2 + 32 * 3));
    assert_eq!(tile_offset(4, 1, 1), Some(2 + 32 * 5));
    assert_eq!(tile_offset(4, 2, 1), None);
    let rows = vec![
        vec![[1; 32]; 4],
        vec![[2; 32]; 2],
        vec![[3; 32]; 1],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
    ];
    assert_eq!(decode_tile(&encode_tile(&rows)), Some(rows));
    assert_eq!(decode_tile(&[0, 1]), None);
}

/// Readers take an all-zero frame header for preallocated space: no valid frame has one.
#[test]
fn no_valid_frame_has_an_all_zero_header() {
    let mut frame = Vec::new();
    encode_frame(&mut frame, 0, 0, b"");
    assert_eq!(frame.len(), FRAME_HEADER);
    assert_ne!(frame, [0u8; FRAME_HEADER]);
    assert_eq!(frame[4..8], 0x0fd5_9b8du32.to_le_bytes());
}
