//! The write-ahead log: frames round-trip; recovery keeps the durable, in-sequence prefix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn frame(lsn: u64) -> Frame {
    Frame {
        lsn,
        last_version: lsn * 10,
        jobs: vec![
            LoggedJob {
                tenant_prefix: vec![0],
                tenant_name: None,
                ops: vec![
                    LoggedOp::Put {
                        id: format!("urn:x:{lsn}"),
                        types: vec!["urn:t:T".into(), "urn:t:U".into()],
                        record: vec![2, 0, 0, 0, 0, 0, 0, 0, 7, 1, 2, 3],
                    },
                    LoggedOp::Delete {
                        id: "urn:x:gone".into(),
                    },
                ],
            },
            LoggedJob {
                tenant_prefix: b"t1\0".to_vec(),
                tenant_name: Some("t1".into()),
                ops: vec![LoggedOp::Delete { id: "é".into() }],
            },
        ],
    }
}

fn write_log(dir: &Path, frames: &[Frame]) -> Vec<u8> {
    let bytes: Vec<u8> = frames.iter().flat_map(encode_frame).collect();
    std::fs::write(dir.join(FILE_NAME), &bytes).unwrap();
    bytes
}

#[test]
fn appended_frames_are_recovered_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path()).unwrap();
    for lsn in 1..=3 {
        wal.append(&frame(lsn)).unwrap();
    }
    assert!(wal.len() > 0);
    assert_eq!(
        recover(dir.path(), 0).unwrap(),
        [frame(1), frame(2), frame(3)]
    );
}

#[test]
fn frames_already_durable_in_redb_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), &[frame(4), frame(5), frame(6)]);
    assert_eq!(recover(dir.path(), 5).unwrap(), [frame(6)]);
    assert!(recover(dir.path(), 6).unwrap().is_empty());
}

#[test]
fn recovery_stops_at_a_torn_frame() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = write_log(dir.path(), &[frame(1), frame(2)]);
    let first = encode_frame(&frame(1)).len();
    for cut in first..bytes.len() {
        std::fs::write(dir.path().join(FILE_NAME), &bytes[..cut]).unwrap();
        assert_eq!(recover(dir.path(), 0).unwrap(), [frame(1)], "cut at {cut}");
    }
}

#[test]
fn recovery_stops_at_a_corrupt_frame() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = write_log(dir.path(), &[frame(1), frame(2), frame(3)]);
    let one = encode_frame(&frame(1)).len();
    bytes[one + FRAME_HEADER_LEN + 3] ^= 0x40;
    std::fs::write(dir.path().join(FILE_NAME), &bytes).unwrap();
    assert_eq!(recover(dir.path(), 0).unwrap(), [frame(1)]);
}

#[test]
fn recovery_stops_at_a_gap_in_the_sequence() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), &[frame(1), frame(3)]);
    assert_eq!(recover(dir.path(), 0).unwrap(), [frame(1)]);
}

#[test]
fn stale_frames_left_by_an_unsynced_truncation_are_ignored() {
    // New frames 8, 9 overwrote the start of an old log (frames 1..=7) whose truncation was
    // lost; redb holds everything up to 7 durably.
    let dir = tempfile::tempdir().unwrap();
    let old: Vec<u8> = (1..=7).flat_map(|l| encode_frame(&frame(l))).collect();
    let mut bytes: Vec<u8> = [8, 9]
        .iter()
        .flat_map(|&l| encode_frame(&frame(l)))
        .collect();
    bytes.extend_from_slice(&old[bytes.len()..]);
    std::fs::write(dir.path().join(FILE_NAME), &bytes).unwrap();
    assert_eq!(recover(dir.path(), 7).unwrap(), [frame(8), frame(9)]);
}

#[test]
fn a_missing_log_recovers_nothing_and_reset_empties_it() {
    let dir = tempfile::tempdir().unwrap();
    assert!(recover(dir.path(), 0).unwrap().is_empty());
    let mut wal = Wal::open(dir.path()).unwrap();
    wal.append(&frame(1)).unwrap();
    wal.reset().unwrap();
    assert_eq!(wal.len(), 0);
    assert!(recover(dir.path(), 0).unwrap().is_empty());
}
