//! Ingestion end to end through Debian's mosquitto on 127.0.0.1:1883 (required when
//! `RIGEL_REQUIRE_MOSQUITTO=1`, as CI sets): sensors publish, entities appear in the store,
//! rejected messages are counted and republished to the dead-letter topic, on MQTT 5 and
//! 3.1.1, replicas in a shared subscription group write each message once, and a message
//! not yet written durably is not acknowledged, so it comes back. And
//! against an in-process MQTT broker: the PUBACK leaves only after the durable write.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use rigel_broker::Broker;
use rigel_ingest::{IngestSettings, Ingestion, Rule, RuleSpec};
use rigel_model::{AttributeValue, Entity, IdentityTerms, SystemClock, Tenant};
use rigel_query::EntityQuery;
use rigel_storage::{
    EntityHistory, EntityStore, HistoryHeader, HistoryQuery, Selected, Selection, Source,
    StorageError, Versioned, Visitor, WriteOp, WriteOutcome,
};
use rigel_storage_memory::MemoryStore;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

async fn mosquitto_listens() -> bool {
    let required = std::env::var("RIGEL_REQUIRE_MOSQUITTO").is_ok_and(|v| v == "1");
    if TcpStream::connect("127.0.0.1:1883").await.is_ok() {
        return true;
    }
    assert!(
        !required,
        "RIGEL_REQUIRE_MOSQUITTO=1 but nothing listens on 127.0.0.1:1883"
    );
    eprintln!("note: no MQTT broker on 127.0.0.1:1883; skipping the mosquitto test");
    false
}

/// A plain MQTT client: publishes, and forwards what it receives on `listen`.
async fn sensor(
    name: &str,
    listen: Option<&str>,
) -> (rumqttc::AsyncClient, mpsc::UnboundedReceiver<Value>) {
    let mut options = rumqttc::MqttOptions::new(name, "127.0.0.1", 1883);
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = rumqttc::AsyncClient::new(options, 64);
    if let Some(topic) = listen {
        client
            .subscribe(topic, rumqttc::QoS::AtLeastOnce)
            .await
            .unwrap();
    }
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                    let _ = tx.send(serde_json::from_slice(&p.payload).unwrap_or(Value::Null));
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    });
    (client, rx)
}

fn settings(name: &str) -> IngestSettings {
    IngestSettings {
        client_id: format!("rigel-test-{name}-{}", std::process::id()),
        keep_alive: Duration::from_secs(30),
        tls: None,
        egress: None,
        share_group: None,
    }
}

fn parking_rule(id: &str, prefix: &str, version: &str) -> Rule {
    let spec: RuleSpec = serde_json::from_value(json!({
        "id": id,
        "broker": "mqtt://127.0.0.1:1883",
        "mqttVersion": version,
        "topic": format!("{prefix}/parking/+"),
        "tenant": "city",
        "entity": {"id": "urn:ngsi-ld:ParkingSpot:{sensor_id}", "type": "ParkingSpot"},
        "observedAt": "timestamp",
        "attributes": {"status": {"field": "status"}},
        "required": ["sensor_id", "status", "timestamp"],
        "fields": {"status": {"enum": ["occupied", "vacant"]}, "timestamp": {"type": "date-time"}},
        "deadLetterTopic": format!("{prefix}/dead")
    }))
    .unwrap();
    Rule::new(spec).unwrap()
}

async fn status_of(store: &MemoryStore, id: &str) -> Option<Value> {
    let tenant = Tenant::named("city").unwrap();
    let entity = store.get(&tenant, id).await.unwrap()?.value;
    match &entity.attributes.get("status")?[0].value {
        AttributeValue::Property(v) => Some(v.clone()),
        _ => None,
    }
}

async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A topic prefix of this test run and MQTT version, and a broker over a memory store.
fn test_broker(tag: &str, version: &str) -> (String, Arc<MemoryStore>, Broker) {
    let prefix = format!(
        "rigel{tag}{}v{}",
        std::process::id(),
        version.replace('.', "")
    );
    let store = Arc::new(MemoryStore::new());
    let broker = Broker::new(
        Arc::clone(&store) as Arc<dyn EntityStore>,
        Arc::new(SystemClock),
    );
    (prefix, store, broker)
}

