//! Behaviour of the notify scenario's receiver side: counting notifications per
//! subscription and matching notified values to updates.

use std::time::Duration;

use super::*;

const BASE: u64 = 7_000_000_000;

fn inbox(subscriptions: usize) -> (Inbox, Arc<Ledger>, Instant) {
    let epoch = Instant::now();
    let ledger = Arc::new(Ledger::new(epoch, 1_000));
    for seq in 0..3 {
        assert!(ledger.sent(seq, epoch));
        ledger.answered(seq, true);
    }
    let inbox = Inbox::new(Arc::clone(&ledger), BASE, subscriptions, epoch);
    (inbox, ledger, epoch)
}

fn notification(values: &[String]) -> Vec<u8> {
    let data: Vec<String> = values
        .iter()
        .map(|v| {
            format!(
                r#"{{"id":"urn:ngsi-ld:BenchVehicle:r-s0","type":"BenchVehicle","brand":{{"type":"Property","value":"Volvo"}},"mileage":{v}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"id":"urn:ngsi-ld:Notification:1","type":"Notification","subscriptionId":"urn:s","notifiedAt":"2026-01-01T00:00:00.000Z","data":[{}]}}"#,
        data.join(",")
    )
    .into_bytes()
}

fn mileage(seq: u64) -> String {
    format!(
        r#"{{"type":"Property","value":{},"observedAt":"2026-01-01T00:00:00.000Z"}}"#,
        BASE + seq
    )
}

#[test]
fn a_batched_notification_books_each_entity_for_its_subscription() {
    let (inbox, ledger, epoch) = inbox(2);
    let at = epoch + Duration::from_millis(4);
    let body = notification(&[mileage(0), mileage(1)]);
    assert_eq!(inbox.handle("POST", "/notify/1", &body, at), 200);
    let body = notification(&[mileage(0)]);
    assert_eq!(inbox.handle("POST", "/notify/0", &body, at), 200);

    let count = |k: usize| {
        inbox.per_subscription.get(k).map(|c| {
            (
                c.notifications.load(Ordering::Relaxed),
                c.entities.load(Ordering::Relaxed),
            )
        })
    };
    assert_eq!(count(0), Some((1, 1)));
    assert_eq!(count(1), Some((1, 2)));
    assert_eq!(inbox.notifications(), 2);
    assert_eq!(inbox.entities.load(Ordering::Relaxed), 3);
    assert_eq!(inbox.last_receipt(), Some(at));

    let delays = inbox.delays();
    assert_eq!(delays.count(), 3);
    assert_eq!(delays.max(), 4_000);

    let audit = ledger.audit(2);
    assert_eq!((audit.expected, audit.received, audit.lost), (6, 3, 3));
    assert_eq!(audit.updates_short, 2, "update 1 once, update 2 never");
}

#[test]
fn the_expanded_attribute_name_is_read_too() {
    let (inbox, ledger, epoch) = inbox(1);
    let body = format!(
        r#"{{"data":[{{"id":"urn:x","https://uri.etsi.org/ngsi-ld/default-context/mileage":{}}}]}}"#,
        mileage(2)
    );
    assert_eq!(
        inbox.handle("POST", "/notify/0", body.as_bytes(), epoch),
        200
    );
    assert_eq!(inbox.unknown.load(Ordering::Relaxed), 0);
    assert_eq!(ledger.audit(1).received, 1);
}

#[test]
fn values_this_run_did_not_write_are_unknown() {
    let (inbox, ledger, epoch) = inbox(1);
    let foreign = [
        r#"{"type":"Property","value":12345}"#.to_owned(),
        mileage(999),
        r#"{"type":"Property","value":"text"}"#.to_owned(),
        r#"{"type":"Property"}"#.to_owned(),
    ];
    let body = notification(&foreign);
    assert_eq!(inbox.handle("POST", "/notify/0", &body, epoch), 200);
    let body = br#"{"data":[{"id":"urn:x","type":"T"}]}"#;
    assert_eq!(inbox.handle("POST", "/notify/0", body, epoch), 200);
    assert_eq!(inbox.unknown.load(Ordering::Relaxed), 5);
    assert_eq!(inbox.entities.load(Ordering::Relaxed), 5);
    assert_eq!(ledger.audit(1).received, 0);
    assert_eq!(inbox.delays().count(), 0);
}

#[test]
fn unreadable_bodies_are_counted_but_still_answered_ok() {
    let (inbox, _, epoch) = inbox(1);
    assert_eq!(inbox.handle("POST", "/notify/0", b"not json", epoch), 200);
    assert_eq!(
        inbox.handle("POST", "/notify/0", br#"{"data":{"id":"urn:x"}}"#, epoch),
        200
    );
    assert_eq!(inbox.malformed.load(Ordering::Relaxed), 2);
    assert_eq!(inbox.notifications(), 2);
}

#[test]
fn other_paths_and_methods_are_strays() {
    let (inbox, _, epoch) = inbox(2);
    assert_eq!(inbox.handle("POST", "/notify/2", b"{}", epoch), 404);
    assert_eq!(inbox.handle("POST", "/elsewhere", b"{}", epoch), 404);
    assert_eq!(inbox.handle("GET", "/notify/0", b"", epoch), 405);
    assert_eq!(inbox.strays.load(Ordering::Relaxed), 3);
    assert_eq!(inbox.notifications(), 0);
    assert_eq!(inbox.last_receipt(), None);
}
