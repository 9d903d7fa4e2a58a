//! Behaviour of fragment application: append, update, merge, partial update, delete.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, TimeZone, Utc};
use rigel_model::codec::parse::{parse_entity, parse_fragment, NullPolicy};
use rigel_model::{AttributeValue, Entity, IdentityTerms};
use serde_json::{json, Map, Value};

use crate::attributes::AttributeUpdate;
use crate::merge::{apply_merge, apply_partial, apply_update, delete_attribute, MergeOptions};

fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn base() -> Entity {
    let mut e = parse_entity(
        &obj(json!({"id": "urn:a:1", "type": "T",
            "temp": {"type": "Property", "value": 25, "unitCode": "CEL", "observedAt": "2024-01-01T00:00:00Z"},
            "speed": [{"type": "Property", "value": 1}, {"type": "Property", "value": 2, "datasetId": "urn:d:2"}],
            "addr": {"type": "Property", "value": {"street": "Main", "city": "X"}}})),
        &IdentityTerms,
        t0(),
    )
    .unwrap();
    crate::entities::stamp_new(&mut e, t0());
    e
}

fn update(v: Value, nulls: NullPolicy) -> AttributeUpdate {
    AttributeUpdate {
        attributes: parse_fragment(&obj(v), &IdentityTerms, nulls, t0()).unwrap(),
        ..Default::default()
    }
}

fn value(e: &Entity, name: &str) -> Value {
    match &e.attributes[name][0].value {
        AttributeValue::Property(v) => v.clone(),
        other => panic!("not a property: {other:?}"),
    }
}

#[test]
fn update_replaces_the_whole_instance_and_keeps_created_at() {
    let mut e = base();
    let later = t0() + Duration::hours(1);
    let r = apply_update(
        &mut e,
        &update(
            json!({"temp": {"type": "Property", "value": 100}}),
            NullPolicy::Delete,
        ),
        true,
        true,
        later,
    );
    assert!(r.is_complete());
    let temp = &e.attributes["temp"][0];
    assert_eq!(
        temp.unit_code, None,
        "update patch replaces the whole attribute"
    );
    assert_eq!(temp.created_at, Some(t0()));
    assert_eq!(temp.modified_at, Some(later));
    assert_eq!(e.modified_at, later);
}

#[test]
fn append_without_overwrite_reports_existing_attributes() {
    let mut e = base();
    let r = apply_update(
        &mut e,
        &update(json!({"temp": 1, "new": 2}), NullPolicy::Reject),
        false,
        false,
        t0(),
    );
    assert_eq!(r.updated, vec!["new".to_owned()]);
    assert_eq!(r.not_updated.len(), 1);
    assert_eq!(value(&e, "temp"), json!(25));
}

#[test]
fn null_deletes_only_the_targeted_dataset_instance() {
    let mut e = base();
    let f =
        json!({"speed": {"type": "Property", "value": "urn:ngsi-ld:null", "datasetId": "urn:d:2"}});
    apply_update(&mut e, &update(f, NullPolicy::Delete), true, true, t0());
    assert_eq!(e.attributes["speed"].len(), 1);
    assert_eq!(e.attributes["speed"][0].dataset_id, None);
}

#[test]
fn partial_update_overwrites_given_members_only() {
    let mut e = base();
    let ok = apply_partial(
        &mut e,
        "temp",
        &json!({"value": 100, "observedAt": "2024-03-14T13:00:00Z"}),
        t0(),
    )
    .unwrap();
    assert!(ok);
    let temp = &e.attributes["temp"][0];
    assert_eq!(temp.unit_code.as_deref(), Some("CEL"));
    assert_eq!(temp.observed_at.as_deref(), Some("2024-03-14T13:00:00Z"));
    assert_eq!(value(&e, "temp"), json!(100));
}

#[test]
fn partial_update_cannot_change_the_attribute_kind() {
    let mut e = base();
    assert!(apply_partial(
        &mut e,
        "temp",
        &json!({"type": "Relationship", "object": "urn:x:1"}),
        t0()
    )
    .is_err());
}

