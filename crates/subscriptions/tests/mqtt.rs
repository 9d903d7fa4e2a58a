//! MQTT notification delivery (clause 7.2; Endpoint notifierInfo/receiverInfo, clause
//! 5.2.15) against an in-process fake broker built on rumqttc's packet codecs, and against
//! a real mosquitto when one listens on 127.0.0.1:1883 (required when
//! `RIGEL_REQUIRE_MOSQUITTO=1`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rigel_model::subscription::{Endpoint, KeyValuePair, NotificationMedia};
use rigel_subscriptions::deliver::mqtt::{MqttDelivery, MqttSettings};
use rigel_subscriptions::deliver::{DeliveryError, Outgoing};
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::v5 as m5;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const MAX: usize = 1 << 24;
const WAIT: Duration = Duration::from_secs(10);

/// How the fake broker treats its clients.
#[derive(Clone, Default)]
struct Behaviour {
    /// Never acknowledge QoS 1/2 publishes.
    silent: bool,
    /// Accept only these credentials.
    login: Option<(String, String)>,
    /// Answer QoS 1 publishes of MQTT 5 clients with PUBACK "not authorized".
    refuse: bool,
    /// Close the connection after acknowledging a publish.
    hang_up_after_publish: bool,
}

#[derive(Debug)]
enum Seen {
    Connect {
        level: u8,
        username: Option<String>,
        password: Option<String>,
    },
    Publish {
        topic: String,
        qos: u8,
        payload: Vec<u8>,
    },
    Closed,
}

struct FakeBroker {
    port: u16,
    seen: mpsc::UnboundedReceiver<Seen>,
}

impl FakeBroker {
    async fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, seen) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, behaviour.clone(), tx.clone()));
            }
        });
        Self { port, seen }
    }

    fn uri(&self, topic: &str) -> String {
        format!("mqtt://127.0.0.1:{}/{topic}", self.port)
    }

    async fn next(&mut self) -> Seen {
        tokio::time::timeout(WAIT, self.seen.recv())
            .await
            .expect("the fake broker saw nothing")
            .expect("the fake broker stopped")
    }

    /// The next publish, skipping connection events: (topic, qos, payload as JSON).
    async fn next_publish(&mut self) -> (String, u8, Value) {
        loop {
            if let Seen::Publish {
                topic,
                qos,
                payload,
            } = self.next().await
            {
                return (topic, qos, serde_json::from_slice(&payload).unwrap());
            }
        }
    }

    async fn next_connect(&mut self) -> (u8, Option<String>, Option<String>) {
        loop {
            if let Seen::Connect {
                level,
                username,
                password,
            } = self.next().await
            {
                return (level, username, password);
            }
        }
    }

    fn nothing_more(&mut self) -> Vec<Seen> {
        let mut rest = Vec::new();
        while let Ok(seen) = self.seen.try_recv() {
            rest.push(seen);
        }
        rest
    }
}

/// The protocol level byte of a CONNECT packet, once enough of it has arrived.
fn protocol_level(buf: &[u8]) -> Option<u8> {
    let mut i = 1;
    while *buf.get(i)? & 0x80 != 0 {
        i += 1;
    }
    // Remaining-length bytes, then the protocol name "MQTT" with its 2-byte length.
    buf.get(i + 1 + 6).copied()
}

async fn read_more(socket: &mut TcpStream, buf: &mut BytesMut) -> bool {
    matches!(socket.read_buf(buf).await, Ok(n) if n > 0)
}

async fn serve(mut socket: TcpStream, behaviour: Behaviour, seen: mpsc::UnboundedSender<Seen>) {
    let mut buf = BytesMut::new();
    let level = loop {
        if let Some(level) = protocol_level(&buf) {
            break level;
        }
        if !read_more(&mut socket, &mut buf).await {
            return;
        }
    };
    if level == 5 {
        serve_v5(socket, buf, behaviour, &seen).await;
    } else {
        serve_v311(socket, buf, behaviour, &seen).await;
    }
    let _ = seen.send(Seen::Closed);
}

