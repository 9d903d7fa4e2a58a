//! Behaviour of entity parsing and rendering.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeZone, Utc};
use serde_json::{json, Map, Value};

use super::parse::{parse_entity, parse_fragment, NullPolicy, Patch};
use super::render::{render_entity, Format, LangPreference, Projection, RenderOptions};
use crate::{AttributeValue, ErrorKind, IdentityTerms};

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap()
}

fn entity(v: Value) -> crate::Entity {
    parse_entity(&obj(v), &IdentityTerms, now()).unwrap()
}

fn rejection(v: Value) -> String {
    let e = parse_entity(&obj(v), &IdentityTerms, now()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequestData);
    e.detail
}

#[test]
fn every_attribute_kind_parses_from_normalized_form() {
    let e = entity(json!({
        "id": "urn:ngsi-ld:T:1", "type": "T",
        "p": {"type": "Property", "value": 1, "unitCode": "CEL", "observedAt": "2024-01-01T00:00:00Z"},
        "r": {"type": "Relationship", "object": "urn:ngsi-ld:X:1"},
        "g": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1.0, 2.0]}},
        "l": {"type": "LanguageProperty", "languageMap": {"en": "yes", "fr": "oui"}},
        "v": {"type": "VocabProperty", "vocab": "urn:vocab:x"},
        "j": {"type": "JsonProperty", "json": {"id": "not-expanded"}},
        "lp": {"type": "ListProperty", "valueList": [1, 2]},
        "lr": {"type": "ListRelationship", "objectList": [{"object": "urn:a:1"}]},
    }));
    let kinds: Vec<&str> = e
        .attributes
        .values()
        .map(|i| i[0].value.type_name())
        .collect();
    assert_eq!(kinds.len(), 8);
    for k in [
        "Property",
        "Relationship",
        "GeoProperty",
        "LanguageProperty",
        "VocabProperty",
        "JsonProperty",
        "ListProperty",
        "ListRelationship",
    ] {
        assert!(kinds.contains(&k), "{k} missing");
    }
}

#[test]
fn concise_values_infer_their_kind() {
    let e = entity(json!({
        "id": "urn:ngsi-ld:T:1", "type": "T",
        "n": 5, "o": {"object": "urn:x:1"}, "loc": {"type": "Point", "coordinates": [0, 0]},
        "s": {"street": "Main"}, "lm": {"languageMap": {"en": "a"}},
    }));
    assert!(matches!(
        e.attributes["n"][0].value,
        AttributeValue::Property(_)
    ));
    assert!(matches!(
        e.attributes["o"][0].value,
        AttributeValue::Relationship { .. }
    ));
    assert!(matches!(
        e.attributes["loc"][0].value,
        AttributeValue::GeoProperty(_)
    ));
    assert_eq!(
        e.attributes["s"][0].value,
        AttributeValue::Property(json!({"street": "Main"}))
    );
    assert!(matches!(
        e.attributes["lm"][0].value,
        AttributeValue::LanguageProperty(_)
    ));
}

#[test]
fn multi_instance_attributes_keep_their_dataset_ids() {
    let e = entity(json!({"id": "urn:a:1", "type": "T", "speed": [
        {"type": "Property", "value": 1},
        {"type": "Property", "value": 2, "datasetId": "urn:ds:2"},
    ]}));
    let ids: Vec<_> = e.attributes["speed"]
        .iter()
        .map(|a| a.dataset_id.clone())
        .collect();
    assert_eq!(ids, vec![None, Some("urn:ds:2".to_owned())]);
}

#[test]
fn duplicate_dataset_ids_are_bad_request_data() {
    let d = rejection(json!({"id": "urn:a:1", "type": "T", "speed": [
        {"type": "Property", "value": 1}, {"type": "Property", "value": 2},
    ]}));
    assert!(d.contains("same datasetId"), "{d}");
}

#[test]
fn invalid_members_are_named_in_the_detail() {
    assert!(rejection(json!({"type": "T"})).contains("\"id\""));
    assert!(rejection(json!({"id": "not a uri", "type": "T"})).contains("not a URI"));
    assert!(rejection(json!({"id": "urn:a:1"})).contains("\"type\""));
    assert!(rejection(json!({"id": "urn:a:1", "type": "T", "bad<name": 1})).contains("bad<name"));
    assert!(rejection(
        json!({"id": "urn:a:1", "type": "T", "r": {"type": "Relationship", "object": "nope"}})
    )
    .contains("\"r\""));
    assert!(
        rejection(json!({"id": "urn:a:1", "type": "T", "p": {"type": "Property"}}))
            .contains("\"value\"")
    );
    assert!(rejection(json!({"id": "urn:a:1", "type": "T", "p": {"type": "Property", "value": 1, "observedAt": "yesterday"}})).contains("observedAt"));
    assert!(
        rejection(json!({"id": "urn:a:1", "type": "T", "p": {"type": "Magic", "value": 1}}))
            .contains("Magic")
    );
    assert!(rejection(json!({"id": "urn:a:1", "type": "T", "p": null})).contains("null"));
}