async fn sensors_update_spots_and_bad_messages_are_dead_lettered(version: &str) {
    let (prefix, store, broker) = test_broker("test", version);
    let ingestion = Ingestion::new(broker, settings(&prefix));
    ingestion
        .add(
            parking_rule("parking", &prefix, version),
            Arc::new(IdentityTerms),
        )
        .await
        .unwrap();
    let (publisher, mut dead) =
        sensor(&format!("{prefix}-pub"), Some(&format!("{prefix}/dead"))).await;
    until("the ingestion to connect", || {
        let up =
            ingestion.rules()[0].connection == rigel_ingest::ingestion::ConnectionState::Connected;
        async move { up }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let topic = format!("{prefix}/parking/lotA");
    let publish = |payload: Value| {
        let (publisher, topic) = (publisher.clone(), topic.clone());
        async move {
            publisher
                .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload.to_string())
                .await
                .unwrap();
        }
    };
    publish(
        json!({"sensor_id": "lotA-017", "status": "occupied", "timestamp": "2026-12-05T08:00:00Z"}),
    )
    .await;
    publish(
        json!({"sensor_id": "lotA-018", "status": "vacant", "timestamp": "2026-12-05T08:00:01Z"}),
    )
    .await;
    publish(
        json!({"sensor_id": "lotA-019", "status": "broken", "timestamp": "2026-12-05T08:00:02Z"}),
    )
    .await;
    publish(
        json!({"sensor_id": "lotA-017", "status": "vacant", "timestamp": "2026-12-05T08:01:00Z"}),
    )
    .await;

    until("the spots", || {
        let store = Arc::clone(&store);
        async move {
            status_of(&store, "urn:ngsi-ld:ParkingSpot:lotA-017").await == Some(json!("vacant"))
                && status_of(&store, "urn:ngsi-ld:ParkingSpot:lotA-018")
                    .await
                    .is_some()
        }
    })
    .await;
    assert_eq!(
        status_of(&store, "urn:ngsi-ld:ParkingSpot:lotA-019").await,
        None
    );
    let letter = tokio::time::timeout(Duration::from_secs(10), dead.recv())
        .await
        .expect("a dead letter")
        .unwrap();
    assert_eq!(letter["rule"], "parking");
    assert!(
        letter["reason"].as_str().unwrap().contains("not one of"),
        "{letter}"
    );
    assert!(letter["payload"].as_str().unwrap().contains("lotA-019"));
    let counters = &ingestion.rules()[0].counters;
    assert_eq!(
        (counters.received, counters.applied, counters.rejected),
        (4, 3, 1)
    );
    assert_eq!(counters.dead_lettered, 1);
}

#[tokio::test]
async fn sensors_update_their_spots_over_mqtt5_and_bad_messages_are_dead_lettered() {
    if mosquitto_listens().await {
        sensors_update_spots_and_bad_messages_are_dead_lettered("5").await;
    }
}

#[tokio::test]
async fn sensors_update_their_spots_over_mqtt311_and_bad_messages_are_dead_lettered() {
    if mosquitto_listens().await {
        sensors_update_spots_and_bad_messages_are_dead_lettered("3.1.1").await;
    }
}

/// Two Rigel replicas over one store subscribe in one shared group: every message is
/// received and written by exactly one of them, none twice (mosquitto deals them out).
async fn replicas_in_a_share_group_write_each_message_once(version: &str) {
    let (prefix, store, broker) = test_broker("share", version);
    let shared_rule = || {
        let mut spec = parking_rule("shared", &prefix, version).spec;
        spec.share_group = Some("rigel".into());
        Rule::new(spec).unwrap()
    };
    let replicas = [
        Ingestion::new(broker.clone(), settings(&format!("{prefix}a"))),
        Ingestion::new(broker, settings(&format!("{prefix}b"))),
    ];
    for replica in &replicas {
        replica
            .add(shared_rule(), Arc::new(IdentityTerms))
            .await
            .unwrap();
    }
    until("both replicas subscribed", || async {
        replicas.iter().all(|r| {
            r.rules()
                .iter()
                .all(|rule| rule.connection == rigel_ingest::ConnectionState::Connected)
        })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (publisher, _) = sensor(&format!("{prefix}pub"), None).await;
    let sent = 60;
    for i in 0..sent {
        let payload = json!({"sensor_id": format!("s{i}"), "status": "vacant",
            "timestamp": "2026-12-05T08:00:00Z"});
        publisher
            .publish(
                format!("{prefix}/parking/lotA"),
                rumqttc::QoS::AtLeastOnce,
                false,
                payload.to_string(),
            )
            .await
            .unwrap();
    }
    let applied = |r: &Ingestion| r.rules()[0].counters.applied;
    until("every message applied", || async {
        replicas.iter().map(applied).sum::<u64>() >= sent
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received: Vec<u64> = replicas
        .iter()
        .map(|r| r.rules()[0].counters.received)
        .collect();
    assert_eq!(received.iter().sum::<u64>(), sent, "{received:?}");
    assert!(
        received.iter().all(|&n| n > 0),
        "both replicas got some: {received:?}"
    );
    for i in 0..sent {
        assert!(status_of(&store, &format!("urn:ngsi-ld:ParkingSpot:s{i}"))
            .await
            .is_some());
    }
    for replica in &replicas {
        replica.shutdown().await;
    }
}

#[tokio::test]
async fn replicas_in_a_share_group_write_each_message_once_over_mqtt5() {
    if mosquitto_listens().await {
        replicas_in_a_share_group_write_each_message_once("5").await;
    }
}

#[tokio::test]
async fn replicas_in_a_share_group_write_each_message_once_over_mqtt311() {
    if mosquitto_listens().await {
        replicas_in_a_share_group_write_each_message_once("3.1.1").await;
    }
}

/// A store whose writes fail while `down` is set (a disk or database outage).
struct Flaky {
    inner: MemoryStore,
    down: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl EntityStore for Flaky {
    async fn get(&self, t: &Tenant, id: &str) -> Result<Option<Versioned<Entity>>, StorageError> {
        self.inner.get(t, id).await
    }
    async fn get_many(
        &self,
        t: &Tenant,
        ids: &[String],
    ) -> Result<Vec<Option<Versioned<Entity>>>, StorageError> {
        self.inner.get_many(t, ids).await
    }
    async fn commit(
        &self,
        t: &Tenant,
        ops: Vec<WriteOp>,
    ) -> Result<Vec<WriteOutcome>, StorageError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StorageError::Unavailable("the test says so".into()));
        }
        self.inner.commit(t, ops).await
    }
    async fn tenant_exists(&self, t: &Tenant) -> Result<bool, StorageError> {
        self.inner.tenant_exists(t).await
    }
    async fn tenants(&self) -> Result<Vec<Tenant>, StorageError> {
        self.inner.tenants().await
    }
    async fn ids_by_type(
        &self,
        t: &Tenant,
        type_iri: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        self.inner.ids_by_type(t, type_iri, after, limit).await
    }
    async fn select(&self, t: &Tenant, s: Selection) -> Result<Selected, StorageError> {
        self.inner.select(t, s).await
    }
    async fn visit(
        &self,
        t: &Tenant,
        q: Arc<EntityQuery>,
        v: Visitor,
    ) -> Result<usize, StorageError> {
        self.inner.visit(t, q, v).await
    }
    async fn types_in_use(&self, t: &Tenant) -> Result<Vec<String>, StorageError> {
        self.inner.types_in_use(t).await
    }
    async fn history_header(
        &self,
        t: &Tenant,
        id: &str,
    ) -> Result<Option<HistoryHeader>, StorageError> {
        self.inner.history_header(t, id).await
    }
    async fn history(
        &self,
        t: &Tenant,
        id: &str,
        q: &HistoryQuery,
    ) -> Result<Option<EntityHistory>, StorageError> {
        self.inner.history(t, id, q).await
    }
    async fn history_headers(
        &self,
        t: &Tenant,
        source: &Source,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<HistoryHeader>, StorageError> {
        self.inner.history_headers(t, source, after, limit).await
    }
}

/// A message that arrived while writes failed is not acknowledged: when that Rigel goes
/// away (a crash, here a dropped connection) the MQTT broker keeps it for the session, and
/// the next Rigel with the same session gets it and writes it.
#[tokio::test]
async fn a_message_not_yet_durable_is_not_acknowledged_and_comes_back() {
    if !mosquitto_listens().await {
        return;
    }
    let prefix = format!("rigeltest{}redeliver", std::process::id());
    let flaky = Arc::new(Flaky {
        inner: MemoryStore::new(),
        down: std::sync::atomic::AtomicBool::new(true),
    });
    let first = Ingestion::new(
        Broker::new(
            Arc::clone(&flaky) as Arc<dyn EntityStore>,
            Arc::new(SystemClock),
        ),
        settings(&prefix),
    );
    first
        .add(
            parking_rule("parking", &prefix, "5"),
            Arc::new(IdentityTerms),
        )
        .await
        .unwrap();
    until("the first ingestion to connect", || {
        let up = first.rules()[0].connection == rigel_ingest::ingestion::ConnectionState::Connected;
        async move { up }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (publisher, _) = sensor(&format!("{prefix}-pub"), None).await;
    publisher
        .publish(
            format!("{prefix}/parking/lotB"),
            rumqttc::QoS::AtLeastOnce,
            false,
            json!({"sensor_id": "lotB-001", "status": "vacant", "timestamp": "2026-12-05T09:00:00Z"})
                .to_string(),
        )
        .await
        .unwrap();
    until("the message to be received", || {
        let received = first.rules()[0].counters.received == 1;
        async move { received }
    })
    .await;
    first.shutdown().await;
    assert_eq!(first.rules()[0].counters.applied, 0);

    // The same session, a store that works.
    let store = Arc::new(MemoryStore::new());
    let second = Ingestion::new(
        Broker::new(
            Arc::clone(&store) as Arc<dyn EntityStore>,
            Arc::new(SystemClock),
        ),
        settings(&prefix),
    );
    second
        .add(
            parking_rule("parking", &prefix, "5"),
            Arc::new(IdentityTerms),
        )
        .await
        .unwrap();
    until("the message to come back and be written", || {
        let store = Arc::clone(&store);
        async move {
            status_of(&store, "urn:ngsi-ld:ParkingSpot:lotB-001")
                .await
                .is_some()
        }
    })
    .await;
    second.shutdown().await;
}

/// An in-process MQTT 5 broker for one client: answers CONNECT and SUBSCRIBE, then sends
/// one QoS 1 PUBLISH (packet id 7) and reports when the client acknowledges it.
async fn fake_broker(topic: String, payload: Value) -> (u16, mpsc::UnboundedReceiver<u16>) {
    use rumqttc::v5::mqttbytes::v5 as m5;
    use rumqttc::v5::mqttbytes::QoS;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (acked, acks) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = bytes::BytesMut::new();
        loop {
            let packet = match m5::Packet::read(&mut buf, Some(1 << 20)) {
                Ok(packet) => packet,
                Err(rumqttc::v5::mqttbytes::Error::InsufficientBytes(_)) => {
                    match socket.read_buf(&mut buf).await {
                        Ok(n) if n > 0 => continue,
                        _ => return,
                    }
                }
                Err(_) => return,
            };
            let replies = match packet {
                m5::Packet::Connect(..) => vec![m5::Packet::ConnAck(m5::ConnAck {
                    session_present: false,
                    code: m5::ConnectReturnCode::Success,
                    properties: None,
                })],
                m5::Packet::Subscribe(s) => vec![
                    m5::Packet::SubAck(m5::SubAck {
                        pkid: s.pkid,
                        return_codes: vec![m5::SubscribeReasonCode::Success(QoS::AtLeastOnce)],
                        properties: None,
                    }),
                    m5::Packet::Publish({
                        let mut p =
                            m5::Publish::new(&topic, QoS::AtLeastOnce, payload.to_string(), None);
                        p.pkid = 7;
                        p
                    }),
                ],
                m5::Packet::PubAck(ack) => {
                    let _ = acked.send(ack.pkid);
                    Vec::new()
                }
                m5::Packet::PingReq(_) => vec![m5::Packet::PingResp(m5::PingResp)],
                _ => Vec::new(),
            };
            for reply in replies {
                let mut out = bytes::BytesMut::new();
                reply.write(&mut out, None).unwrap();
                if socket.write_all(&out).await.is_err() {
                    return;
                }
            }
        }
    });
    (port, acks)
}

/// At the protocol level: the PUBACK of a message leaves only once its write is durable.
#[tokio::test]
async fn the_puback_waits_for_the_durable_write() {
    let prefix = format!("rigelfake{}", std::process::id());
    let (port, mut acks) = fake_broker(
        format!("{prefix}/parking/lotC"),
        json!({"sensor_id": "lotC-001", "status": "vacant", "timestamp": "2026-12-05T10:00:00Z"}),
    )
    .await;
    let flaky = Arc::new(Flaky {
        inner: MemoryStore::new(),
        down: std::sync::atomic::AtomicBool::new(true),
    });
    let ingestion = Ingestion::new(
        Broker::new(
            Arc::clone(&flaky) as Arc<dyn EntityStore>,
            Arc::new(SystemClock),
        ),
        settings(&prefix),
    );
    let mut spec = serde_json::to_value(parking_rule("parking", &prefix, "5").spec).unwrap();
    spec["broker"] = json!(format!("mqtt://127.0.0.1:{port}"));
    let rule = Rule::new(serde_json::from_value(spec).unwrap()).unwrap();
    ingestion.add(rule, Arc::new(IdentityTerms)).await.unwrap();
    until("the message to arrive", || {
        let received = ingestion.rules()[0].counters.received == 1;
        async move { received }
    })
    .await;
    // Writes fail: no acknowledgement.
    let early = tokio::time::timeout(Duration::from_millis(800), acks.recv()).await;
    assert!(early.is_err(), "acknowledged before the write: {early:?}");
    // Writes work again: the retried write lands, then the acknowledgement.
    flaky.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let ack = tokio::time::timeout(Duration::from_secs(15), acks.recv())
        .await
        .expect("an acknowledgement once the write is durable");
    assert_eq!(ack, Some(7));
    assert_eq!(
        status_of(&flaky.inner, "urn:ngsi-ld:ParkingSpot:lotC-001").await,
        Some(json!("vacant"))
    );
    ingestion.shutdown().await;
}