async fn serve_v311(
    mut socket: TcpStream,
    mut buf: BytesMut,
    behaviour: Behaviour,
    seen: &mpsc::UnboundedSender<Seen>,
) {
    loop {
        let packet = match v4::Packet::read(&mut buf, MAX) {
            Ok(packet) => packet,
            Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {
                if read_more(&mut socket, &mut buf).await {
                    continue;
                }
                return;
            }
            // Not MQTT (a TLS ClientHello, say): hang up.
            Err(_) => return,
        };
        let mut hang_up = false;
        let reply = match packet {
            v4::Packet::Connect(connect) => {
                let login = connect.login.map(|l| (l.username, l.password));
                let _ = seen.send(Seen::Connect {
                    level: 4,
                    username: login
                        .as_ref()
                        .map(|l| l.0.clone())
                        .filter(|u| !u.is_empty()),
                    password: login
                        .as_ref()
                        .map(|l| l.1.clone())
                        .filter(|p| !p.is_empty()),
                });
                if behaviour.login.is_some() && behaviour.login != login {
                    hang_up = true;
                    Some(v4::Packet::ConnAck(v4::ConnAck::new(
                        v4::ConnectReturnCode::BadUserNamePassword,
                        false,
                    )))
                } else {
                    Some(v4::Packet::ConnAck(v4::ConnAck::new(
                        v4::ConnectReturnCode::Success,
                        false,
                    )))
                }
            }
            v4::Packet::Publish(publish) => {
                let _ = seen.send(Seen::Publish {
                    topic: publish.topic.clone(),
                    qos: publish.qos as u8,
                    payload: publish.payload.to_vec(),
                });
                hang_up = behaviour.hang_up_after_publish;
                match publish.qos {
                    _ if behaviour.silent => None,
                    rumqttc::QoS::AtMostOnce => None,
                    rumqttc::QoS::AtLeastOnce => {
                        Some(v4::Packet::PubAck(v4::PubAck::new(publish.pkid)))
                    }
                    rumqttc::QoS::ExactlyOnce => {
                        Some(v4::Packet::PubRec(v4::PubRec::new(publish.pkid)))
                    }
                }
            }
            v4::Packet::PubRel(rel) => Some(v4::Packet::PubComp(v4::PubComp::new(rel.pkid))),
            v4::Packet::PingReq => Some(v4::Packet::PingResp),
            v4::Packet::Disconnect => return,
            _ => return,
        };
        if let Some(reply) = reply {
            let mut out = BytesMut::new();
            reply.write(&mut out, MAX).unwrap();
            if socket.write_all(&out).await.is_err() {
                return;
            }
        }
        if hang_up {
            return;
        }
    }
}

async fn serve_v5(
    mut socket: TcpStream,
    mut buf: BytesMut,
    behaviour: Behaviour,
    seen: &mpsc::UnboundedSender<Seen>,
) {
    loop {
        let packet = match m5::Packet::read(&mut buf, Some(MAX as u32)) {
            Ok(packet) => packet,
            Err(rumqttc::v5::mqttbytes::Error::InsufficientBytes(_)) => {
                if read_more(&mut socket, &mut buf).await {
                    continue;
                }
                return;
            }
            // Not MQTT (a TLS ClientHello, say): hang up.
            Err(_) => return,
        };
        let mut hang_up = false;
        let reply = match packet {
            m5::Packet::Connect(_, _, login) => {
                let login = login.map(|l| (l.username, l.password));
                let _ = seen.send(Seen::Connect {
                    level: 5,
                    username: login
                        .as_ref()
                        .map(|l| l.0.clone())
                        .filter(|u| !u.is_empty()),
                    password: login
                        .as_ref()
                        .map(|l| l.1.clone())
                        .filter(|p| !p.is_empty()),
                });
                let code = if behaviour.login.is_some() && behaviour.login != login {
                    hang_up = true;
                    m5::ConnectReturnCode::BadUserNamePassword
                } else {
                    m5::ConnectReturnCode::Success
                };
                Some(m5::Packet::ConnAck(m5::ConnAck {
                    session_present: false,
                    code,
                    properties: None,
                }))
            }
            m5::Packet::Publish(publish) => {
                let _ = seen.send(Seen::Publish {
                    topic: String::from_utf8(publish.topic.to_vec()).unwrap(),
                    qos: publish.qos as u8,
                    payload: publish.payload.to_vec(),
                });
                hang_up = behaviour.hang_up_after_publish;
                use rumqttc::v5::mqttbytes::QoS;
                match publish.qos {
                    _ if behaviour.silent => None,
                    QoS::AtMostOnce => None,
                    QoS::AtLeastOnce if behaviour.refuse => Some(m5::Packet::PubAck(m5::PubAck {
                        pkid: publish.pkid,
                        reason: m5::PubAckReason::NotAuthorized,
                        properties: None,
                    })),
                    QoS::AtLeastOnce => {
                        Some(m5::Packet::PubAck(m5::PubAck::new(publish.pkid, None)))
                    }
                    QoS::ExactlyOnce => {
                        Some(m5::Packet::PubRec(m5::PubRec::new(publish.pkid, None)))
                    }
                }
            }
            m5::Packet::PubRel(rel) => Some(m5::Packet::PubComp(m5::PubComp::new(rel.pkid, None))),
            m5::Packet::PingReq(_) => Some(m5::Packet::PingResp(m5::PingResp)),
            m5::Packet::Disconnect(_) => return,
            _ => return,
        };
        if let Some(reply) = reply {
            let mut out = BytesMut::new();
            reply.write(&mut out, None).unwrap();
            if socket.write_all(&out).await.is_err() {
                return;
            }
        }
        if hang_up {
            return;
        }
    }
}

