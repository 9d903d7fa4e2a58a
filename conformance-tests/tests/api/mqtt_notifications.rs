//! MQTT notifications end to end (clause 7.2; delivery status 5.2.14.2, receiverInfo 5.2.15,
//! the Notification 5.3.1): Rigel publishes to a real MQTT broker — rumqttd started in-process,
//! and Debian's mosquitto on 127.0.0.1:1883 when it listens — and a rumqttc subscriber reads
//! what arrives. Every test subscribes to its own entity type and listens on its own topic.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::harness::*;
use crate::notifications::{existing_vehicle, set_speed, subscription_when, WAIT};

/// The loopback ports of the in-process rumqttd, one listener per MQTT version.
struct InProcessBroker {
    v311: u16,
    v5: u16,
}

static BROKER: OnceLock<InProcessBroker> = OnceLock::new();

/// The in-process MQTT broker shared by the whole test binary, started on first use.
fn in_process_broker() -> &'static InProcessBroker {
    BROKER.get_or_init(|| {
        // rumqttd binds the configured address itself and does not report a port it chose,
        // so free ports are found first (held together, so that they differ).
        let bind = if advertised_host().is_some() {
            Ipv4Addr::UNSPECIFIED
        } else {
            Ipv4Addr::LOCALHOST
        };
        let probe_v311 = TcpListener::bind((bind, 0)).expect("find a port for MQTT 3.1.1");
        let probe_v5 = TcpListener::bind((bind, 0)).expect("find a port for MQTT 5.0");
        let v311 = probe_v311.local_addr().expect("its address").port();
        let v5 = probe_v5.local_addr().expect("its address").port();
        drop((probe_v311, probe_v5));

        let listener = |name: &str, port: u16| {
            HashMap::from([(
                name.to_owned(),
                rumqttd::ServerSettings {
                    name: name.to_owned(),
                    listen: SocketAddr::from((bind, port)),
                    tls: None,
                    next_connection_delay_ms: 1,
                    connections: rumqttd::ConnectionSettings {
                        connection_timeout_ms: 5_000,
                        max_payload_size: 1 << 20,
                        max_inflight_count: 100,
                        auth: None,
                        external_auth: None,
                        dynamic_filters: true,
                    },
                },
            )])
        };
        let config = rumqttd::Config {
            router: rumqttd::RouterConfig {
                max_connections: 1_000,
                max_outgoing_packet_count: 200,
                max_segment_size: 1 << 20,
                max_segment_count: 10,
                ..Default::default()
            },
            v4: Some(listener("conformance-v311", v311)),
            v5: Some(listener("conformance-v5", v5)),
            ..Default::default()
        };
        std::thread::Builder::new()
            .name("mqtt-broker-under-test".into())
            .spawn(move || {
                if let Err(e) = rumqttd::Broker::new(config).start() {
                    eprintln!("the in-process MQTT broker stopped: {e}");
                }
            })
            .expect("spawn the MQTT broker thread");
        for port in [v311, v5] {
            wait_listening(port);
        }
        InProcessBroker { v311, v5 }
    })
}

