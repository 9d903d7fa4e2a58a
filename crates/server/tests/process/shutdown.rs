//! Graceful shutdown: SIGTERM during a burst of writes that a subscription is notified of.
//! The broker exits 0 with an empty write-ahead log; after the restart every acknowledged
//! write is there, the subscription was notified of every acknowledged change, and its
//! delivery counters were saved. Changes the grace period could not deliver are notified
//! by the restarted broker.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::common::{
    exit_code, free_port, get_json, meter, missing_entities, post_json, rigel_command, spawn_rigel,
    start_receiver, subscribe_to_meters, terminate, terminate_cleanly, wait_ready, Burst, Start,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_write_and_notification_burst_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    let client = reqwest::Client::new();
    // A slow endpoint, so that changes are still queued when SIGTERM comes.
    let (receiver_port, received) = start_receiver(Duration::from_millis(250)).await;
    let mut child = spawn_rigel(dir.path(), port);
    wait_ready(&client, &base).await;
    subscribe_to_meters(
        &client,
        &base,
        "urn:ngsi-ld:Subscription:burst",
        receiver_port,
    )
    .await;

    let burst = Burst::start(&client, &base, 16);
    burst.wait_for(300).await;
    terminate(&child);
    let code = exit_code(&mut child, Duration::from_secs(30)).await;
    let acked = burst.finish().await;
    assert_eq!(code, Some(0), "a graceful shutdown exits 0");
    let wal = std::fs::metadata(dir.path().join("rigel.wal")).unwrap();
    assert_eq!(
        wal.len(),
        0,
        "a clean close leaves an empty write-ahead log"
    );
    let notified: HashSet<String> = received
        .lock()
        .unwrap()
        .iter()
        .flat_map(|n| n["data"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .collect();
    let notifications = received.lock().unwrap().len();

    let mut child = spawn_rigel(dir.path(), port);
    wait_ready(&client, &base).await;
    let missing = missing_entities(&client, &base, &acked).await;
    let stored = get_json(
        &client,
        &format!("{base}/subscriptions/urn:ngsi-ld:Subscription:burst"),
    )
    .await;
    terminate_cleanly(&mut child).await;

    assert!(
        missing.is_empty(),
        "{} acknowledged writes lost",
        missing.len()
    );
    let unnotified: Vec<&String> = acked.iter().filter(|id| !notified.contains(*id)).collect();
    assert!(
        unnotified.is_empty(),
        "{} of {} acknowledged changes never notified, e.g. {:?}",
        unnotified.len(),
        acked.len(),
        &unnotified[..unnotified.len().min(3)]
    );
    assert_eq!(
        stored["notification"]["timesSent"],
        serde_json::json!(notifications),
        "the counters were saved at shutdown: {stored}"
    );
    assert!(
        stored["notification"]
            .get("lostNotifications")
            .is_none_or(|l| l == 0),
        "{stored}"
    );
}

/// When the grace period is too short for a slow endpoint, what is left undelivered stays in
/// the outbox (ADR 0003): the broker still exits 0 on time, nothing is counted as lost, and
/// the restarted broker notifies every change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_left_undelivered_at_the_end_of_the_grace_are_notified_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    let client = reqwest::Client::new();
    let (receiver_port, received) = start_receiver(Duration::from_secs(2)).await;
    let mut child = rigel_command(dir.path(), port, free_port())
        .args(["--log-level", "error", "--shutdown-grace-secs", "1"])
        .start();
    wait_ready(&client, &base).await;
    subscribe_to_meters(
        &client,
        &base,
        "urn:ngsi-ld:Subscription:slow",
        receiver_port,
    )
    .await;
    let acked: usize = 200;
    for n in 0..acked {
        let body = meter(&format!("urn:ngsi-ld:Meter:{n}"), n as u64);
        let status = post_json(&client, &format!("{base}/entities"), &body).await;
        assert_eq!(status, 201);
    }
    let started = Instant::now();
    terminate_cleanly(&mut child).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the grace period bounds the stop"
    );
    let notified_ids = || -> HashSet<String> {
        received
            .lock()
            .unwrap()
            .iter()
            .flat_map(|n| n["data"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| e["id"].as_str().map(str::to_owned))
            .collect()
    };
    let before = notified_ids().len();
    assert!(
        before < acked,
        "everything was delivered in time; the test proves nothing"
    );

    let mut child = rigel_command(dir.path(), port, free_port())
        .args(["--log-level", "error"])
        .start();
    wait_ready(&client, &base).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while notified_ids().len() < acked {
        assert!(
            Instant::now() < deadline,
            "{} of {acked} changes notified after the restart",
            notified_ids().len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stored = get_json(
        &client,
        &format!("{base}/subscriptions/urn:ngsi-ld:Subscription:slow"),
    )
    .await;
    terminate_cleanly(&mut child).await;
    let lost = stored["notification"]["lostNotifications"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(lost, 0, "{stored}");
}
