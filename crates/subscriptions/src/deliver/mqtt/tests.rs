//! Unit tests of MQTT endpoint parsing and message building (clause 7.2).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rigel_model::subscription::{Endpoint, KeyValuePair, NotificationMedia};

use super::mqtt_message;
use super::target::{Qos, Target, Version};
use crate::deliver::{DeliveryError, Outgoing};

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

fn parse(uri: &str) -> Result<Target, DeliveryError> {
    Target::parse(&endpoint(uri, &[]))
}

#[test]
fn a_plain_mqtt_uri_uses_port_1883_mqtt5_and_qos0() {
    let t = parse("mqtt://broker.example/notify/rooms").unwrap();
    assert!(!t.broker.tls);
    assert_eq!(t.broker.host, "broker.example");
    assert_eq!(t.broker.port, 1883);
    assert_eq!(t.broker.version, Version::V5);
    assert_eq!(t.broker.username, None);
    assert_eq!(t.topic, "notify/rooms");
    assert_eq!(t.qos, Qos::AtMostOnce);
}

#[test]
fn an_mqtts_uri_uses_tls_on_port_8883() {
    let t = parse("mqtts://broker.example/t").unwrap();
    assert!(t.broker.tls);
    assert_eq!(t.broker.port, 8883);
}

#[test]
fn credentials_and_port_come_from_the_authority() {
    let t = parse("mqtt://alice:s%40cret@10.0.0.7:2883/a/b/c").unwrap();
    assert_eq!(t.broker.username.as_deref(), Some("alice"));
    assert_eq!(t.broker.password.as_deref(), Some("s@cret"));
    assert_eq!(t.broker.host, "10.0.0.7");
    assert_eq!(t.broker.port, 2883);
    assert_eq!(t.topic, "a/b/c");
}

#[test]
fn a_password_without_a_username_is_kept() {
    let t = parse("mqtt://:token@host/t").unwrap();
    assert_eq!(t.broker.username, None);
    assert_eq!(t.broker.password.as_deref(), Some("token"));
}

#[test]
fn an_ipv6_literal_keeps_its_brackets_and_finds_its_port() {
    let t = parse("mqtt://[::1]:1999/t").unwrap();
    assert_eq!(t.broker.host, "[::1]");
    assert_eq!(t.broker.port, 1999);
    let t = parse("mqtt://[::1]/t").unwrap();
    assert_eq!(t.broker.port, 1883);
}

#[test]
fn the_topic_is_percent_decoded() {
    assert_eq!(parse("mqtt://h/a%20b/%C3%A9").unwrap().topic, "a b/é");
}

#[test]
fn unusable_uris_are_bad_endpoints() {
    for uri in [
        "mqtt://host",
        "mqtt://host/",
        "mqtt:///topic",
        "mqtt://host:0/t",
        "mqtt://host:99999/t",
        "mqtt://host:x/t",
        "mqtt://host/a/+/b",
        "mqtt://host/a%23",
        "mqtt://host/t?x=1",
        "mqtt://host/a%zz",
        "http://host/t",
    ] {
        assert!(
            matches!(parse(uri), Err(DeliveryError::BadEndpoint(_))),
            "{uri} should be rejected"
        );
    }
}

#[test]
fn notifier_info_selects_version_and_qos() {
    let t = Target::parse(&endpoint(
        "mqtt://h/t",
        &[("MQTT-Version", "mqtt3.1.1"), ("MQTT-QoS", "2")],
    ))
    .unwrap();
    assert_eq!(t.broker.version, Version::V311);
    assert_eq!(t.qos, Qos::ExactlyOnce);
    let t = Target::parse(&endpoint(
        "mqtt://h/t",
        &[("MQTT-Version", "mqtt5.0"), ("MQTT-QoS", "1")],
    ))
    .unwrap();
    assert_eq!(t.broker.version, Version::V5);
    assert_eq!(t.qos, Qos::AtLeastOnce);
}

#[test]
fn unknown_notifier_info_values_are_bad_endpoints() {
    for pair in [("MQTT-Version", "mqtt4"), ("MQTT-QoS", "3")] {
        let result = Target::parse(&endpoint("mqtt://h/t", &[pair]));
        assert!(matches!(result, Err(DeliveryError::BadEndpoint(_))));
    }
}

#[test]
fn the_message_wraps_the_notification_in_metadata_and_body() {
    let message = Outgoing {
        body: br#"{"id":"urn:ngsi-ld:Notification:1","type":"Notification","data":[]}"#.to_vec(),
        content_type: "application/json",
        link: Some("<http://ctx.example/c.jsonld>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\"".into()),
        headers: vec![
            ("X-Auth".into(), "abc".into()),
            ("content-type".into(), "text/plain".into()),
        ],
    };
    let value: serde_json::Value = serde_json::from_slice(&mqtt_message(&message)).unwrap();
    assert_eq!(
        value,
        serde_json::json!({
            "metadata": {
                "Content-Type": "application/json",
                "Link": "<http://ctx.example/c.jsonld>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\"",
                "X-Auth": "abc"
            },
            "body": {"id": "urn:ngsi-ld:Notification:1", "type": "Notification", "data": []}
        })
    );
}

#[test]
fn a_json_ld_message_has_no_link() {
    let message = Outgoing {
        body: b"{}".to_vec(),
        content_type: "application/ld+json",
        link: None,
        headers: Vec::new(),
    };
    let value: serde_json::Value = serde_json::from_slice(&mqtt_message(&message)).unwrap();
    assert_eq!(
        value["metadata"],
        serde_json::json!({"Content-Type": "application/ld+json"})
    );
}
