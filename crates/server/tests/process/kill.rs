//! Durability end to end: entities (with their history) and subscriptions acknowledged with 201 by a real `rigel`
//! process survive a SIGKILL of that process, and subscriptions keep firing afterwards;
//! changes still queued for notification when it dies are notified after the restart, and
//! those already notified are not notified again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::common::{
    free_port, get_json, meter, missing_entities, post_json, spawn_rigel, start_receiver,
    subscribe_to_bins, subscribe_to_meters, wait_ready, Burst,
};

/// Clause 5.6.1 and the durability promise: a 201 means the entity is on disk, and so is the
/// instance its creation added to the history (5.7.3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entities_acknowledged_before_sigkill_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    let client = reqwest::Client::new();
    let mut child = spawn_rigel(dir.path(), port);
    wait_ready(&client, &base).await;

    let burst = Burst::start(&client, &base, 16);
    // Kill while writes are in full flight, right after at least 500 acknowledgements.
    burst.wait_for(500).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let acked = burst.finish().await;

    let mut child = spawn_rigel(dir.path(), port);
    wait_ready(&client, &base).await;
    let missing = missing_entities(&client, &base, &acked).await;
    let mut no_history = Vec::new();
    for id in &acked {
        let history = get_json(&client, &format!("{base}/temporal/entities/{id}")).await;
        let kept = history["reading"][0]["value"].is_u64();
        if !kept {
            no_history.push(id.clone());
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged entities lost: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(
        no_history.is_empty(),
        "{} of {} acknowledged creations missing from the history: {:?}",
        no_history.len(),
        acked.len(),
        &no_history[..no_history.len().min(5)]
    );
}

async fn wait_for_notifications(received: &Mutex<Vec<serde_json::Value>>, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.lock().unwrap().len() < n {
        assert!(
            Instant::now() < deadline,
            "expected {n} notifications, got {}",
            received.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn set_reading(client: &reqwest::Client, base: &str, value: u64) {
    let r = client
        .patch(format!("{base}/entities/urn:ngsi-ld:Meter:1/attrs/reading"))
        .json(&serde_json::json!({"type": "Property", "value": value}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

/// Clauses 5.8.1.4 and 5.8.6 with the durability promise: a subscription acknowledged with
/// 201 and its delivery counters survive a SIGKILL (counters are saved every second), and the
/// subscription keeps notifying after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_and_their_counters_survive_a_restart_and_keep_firing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    let client = reqwest::Client::new();
    let (receiver_port, received) = start_receiver(Duration::ZERO).await;
    let mut child = spawn_rigel(dir.path(), port);
    wait_ready(&client, &base).await;

    subscribe_to_meters(
        &client,
        &base,
        "urn:ngsi-ld:Subscription:restart",
        receiver_port,
    )
    .await;
    let status = post_json(
        &client,
        &format!("{base}/entities"),
        &meter("urn:ngsi-ld:Meter:1", 0),
    )
    .await;
    assert_eq!(status, 201);
    // One notification per change: the patch waits for the creation's notification, which
    // a busy worker would otherwise send together with the patch in one notification.
    wait_for_notifications(&received, 1).await;
    set_reading(&client, &base, 1).await;
    wait_for_notifications(&received, 2).await;
    // Longer than the counters' save interval, then no chance to shut down cleanly.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().unwrap();
    child.wait().unwrap();

    let mut child = spawn_rigel(dir.path(), port);
    wait_ready(&client, &base).await;
    let stored = get_json(
        &client,
        &format!("{base}/subscriptions/urn:ngsi-ld:Subscription:restart"),
    )
    .await;
    assert_eq!(stored["notification"]["timesSent"], 2, "{stored}");
    assert_eq!(stored["notification"]["status"], "ok", "{stored}");
    set_reading(&client, &base, 2).await;
    wait_for_notifications(&received, 3).await;
    let last = received.lock().unwrap()[2].clone();
    assert_eq!(last["subscriptionId"], "urn:ngsi-ld:Subscription:restart");
    assert_eq!(last["data"][0]["reading"]["value"], 2);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Clause 5.11 with the durability promise: a registration subscription acknowledged with
/// 201 survives a SIGKILL as a registration subscription (not an entity one), and still
/// notifies registration changes after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_subscriptions_survive_a_restart_and_keep_notifying() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    let client = reqwest::Client::new();
    let (receiver_port, received) = start_receiver(Duration::ZERO).await;
    let mut child = spawn_rigel(dir.path(), port);
    wait_ready(&client, &base).await;
    let id = "urn:ngsi-ld:Subscription:sources";
    let subscription = serde_json::json!({
        "id": id,
        "type": "Subscription",
        "entities": [{"type": "Meter"}],
        "notification": {"endpoint": {"uri": format!("http://127.0.0.1:{receiver_port}/notify")}}
    });
    let status = post_json(
        &client,
        &format!("{base}/csourceSubscriptions"),
        &subscription,
    )
    .await;
    assert_eq!(status, 201);
    child.kill().unwrap();
    child.wait().unwrap();

    let mut child = spawn_rigel(dir.path(), port);
    wait_ready(&client, &base).await;
    let stored = get_json(&client, &format!("{base}/csourceSubscriptions/{id}")).await;
    assert_eq!(stored["id"], id, "{stored}");
    let entity_route = client
        .get(format!("{base}/subscriptions/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(entity_route.status(), 404);
    let registration = serde_json::json!({
        "id": "urn:ngsi-ld:ContextSourceRegistration:meters",
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": "Meter"}]}],
        "endpoint": "http://127.0.0.1:9/source"
    });
    let status = post_json(
        &client,
        &format!("{base}/csourceRegistrations"),
        &registration,
    )
    .await;
    assert_eq!(status, 201);
    wait_for_notifications(&received, 1).await;
    let notification = received.lock().unwrap()[0].clone();
    assert_eq!(notification["type"], "ContextSourceNotification");
    assert_eq!(notification["subscriptionId"], id);
    assert_eq!(notification["triggerReason"], "newlyMatching");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// ADR 0003's outbox: a change acknowledged to its writer is notified even when the broker
/// is killed while the change is still queued; the restarted broker offers it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_queued_when_the_broker_is_killed_are_notified_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    let client = reqwest::Client::new();
    let mut first = spawn_rigel(dir.path(), port);
    wait_ready(&client, &base).await;
    // A slow receiver: the burst is still queued when the broker dies.
    let received = subscribe_to_bins(&client, &base, Duration::from_millis(300)).await;
    crate::mongodb::create_round_robin(&client, &[&base], "urn:ngsi-ld:Bin:burst-", 20).await;
    first.kill().unwrap();
    first.wait().unwrap();
    let before = crate::mongodb::notified(&received, "urn:ngsi-ld:Bin:burst-").len();
    assert!(
        before < 20,
        "the burst was already delivered ({before}); the test proves nothing"
    );

    let _second = spawn_rigel(dir.path(), port);
    wait_ready(&client, &base).await;
    let counts = crate::mongodb::settle(&received, "urn:ngsi-ld:Bin:burst-", 20).await;
    assert!(
        counts.values().all(|n| *n >= 1),
        "every acknowledged change notified: {counts:?}"
    );
}

/// Changes notified and forgotten in the outbox are not notified again after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_already_notified_are_not_notified_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    let client = reqwest::Client::new();
    let mut first = spawn_rigel(dir.path(), port);
    wait_ready(&client, &base).await;
    let received = subscribe_to_bins(&client, &base, Duration::ZERO).await;
    crate::mongodb::create_round_robin(&client, &[&base], "urn:ngsi-ld:Bin:once-", 10).await;
    crate::mongodb::settle(&received, "urn:ngsi-ld:Bin:once-", 10).await;
    // settle waited two seconds more: the outbox has been cleared meanwhile.
    first.kill().unwrap();
    first.wait().unwrap();

    let _second = spawn_rigel(dir.path(), port);
    wait_ready(&client, &base).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let counts = crate::mongodb::notified(&received, "urn:ngsi-ld:Bin:once-");
    assert!(
        counts.values().all(|n| *n == 1),
        "notified again after the restart: {counts:?}"
    );
}