/// Blocks until something accepts connections on the loopback `port`, failing after [`WAIT`].
fn wait_listening(port: u16) {
    let deadline = Instant::now() + WAIT;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the in-process MQTT broker never listened on port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The host Rigel is told to publish to: `RIGEL_TEST_CONTEXT_HOST` when the broker under test
/// runs elsewhere (as for the HTTP receivers), else loopback.
fn advertised_host() -> Option<String> {
    std::env::var("RIGEL_TEST_CONTEXT_HOST")
        .ok()
        .filter(|h| !h.is_empty())
}

/// An `mqtt://` endpoint URI (clause 7.2) for a topic on a broker port.
fn mqtt_uri(port: u16, topic: &str) -> String {
    let host = advertised_host().unwrap_or_else(|| "127.0.0.1".to_owned());
    format!("mqtt://{host}:{port}/{topic}")
}

/// A fresh topic naming the test that owns it.
fn unique_topic(test: &str) -> String {
    format!("rigel/conformance/{test}/{}", nonce())
}

/// A subscription to every entity of `entity_type`, notifying an MQTT endpoint with the given
/// notifierInfo pairs (Table 7.2-1).
fn mqtt_subscription(entity_type: &str, uri: &str, notifier_info: &[(&str, &str)]) -> Value {
    let mut body = json!({
        "type": "Subscription",
        "entities": [{"type": entity_type}],
        "notification": {"endpoint": {"uri": uri}}
    });
    if !notifier_info.is_empty() {
        let pairs: Vec<Value> = notifier_info
            .iter()
            .map(|(key, value)| json!({"key": key, "value": value}))
            .collect();
        body["notification"]["endpoint"]["notifierInfo"] = json!(pairs);
    }
    body
}

/// What a [`Subscriber`]'s event loop reports.
enum Seen {
    SubAck,
    Publish(Publish),
    Error(String),
}

/// An MQTT 3.1.1 client subscribed to one topic filter, collecting what it is sent.
struct Subscriber {
    seen: mpsc::UnboundedReceiver<Seen>,
    // Dropping the client would end the event loop.
    _client: AsyncClient,
    events: JoinHandle<()>,
}

impl Subscriber {
    /// Connects to the loopback `port`, subscribes to `filter` at `qos` and waits for the
    /// SUBACK, so that nothing published afterwards is missed.
    async fn start(port: u16, filter: &str, qos: QoS) -> Self {
        // 23 characters at most, letters and digits: what MQTT 3.1.1 servers must accept.
        let n = nonce();
        let client_id = format!("ct{}", &n[n.len().saturating_sub(21)..]);
        let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut event_loop) = AsyncClient::new(options, 16);
        client
            .subscribe(filter, qos)
            .await
            .expect("queue the SUBSCRIBE");
        let (tx, seen) = mpsc::unbounded_channel();
        let events = tokio::spawn(async move {
            loop {
                let next = match event_loop.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => Seen::SubAck,
                    Ok(Event::Incoming(Packet::Publish(p))) => Seen::Publish(p),
                    Ok(_) => continue,
                    Err(e) => Seen::Error(e.to_string()),
                };
                let failed = matches!(next, Seen::Error(_));
                if tx.send(next).is_err() || failed {
                    return;
                }
            }
        });
        let mut subscriber = Self {
            seen,
            _client: client,
            events,
        };
        match subscriber.next_seen().await {
            Seen::SubAck => subscriber,
            Seen::Publish(p) => panic!("a PUBLISH on {} before the SUBACK", p.topic),
            Seen::Error(e) => panic!("the subscriber on port {port} failed: {e}"),
        }
    }

    async fn next_seen(&mut self) -> Seen {
        tokio::time::timeout(WAIT, self.seen.recv())
            .await
            .unwrap_or_else(|_| panic!("the MQTT subscriber saw nothing within {WAIT:?}"))
            .expect("the subscriber's event loop reports until it fails")
    }

    /// The next message published to the subscriber; fails the test after [`WAIT`].
    async fn next_publish(&mut self) -> Publish {
        match self.next_seen().await {
            Seen::Publish(p) => p,
            Seen::SubAck => panic!("an unexpected SUBACK"),
            Seen::Error(e) => panic!("the MQTT subscriber failed: {e}"),
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.events.abort();
    }
}

/// An MQTT notification message of clause 7.2: a JSON object of exactly `metadata` and `body`.
struct Message {
    metadata: Value,
    body: Value,
}