#[test]
fn invalid_geojson_is_bad_request_data() {
    for g in [
        json!({"type": "Point", "coordinates": [200, 0]}),
        json!({"type": "Point", "coordinates": "x"}),
        json!({"type": "LineString", "coordinates": [[0, 0]]}),
        json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}),
        json!({"type": "Circle", "coordinates": [0, 0]}),
    ] {
        rejection(json!({"id": "urn:a:1", "type": "T", "g": {"type": "GeoProperty", "value": g}}));
    }
}

#[test]
fn ngsi_ld_null_deletes_in_patches_and_is_refused_elsewhere() {
    let body = obj(
        json!({"a": "urn:ngsi-ld:null", "b": {"type": "Property", "value": "urn:ngsi-ld:null", "datasetId": "urn:d:1"},
        "c": {"type": "LanguageProperty", "languageMap": {"@none": "urn:ngsi-ld:null"}}}),
    );
    let f = parse_fragment(&body, &IdentityTerms, NullPolicy::Delete, now()).unwrap();
    assert_eq!(f["a"], vec![Patch::Delete { dataset_id: None }]);
    assert_eq!(
        f["b"],
        vec![Patch::Delete {
            dataset_id: Some("urn:d:1".into())
        }]
    );
    assert_eq!(f["c"], vec![Patch::Delete { dataset_id: None }]);
    assert!(parse_fragment(&body, &IdentityTerms, NullPolicy::Reject, now()).is_err());
}

#[test]
fn key_values_render_values_and_datasets() {
    let e = entity(
        json!({"id": "urn:a:1", "type": "T", "p": 1, "r": {"object": "urn:b:1"},
        "m": [{"value": 1}, {"value": 2, "datasetId": "urn:d:2"}]}),
    );
    let opts = RenderOptions {
        format: Format::KeyValues,
        ..Default::default()
    };
    let out = Value::Object(render_entity(&e, &IdentityTerms, &opts));
    assert_eq!(
        out,
        json!({"id": "urn:a:1", "type": "T", "m": {"dataset": {"@none": 1, "urn:d:2": 2}}, "p": 1, "r": "urn:b:1"})
    );
}

#[test]
fn concise_rendering_drops_types_and_keeps_metadata() {
    let e = entity(json!({"id": "urn:a:1", "type": "T", "p": 1,
        "q": {"type": "Property", "value": 2, "unitCode": "CEL"}, "r": {"type": "Relationship", "object": "urn:b:1"}}));
    let opts = RenderOptions {
        format: Format::Concise,
        ..Default::default()
    };
    let out = Value::Object(render_entity(&e, &IdentityTerms, &opts));
    assert_eq!(
        out,
        json!({"id": "urn:a:1", "type": "T", "p": 1, "q": {"value": 2, "unitCode": "CEL"}, "r": {"object": "urn:b:1"}})
    );
}

#[test]
fn sys_attrs_add_timestamps_to_entity_and_attributes() {
    let e = entity(json!({"id": "urn:a:1", "type": "T", "p": 1}));
    let opts = RenderOptions {
        sys_attrs: true,
        ..Default::default()
    };
    let out = render_entity(&e, &IdentityTerms, &opts);
    assert_eq!(out["createdAt"], json!("2024-01-02T03:04:05.000Z"));
    assert_eq!(out["p"]["modifiedAt"], json!("2024-01-02T03:04:05.000Z"));
}

#[test]
fn lang_turns_a_language_property_into_a_property() {
    let e = entity(
        json!({"id": "urn:a:1", "type": "T", "n": {"type": "LanguageProperty", "languageMap": {"en": "yes", "fr": "oui"}}}),
    );
    let opts = RenderOptions {
        lang: Some(LangPreference::parse("fr")),
        ..Default::default()
    };
    let out = render_entity(&e, &IdentityTerms, &opts);
    assert_eq!(
        out["n"],
        json!({"type": "Property", "value": "oui", "lang": "fr"})
    );
    let any = RenderOptions {
        lang: Some(LangPreference::parse("de,en;q=0.5")),
        ..Default::default()
    };
    assert_eq!(
        render_entity(&e, &IdentityTerms, &any)["n"]["value"],
        json!("yes")
    );
}

#[test]
fn projection_keeps_and_drops_members() {
    let e = entity(json!({"id": "urn:a:1", "type": "T", "a": 1, "b": 2}));
    let mut p = Projection {
        drop_type: true,
        ..Default::default()
    };
    p.drop.insert("b".into());
    let out = Value::Object(render_entity(
        &e,
        &IdentityTerms,
        &RenderOptions {
            projection: p,
            format: Format::KeyValues,
            ..Default::default()
        },
    ));
    assert_eq!(out, json!({"id": "urn:a:1", "a": 1}));
}
