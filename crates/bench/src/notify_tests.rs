//! Behaviour of the notify scenario's draining rule and broker counter reading.

use super::*;

#[test]
fn draining_ends_when_complete_quiet_or_out_of_time() {
    let t0 = Instant::now();
    let s = |n: u64| t0 + Duration::from_secs(n);
    let (quiet, max) = (Duration::from_secs(2), Duration::from_secs(30));
    assert_eq!(
        drain_end(true, s(0), t0, t0, quiet, max),
        Some(DrainEnd::Complete)
    );
    assert_eq!(drain_end(false, s(1), t0, t0, quiet, max), None);
    assert_eq!(
        drain_end(false, s(2), t0, t0, quiet, max),
        Some(DrainEnd::Quiet)
    );
    // Receipts still trickling in keep the wait going, up to the limit.
    assert_eq!(drain_end(false, s(29), t0, s(28), quiet, max), None);
    assert_eq!(
        drain_end(false, s(30), t0, s(29), quiet, max),
        Some(DrainEnd::Limit)
    );
}

#[test]
fn delivery_counters_are_read_from_the_notification_member() {
    let body = br#"{"id":"urn:s","type":"Subscription","notification":{"format":"normalized","timesSent":12,"timesFailed":1}}"#;
    assert_eq!(delivery_counters(body), Some((12, 1)));
    let none_yet =
        br#"{"id":"urn:s","type":"Subscription","notification":{"format":"normalized"}}"#;
    assert_eq!(delivery_counters(none_yet), Some((0, 0)));
    assert_eq!(delivery_counters(b"{}"), None);
    assert_eq!(delivery_counters(b"<html>"), None);
}