#[track_caller]
fn message(publish: &Publish) -> Message {
    let text = String::from_utf8_lossy(&publish.payload);
    let value: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the MQTT message is not JSON ({e}): {text}"));
    let members = value
        .as_object()
        .unwrap_or_else(|| panic!("the MQTT message is not a JSON object: {text}"));
    let mut keys: Vec<&str> = members.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["body", "metadata"], "the message's members: {text}");
    assert!(
        value["metadata"].is_object(),
        "metadata is an object: {text}"
    );
    Message {
        metadata: value["metadata"].clone(),
        body: value["body"].clone(),
    }
}

/// Asserts that `body` is a Notification (clause 5.3.1) of subscription `sub` carrying the
/// single entity `id` of type `ty` with the given speed.
#[track_caller]
fn assert_notification_of(body: &Value, sub: &str, id: &str, ty: &str, speed: i64) {
    assert_eq!(body["type"], json!("Notification"), "{body}");
    assert_eq!(body["subscriptionId"], json!(sub), "{body}");
    let nid = body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a notification id: {body}"));
    assert!(nid.contains(':'), "the id {nid:?} is a URI");
    instant(&body["notifiedAt"]);
    let data = body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("a data array: {body}"));
    assert_eq!(data.len(), 1, "one entity: {body}");
    assert_eq!(data[0]["id"], json!(id), "{body}");
    assert_eq!(data[0]["type"], json!(ty), "{body}");
    assert_eq!(data[0]["speed"]["value"], json!(speed), "{body}");
}

/// Clauses 7.2, 5.3.1 and 5.2.14.2: with the defaults (MQTT 5.0, QoS 0, application/json) an
/// update publishes on the URI's topic a message whose `metadata` holds Content-Type and the
/// @context Link and whose `body` is the Notification; the delivery is reported "ok".
#[tokio::test]
async fn an_update_publishes_metadata_and_the_notification_on_the_topic() {
    let broker = in_process_broker();
    let topic = unique_topic("shape");
    let mut subscriber = Subscriber::start(broker.v311, &topic, QoS::AtLeastOnce).await;
    let (ty, id) = existing_vehicle("MqttShape").await;
    let sub = subscribe(&mqtt_subscription(&ty, &mqtt_uri(broker.v5, &topic), &[])).await;
    set_speed(&id, 90).await;

    let publish = subscriber.next_publish().await;
    assert_eq!(publish.topic, topic);
    let m = message(&publish);
    assert_eq!(
        m.metadata["Content-Type"],
        json!("application/json"),
        "{}",
        m.metadata
    );
    let link = m.metadata["Link"]
        .as_str()
        .unwrap_or_else(|| panic!("a JSON notification links its @context: {}", m.metadata));
    assert!(
        link.starts_with('<') && link.contains(JSONLD_CONTEXT_REL),
        "an HTTP Link header value naming the @context: {link}"
    );
    assert!(m.body.get("@context").is_none(), "{}", m.body);
    assert_notification_of(&m.body, &sub, &id, &ty, 90);

    let s = subscription_when(&sub, |s| s["notification"]["status"] == json!("ok")).await;
    let n = &s["notification"];
    assert_eq!(n["timesSent"], json!(1), "{s}");
    instant(&n["lastNotification"]);
    instant(&n["lastSuccess"]);
    assert!(n.get("timesFailed").is_none(), "{s}");
    assert_eq!(s["status"], json!("active"), "{s}");
}

/// Clause 7.2: with accept application/ld+json the metadata says so, has no Link, and the
/// @context travels in the notified entities instead.
#[tokio::test]
async fn a_json_ld_notification_carries_its_context_in_the_body() {
    let broker = in_process_broker();
    let topic = unique_topic("jsonld");
    let mut subscriber = Subscriber::start(broker.v311, &topic, QoS::AtLeastOnce).await;
    let (ty, id) = existing_vehicle("MqttJsonLd").await;
    let mut body = mqtt_subscription(&ty, &mqtt_uri(broker.v5, &topic), &[]);
    body["notification"]["endpoint"]["accept"] = json!("application/ld+json");
    let sub = subscribe(&body).await;
    set_speed(&id, 91).await;

    let m = message(&subscriber.next_publish().await);
    assert_eq!(
        m.metadata["Content-Type"],
        json!("application/ld+json"),
        "{}",
        m.metadata
    );
    assert!(m.metadata.get("Link").is_none(), "{}", m.metadata);
    assert_notification_of(&m.body, &sub, &id, &ty, 91);
    assert!(
        m.body["data"][0].get("@context").is_some(),
        "the notified entity carries its @context: {}",
        m.body
    );
}

