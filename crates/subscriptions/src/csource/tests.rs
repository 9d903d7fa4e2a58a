//! The registration selection of a registration subscription: selectors, attributes,
//! dataset ids, scope, `q` and `csf`, and the elements a notification keeps.

#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use rigel_model::registration::parse::parse_registration;
use rigel_model::registration::Registration;
use rigel_model::subscription::parse::parse_subscription;
use rigel_model::subscription::SubscriptionKind;
use rigel_model::IdentityTerms;
use serde_json::{json, Value};

use super::RegistrationMatcher;

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn matcher(extra: Value) -> RegistrationMatcher {
    let mut body = json!({"id": "urn:s:1", "type": "Subscription",
        "notification": {"endpoint": {"uri": "http://127.0.0.1:1/n"}}});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let sub = parse_subscription(
        SubscriptionKind::Registrations,
        body.as_object().unwrap(),
        &IdentityTerms,
        "urn:ctx",
        now(),
        || unreachable!(),
    )
    .unwrap();
    RegistrationMatcher::compile(&sub, &IdentityTerms).unwrap()
}

fn registration(extra: Value) -> Registration {
    let mut body = json!({"id": "urn:r:1", "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": "urn:t:Building"}]}],
        "endpoint": "http://source.example.org"});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    parse_registration(
        body.as_object().unwrap(),
        &IdentityTerms,
        now(),
        || unreachable!(),
    )
    .unwrap()
}

fn kept_types(matcher: &RegistrationMatcher, reg: &Registration) -> Option<Vec<String>> {
    matcher.filter(reg).map(|r| {
        r.information
            .iter()
            .flat_map(|i| i.entities.iter().flatten().flat_map(|e| e.types.clone()))
            .collect()
    })
}

#[test]
fn each_entity_selector_keeps_the_elements_it_matches() {
    let two = matcher(json!({"entities": [{"type": "urn:t:Building"}, {"type": "urn:t:Shop"}]}));
    let reg = registration(json!({"information": [
        {"entities": [{"type": "urn:t:Building"}]},
        {"entities": [{"type": "urn:t:Vehicle"}]},
        {"entities": [{"type": "urn:t:Shop"}]}
    ]}));
    assert_eq!(
        kept_types(&two, &reg),
        Some(vec!["urn:t:Building".to_owned(), "urn:t:Shop".to_owned()])
    );
    let vehicles = matcher(json!({"entities": [{"type": "urn:t:Bus"}]}));
    assert_eq!(kept_types(&vehicles, &reg), None);
}

#[test]
fn an_id_selector_matches_a_registered_id_or_pattern() {
    let by_id = matcher(json!({"entities": [{"type": "urn:t:Building", "id": "urn:b:7"}]}));
    let named = |id: &str| {
        registration(json!({"information": [{"entities": [{"type": "urn:t:Building", "id": id}]}]}))
    };
    assert!(by_id.filter(&named("urn:b:7")).is_some());
    assert!(by_id.filter(&named("urn:b:8")).is_none());
    let pattern = registration(json!({"information": [{"entities": [
        {"type": "urn:t:Building", "idPattern": "urn:b:.*"}]}]}));
    assert!(by_id.filter(&pattern).is_some());
    assert!(by_id.filter(&registration(json!({}))).is_some());
}

#[test]
fn watched_and_notified_attributes_together_select_elements() {
    let both = matcher(json!({"entities": [{"type": "urn:t:Building"}],
        "watchedAttributes": ["urn:a:name"],
        "notification": {"attributes": ["urn:a:height"], "endpoint": {"uri": "http://127.0.0.1:1/n"}}}));
    let holding = |names: Value| {
        registration(
            json!({"information": [{"entities": [{"type": "urn:t:Building"}],
            "propertyNames": names}]}),
        )
    };
    assert!(both.filter(&holding(json!(["urn:a:height"]))).is_some());
    assert!(both.filter(&holding(json!(["urn:a:name"]))).is_some());
    assert!(both.filter(&holding(json!(["urn:a:colour"]))).is_none());
    assert!(
        both.filter(&registration(json!({}))).is_some(),
        "whole entities"
    );
}

#[test]
fn q_and_csf_read_the_registration_properties() {
    let reg = registration(json!({"brand": "Acme", "level": 3}));
    for (member, text, matches) in [
        ("csf", "brand==\"Acme\"", true),
        ("csf", "brand==\"Other\"", false),
        ("q", "level>2", true),
        ("q", "level>3", false),
    ] {
        let m = matcher(json!({"entities": [{"type": "urn:t:Building"}], member: text}));
        assert_eq!(m.filter(&reg).is_some(), matches, "{member}={text}");
    }
}

#[test]
fn scope_and_dataset_ids_must_meet_the_registration() {
    let scoped = matcher(json!({"entities": [{"type": "urn:t:Building"}], "scopeQ": "/city/#"}));
    assert!(scoped
        .filter(&registration(json!({"scope": "/city/north"})))
        .is_some());
    assert!(scoped
        .filter(&registration(json!({"scope": "/town"})))
        .is_none());
    let dataset = matcher(json!({"entities": [{"type": "urn:t:Building"}],
        "datasetId": ["urn:d:1"]}));
    assert!(dataset
        .filter(&registration(json!({"datasetId": ["urn:d:1"]})))
        .is_some());
    assert!(dataset
        .filter(&registration(json!({"datasetId": ["urn:d:2"]})))
        .is_none());
}

#[test]
fn a_temporal_query_reads_the_interval_its_time_property_names() {
    let managed = matcher(json!({"entities": [{"type": "urn:t:Building"}],
        "temporalQ": {"timerel": "before", "timeAt": "2022-01-01T00:00:00Z", "timeproperty": "modifiedAt"}}));
    let interval = json!({"startAt": "2021-01-01T00:00:00Z", "endAt": "2021-06-01T00:00:00Z"});
    assert!(managed
        .filter(&registration(json!({"managementInterval": interval})))
        .is_some());
    assert!(managed
        .filter(&registration(json!({"observationInterval": interval})))
        .is_none());
    let late = json!({"startAt": "2023-01-01T00:00:00Z"});
    assert!(managed
        .filter(&registration(json!({"managementInterval": late})))
        .is_none());
}