#[test]
fn partial_update_of_a_missing_instance_reports_not_found() {
    let mut e = base();
    assert!(!apply_partial(
        &mut e,
        "temp",
        &json!({"value": 1, "datasetId": "urn:d:9"}),
        t0()
    )
    .unwrap());
    assert!(!apply_partial(&mut e, "nope", &json!({"value": 1}), t0()).unwrap());
}

#[test]
fn merge_deep_merges_object_values_and_keeps_metadata() {
    let mut e = base();
    apply_merge(
        &mut e,
        &obj(json!({"addr": {"city": "Y", "zip": "1"}, "temp": 30})),
        &[],
        None,
        &MergeOptions::default(),
        t0(),
    )
    .unwrap();
    assert_eq!(
        value(&e, "addr"),
        json!({"street": "Main", "city": "Y", "zip": "1"})
    );
    assert_eq!(value(&e, "temp"), json!(30));
    assert_eq!(e.attributes["temp"][0].unit_code.as_deref(), Some("CEL"));
}

#[test]
fn merge_with_null_removes_the_attribute_and_adds_new_ones() {
    let mut e = base();
    apply_merge(
        &mut e,
        &obj(json!({"temp": "urn:ngsi-ld:null", "fresh": {"type": "Property", "value": 1}})),
        &["U".to_owned()],
        None,
        &MergeOptions::default(),
        t0(),
    )
    .unwrap();
    assert!(!e.attributes.contains_key("temp"));
    assert_eq!(value(&e, "fresh"), json!(1));
    assert_eq!(e.types, vec!["T".to_owned(), "U".to_owned()]);
}

#[test]
fn delete_attribute_targets_default_dataset_or_all() {
    let mut e = base();
    assert!(delete_attribute(
        &mut e,
        "speed",
        Some("urn:d:2"),
        false,
        t0()
    ));
    assert_eq!(e.attributes["speed"].len(), 1);
    assert!(!delete_attribute(
        &mut e,
        "speed",
        Some("urn:d:9"),
        false,
        t0()
    ));
    let mut e = base();
    assert!(delete_attribute(&mut e, "speed", None, true, t0()));
    assert!(!e.attributes.contains_key("speed"));
}

#[test]
fn merge_options_update_one_language_and_observed_at() {
    let mut e = base();
    apply_merge(
        &mut e,
        &obj(json!({"n": {"type": "LanguageProperty", "languageMap": {"en": "yes", "fr": "oui"}}})),
        &[],
        None,
        &MergeOptions::default(),
        t0(),
    )
    .unwrap();
    let opts = MergeOptions {
        lang: Some("de".into()),
        observed_at: Some("2024-06-01T00:00:00Z".into()),
        ..Default::default()
    };
    apply_merge(
        &mut e,
        &obj(json!({"n": "ja", "temp": 20})),
        &[],
        None,
        &opts,
        t0(),
    )
    .unwrap();
    match &e.attributes["n"][0].value {
        AttributeValue::LanguageProperty(m) => assert_eq!(
            Value::Object(m.clone()),
            json!({"en": "yes", "fr": "oui", "de": "ja"})
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        e.attributes["temp"][0].observed_at.as_deref(),
        Some("2024-06-01T00:00:00Z")
    );
}

#[test]
fn key_values_merge_treats_objects_as_values() {
    let mut e = base();
    let opts = MergeOptions {
        key_values: true,
        ..Default::default()
    };
    apply_merge(
        &mut e,
        &obj(json!({"temp": {"type": "Property", "value": 1}, "other": {"a": 1}})),
        &[],
        None,
        &opts,
        t0(),
    )
    .unwrap();
    assert_eq!(
        e.attributes["temp"][0].value,
        AttributeValue::Property(json!({"type": "Property", "value": 1}))
    );
    assert_eq!(value(&e, "other"), json!({"a": 1}));
}
