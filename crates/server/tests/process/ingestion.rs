//! MQTT ingestion, black box, through Debian's mosquitto on 127.0.0.1:1883 (required when
//! `RIGEL_REQUIRE_MOSQUITTO=1`): the broker started with `--ingest-rules` turns sensor
//! messages into ParkingSpot entities with a history, tells a subscriber, accounts for a
//! rejected message on the rule, in the metrics and on the dead-letter topic, and says that
//! rules cannot be managed through the API yet.

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

#[tokio::test]
async fn sensor_messages_become_entities_with_history_and_notifications() {
    if !mosquitto_listens().await {
        return;
    }
    let prefix = format!("rigelproc{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.json");
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
    let create = client
        .post(&rules_url)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), 422);
}
