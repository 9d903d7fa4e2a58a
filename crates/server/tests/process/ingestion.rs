//! MQTT ingestion, black box, through Debian's mosquitto on 127.0.0.1:1883 (required when
//! `RIGEL_REQUIRE_MOSQUITTO=1`): the broker started with `--ingest-rules` turns sensor
//! messages into ParkingSpot entities with a history, tells a subscriber, accounts for a
//! rejected message on the rule and in the metrics; rules made through the API run at once
//! and after a restart; two brokers over one database split a rule's messages.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::net::TcpStream;

use crate::common::*;

async fn mosquitto_listens() -> bool {
    if TcpStream::connect("127.0.0.1:1883").await.is_ok() {
        return true;
    }
    let required = std::env::var("RIGEL_REQUIRE_MOSQUITTO").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "RIGEL_REQUIRE_MOSQUITTO=1 but nothing listens on 127.0.0.1:1883"
    );
    eprintln!("note: no MQTT broker on 127.0.0.1:1883; skipping the ingestion test");
    false
}

/// A rules file in `dir` with the parking rule on `<prefix>/parking/+`.
fn parking_rules(dir: &std::path::Path, prefix: &str) -> std::path::PathBuf {
    let rules = dir.join("rules.json");
    std::fs::write(
        &rules,
        json!({"rules": [{
            "id": "parking",
            "broker": "mqtt://127.0.0.1:1883",
            "topic": format!("{prefix}/parking/+"),
            "entity": {"id": "urn:ngsi-ld:ParkingSpot:{sensor_id}", "type": "ParkingSpot"},
            "observedAt": "timestamp",
            "attributes": {
                "status": {"field": "status"},
                "zone": {"value": "urn:ngsi-ld:Zone:{topic[2]}", "kind": "Relationship"}
            },
            "required": ["sensor_id", "status", "timestamp"],
            "fields": {"status": {"enum": ["occupied", "vacant"]}, "timestamp": {"type": "date-time"}},
            "deadLetterTopic": format!("{prefix}/dead")
        }]})
        .to_string(),
    )
    .unwrap();
    rules
}

#[tokio::test]
async fn sensor_messages_become_entities_with_history_and_notifications() {
    if !mosquitto_listens().await {
        return;
    }
    let prefix = format!("rigelproc{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let rules = parking_rules(dir.path(), &prefix);
    let port = free_port();
    let admin = free_port();
    let _rigel = rigel_command(&dir.path().join("data"), port, admin)
        .args(["--log-level", "error", "--ingest-rules"])
        .arg(&rules)
        .start();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    let rules_url = format!("http://127.0.0.1:{port}/ngsi-ld/ex/v1/ingestion/rules");
    wait_ready(&client, &base).await;
    let started = Instant::now();
    while get_json(&client, &rules_url).await[0]["connection"]["status"] != "connected" {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the ingestion never connected"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A subscriber told when a spot becomes vacant.
    let (receiver, notified) = start_receiver(Duration::ZERO).await;
    let subscription = json!({
        "type": "Subscription", "entities": [{"type": "ParkingSpot"}], "q": "status==\"vacant\"",
        "notification": {"endpoint": {"uri": format!("http://127.0.0.1:{receiver}/notify")}}
    });
    assert_eq!(
        post_json(&client, &format!("{base}/subscriptions"), &subscription).await,
        201
    );

    let mut options = rumqttc::MqttOptions::new(format!("{prefix}pub"), "127.0.0.1", 1883);
    options.set_keep_alive(Duration::from_secs(30));
    let (publisher, mut events) = rumqttc::AsyncClient::new(options, 16);
    tokio::spawn(async move { while events.poll().await.is_ok() {} });
    let topic = format!("{prefix}/parking/lotA");
    for payload in [
        json!({"sensor_id": "lotA-017", "status": "occupied", "timestamp": "2026-12-05T08:00:00Z"}),
        json!({"sensor_id": "lotA-017", "status": "vacant", "timestamp": "2026-12-05T08:05:00Z"}),
        json!({"sensor_id": "lotA-018", "status": "full", "timestamp": "2026-12-05T08:06:00Z"}),
    ] {
        publisher
            .publish(
                &topic,
                rumqttc::QoS::AtLeastOnce,
                false,
                payload.to_string(),
            )
            .await
            .unwrap();
    }

    let started = Instant::now();
    loop {
        let rule = &get_json(&client, &rules_url).await[0];
        if rule["counters"]["applied"] == 2 && rule["counters"]["rejected"] == 1 {
            assert!(rule["counters"]["lastRejection"]["reason"]
                .as_str()
                .unwrap()
                .contains("not one of"));
            assert_eq!(rule["broker"], "mqtt://127.0.0.1:1883");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{rule}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let spot = get_json(
        &client,
        &format!("{base}/entities/urn:ngsi-ld:ParkingSpot:lotA-017"),
    )
    .await;
    assert_eq!(spot["status"]["value"], "vacant");
    assert_eq!(spot["zone"]["object"], "urn:ngsi-ld:Zone:lotA");
    let history = get_json(
        &client,
        &format!("{base}/temporal/entities/urn:ngsi-ld:ParkingSpot:lotA-017?attrs=status"),
    )
    .await;
    let values: Vec<&Value> = history["status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["value"])
        .collect();
    assert_eq!(values.len(), 2, "{history}");
    let started = Instant::now();
    while notified.lock().unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no notification"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = client
        .get(format!("http://127.0.0.1:{admin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("rigel_ingest_messages_total{rule=\"parking\",outcome=\"rejected\"} 1"),
        "{metrics}"
    );
    // A rule of the file is changed in the file, not through the API.
    let delete = client
        .delete(format!("{rules_url}/parking"))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 422);
}

/// Publishes one message at QoS 1 and waits for mosquitto's acknowledgement.
async fn publish(name: &str, topic: &str, payload: Value) {
    let mut options = rumqttc::MqttOptions::new(name, "127.0.0.1", 1883);
    options.set_keep_alive(Duration::from_secs(30));
    let (publisher, mut events) = rumqttc::AsyncClient::new(options, 16);
    publisher
        .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload.to_string())
        .await
        .unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), events.poll()).await {
            Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_)))) => break,
            Ok(Ok(_)) => {}
            other => panic!("publish to mosquitto failed: {other:?}"),
        }
    }
    let _ = publisher.disconnect().await;
}