fn endpoint(uri: &str, notifier_info: &[(&str, &str)]) -> Endpoint {
    Endpoint {
        uri: uri.into(),
        accept: NotificationMedia::Json,
        timeout_ms: None,
        cooldown_ms: None,
        receiver_info: Vec::new(),
        notifier_info: notifier_info
            .iter()
            .map(|(k, v)| KeyValuePair {
                key: (*k).into(),
                value: (*v).into(),
            })
            .collect(),
    }
}

const LINK: &str = r#"<https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json""#;

fn notification(n: u32) -> Value {
    json!({
        "id": format!("urn:ngsi-ld:Notification:{n}"),
        "type": "Notification",
        "subscriptionId": "urn:ngsi-ld:Subscription:s1",
        "notifiedAt": "2024-01-01T00:00:00.000Z",
        "data": [{"id": "urn:ngsi-ld:Room:1", "type": "Room", "temperature": {"type": "Property", "value": n}}]
    })
}

fn message(n: u32) -> Outgoing {
    Outgoing {
        body: serde_json::to_vec(&notification(n)).unwrap(),
        content_type: "application/json",
        link: Some(LINK.into()),
        headers: vec![("X-Tenant-Hint".into(), "north".into())],
    }
}

fn assert_wraps(payload: &Value, n: u32) {
    assert_eq!(
        payload,
        &json!({
            "metadata": {
                "Content-Type": "application/json",
                "Link": LINK,
                "X-Tenant-Hint": "north"
            },
            "body": notification(n)
        })
    );
}

/// MQTT 3.1.1, QoS 0: the message carries metadata and body on the URI's topic.
#[tokio::test]
async fn a_qos0_notification_over_mqtt311_arrives_wrapped_in_metadata_and_body() {
    let mut broker = FakeBroker::start(Behaviour::default()).await;
    let mqtt = MqttDelivery::new();
    let ep = endpoint(
        &broker.uri("rigel/rooms/notify"),
        &[("MQTT-Version", "mqtt3.1.1"), ("MQTT-QoS", "0")],
    );
    mqtt.send(&ep, &message(1), WAIT).await.unwrap();
    assert_eq!(broker.next_connect().await.0, 4);
    let (topic, qos, payload) = broker.next_publish().await;
    assert_eq!(topic, "rigel/rooms/notify");
    assert_eq!(qos, 0);
    assert_wraps(&payload, 1);
}

/// Without notifierInfo the version is MQTT 5.0 (Table 7.2-1).
#[tokio::test]
async fn mqtt5_is_the_default_version() {
    let mut broker = FakeBroker::start(Behaviour::default()).await;
    let mqtt = MqttDelivery::new();
    mqtt.send(&endpoint(&broker.uri("t"), &[]), &message(2), WAIT)
        .await
        .unwrap();
    assert_eq!(broker.next_connect().await.0, 5);
    let (_, qos, payload) = broker.next_publish().await;
    assert_eq!(qos, 0);
    assert_wraps(&payload, 2);
}

