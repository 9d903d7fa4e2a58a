//! Durability end to end: entities and subscriptions acknowledged with 201 by a real `rigel`
//! process survive a SIGKILL of that process, and subscriptions keep firing afterwards.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{
    free_port, get_json, meter, missing_entities, post_json, spawn_rigel, start_receiver,
    subscribe_to_meters, wait_ready,
};

/// Clause 5.6.1 and the durability promise: a 201 means the entity is on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entities_acknowledged_before_sigkill_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    let client = reqwest::Client::new();
    let mut child = spawn_rigel(dir.path(), port);
    wait_ready(&client, &base).await;

    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..16 {
        let (client, base, acked, stop) =
            (client.clone(), base.clone(), acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let id = format!("urn:ngsi-ld:Sensor:w{w}-{n}");
                n += 1;
                let body = serde_json::json!({"id": id, "type": "Sensor", "reading": {"type": "Property", "value": n}});
                match client.post(format!("{base}/entities")).json(&body).send().await {
                    Ok(r) if r.status() == 201 => acked.lock().unwrap().push(id),
                    Ok(r) => panic!("unexpected status {}", r.status()),
                    Err(_) => break, // the process is gone
                }
            }
        }));
    }
    // Kill while writes are in full flight, right after at least 500 acknowledgements.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 500 {
        assert!(
            Instant::now() < deadline,
            "the writers did not get 500 acknowledgements in time"
        );
        assert!(
            writers.iter().any(|w| !w.is_finished()),
            "every writer stopped early"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();

    let mut child = spawn_rigel(dir.path(), port);
    wait_ready(&client, &base).await;
    let missing = missing_entities(&client, &base, &acked).await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged entities lost: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
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