/// Waits until the entity exists with that status.
async fn until_status(client: &reqwest::Client, url: &str, status: &str) {
    let started = Instant::now();
    loop {
        let r = client.get(url).send().await.unwrap();
        if r.status() == 200 && r.json::<Value>().await.unwrap()["status"]["value"] == status {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{url} never got {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn rules_made_through_the_api_run_at_once_and_again_after_a_restart() {
    if !mosquitto_listens().await {
        return;
    }
    let prefix = format!("rigelapi{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    let rules_url = format!("http://127.0.0.1:{port}/ngsi-ld/ex/v1/ingestion/rules");
    let rule = |topic: &str| {
        json!({
            "id": "bins",
            "broker": "mqtt://127.0.0.1:1883",
            "topic": format!("{prefix}/{topic}/+"),
            "entity": {"id": "urn:ngsi-ld:Bin:{id}", "type": "Bin"},
            "attributes": {"status": {"field": "status"}},
            "required": ["id"]
        })
    };
    let mut rigel = rigel_command(dir.path(), port, free_port())
        .args(["--log-level", "error"])
        .start();
    wait_ready(&client, &base).await;

    assert_eq!(post_json(&client, &rules_url, &rule("bins")).await, 201);
    assert_eq!(post_json(&client, &rules_url, &rule("bins")).await, 409);
    let bad = json!({"id": "bad", "broker": "mqtt://127.0.0.1:1883", "topic": "a/#/b", "payload": "ngsi-ld"});
    let refused = client.post(&rules_url).json(&bad).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    let problem: Value = refused.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("'#'"),
        "{problem}"
    );
    let metadata = json!({"id": "cloud", "broker": "mqtt://169.254.169.254:1883", "topic": "x", "payload": "ngsi-ld"});
    assert_eq!(post_json(&client, &rules_url, &metadata).await, 400);

    publish(
        &format!("{prefix}a"),
        &format!("{prefix}/bins/north"),
        json!({"id": "1", "status": "full"}),
    )
    .await;
    until_status(
        &client,
        &format!("{base}/entities/urn:ngsi-ld:Bin:1"),
        "full",
    )
    .await;

    // Replaced: another topic.
    let put = client
        .put(format!("{rules_url}/bins"))
        .json(&rule("containers"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 204);
    let listed = get_json(&client, &rules_url).await;
    assert_eq!(listed[0]["topic"], format!("{prefix}/containers/+"));

    // After a restart the saved rule runs again.
    terminate_cleanly(&mut rigel).await;
    let _rigel = rigel_command(dir.path(), port, free_port())
        .args(["--log-level", "error"])
        .start();
    wait_ready(&client, &base).await;
    let started = Instant::now();
    while get_json(&client, &rules_url).await[0]["connection"]["status"] != "connected" {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the saved rule never connected"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    publish(
        &format!("{prefix}b"),
        &format!("{prefix}/containers/south"),
        json!({"id": "2", "status": "empty"}),
    )
    .await;
    until_status(
        &client,
        &format!("{base}/entities/urn:ngsi-ld:Bin:2"),
        "empty",
    )
    .await;

    let deleted = client
        .delete(format!("{rules_url}/bins"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(get_json(&client, &rules_url).await, json!([]));
    let again = client
        .delete(format!("{rules_url}/bins"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
}

/// Two brokers over one MongoDB-compatible database run the same rules file: the rule joins
/// the shared subscription group `rigel` by itself, so mosquitto hands each message to one
/// of them and every message is written once (one history instance per message).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_over_one_database_split_a_rules_messages_and_write_each_once() {
    if !mosquitto_listens().await {
        return;
    }
    let Some(program) = crate::mongodb::secantus() else {
        return;
    };
    let prefix = format!("rigelrepl{}", std::process::id());
    let data = tempfile::tempdir().unwrap();
    let db_port = free_port();
    let _database = crate::mongodb::start_database(&program, data.path(), db_port).await;
    let rules = parking_rules(data.path(), &prefix);
    let client = reqwest::Client::new();
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let running = rigel_command(dir.path(), port, free_port())
            .args(["--log-level", "error", "--mongo-database", "replicas"])
            .arg("--store")
            .arg(format!("mongodb://127.0.0.1:{db_port}/?retryWrites=false"))
            .arg("--ingest-rules")
            .arg(&rules)
            .start();
        wait_ready(&client, &format!("http://127.0.0.1:{port}/ngsi-ld/v1")).await;
        replicas.push((running, port, dir));
    }
    let rules_of = |port: u16| format!("http://127.0.0.1:{port}/ngsi-ld/ex/v1/ingestion/rules");
    for (_, port, _) in &replicas {
        let started = Instant::now();
        loop {
            let rule = get_json(&client, &rules_of(*port)).await[0].clone();
            assert_eq!(rule["shareGroup"], "rigel", "{rule}");
            if rule["connection"]["status"] == "connected" {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(15), "{rule}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = 40u64;
    for i in 0..sent {
        let message = json!({"sensor_id": format!("s{i}"), "status": "vacant",
            "timestamp": format!("2026-12-05T08:00:{:02}Z", i % 60)});
        let published = std::process::Command::new("mosquitto_pub")
            .args([
                "-h",
                "127.0.0.1",
                "-q",
                "1",
                "-t",
                &format!("{prefix}/parking/lotA"),
            ])
            .args(["-m", &message.to_string()])
            .status()
            .unwrap();
        assert!(published.success());
    }
    let counters = |field: &'static str| {
        let client = client.clone();
        let ports: Vec<u16> = replicas.iter().map(|(_, p, _)| *p).collect();
        async move {
            let mut each = Vec::new();
            for port in ports {
                let rule = get_json(&client, &rules_of(port)).await;
                each.push(rule[0]["counters"][field].as_u64().unwrap_or(0));
            }
            each
        }
    };
    let started = Instant::now();
    while counters("applied").await.iter().sum::<u64>() < sent {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "applied: {:?}",
            counters("applied").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = counters("received").await;
    assert_eq!(received.iter().sum::<u64>(), sent, "{received:?}");
    let base = format!("http://127.0.0.1:{}/ngsi-ld/v1", replicas[0].1);
    for i in [0, sent / 2, sent - 1] {
        let history = get_json(
            &client,
            &format!("{base}/temporal/entities/urn:ngsi-ld:ParkingSpot:s{i}?attrs=status"),
        )
        .await;
        let instances = match &history["status"] {
            Value::Array(instances) => instances.len(),
            Value::Object(_) => 1,
            _ => panic!("no history of status: {history}"),
        };
        assert_eq!(instances, 1, "one write per message: {history}");
    }
}