/// Publishes a notification with `MQTT-QoS` 1 over `version` to `port` and asserts it arrives
/// and is reported sent, twice (the second over the connection the first opened).
async fn qos_1_round_trip(test: &str, version: &str, port: u16) {
    let broker = in_process_broker();
    let topic = unique_topic(test);
    let mut subscriber = Subscriber::start(broker.v311, &topic, QoS::AtLeastOnce).await;
    let (ty, id) = existing_vehicle(test).await;
    let info = [("MQTT-Version", version), ("MQTT-QoS", "1")];
    let sub = subscribe(&mqtt_subscription(&ty, &mqtt_uri(port, &topic), &info)).await;

    for (speed, sent) in [(92, 1), (93, 2)] {
        set_speed(&id, speed).await;
        let publish = subscriber.next_publish().await;
        assert_eq!(publish.topic, topic);
        assert_notification_of(&message(&publish).body, &sub, &id, &ty, speed);
        let s = subscription_when(&sub, |s| s["notification"]["timesSent"] == json!(sent)).await;
        assert_eq!(s["notification"]["status"], json!("ok"), "{s}");
        assert!(s["notification"].get("timesFailed").is_none(), "{s}");
    }
}

/// Clause 7.2, Table 7.2-1: `MQTT-Version` mqtt3.1.1 with `MQTT-QoS` 1 publishes through a
/// listener that speaks only MQTT 3.1.1, and each acknowledged publish counts as sent.
#[tokio::test]
async fn qos_1_notifications_are_delivered_over_mqtt_3_1_1() {
    qos_1_round_trip("MqttQos1V311", "mqtt3.1.1", in_process_broker().v311).await;
}

/// Clause 7.2, Table 7.2-1: `MQTT-Version` mqtt5.0 with `MQTT-QoS` 1 publishes through a
/// listener that speaks only MQTT 5.0, and each acknowledged publish counts as sent.
#[tokio::test]
async fn qos_1_notifications_are_delivered_over_mqtt_5_0() {
    qos_1_round_trip("MqttQos1V5", "mqtt5.0", in_process_broker().v5).await;
}

/// Clauses 7.2 and 5.2.15: each receiverInfo pair appears as a key of the message's
/// `metadata`, beside Content-Type.
#[tokio::test]
async fn receiver_info_pairs_appear_in_the_metadata() {
    let broker = in_process_broker();
    let topic = unique_topic("receiverinfo");
    let mut subscriber = Subscriber::start(broker.v311, &topic, QoS::AtLeastOnce).await;
    let ty = unique_type("MqttReceiverInfo");
    let mut body = mqtt_subscription(&ty, &mqtt_uri(broker.v5, &topic), &[]);
    body["notification"]["endpoint"]["receiverInfo"] = json!([
        {"key": "X-Auth-Token", "value": "secret-1"},
        {"key": "X-Fleet", "value": "north"}
    ]);
    subscribe(&body).await;
    let id = unique_id("mqtt-receiver-info");
    create(&crate::notifications::vehicle(&id, &ty, 1)).await;

    let m = message(&subscriber.next_publish().await);
    assert_eq!(
        m.metadata["X-Auth-Token"],
        json!("secret-1"),
        "{}",
        m.metadata
    );
    assert_eq!(m.metadata["X-Fleet"], json!("north"), "{}", m.metadata);
    assert_eq!(
        m.metadata["Content-Type"],
        json!("application/json"),
        "{}",
        m.metadata
    );
    assert_eq!(m.body["data"][0]["id"], json!(id), "{}", m.body);
}

