//! Record format 2: lossless round trips of every attribute kind, and corrupt bodies refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rigel_model::Entity;
use serde_json::json;

use super::{decode_entity, decode_types, encode_entity};

/// An entity with every attribute kind, every optional member, nested sub-attributes and
/// JSON values of every kind (built through the model's serde form).
fn rich_entity() -> Entity {
    serde_json::from_value(json!({
        "id": "urn:ngsi-ld:Vehicle:A-1 é",
        "types": ["https://uri.etsi.org/ngsi-ld/default-context/Vehicle", "urn:t:Other", "Bare"],
        "scope": ["/Madrid/Gran_Via", "/a"],
        "created_at": "2026-11-22T05:00:00.123456789Z",
        "modified_at": "1969-12-31T23:59:59.5Z",
        "attributes": {
            "https://uri.etsi.org/ngsi-ld/default-context/mileage": [
                {"value": {"kind": "Property", "payload": 1234},
                 "observed_at": "2026-11-22T05:00:00Z", "unit_code": "KMT",
                 "created_at": "2026-11-22T05:00:00.1Z", "modified_at": "2026-11-22T05:00:01Z"},
                {"value": {"kind": "Property", "payload": -7},
                 "dataset_id": "urn:ngsi-ld:Dataset:b", "value_type": "xsd:int",
                 "expires_at": "2030-01-01T00:00:00Z"}
            ],
            "https://smartdatamodels.org/dataModel.Transportation/speed": [
                {"value": {"kind": "Property", "payload": {"f": 1.0, "g": 1.5e300, "a": [null, true, false, "x", 18446744073709551615u64, -9223372036854775808i64], "z": {}}}}
            ],
            "http://example.org/owner": [
                {"value": {"kind": "Relationship", "payload": {"object": "urn:ngsi-ld:Person:1", "object_type": "https://uri.etsi.org/ngsi-ld/default-context/Person"}},
                 "sub_attributes": {
                    "https://w3id.org/since": {"value": {"kind": "Property", "payload": "2020"},
                        "sub_attributes": {"urn:deeper": {"value": {"kind": "Property", "payload": 0.1}}}}
                 }}
            ],
            "https://uri.etsi.org/ngsi-ld/location": [
                {"value": {"kind": "GeoProperty", "payload": {"type": "Point", "coordinates": [-3.7, 40.4]}}}
            ],
            "urn:lang": [{"value": {"kind": "LanguageProperty", "payload": {"fr": "rue", "en": ["street", "road"], "@none": "x"}}}],
            "urn:vocab": [{"value": {"kind": "VocabProperty", "payload": ["https://uri.etsi.org/ngsi-ld/default-context/Ok", "y"]}}],
            "urn:json": [{"value": {"kind": "JsonProperty", "payload": {"type": "not expanded", "n": [1, 2]}}}],
            "urn:list": [{"value": {"kind": "ListProperty", "payload": [3, "b", {"c": 1}]}}],
            "urn:rels": [{"value": {"kind": "ListRelationship", "payload": {"object_list": ["urn:a", "urn:b"]}}}],
            "urn:empty": []
        }
    }))
    .expect("a valid entity")
}

fn encoded(entity: &Entity) -> Vec<u8> {
    let mut out = Vec::new();
    encode_entity(entity, &mut out);
    out
}

#[test]
fn every_attribute_kind_and_member_round_trips() {
    let entity = rich_entity();
    let decoded = decode_entity(&encoded(&entity)).expect("decodes");
    assert_eq!(decoded, entity);
    // Number kinds (1.0 stays a float) and member order survive, so renderings are identical.
    assert_eq!(
        serde_json::to_string(&decoded).unwrap(),
        serde_json::to_string(&entity).unwrap()
    );
}

#[test]
fn an_entity_without_scope_or_attributes_round_trips() {
    let entity: Entity = serde_json::from_value(json!({
        "id": "x", "types": ["T"],
        "created_at": "2026-01-01T00:00:00Z", "modified_at": "2026-01-01T00:00:00Z"
    }))
    .unwrap();
    assert_eq!(decode_entity(&encoded(&entity)).unwrap(), entity);
}

#[test]
fn types_are_read_without_decoding_the_rest() {
    let entity = rich_entity();
    assert_eq!(decode_types(&encoded(&entity)).unwrap(), entity.types);
}

#[test]
fn the_body_is_smaller_than_json() {
    let entity = rich_entity();
    let json = serde_json::to_vec(&entity).unwrap();
    let binary = encoded(&entity);
    assert!(
        binary.len() * 2 < json.len(),
        "binary {} bytes against JSON {}",
        binary.len(),
        json.len()
    );
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let body = encoded(&rich_entity());
    for len in 0..body.len() {
        assert!(
            decode_entity(&body[..len]).is_err(),
            "a body cut at {len} of {} bytes decodes",
            body.len()
        );
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let mut body = encoded(&rich_entity());
    body.push(0);
    assert!(decode_entity(&body).is_err());
}

#[test]
fn flipped_bytes_never_panic() {
    let body = encoded(&rich_entity());
    for i in 0..body.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = body.clone();
            bad[i] ^= flip;
            // Any outcome but a panic (or a runaway allocation) is acceptable.
            let _ = decode_entity(&bad);
            let _ = decode_types(&bad);
        }
    }
}

#[test]
fn a_huge_count_is_refused_before_allocating() {
    // id "x", then a type count of 2^62.
    let body = [
        0u8, 1, b'x', 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40,
    ];
    assert!(decode_types(&body).is_err());
    assert!(decode_entity(&body).is_err());
}

#[test]
fn values_nested_beyond_the_limit_are_refused() {
    let mut deep = json!(1);
    for _ in 0..300 {
        deep = json!([deep]);
    }
    let mut entity = rich_entity();
    entity.attributes.insert(
        "urn:deep".into(),
        vec![
            serde_json::from_value(json!({"value": {"kind": "JsonProperty", "payload": null}}))
                .unwrap(),
        ],
    );
    if let Some(a) = entity.attributes.get_mut("urn:deep") {
        a[0].value = rigel_model::AttributeValue::JsonProperty(deep);
    }
    assert!(decode_entity(&encoded(&entity)).is_err());
}