/// QoS 1 and 2 publishes succeed once acknowledged, on both protocol versions.
#[tokio::test]
async fn qos1_and_qos2_notifications_are_acknowledged_on_both_versions() {
    let mut broker = FakeBroker::start(Behaviour::default()).await;
    let mqtt = MqttDelivery::new();
    let mut n = 10;
    for version in ["mqtt3.1.1", "mqtt5.0"] {
        for qos in ["1", "2"] {
            n += 1;
            let ep = endpoint(
                &broker.uri("acked"),
                &[("MQTT-Version", version), ("MQTT-QoS", qos)],
            );
            mqtt.send(&ep, &message(n), WAIT).await.unwrap();
            let (_, seen_qos, payload) = broker.next_publish().await;
            assert_eq!(seen_qos.to_string(), qos);
            assert_wraps(&payload, n);
        }
    }
}

/// A QoS 1 publish the broker never acknowledges fails with a timeout, not a hang.
#[tokio::test]
async fn an_unacknowledged_qos1_publish_times_out() {
    for version in ["mqtt3.1.1", "mqtt5.0"] {
        let broker = FakeBroker::start(Behaviour {
            silent: true,
            ..Behaviour::default()
        })
        .await;
        let mqtt = MqttDelivery::new();
        let ep = endpoint(
            &broker.uri("t"),
            &[("MQTT-Version", version), ("MQTT-QoS", "1")],
        );
        let started = Instant::now();
        let result = mqtt
            .send(&ep, &message(3), Duration::from_millis(500))
            .await;
        assert!(
            matches!(result, Err(DeliveryError::Timeout(_))),
            "{version}: {result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}

/// A PUBACK with a failure reason code (MQTT 5) is a failed delivery.
#[tokio::test]
async fn a_refused_mqtt5_publish_fails() {
    let broker = FakeBroker::start(Behaviour {
        refuse: true,
        ..Behaviour::default()
    })
    .await;
    let mqtt = MqttDelivery::new();
    let ep = endpoint(&broker.uri("t"), &[("MQTT-QoS", "1")]);
    let result = mqtt.send(&ep, &message(4), WAIT).await;
    assert!(
        matches!(result, Err(DeliveryError::Unreachable(_))),
        "{result:?}"
    );
}

/// `mqtt://user:pass@host` logs in with those credentials; wrong ones fail the delivery.
#[tokio::test]
async fn credentials_in_the_uri_are_used_to_log_in() {
    for version in ["mqtt3.1.1", "mqtt5.0"] {
        let mut broker = FakeBroker::start(Behaviour {
            login: Some(("rigel".into(), "p@ss".into())),
            ..Behaviour::default()
        })
        .await;
        let mqtt = MqttDelivery::new();
        let good = format!("mqtt://rigel:p%40ss@127.0.0.1:{}/secure", broker.port);
        let ep = endpoint(&good, &[("MQTT-Version", version), ("MQTT-QoS", "1")]);
        mqtt.send(&ep, &message(5), WAIT).await.unwrap();
        let (_, user, pass) = broker.next_connect().await;
        assert_eq!(
            (user.as_deref(), pass.as_deref()),
            (Some("rigel"), Some("p@ss"))
        );
        assert_wraps(&broker.next_publish().await.2, 5);

        let bad = format!("mqtt://rigel:wrong@127.0.0.1:{}/secure", broker.port);
        let ep = endpoint(&bad, &[("MQTT-Version", version), ("MQTT-QoS", "1")]);
        let result = mqtt.send(&ep, &message(6), WAIT).await;
        assert!(
            matches!(result, Err(DeliveryError::Unreachable(_))),
            "{version}: {result:?}"
        );
    }
}

/// Nothing listening: the delivery fails at once as unreachable.
#[tokio::test]
async fn a_refused_connection_fails_fast_as_unreachable() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let mqtt = MqttDelivery::new();
    for version in ["mqtt3.1.1", "mqtt5.0"] {
        let ep = endpoint(
            &format!("mqtt://127.0.0.1:{port}/t"),
            &[("MQTT-Version", version)],
        );
        let started = Instant::now();
        let result = mqtt.send(&ep, &message(7), Duration::from_secs(5)).await;
        assert!(
            matches!(result, Err(DeliveryError::Unreachable(_))),
            "{version}: {result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}

/// A peer that accepts TCP but never answers CONNECT: the delivery times out on time.
#[tokio::test]
async fn a_broker_that_never_answers_times_out_within_the_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mqtt = MqttDelivery::new();
    let ep = endpoint(&format!("mqtt://{addr}/t"), &[]);
    let started = Instant::now();
    let result = mqtt
        .send(&ep, &message(8), Duration::from_millis(400))
        .await;
    assert!(
        matches!(result, Err(DeliveryError::Timeout(_))),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// mqtts to a peer that does not speak TLS fails instead of hanging.
#[tokio::test]
async fn mqtts_to_a_plain_tcp_peer_fails() {
    let broker = FakeBroker::start(Behaviour::default()).await;
    let mqtt = MqttDelivery::new();
    let ep = endpoint(&format!("mqtts://localhost:{}/t", broker.port), &[]);
    let result = mqtt.send(&ep, &message(9), Duration::from_secs(3)).await;
    assert!(result.is_err());
}

/// Notifications to one broker share one connection; another version gets its own.
#[tokio::test]
async fn deliveries_to_the_same_broker_share_one_connection() {
    let mut broker = FakeBroker::start(Behaviour::default()).await;
    let mqtt = MqttDelivery::new();
    for (i, topic) in ["a", "b/c", "a"].iter().enumerate() {
        let ep = endpoint(&broker.uri(topic), &[("MQTT-QoS", "1")]);
        mqtt.send(&ep, &message(i as u32), WAIT).await.unwrap();
    }
    let ep = endpoint(&broker.uri("a"), &[("MQTT-Version", "mqtt3.1.1")]);
    mqtt.send(&ep, &message(99), WAIT).await.unwrap();
    let mut connects = Vec::new();
    let mut publishes = 0;
    while publishes < 4 {
        match broker.next().await {
            Seen::Connect { level, .. } => connects.push(level),
            Seen::Publish { .. } => publishes += 1,
            Seen::Closed => panic!("a connection closed"),
        }
    }
    connects.extend(broker.nothing_more().iter().filter_map(|s| match s {
        Seen::Connect { level, .. } => Some(*level),
        _ => None,
    }));
    assert_eq!(connects, vec![5, 4]);
}

/// Many concurrent QoS 1 and 2 deliveries, more than a connection keeps in flight, each get
/// their own acknowledgement.
#[tokio::test]
async fn concurrent_acknowledged_deliveries_all_succeed() {
    let mut broker = FakeBroker::start(Behaviour::default()).await;
    let mqtt = std::sync::Arc::new(MqttDelivery::new());
    let mut tasks = Vec::new();
    for n in 0..300u32 {
        let mqtt = mqtt.clone();
        let version = if n % 4 < 2 { "mqtt5.0" } else { "mqtt3.1.1" };
        let qos = if n % 2 == 0 { "1" } else { "2" };
        let ep = endpoint(
            &broker.uri("burst"),
            &[("MQTT-Version", version), ("MQTT-QoS", qos)],
        );
        tasks.push(tokio::spawn(async move {
            mqtt.send(&ep, &message(n), WAIT).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 300 {
        let (_, _, payload) = broker.next_publish().await;
        seen.insert(
            payload["body"]["data"][0]["temperature"]["value"]
                .as_u64()
                .unwrap(),
        );
    }
    assert_eq!(seen.len(), 300);
}

/// A notification far larger than MQTT clients' usual 10 KB default goes through.
#[tokio::test]
async fn a_large_notification_is_delivered() {
    let mut broker = FakeBroker::start(Behaviour::default()).await;
    let mqtt = MqttDelivery::new();
    let big = Outgoing {
        body: serde_json::to_vec(&json!({"blob": "x".repeat(300_000)})).unwrap(),
        content_type: "application/ld+json",
        link: None,
        headers: Vec::new(),
    };
    for version in ["mqtt3.1.1", "mqtt5.0"] {
        let ep = endpoint(
            &broker.uri("big"),
            &[("MQTT-Version", version), ("MQTT-QoS", "1")],
        );
        mqtt.send(&ep, &big, WAIT).await.unwrap();
        let (_, _, payload) = broker.next_publish().await;
        assert_eq!(payload["body"]["blob"].as_str().unwrap().len(), 300_000);
        assert_eq!(
            payload["metadata"],
            json!({"Content-Type": "application/ld+json"})
        );
    }
}

/// After the broker drops the connection, the next delivery connects again.
#[tokio::test]
async fn a_dropped_connection_is_replaced_on_the_next_delivery() {
    let mut broker = FakeBroker::start(Behaviour {
        hang_up_after_publish: true,
        ..Behaviour::default()
    })
    .await;
    let mqtt = MqttDelivery::new();
    let ep = endpoint(&broker.uri("t"), &[("MQTT-Version", "mqtt3.1.1")]);
    mqtt.send(&ep, &message(1), WAIT).await.unwrap();
    loop {
        if let Seen::Closed = broker.next().await {
            break;
        }
    }
    // Let the client notice the closed socket.
    tokio::time::sleep(Duration::from_millis(200)).await;
    mqtt.send(&ep, &message(2), WAIT).await.unwrap();
    assert_eq!(broker.next_connect().await.0, 4);
    assert_wraps(&broker.next_publish().await.2, 2);
}

/// An unused connection is closed with a DISCONNECT after the idle timeout.
#[tokio::test]
async fn an_idle_connection_is_closed() {
    let mut broker = FakeBroker::start(Behaviour::default()).await;
    let mqtt = MqttDelivery::with_settings(MqttSettings {
        idle_timeout: Duration::from_millis(500),
        keep_alive: Duration::from_secs(1),
        ..MqttSettings::default()
    });
    let ep = endpoint(&broker.uri("t"), &[("MQTT-Version", "mqtt3.1.1")]);
    mqtt.send(&ep, &message(1), WAIT).await.unwrap();
    let started = Instant::now();
    loop {
        if let Seen::Closed = broker.next().await {
            break;
        }
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    // And the next delivery simply reconnects.
    mqtt.send(&ep, &message(2), WAIT).await.unwrap();
    assert_wraps(&broker.next_publish().await.2, 2);
}

/// Dropping the deliverer (shutdown) disconnects its connections.
#[tokio::test]
async fn dropping_the_deliverer_disconnects() {
    let mut broker = FakeBroker::start(Behaviour::default()).await;
    let mqtt = MqttDelivery::new();
    let ep = endpoint(&broker.uri("t"), &[("MQTT-QoS", "1")]);
    mqtt.send(&ep, &message(1), WAIT).await.unwrap();
    drop(mqtt);
    loop {
        if let Seen::Closed = broker.next().await {
            break;
        }
    }
}

/// End to end through a real broker: a rumqttc subscriber receives what Rigel publishes,
/// for both versions and every QoS.
#[tokio::test]
async fn notifications_reach_a_subscriber_through_mosquitto() {
    let required = std::env::var("RIGEL_REQUIRE_MOSQUITTO").is_ok_and(|v| v == "1");
    if TcpStream::connect("127.0.0.1:1883").await.is_err() {
        assert!(
            !required,
            "RIGEL_REQUIRE_MOSQUITTO=1 but nothing listens on 127.0.0.1:1883"
        );
        eprintln!("note: no MQTT broker on 127.0.0.1:1883; skipping the mosquitto test");
        return;
    }
    let topic = format!("rigel/test/{}", std::process::id());
    let mut options =
        rumqttc::MqttOptions::new(format!("rigelsub{}", std::process::id()), "127.0.0.1", 1883);
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = rumqttc::AsyncClient::new(options, 16);
    client
        .subscribe(&topic, rumqttc::QoS::ExactlyOnce)
        .await
        .unwrap();
    let (tx, mut received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                    let _ = tx.send(None);
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                    let _ = tx.send(Some((p.topic, p.payload.to_vec())));
                }
                Ok(_) => {}
                Err(e) => panic!("subscriber: {e}"),
            }
        }
    });
    let first = tokio::time::timeout(WAIT, received.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(first.is_none(), "expected the SUBACK first");

    let mqtt = MqttDelivery::new();
    let mut n = 100;
    for version in ["mqtt3.1.1", "mqtt5.0"] {
        for qos in ["0", "1", "2"] {
            n += 1;
            let ep = endpoint(
                &format!("mqtt://127.0.0.1/{topic}"),
                &[("MQTT-Version", version), ("MQTT-QoS", qos)],
            );
            mqtt.send(&ep, &message(n), WAIT).await.unwrap();
            let (got_topic, payload) = tokio::time::timeout(WAIT, received.recv())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(got_topic, topic);
            assert_wraps(&serde_json::from_slice(&payload).unwrap(), n);
        }
    }
}