/// Clauses 7.2 and 5.2.14.2: an MQTT endpoint on a port nobody listens on is a failed
/// delivery: status "failed", timesFailed and lastFailure; the subscription stays active.
#[tokio::test]
async fn an_unreachable_mqtt_broker_is_reported_failed() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a throwaway port");
        listener.local_addr().expect("its address").port()
    };
    let (ty, id) = existing_vehicle("MqttUnreachable").await;
    let uri = mqtt_uri(port, &unique_topic("unreachable"));
    let sub = subscribe(&mqtt_subscription(&ty, &uri, &[("MQTT-QoS", "1")])).await;
    set_speed(&id, 94).await;

    let s = subscription_when(&sub, |s| s["notification"]["status"] == json!("failed")).await;
    let n = &s["notification"];
    let failed = n["timesFailed"].as_u64().unwrap_or(0);
    assert!(failed >= 1, "timesFailed counts the failure: {s}");
    instant(&n["lastFailure"]);
    assert!(n.get("lastSuccess").is_none(), "{s}");
    assert_eq!(s["status"], json!("active"), "{s}");
}

/// Clause 7.2: through Debian's mosquitto on 127.0.0.1:1883 (skipped when nothing listens
/// there, required when `RIGEL_REQUIRE_MOSQUITTO=1`) every version and QoS arrives, at the
/// QoS asked for — mosquitto forwards at the lower of the publish and subscription QoS, and
/// the subscriber asks for 2.
#[tokio::test]
async fn notifications_reach_a_subscriber_through_mosquitto() {
    const MOSQUITTO: u16 = 1883;
    let required = std::env::var("RIGEL_REQUIRE_MOSQUITTO").is_ok_and(|v| v == "1");
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, MOSQUITTO));
    if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
        assert!(
            !required,
            "RIGEL_REQUIRE_MOSQUITTO=1 but nothing listens on 127.0.0.1:1883"
        );
        eprintln!("note: no MQTT broker on 127.0.0.1:1883; skipping the mosquitto test");
        return;
    }
    let topic = unique_topic("mosquitto");
    let mut subscriber =
        Subscriber::start(MOSQUITTO, &format!("{topic}/#"), QoS::ExactlyOnce).await;
    let cases = [
        (None, None, QoS::AtMostOnce),
        (Some("mqtt3.1.1"), Some("1"), QoS::AtLeastOnce),
        (Some("mqtt5.0"), Some("1"), QoS::AtLeastOnce),
        (Some("mqtt3.1.1"), Some("2"), QoS::ExactlyOnce),
        (Some("mqtt5.0"), Some("2"), QoS::ExactlyOnce),
    ];
    for (case, (version, qos, expected_qos)) in cases.into_iter().enumerate() {
        let (ty, id) = existing_vehicle("MqttMosquitto").await;
        let case_topic = format!("{topic}/{case}");
        let mut info = Vec::new();
        if let Some(version) = version {
            info.push(("MQTT-Version", version));
        }
        if let Some(qos) = qos {
            info.push(("MQTT-QoS", qos));
        }
        let sub = subscribe(&mqtt_subscription(
            &ty,
            &mqtt_uri(MOSQUITTO, &case_topic),
            &info,
        ))
        .await;
        set_speed(&id, 100).await;

        let publish = subscriber.next_publish().await;
        assert_eq!(publish.topic, case_topic, "{version:?} QoS {qos:?}");
        assert_eq!(publish.qos, expected_qos, "{version:?} QoS {qos:?}");
        let m = message(&publish);
        assert_eq!(m.metadata["Content-Type"], json!("application/json"));
        assert_notification_of(&m.body, &sub, &id, &ty, 100);
        subscription_when(&sub, |s| s["notification"]["status"] == json!("ok")).await;
    }
}
