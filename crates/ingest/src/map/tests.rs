//! Mapping messages: the parking example of the issue, rejections with their reasons, and
//! NGSI-LD payloads taken as they are.

use chrono::{TimeZone, Utc};
use rigel_model::{AttributeValue, IdentityTerms};
use serde_json::{json, Value};

use super::map_message;
use crate::rule::{Rule, RuleSpec};

fn rule(spec: Value) -> Rule {
    Rule::new(serde_json::from_value::<RuleSpec>(spec).unwrap()).unwrap()
}

fn parking() -> Rule {
    rule(json!({
        "id": "parking",
        "broker": "mqtt://127.0.0.1:1883",
        "topic": "sensors/parking/+",
        "entity": {"id": "urn:ngsi-ld:ParkingSpot:{topic[2]}-{sensor_id}", "type": "ParkingSpot"},
        "observedAt": "timestamp",
        "attributes": {
            "status": {"field": "status"},
            "level": {"field": "level", "unitCode": "P1"},
            "zone": {"value": "urn:ngsi-ld:Zone:{topic[2]}", "kind": "Relationship"},
            "location": {"field": "location", "kind": "GeoProperty"}
        },
        "required": ["sensor_id", "status", "timestamp"],
        "fields": {
            "status": {"type": "string", "enum": ["occupied", "vacant"]},
            "timestamp": {"type": "date-time"}
        }
    }))
}

fn map(rule: &Rule, topic: &str, payload: Value) -> Result<Vec<rigel_model::Entity>, String> {
    let now = Utc.with_ymd_and_hms(2026, 12, 5, 8, 0, 1).unwrap();
    map_message(
        rule,
        &IdentityTerms,
        topic,
        payload.to_string().as_bytes(),
        now,
    )
}

#[test]
fn a_sensor_message_becomes_its_parking_spot() {
    let entities = map(
        &parking(),
        "sensors/parking/lotA",
        json!({"sensor_id": "lotA-017", "status": "occupied", "timestamp": "2026-12-05T08:00:00Z",
               "location": {"type": "Point", "coordinates": [2.35, 48.85]}}),
    )
    .unwrap();
    let [spot] = entities.as_slice() else {
        panic!("{entities:?}")
    };
    assert_eq!(spot.id, "urn:ngsi-ld:ParkingSpot:lotA-lotA-017");
    assert_eq!(spot.types, ["ParkingSpot"]);
    let status = &spot.attributes["status"][0];
    assert_eq!(status.value, AttributeValue::Property(json!("occupied")));
    assert_eq!(status.observed_at.as_deref(), Some("2026-12-05T08:00:00Z"));
    assert!(matches!(
        &spot.attributes["zone"][0].value,
        AttributeValue::Relationship { object, .. } if object == "urn:ngsi-ld:Zone:lotA"
    ));
    assert!(matches!(
        spot.attributes["location"][0].value,
        AttributeValue::GeoProperty(_)
    ));
    // `level` is mapped but absent from this message: left out.
    assert!(!spot.attributes.contains_key("level"));
}

#[test]
fn a_message_failing_the_checks_is_rejected_with_the_reason() {
    let parking = parking();
    let topic = "sensors/parking/lotA";
    let cases = [
        (
            json!({"status": "vacant", "timestamp": "2026-12-05T08:00:00Z"}),
            "required field sensor_id is missing",
        ),
        (
            json!({"sensor_id": "1", "status": "broken", "timestamp": "2026-12-05T08:00:00Z"}),
            "not one of",
        ),
        (
            json!({"sensor_id": "1", "status": "vacant", "timestamp": "8 o'clock"}),
            "not a date-time",
        ),
        (
            json!({"sensor_id": "1", "status": "vacant", "timestamp": "2026-12-05T08:00:00Z",
                "location": {"type": "Point", "coordinates": "here"}}),
            "",
        ),
    ];
    for (payload, reason) in cases {
        let why = map(&parking, topic, payload.clone()).unwrap_err();
        assert!(why.contains(reason), "{payload}: {why}");
    }
    let not_json = map_message(&parking, &IdentityTerms, topic, b"occupied", Utc::now());
    assert!(not_json.unwrap_err().starts_with("the payload is not JSON"));
}

#[test]
fn an_ngsi_ld_payload_is_taken_as_it_is() {
    let rule = rule(json!({
        "id": "entities", "broker": "mqtt://h", "topic": "city/entities", "payload": "ngsi-ld"
    }));
    let one = json!({"id": "urn:ngsi-ld:Bin:1", "type": "Bin", "fill": {"type": "Property", "value": 80}});
    assert_eq!(map(&rule, "city/entities", one.clone()).unwrap().len(), 1);
    let two = json!([one, {"id": "urn:ngsi-ld:Bin:2", "type": "Bin"}]);
    assert_eq!(map(&rule, "city/entities", two).unwrap().len(), 2);
    let foreign = json!({"id": "urn:ngsi-ld:Bin:3", "type": "Bin", "@context": "https://example.org/c.jsonld"});
    assert!(map(&rule, "city/entities", foreign)
        .unwrap_err()
        .contains("@context"));
    assert!(map(
        &rule,
        "city/entities",
        json!({"id": "not a uri", "type": "Bin"})
    )
    .is_err());
}

#[test]
fn rules_that_cannot_work_are_refused_with_the_reason() {
    let base = json!({"id": "r", "broker": "mqtt://h", "topic": "t", "entity": {"id": "urn:x:{a}", "type": "T"}});
    let with = |k: &str, v: Value| {
        let mut spec = base.clone();
        spec[k] = v;
        Rule::new(serde_json::from_value::<RuleSpec>(spec).unwrap()).unwrap_err()
    };
    assert!(with("qos", json!(3)).contains("qos"));
    assert!(with("topic", json!("a/#/b")).contains("'#'"));
    assert!(with("broker", json!("http://h")).contains("mqtt"));
    assert!(with("id", json!("has space")).contains("rule id"));
    assert!(with("attributes", json!({"a": {"field": "x", "value": "y"}})).contains("exactly one"));
    assert!(with("attributes", json!({"id": {"field": "x"}})).contains("cannot be mapped"));
    assert!(with("deadLetterTopic", json!("dead/#")).contains("wildcards"));
    assert!(with("payload", json!("ngsi-ld")).contains("no \"entity\""));
    assert!(with("shareGroup", json!("a/b")).contains("share group"));
    assert!(with("shareGroup", json!("")).contains("share group"));
    assert!(serde_json::from_value::<RuleSpec>(
        json!({"id": "r", "broker": "mqtt://h", "topic": "t", "surprise": 1})
    )
    .is_err());
}

#[test]
fn a_rule_in_a_share_group_subscribes_to_the_shared_topic_and_matches_the_plain_one() {
    let shared = rule(
        json!({"id": "r", "broker": "mqtt://h", "topic": "sensors/+/x",
        "shareGroup": "rigel", "entity": {"id": "urn:x:{a}", "type": "T"}}),
    );
    assert_eq!(shared.subscription, "$share/rigel/sensors/+/x");
    assert!(shared.filter.matches("sensors/lotA/x"));
    let alone = rule(
        json!({"id": "r", "broker": "mqtt://h", "topic": "sensors/+/x",
        "entity": {"id": "urn:x:{a}", "type": "T"}}),
    );
    assert_eq!(alone.subscription, "sensors/+/x");
}
