//! Behaviour of the notify scenario's bookkeeping: delays, and the audit of what was sent,
//! acknowledged and received.

use super::*;

fn at(epoch: Instant, ms: u64) -> Instant {
    epoch + Duration::from_millis(ms)
}

#[test]
fn a_receipt_gives_the_delay_since_its_update_was_sent() {
    let epoch = Instant::now();
    let ledger = Ledger::new(epoch, 1_000);
    assert!(ledger.sent(7, at(epoch, 10)));
    ledger.answered(7, true);
    assert_eq!(
        ledger.received(7, at(epoch, 13)),
        Some(Duration::from_millis(3))
    );
    // A receipt can never be earlier than the send as far as the report goes.
    assert_eq!(ledger.received(7, at(epoch, 5)), Some(Duration::ZERO));
}

#[test]
fn values_no_update_wrote_are_unknown() {
    let epoch = Instant::now();
    let ledger = Ledger::new(epoch, 1_000);
    assert!(ledger.sent(1, epoch));
    assert_eq!(ledger.received(2, epoch), None, "same chunk, never sent");
    assert_eq!(ledger.received(500_000, epoch), None, "chunk never used");
    assert_eq!(
        ledger.received(u64::MAX, epoch),
        None,
        "beyond the capacity"
    );
    assert_eq!(ledger.audit(1).sent, 1);
}

#[test]
fn the_audit_counts_lost_duplicate_and_unacknowledged_receipts() {
    let epoch = Instant::now();
    let ledger = Ledger::new(epoch, 100_000);
    // Three subscriptions: update 0 is received by all, 1 by two, 2 by none, 3 four times
    // (a duplicate), 4 failed but was received once anyway, 5 was never answered.
    for (seq, acked, receipts) in [
        (0u64, true, 3),
        (1, true, 2),
        (2, true, 0),
        (3, true, 4),
        (4, false, 1),
    ] {
        assert!(ledger.sent(seq, epoch));
        ledger.answered(seq, acked);
        for _ in 0..receipts {
            assert!(ledger.received(seq, epoch).is_some());
        }
    }
    assert!(ledger.sent(70_000, epoch), "a second chunk");
    let audit = ledger.audit(3);
    assert_eq!(
        audit,
        Audit {
            sent: 6,
            acked: 4,
            not_acked: 2,
            expected: 12,
            received: 3 + 2 + 3,
            lost: 1 + 3,
            updates_short: 2,
            duplicates: 1,
            received_not_acked: 1,
        }
    );
}

#[test]
fn the_capacity_is_whole_chunks_and_bounded() {
    let epoch = Instant::now();
    let small = Ledger::new(epoch, 10);
    assert_eq!(small.capacity(), CHUNK);
    assert!(small.sent(CHUNK - 1, epoch));
    assert!(!small.sent(CHUNK, epoch));
    assert_eq!(Ledger::new(epoch, 0).capacity(), CHUNK);
    assert_eq!(Ledger::new(epoch, u64::MAX).capacity(), MAX_CAPACITY);
}

#[test]
fn concurrent_receipts_are_all_counted() {
    let epoch = Instant::now();
    let ledger = std::sync::Arc::new(Ledger::new(epoch, 1_000));
    for seq in 0..1_000 {
        assert!(ledger.sent(seq, epoch));
        ledger.answered(seq, true);
    }
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let ledger = std::sync::Arc::clone(&ledger);
            std::thread::spawn(move || {
                for seq in 0..1_000 {
                    let _ = ledger.received(seq, epoch);
                }
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().is_ok());
    }
    let audit = ledger.audit(4);
    assert_eq!(
        (audit.received, audit.lost, audit.duplicates),
        (4_000, 0, 0)
    );
}
