//! Registrations: what is accepted and refused, how names expand and read back, fragments,
//! and the operation groups.

// Tests fail by panicking; expect() names what was expected.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::borrow::Cow;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};

use super::operations::{expand, Operation};
use super::parse::{apply_fragment, parse_registration};
use super::render::render_registration;
use super::{Mode, Registration};
use crate::{ErrorKind, TermMap};

/// The tests' @context: short names under `https://example.org/`.
struct Terms;

impl TermMap for Terms {
    fn expand<'a>(&'a self, term: &'a str) -> Cow<'a, str> {
        if term.contains(':') {
            Cow::Borrowed(term)
        } else {
            Cow::Owned(format!("https://example.org/{term}"))
        }
    }

    fn compact<'a>(&'a self, iri: &'a str) -> Cow<'a, str> {
        match iri.strip_prefix("https://example.org/") {
            Some(term) => Cow::Borrowed(term),
            None => Cow::Borrowed(iri),
        }
    }
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn full() -> Value {
    json!({
        "id": "urn:ngsi-ld:ContextSourceRegistration:r1",
        "type": "ContextSourceRegistration",
        "registrationName": "parking sensors",
        "description": "the parking department's broker",
        "information": [
            {
                "entities": [
                    {"id": "urn:ngsi-ld:Vehicle:A456", "type": "Vehicle"},
                    {"idPattern": "urn:ngsi-ld:Spot:.*", "type": ["ParkingSpot", "Place"]}
                ],
                "propertyNames": ["speed", "brand"],
                "relationshipNames": ["isParked"]
            }
        ],
        "tenant": "parking",
        "observationInterval": {"startAt": "2026-01-01T00:00:00.000Z"},
        "location": {"type": "Point", "coordinates": [2.35, 48.85]},
        "expiresAt": "2030-01-01T00:00:00Z",
        "endpoint": "http://parking.example.org:1026",
        "contextSourceInfo": [{"key": "jsonldContext", "value": "http://example.org/ctx.jsonld"}],
        "contextSourceAlias": "parking",
        "scope": "/Paris/Parking",
        "mode": "exclusive",
        "operations": ["retrieveOps", "updateOps"],
        "refreshRate": "PT1M",
        "management": {"localOnly": true, "timeout": 3000, "cooldown": 500, "cacheDuration": "PT10S"},
        "datasetId": ["urn:ngsi-ld:dataset:a", "@none"],
        "operator": "city"
    })
}

fn parse(v: Value) -> Result<Registration, crate::ModelError> {
    parse_registration(&object(v), &Terms, now(), || "urn:generated".into())
}

fn refused(v: Value) -> String {
    let err = parse(v).expect_err("refused");
    assert_eq!(err.kind, ErrorKind::BadRequestData);
    err.detail
}

fn with(member: &str, value: Value) -> Value {
    let mut v = full();
    v[member] = value;
    v
}

fn without(member: &str) -> Value {
    let mut v = object(full());
    v.remove(member);
    Value::Object(v)
}

#[test]
fn a_full_registration_reads_back_as_written() {
    let reg = parse(full()).expect("valid");
    let rendered = Value::Object(render_registration(&reg, &Terms, false));
    assert_eq!(rendered, full());
}

#[test]
fn names_are_kept_expanded() {
    let reg = parse(full()).expect("valid");
    let info = &reg.information[0];
    assert_eq!(
        info.property_names.as_deref(),
        Some(
            &[
                "https://example.org/speed".to_owned(),
                "https://example.org/brand".to_owned()
            ][..]
        )
    );
    let entities = info.entities.as_ref().unwrap();
    assert_eq!(entities[0].types, ["https://example.org/Vehicle"]);
    assert!(reg.properties.contains_key("https://example.org/operator"));
    assert_eq!(reg.mode(), Mode::Exclusive);
}

#[test]
fn an_id_is_generated_when_none_is_given_and_defaults_apply() {
    let mut v = object(full());
    for member in ["id", "mode", "operations"] {
        v.remove(member);
    }
    let reg = parse(Value::Object(v)).expect("valid");
    assert_eq!(reg.id, "urn:generated");
    assert_eq!(reg.mode(), Mode::Inclusive);
    let ops = reg.operation_set();
    assert!(ops.contains(&Operation::RetrieveEntity));
    assert!(ops.contains(&Operation::QueryBatch));
    assert!(
        !ops.contains(&Operation::CreateEntity),
        "federationOps has no provision"
    );
}

#[test]
fn the_mandatory_members_and_the_type_are_checked() {
    assert!(refused(without("endpoint")).contains("endpoint"));
    assert!(refused(without("information")).contains("information"));
    assert!(refused(without("type")).contains("type"));
    assert!(refused(with("type", json!("Subscription"))).contains("type"));
    assert!(refused(with("endpoint", json!("not a uri"))).contains("endpoint"));
    assert!(refused(with("id", json!("not a uri"))).contains("URI"));
}

#[test]
fn information_needs_something_to_register() {
    assert!(refused(with("information", json!([]))).contains("empty"));
    assert!(refused(with("information", json!([{}]))).contains("entities"));
    assert!(refused(with("information", json!([{"entities": []}]))).contains("empty"));
    assert!(refused(with(
        "information",
        json!([{"entities": [{"id": "urn:x:1"}]}])
    ))
    .contains("type"));
    assert!(refused(with(
        "information",
        json!([{"propertyNames": ["no spaces"]}])
    ))
    .contains("propertyNames"));
    assert!(refused(with("information", json!([{"colour": ["red"]}]))).contains("colour"));
}

#[test]
fn modes_and_operations_are_checked() {
    assert!(refused(with("mode", json!("sometimes"))).contains("mode"));
    assert!(refused(with("operations", json!(["fly"]))).contains("fly"));
    assert!(refused(with("operations", json!([]))).contains("empty"));
    let mut aux = with("mode", json!("auxiliary"));
    aux["operations"] = json!(["retrieveOps", "createEntity"]);
    assert!(refused(aux).contains("createEntity"));
    let mut aux = object(with("mode", json!("auxiliary")));
    aux.remove("operations");
    let reg = parse(Value::Object(aux)).expect("auxiliary without operations");
    assert_eq!(
        reg.operation_set().into_iter().collect::<Vec<_>>(),
        [Operation::RetrieveEntity, Operation::QueryEntity]
    );
}

#[test]
fn other_members_are_checked_by_kind() {
    let past = (now() - Duration::seconds(1)).to_rfc3339();
    assert!(refused(with("expiresAt", json!(past))).contains("past"));
    assert!(refused(with("expiresAt", json!("tomorrow"))).contains("DateTime"));
    assert!(refused(with("location", json!({"type": "Point"}))).contains("location"));
    assert!(refused(with("management", json!({"timeout": 0}))).contains("timeout"));
    assert!(refused(with("management", json!({"retries": 3}))).contains("retries"));
    assert!(refused(with("refreshRate", json!("1 minute"))).contains("refreshRate"));
    assert!(refused(with("scope", json!("no-leading-slash"))).contains("scope"));
    assert!(refused(with("registrationName", json!(""))).contains("registrationName"));
    assert!(refused(with("datasetId", json!(["not a uri"]))).contains("datasetId"));
    assert!(refused(with(
        "observationInterval",
        json!({"startAt": "2026-02-01T00:00:00Z", "endAt": "2026-01-01T00:00:00Z"})
    ))
    .contains("endAt"));
    assert!(refused(with("tenant", json!(null))).contains("null"));
}

#[test]
fn context_source_info_special_keys_are_checked() {
    let info =
        |key: &str, value: &str| with("contextSourceInfo", json!([{"key": key, "value": value}]));
    assert!(refused(info("accept", "text/csv")).contains("accept"));
    assert!(refused(info("contentType", "application/xml")).contains("contentType"));
    assert!(refused(info("jsonldContext", "not a uri")).contains("jsonldContext"));
    assert!(refused(info("ngsildConformance", "one")).contains("ngsildConformance"));
    for (key, value) in [
        ("accept", "application/ld+json"),
        ("ngsildConformance", "1.6"),
        ("Authorization", "urn:ngsi-ld:request"),
        ("x-custom", "anything"),
    ] {
        parse(info(key, value)).expect("accepted");
    }
    assert!(refused(with("contextSourceInfo", json!([{"key": "a"}]))).contains("value"));
}

#[test]
fn a_fragment_replaces_members_and_null_removes_optional_ones() {
    let reg = parse(full()).expect("valid");
    let later = now() + Duration::seconds(5);
    let fragment = object(json!({
        "description": "moved",
        "registrationName": null,
        "operator": "region",
        "information": [{"propertyNames": ["speed"]}]
    }));
    let updated = apply_fragment(&reg, &fragment, &Terms, later).expect("applied");
    assert_eq!(updated.description.as_deref(), Some("moved"));
    assert_eq!(updated.registration_name, None);
    assert_eq!(updated.information.len(), 1);
    assert_eq!(updated.information[0].entities, None);
    assert_eq!(
        updated.properties["https://example.org/operator"],
        json!("region")
    );
    assert_eq!((updated.created_at, updated.modified_at), (now(), later));

    for refused_fragment in [
        json!({"endpoint": null}),
        json!({"information": null}),
        json!({"id": "urn:ngsi-ld:ContextSourceRegistration:other"}),
        json!({"type": "Building"}),
        json!({"mode": "auxiliary"}),
    ] {
        let err = apply_fragment(&reg, &object(refused_fragment.clone()), &Terms, later)
            .expect_err("refused");
        assert_eq!(err.kind, ErrorKind::BadRequestData, "{refused_fragment}");
    }
}

#[test]
fn operation_groups_expand_as_the_tables_say() {
    let redirection = expand(&["redirectionOps"]);
    assert!(redirection.contains(&Operation::PurgeEntity));
    assert!(redirection.contains(&Operation::RetrieveEntityTypes));
    assert!(!redirection.contains(&Operation::CreateBatch));
    let federation = expand(&["federationOps"]);
    let association = expand(&["associationOps"]);
    assert!(association.is_subset(&federation));
    assert!(federation.contains(&Operation::CreateEntityMapQueryEntity));
    assert!(!association.contains(&Operation::CreateEntityMapQueryEntity));
    assert!(!federation.contains(&Operation::RetrieveTemporal));
    assert_eq!(expand(&["updateOps"]).len(), 4);
    assert_eq!(
        expand(&["createEntity", "retrieveOps"])
            .into_iter()
            .collect::<Vec<_>>(),
        [
            Operation::CreateEntity,
            Operation::RetrieveEntity,
            Operation::QueryEntity
        ]
    );
    assert_eq!(Operation::ALL.len(), 43);
}

#[test]
fn forwarding_status_appears_once_a_request_was_forwarded() {
    let mut reg = parse(full()).expect("valid");
    let rendered = render_registration(&reg, &Terms, true);
    assert!(!rendered.contains_key("status"));
    assert!(rendered.contains_key("createdAt"));
    reg.status.times_sent = 3;
    reg.status.times_failed = 1;
    reg.status.last_success = Some(now());
    reg.status.last_failure = Some(now() + Duration::seconds(1));
    let rendered = render_registration(&reg, &Terms, false);
    assert_eq!(rendered["status"], json!("failed"));
    assert_eq!(rendered["timesSent"], json!(3));
    assert_eq!(rendered["timesFailed"], json!(1));
    assert!(!rendered.contains_key("createdAt"));
}
