//! Tests of subscription parsing and rendering.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Map, Value};

use super::parse::{apply_fragment, parse_subscription};
use super::render::render_subscription;
use super::{
    DeliveryOutcome, Join, KeyValuePair, NotificationMedia, Subscription, SubscriptionKind,
    SubscriptionStatus, Trigger,
};
use crate::codec::render::Format;
use crate::{ErrorKind, IdentityTerms, TermMap};

const VOCAB: &str = "https://ngsi-ld-test-suite/context#";
const CONTEXT: &str = "https://example.org/context.jsonld";

/// A small @context: a few terms in the test vocabulary, `location` in the core one.
struct TestTerms;

impl TermMap for TestTerms {
    fn expand<'a>(&'a self, term: &'a str) -> Cow<'a, str> {
        match term {
            "location" => Cow::Borrowed("https://uri.etsi.org/ngsi-ld/location"),
            "Building" | "Vehicle" | "name" | "subCategory" | "airQualityLevel" => {
                Cow::Owned(format!("{VOCAB}{term}"))
            }
            _ => Cow::Borrowed(term),
        }
    }

    fn compact<'a>(&'a self, iri: &'a str) -> Cow<'a, str> {
        if iri == "https://uri.etsi.org/ngsi-ld/location" {
            return Cow::Borrowed("location");
        }
        match iri.strip_prefix(VOCAB) {
            Some(term) => Cow::Borrowed(term),
            None => Cow::Borrowed(iri),
        }
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap()
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn minimal() -> Value {
    json!({
        "id": "urn:ngsi-ld:Subscription:1",
        "type": "Subscription",
        "entities": [{"type": "Building"}],
        "notification": {"endpoint": {"uri": "http://my.endpoint.org/notify"}},
    })
}

/// `minimal()` with `member` replaced (or removed when `value` is `None`).
fn with(member: &str, value: Option<Value>) -> Value {
    let mut body = minimal();
    let o = body.as_object_mut().unwrap();
    match value {
        Some(v) => o.insert(member.into(), v),
        None => o.remove(member),
    };
    body
}

fn with_notification(member: &str, value: Value) -> Value {
    let mut body = minimal();
    body["notification"][member] = value;
    body
}

fn parse(v: Value) -> Result<Subscription, crate::ModelError> {
    parse_subscription(
        SubscriptionKind::Entities,
        &obj(v),
        &TestTerms,
        CONTEXT,
        now(),
        || "urn:ngsi-ld:Subscription:generated".into(),
    )
}

fn sub(v: Value) -> Subscription {
    parse(v).unwrap()
}

/// Asserts `v` is refused with BadRequestData whose detail mentions `member`.
fn refused(v: Value, member: &str) {
    let e = parse(v).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequestData, "{}", e.detail);
    assert!(
        e.detail.contains(member),
        "detail {:?} does not name {member:?}",
        e.detail
    );
}

fn patched(current: &Subscription, fragment: Value) -> Result<Subscription, crate::ModelError> {
    apply_fragment(current, &obj(fragment), &TestTerms, now())
}

fn render(s: &Subscription) -> Value {
    Value::Object(render_subscription(s, &TestTerms, now(), false))
}

// ---- parsing a whole subscription -------------------------------------------------------

#[test]
fn a_full_subscription_parses_into_every_member() {
    let s = sub(json!({
        "id": "urn:ngsi-ld:Subscription:full",
        "type": "Subscription",
        "subscriptionName": "air",
        "description": "air quality",
        "entities": [
            {"id": "urn:ngsi-ld:Building:1", "type": "Building"},
            {"idPattern": "urn:ngsi-ld:Vehicle:.*", "type": "Vehicle|Building"}
        ],
        "watchedAttributes": ["name", "https://example.org/other"],
        "notificationTrigger": ["entityCreated", "attributeUpdated"],
        "q": "airQualityLevel==\"good\"",
        "geoQ": {"geometry": "Point", "coordinates": [1.0, 2.0], "georel": "near;maxDistance==10", "geoproperty": "location"},
        "scopeQ": "/Madrid",
        "lang": "en",
        "datasetId": ["urn:ngsi-ld:Dataset:a", "@none"],
        "expandValues": "category",
        "jsonKeys": "raw",
        "csf": "p==1",
        "localOnly": false,
        "splitEntities": true,
        "ngsildConformance": "1.9",
        "expiresAt": "2030-01-01T00:00:00Z",
        "isActive": false,
        "throttling": 2.5,
        "jsonldContext": "https://example.org/notify-context.jsonld",
        "notification": {
            "attributes": ["name"],
            "format": "concise",
            "sysAttrs": true,
            "showChanges": true,
            "join": "inline",
            "joinLevel": 2,
            "endpoint": {
                "uri": "mqtt://broker:1883/topic",
                "accept": "application/ld+json",
                "timeout": 1000,
                "cooldown": 500,
                "receiverInfo": [{"key": "Authorization", "value": "Bearer x"}],
                "notifierInfo": [{"key": "MQTT-QoS", "value": "1"}]
            }
        },
        "@context": "https://example.org/ignored.jsonld"
    }));
    assert_eq!(s.id, "urn:ngsi-ld:Subscription:full");
    assert_eq!(s.subscription_name.as_deref(), Some("air"));
    assert_eq!(s.description.as_deref(), Some("air quality"));
    assert_eq!(s.entities.len(), 2);
    assert_eq!(s.entities[0].id.as_deref(), Some("urn:ngsi-ld:Building:1"));
    assert_eq!(s.entities[1].type_selection, "Vehicle|Building");
    assert_eq!(
        s.entities[1].id_pattern.as_deref(),
        Some("urn:ngsi-ld:Vehicle:.*")
    );
    assert_eq!(
        s.watched_attributes,
        Some(vec![
            format!("{VOCAB}name"),
            "https://example.org/other".to_owned()
        ])
    );
    assert_eq!(
        s.notification_trigger,
        Some(vec![Trigger::EntityCreated, Trigger::AttributeUpdated])
    );
    assert_eq!(s.q.as_deref(), Some("airQualityLevel==\"good\""));
    let geo = s.geo_q.as_ref().unwrap();
    assert_eq!(geo.geometry, "Point");
    assert_eq!(geo.coordinates, json!([1.0, 2.0]));
    assert_eq!(
        geo.geoproperty.as_deref(),
        Some("https://uri.etsi.org/ngsi-ld/location")
    );
    assert_eq!(s.scope_q.as_deref(), Some("/Madrid"));
    assert_eq!(s.lang.as_deref(), Some("en"));
    assert_eq!(
        s.dataset_id,
        Some(vec!["urn:ngsi-ld:Dataset:a".into(), "@none".into()])
    );
    assert_eq!(s.expand_values.as_deref(), Some("category"));
    assert_eq!(s.json_keys.as_deref(), Some("raw"));
    assert_eq!(s.csf.as_deref(), Some("p==1"));
    assert_eq!(s.local_only, Some(false));
    assert_eq!(s.split_entities, Some(true));
    assert_eq!(s.ngsild_conformance.as_deref(), Some("1.9"));
    assert_eq!(
        s.expires_at,
        Some(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap())
    );
    assert!(!s.is_active);
    assert_eq!(s.throttling, Some(2.5));
    assert_eq!(
        s.jsonld_context,
        "https://example.org/notify-context.jsonld"
    );
    let n = &s.notification;
    assert_eq!(n.attributes, Some(vec![format!("{VOCAB}name")]));
    assert_eq!(n.format, Format::Concise);
    assert!(n.sys_attrs && n.show_changes);
    assert_eq!(n.join, Some(Join::Inline));
    assert_eq!(n.join_level, Some(2));
    assert_eq!(n.endpoint.uri, "mqtt://broker:1883/topic");
    assert_eq!(n.endpoint.accept, NotificationMedia::JsonLd);
    assert_eq!(n.endpoint.timeout_ms, Some(1000.0));
    assert_eq!(n.endpoint.cooldown_ms, Some(500.0));
    assert_eq!(
        n.endpoint.receiver_info,
        vec![KeyValuePair {
            key: "Authorization".into(),
            value: "Bearer x".into()
        }]
    );
    assert_eq!(n.endpoint.notifier_info[0].key, "MQTT-QoS");
    assert_eq!(s.created_at, now());
    assert_eq!(s.modified_at, now());
    assert!(s.terms.is_empty());
    assert_eq!(s.delivery, Default::default());
}

#[test]
fn a_minimal_subscription_gets_the_defaults() {
    let s = sub(minimal());
    assert!(s.is_active);
    assert_eq!(s.notification_trigger, None);
    assert_eq!(s.notification.format, Format::Normalized);
    assert_eq!(s.notification.endpoint.accept, NotificationMedia::Json);
    assert!(!s.notification.sys_attrs && !s.notification.show_changes);
    assert_eq!(s.jsonld_context, CONTEXT);
    assert_eq!(s.status(now()), SubscriptionStatus::Active);
}

#[test]
fn a_subscription_without_id_gets_a_generated_one() {
    let s = sub(with("id", None));
    assert_eq!(s.id, "urn:ngsi-ld:Subscription:generated");
}

#[test]
fn the_id_generator_is_not_called_when_the_body_has_an_id() {
    let body = obj(minimal());
    let s = parse_subscription(
        SubscriptionKind::Entities,
        &body,
        &IdentityTerms,
        CONTEXT,
        now(),
        || panic!("generator called"),
    )
    .unwrap();
    assert_eq!(s.id, "urn:ngsi-ld:Subscription:1");
}

#[test]
fn an_entity_type_is_kept_as_written() {
    let s = sub(with(
        "entities",
        Some(json!([{"type": "(Building;Vehicle)|Other"}])),
    ));
    assert_eq!(s.entities[0].type_selection, "(Building;Vehicle)|Other");
}

#[test]
fn a_selector_listing_several_ids_selects_each_of_them() {
    let s = sub(with(
        "entities",
        Some(json!([{"id": ["urn:a:1", "urn:a:2"], "type": "Building"}])),
    ));
    let ids: Vec<_> = s.entities.iter().map(|e| e.id.as_deref()).collect();
    assert_eq!(ids, vec![Some("urn:a:1"), Some("urn:a:2")]);
    assert!(s.entities.iter().all(|e| e.type_selection == "Building"));
}

#[test]
fn simplified_is_a_synonym_of_key_values() {
    let s = sub(with_notification("format", json!("simplified")));
    assert_eq!(s.notification.format, Format::KeyValues);
}

#[test]
fn join_none_means_no_linked_entity_retrieval() {
    let s = sub(with_notification("join", json!("@none")));
    assert_eq!(s.notification.join, None);
}

#[test]
fn read_only_and_unknown_members_are_ignored() {
    let mut body = minimal();
    let o = body.as_object_mut().unwrap();
    o.insert("status".into(), json!("expired"));
    o.insert("createdAt".into(), json!("not even a date"));
    o.insert("somethingElse".into(), json!({"x": 1}));
    o.insert("temporalQ".into(), json!({"timerel": "after"}));
    body["notification"]["timesSent"] = json!(7);
    body["notification"]["status"] = json!("failed");
    body["notification"]["lastNotification"] = json!(3);
    let s = sub(body);
    assert_eq!(s.status(now()), SubscriptionStatus::Active);
    assert_eq!(s.created_at, now());
    assert_eq!(s.delivery.times_sent, 0);
}

#[test]
fn a_localonly_subscription_needs_neither_entities_nor_watched_attributes() {
    let mut body = with("entities", None);
    body["localOnly"] = json!(true);
    assert!(sub(body).entities.is_empty());
}

#[test]
fn watched_attributes_alone_select_entities() {
    let mut body = with("entities", None);
    body["watchedAttributes"] = json!(["name"]);
    assert!(sub(body).entities.is_empty());
}

#[test]
fn a_comma_may_separate_the_fraction_of_seconds_in_expires_at() {
    let s = sub(with("expiresAt", Some(json!("2030-01-01T00:00:00,5Z"))));
    assert_eq!(
        s.expires_at,
        Some(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap() + Duration::milliseconds(500))
    );
}

#[test]
fn the_older_member_expires_is_read_as_expires_at() {
    let s = sub(with("expires", Some(json!("2030-01-01T00:00:00Z"))));
    assert_eq!(
        s.expires_at,
        Some(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap())
    );
    refused(
        with("expires", Some(json!("2020-01-01T00:00:00Z"))),
        "expiresAt",
    );
}

#[test]
fn the_older_member_name_is_read_as_subscription_name() {
    let s = sub(with("name", Some(json!("parking"))));
    assert_eq!(s.subscription_name.as_deref(), Some("parking"));
}

#[test]
fn an_empty_notification_attributes_list_means_every_attribute() {
    let s = sub(with_notification("attributes", json!([])));
    assert!(s.notification.attributes.is_none());
}

#[test]
fn expires_at_wins_over_the_older_expires() {
    let mut body = with("expires", Some(json!("2031-01-01T00:00:00Z")));
    body["expiresAt"] = json!("2030-01-01T00:00:00Z");
    assert_eq!(
        sub(body).expires_at,
        Some(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap())
    );
}

#[test]
fn a_fragment_with_the_older_expires_updates_expires_at() {
    let current = sub(minimal());
    let s = patched(&current, json!({"expires": "2030-01-01T00:00:00Z"})).unwrap();
    assert_eq!(
        s.expires_at,
        Some(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap())
    );
}

// ---- rules of clause 5.2.12 ------------------------------------------------------------

#[test]
fn an_empty_body_is_bad_request_data() {
    let e = parse(json!({})).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequestData);
}

#[test]
fn a_subscription_without_type_is_bad_request_data() {
    refused(with("type", None), "type");
}

#[test]
fn a_subscription_of_another_type_is_bad_request_data() {
    refused(with("type", Some(json!("Entity"))), "type");
}

#[test]
fn a_subscription_id_that_is_not_a_uri_is_bad_request_data() {
    refused(with("id", Some(json!("invalidId"))), "id");
    refused(with("id", Some(json!(""))), "id");
    refused(with("id", Some(json!(7))), "id");
}

#[test]
fn a_subscription_without_notification_is_bad_request_data() {
    refused(with("notification", None), "notification");
}

#[test]
fn a_notification_without_endpoint_is_bad_request_data() {
    refused(
        with("notification", Some(json!({"format": "keyValues"}))),
        "endpoint",
    );
}

#[test]
fn an_endpoint_without_a_uri_uri_is_bad_request_data() {
    refused(with_notification("endpoint", json!({})), "uri");
    refused(
        with_notification("endpoint", json!({"uri": "not a uri"})),
        "notification.endpoint.uri",
    );
}

#[test]
fn an_unknown_accept_media_type_is_bad_request_data() {
    refused(
        with_notification(
            "endpoint",
            json!({"uri": "http://a.b/n", "accept": "text/plain"}),
        ),
        "accept",
    );
}

#[test]
fn a_non_positive_endpoint_timeout_or_cooldown_is_bad_request_data() {
    refused(
        with_notification("endpoint", json!({"uri": "http://a.b/n", "timeout": 0})),
        "timeout",
    );
    refused(
        with_notification("endpoint", json!({"uri": "http://a.b/n", "cooldown": -1})),
        "cooldown",
    );
}

#[test]
fn receiver_info_must_be_key_value_pairs() {
    refused(
        with_notification(
            "endpoint",
            json!({"uri": "http://a.b/n", "receiverInfo": [{"key": "k"}]}),
        ),
        "receiverInfo",
    );
    refused(
        with_notification(
            "endpoint",
            json!({"uri": "http://a.b/n", "notifierInfo": {"key": "k", "value": "v"}}),
        ),
        "notifierInfo",
    );
}

#[test]
fn an_empty_entities_array_is_bad_request_data() {
    refused(with("entities", Some(json!([]))), "entities");
}

#[test]
fn an_entity_selector_without_type_is_bad_request_data() {
    refused(with("entities", Some(json!([{"id": "urn:a:1"}]))), "type");
}

#[test]
fn an_entity_selector_id_that_is_not_a_uri_is_bad_request_data() {
    refused(
        with(
            "entities",
            Some(json!([{"id": "nope", "type": "Building"}])),
        ),
        "entities[].id",
    );
}

#[test]
fn an_entity_selector_with_a_non_string_id_pattern_is_bad_request_data() {
    refused(
        with(
            "entities",
            Some(json!([{"idPattern": 3, "type": "Building"}])),
        ),
        "idPattern",
    );
}

#[test]
fn a_subscription_without_entities_or_watched_attributes_is_bad_request_data() {
    refused(with("entities", None), "watchedAttributes");
}

#[test]
fn empty_or_invalid_watched_attributes_are_bad_request_data() {
    refused(
        with("watchedAttributes", Some(json!([]))),
        "watchedAttributes",
    );
    refused(
        with("watchedAttributes", Some(json!(["a b"]))),
        "watchedAttributes",
    );
    refused(
        with("watchedAttributes", Some(json!("name"))),
        "watchedAttributes",
    );
}

#[test]
fn an_unknown_notification_trigger_is_bad_request_data() {
    refused(
        with("notificationTrigger", Some(json!(["entityTouched"]))),
        "entityTouched",
    );
}

#[test]
fn an_empty_notification_trigger_list_is_bad_request_data() {
    refused(
        with("notificationTrigger", Some(json!([]))),
        "notificationTrigger",
    );
}

#[test]
fn a_subscription_with_both_throttling_and_time_interval_is_bad_request_data() {
    let mut body = with("throttling", Some(json!(5)));
    body["timeInterval"] = json!(10);
    refused(body, "throttling");
}

#[test]
fn a_subscription_with_time_interval_and_watched_attributes_is_bad_request_data() {
    let mut body = with("timeInterval", Some(json!(5)));
    body["watchedAttributes"] = json!(["name"]);
    refused(body, "watchedAttributes");
}

#[test]
fn a_periodic_subscription_without_entities_is_bad_request_data() {
    let mut body = with("entities", None);
    body["timeInterval"] = json!(5);
    refused(body, "entities");
}

#[test]
fn a_non_positive_throttling_or_time_interval_is_bad_request_data() {
    refused(with("throttling", Some(json!(-1))), "throttling");
    refused(with("throttling", Some(json!(0))), "throttling");
    refused(with("timeInterval", Some(json!(0))), "timeInterval");
    refused(with("timeInterval", Some(json!("5"))), "timeInterval");
}

#[test]
fn an_expires_at_in_the_past_is_bad_request_data() {
    refused(
        with("expiresAt", Some(json!("2020-08-01T22:07:00Z"))),
        "expiresAt",
    );
}

#[test]
fn an_expires_at_that_is_not_a_date_time_is_bad_request_data() {
    refused(with("expiresAt", Some(json!("tomorrow"))), "expiresAt");
    refused(with("expiresAt", Some(json!("2030-01-01"))), "expiresAt");
}

#[test]
fn a_non_boolean_is_active_local_only_or_split_entities_is_bad_request_data() {
    refused(with("isActive", Some(json!("false"))), "isActive");
    refused(with("localOnly", Some(json!(1))), "localOnly");
    refused(with("splitEntities", Some(json!("yes"))), "splitEntities");
}

#[test]
fn a_jsonld_context_that_is_not_a_uri_is_bad_request_data() {
    refused(
        with("jsonldContext", Some(json!("not a uri"))),
        "jsonldContext",
    );
}

#[test]
fn non_string_query_texts_are_bad_request_data() {
    for member in [
        "q",
        "scopeQ",
        "csf",
        "lang",
        "expandValues",
        "jsonKeys",
        "description",
        "subscriptionName",
    ] {
        refused(with(member, Some(json!(["x"]))), member);
    }
}

#[test]
fn an_ngsild_conformance_that_is_not_major_minor_is_bad_request_data() {
    refused(
        with("ngsildConformance", Some(json!("one.nine"))),
        "ngsildConformance",
    );
}

#[test]
fn dataset_ids_must_be_uris_or_none() {
    refused(with("datasetId", Some(json!(["french"]))), "datasetId");
    refused(with("datasetId", Some(json!("urn:a:1"))), "datasetId");
}

#[test]
fn a_geo_query_missing_a_mandatory_member_is_bad_request_data() {
    let full = json!({"geometry": "Point", "coordinates": [1, 2], "georel": "near;maxDistance==1"});
    for missing in ["geometry", "coordinates", "georel"] {
        let mut geo = full.clone();
        geo.as_object_mut().unwrap().remove(missing);
        refused(with("geoQ", Some(geo)), missing);
    }
}

#[test]
fn a_geo_query_with_an_unknown_geometry_is_bad_request_data() {
    refused(
        with(
            "geoQ",
            Some(
                json!({"geometry": "GeometryCollection", "coordinates": [1, 2], "georel": "within"}),
            ),
        ),
        "geoQ.geometry",
    );
}

#[test]
fn geo_query_coordinates_may_be_a_string() {
    let s = sub(with(
        "geoQ",
        Some(json!({"geometry": "Point", "coordinates": "[1,2]", "georel": "near;maxDistance==1"})),
    ));
    assert_eq!(s.geo_q.unwrap().coordinates, json!("[1,2]"));
}

#[test]
fn an_unknown_notification_format_is_bad_request_data() {
    refused(with_notification("format", json!("compact")), "format");
}

#[test]
fn show_changes_with_key_values_is_bad_request_data() {
    let mut body = with_notification("showChanges", json!(true));
    body["notification"]["format"] = json!("keyValues");
    refused(body, "showChanges");
}

#[test]
fn pick_and_omit_together_are_bad_request_data() {
    let mut body = with_notification("pick", json!(["id"]));
    body["notification"]["omit"] = json!(["id"]);
    refused(body, "omit");
}

#[test]
fn notification_attributes_with_pick_or_omit_are_bad_request_data() {
    let mut body = with_notification("pick", json!(["id"]));
    body["notification"]["attributes"] = json!(["name"]);
    refused(body, "attributes");
    let mut body = with_notification("omit", json!(["id"]));
    body["notification"]["attributes"] = json!(["name"]);
    refused(body, "attributes");
}

#[test]
fn notification_attributes_cannot_name_entity_members() {
    refused(with_notification("attributes", json!(["id"])), "attributes");
}

/// An empty `attributes` is tolerated (read as absent, see
/// `an_empty_notification_attributes_list_means_every_attribute`); empty pick and omit are not.
#[test]
fn empty_notification_pick_and_omit_lists_are_bad_request_data() {
    for member in ["pick", "omit"] {
        refused(with_notification(member, json!([])), member);
    }
}

#[test]
fn an_invalid_join_or_join_level_is_bad_request_data() {
    refused(with_notification("join", json!("deep")), "join");
    refused(with_notification("joinLevel", json!(0)), "joinLevel");
    refused(with_notification("joinLevel", json!(1.5)), "joinLevel");
}

#[test]
fn a_null_member_in_a_new_subscription_is_bad_request_data() {
    refused(with("q", Some(Value::Null)), "q");
    refused(with("q", Some(json!("urn:ngsi-ld:null"))), "q");
}

// ---- fragments and status rules (clause 5.8.2.4) ----------------------------------------

#[test]
fn a_fragment_replaces_the_members_it_holds() {
    let current = sub(minimal());
    let later = now() + Duration::seconds(30);
    let s = apply_fragment(
        &current,
        &obj(json!({
            "type": "Subscription",
            "entities": [{"type": "Vehicle"}],
            "q": "speed>50",
            "notification": {"format": "keyValues", "endpoint": {"uri": "http://my.second.endpoint.org/notify"}}
        })),
        &TestTerms,
        later,
    )
    .unwrap();
    assert_eq!(s.entities[0].type_selection, "Vehicle");
    assert_eq!(s.q.as_deref(), Some("speed>50"));
    assert_eq!(s.notification.format, Format::KeyValues);
    assert_eq!(
        s.notification.endpoint.uri,
        "http://my.second.endpoint.org/notify"
    );
    assert_eq!(s.created_at, now());
    assert_eq!(s.modified_at, later);
    assert_eq!(s.id, current.id);
}

#[test]
fn a_fragment_notification_replaces_the_whole_notification() {
    let current = sub(minimal());
    let e = patched(&current, json!({"notification": {"format": "keyValues"}})).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequestData);
    assert!(e.detail.contains("endpoint"));
}

#[test]
fn a_fragment_with_a_null_endpoint_is_bad_request_data() {
    let current = sub(minimal());
    let e = patched(
        &current,
        json!({"type": "Subscription", "notification": {"format": "keyValues", "endpoint": null}}),
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequestData);
}

#[test]
fn an_ngsi_ld_null_in_a_fragment_removes_the_member() {
    let current = sub(with("q", Some(json!("a==1"))));
    let s = patched(&current, json!({"q": "urn:ngsi-ld:null"})).unwrap();
    assert_eq!(s.q, None);
    let s = patched(&current, json!({"q": null})).unwrap();
    assert_eq!(s.q, None);
}

#[test]
fn removing_the_notification_is_bad_request_data() {
    let current = sub(minimal());
    let e = patched(&current, json!({"notification": "urn:ngsi-ld:null"})).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequestData);
}

#[test]
fn removing_the_only_entity_selection_is_bad_request_data() {
    let current = sub(minimal());
    let e = patched(&current, json!({"entities": null})).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequestData);
}

#[test]
fn a_fragment_is_validated_as_a_whole() {
    let current = sub(with("timeInterval", Some(json!(5))));
    let e = patched(&current, json!({"throttling": 2})).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequestData);
    let e = patched(&current, json!({"watchedAttributes": ["name"]})).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequestData);
}

#[test]
fn a_fragment_of_another_type_is_bad_request_data() {
    let current = sub(minimal());
    let e = patched(&current, json!({"type": "Entity"})).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequestData);
}

#[test]
fn a_fragment_may_repeat_the_id_but_not_change_it() {
    let current = sub(minimal());
    assert!(patched(&current, json!({"id": "urn:ngsi-ld:Subscription:1"})).is_ok());
    let e = patched(&current, json!({"id": "urn:ngsi-ld:Subscription:2"})).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequestData);
}

#[test]
fn read_only_members_in_a_fragment_are_ignored() {
    let current = sub(minimal());
    let s = patched(&current, json!({"status": "paused", "createdAt": null})).unwrap();
    assert_eq!(s.status(now()), SubscriptionStatus::Active);
    assert_eq!(s.created_at, current.created_at);
}

#[test]
fn is_active_false_pauses_and_true_reactivates() {
    let current = sub(minimal());
    let paused = patched(&current, json!({"type": "Subscription", "isActive": false})).unwrap();
    assert_eq!(paused.status(now()), SubscriptionStatus::Paused);
    let active = patched(&paused, json!({"type": "Subscription", "isActive": true})).unwrap();
    assert_eq!(active.status(now()), SubscriptionStatus::Active);
}

#[test]
fn is_active_alone_does_not_revive_an_expired_subscription() {
    let mut current = sub(with("expiresAt", Some(json!("2030-01-01T00:00:00Z"))));
    current.expires_at = Some(now() - Duration::seconds(1));
    let s = patched(&current, json!({"isActive": true})).unwrap();
    assert_eq!(s.status(now()), SubscriptionStatus::Expired);
    let s = patched(&current, json!({"isActive": false})).unwrap();
    assert_eq!(s.status(now()), SubscriptionStatus::Expired);
}

#[test]
fn a_future_expires_at_reactivates_an_expired_subscription() {
    let mut current = sub(with("isActive", Some(json!(false))));
    current.expires_at = Some(now() - Duration::seconds(1));
    assert_eq!(current.status(now()), SubscriptionStatus::Expired);
    let s = patched(&current, json!({"expiresAt": "2030-08-01T22:07:00Z"})).unwrap();
    assert_eq!(s.status(now()), SubscriptionStatus::Active);
}

#[test]
fn a_future_expires_at_leaves_a_paused_subscription_paused() {
    let current = sub(with("isActive", Some(json!(false))));
    let s = patched(&current, json!({"expiresAt": "2030-08-01T22:07:00Z"})).unwrap();
    assert_eq!(s.status(now()), SubscriptionStatus::Paused);
}

#[test]
fn is_active_with_a_future_expires_at_activates() {
    let current = sub(with("isActive", Some(json!(false))));
    let s = patched(
        &current,
        json!({"isActive": true, "expiresAt": "2030-08-01T22:07:00Z"}),
    )
    .unwrap();
    assert_eq!(s.status(now()), SubscriptionStatus::Active);
}

#[test]
fn an_expires_at_in_the_past_in_a_fragment_is_bad_request_data() {
    let current = sub(minimal());
    for fragment in [
        json!({"expiresAt": "2020-08-01T22:07:00Z"}),
        json!({"isActive": true, "expiresAt": "2020-08-01T22:07:00Z"}),
        json!({"isActive": false, "expiresAt": "2020-08-01T22:07:00Z"}),
    ] {
        let e = patched(&current, fragment).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadRequestData);
    }
}

#[test]
fn a_fragment_keeps_the_frozen_terms_and_delivery_status() {
    let mut current = sub(minimal());
    current
        .terms
        .insert("Building".into(), format!("{VOCAB}Building"));
    current.delivery.times_sent = 3;
    let s = patched(&current, json!({"description": "x"})).unwrap();
    assert_eq!(s.terms, current.terms);
    assert_eq!(s.delivery.times_sent, 3);
}

// ---- rendering --------------------------------------------------------------------------

#[test]
fn a_minimal_subscription_renders_as_the_conformance_suite_reads_it() {
    let mut s = sub(json!({
        "id": "urn:ngsi-ld:Subscription:1",
        "type": "Subscription",
        "timeInterval": 5,
        "entities": [{"type": "Building"}],
        "notification": {
            "format": "keyValues",
            "endpoint": {"uri": "http://localhost:1111/notify", "accept": "application/json"}
        }
    }));
    s.terms
        .insert("Building".into(), format!("{VOCAB}Building"));
    assert_eq!(
        render(&s),
        json!({
            "id": "urn:ngsi-ld:Subscription:1",
            "type": "Subscription",
            "entities": [{"type": "Building"}],
            "notificationTrigger": ["attributeCreated", "attributeUpdated"],
            "timeInterval": 5,
            "jsonldContext": CONTEXT,
            "notification": {
                "format": "keyValues",
                "endpoint": {"uri": "http://localhost:1111/notify", "accept": "application/json"}
            },
            "status": "active"
        })
    );
}

#[test]
fn a_full_subscription_renders_back_to_what_was_given() {
    let body = json!({
        "id": "urn:ngsi-ld:Subscription:full",
        "type": "Subscription",
        "subscriptionName": "air",
        "description": "air quality",
        "entities": [
            {"id": "urn:ngsi-ld:Building:1", "type": "Building"},
            {"idPattern": "urn:ngsi-ld:Vehicle:.*", "type": "Vehicle"}
        ],
        "watchedAttributes": ["name", "subCategory"],
        "notificationTrigger": ["entityCreated", "attributeUpdated"],
        "q": "airQualityLevel==\"good\"",
        "geoQ": {"geometry": "Point", "coordinates": [1.5, 2.0], "georel": "near;maxDistance==10", "geoproperty": "location"},
        "scopeQ": "/Madrid",
        "lang": "en",
        "datasetId": ["urn:ngsi-ld:Dataset:a", "@none"],
        "expandValues": "category",
        "jsonKeys": "raw",
        "csf": "p==1",
        "localOnly": false,
        "splitEntities": true,
        "ngsildConformance": "1.9",
        "expiresAt": "2030-01-01T00:00:00.000Z",
        "isActive": false,
        "throttling": 2.5,
        "jsonldContext": "https://example.org/notify-context.jsonld",
        "notification": {
            "attributes": ["name"],
            "format": "concise",
            "sysAttrs": true,
            "showChanges": true,
            "join": "inline",
            "joinLevel": 2,
            "endpoint": {
                "uri": "mqtt://broker:1883/topic",
                "accept": "application/ld+json",
                "timeout": 1000,
                "cooldown": 500,
                "receiverInfo": [{"key": "Authorization", "value": "Bearer x"}],
                "notifierInfo": [{"key": "MQTT-QoS", "value": "1"}]
            }
        }
    });
    let mut expected = body.clone();
    expected["status"] = json!("paused");
    assert_eq!(render(&sub(body)), expected);
}

#[test]
fn rendering_compacts_names_with_the_request_context() {
    let mut s = sub(json!({
        "type": "Subscription",
        "entities": [{"type": "Building"}],
        "watchedAttributes": ["name"],
        "geoQ": {"geometry": "Point", "coordinates": [1, 2], "georel": "near;maxDistance==1", "geoproperty": "location"},
        "notification": {"attributes": ["subCategory"], "endpoint": {"uri": "http://a.b/n"}}
    }));
    s.terms
        .insert("Building".into(), format!("{VOCAB}Building"));
    let with_context = render(&s);
    assert_eq!(with_context["entities"][0]["type"], "Building");
    assert_eq!(with_context["watchedAttributes"], json!(["name"]));
    assert_eq!(
        with_context["notification"]["attributes"],
        json!(["subCategory"])
    );
    assert_eq!(with_context["geoQ"]["geoproperty"], "location");

    let without = Value::Object(render_subscription(&s, &IdentityTerms, now(), false));
    assert_eq!(without["entities"][0]["type"], format!("{VOCAB}Building"));
    assert_eq!(
        without["watchedAttributes"],
        json!([format!("{VOCAB}name")])
    );
    assert_eq!(
        without["notification"]["attributes"],
        json!([format!("{VOCAB}subCategory")])
    );
    assert_eq!(
        without["geoQ"]["geoproperty"],
        "https://uri.etsi.org/ngsi-ld/location"
    );
}

#[test]
fn each_name_of_a_type_expression_is_compacted() {
    let mut s = sub(with(
        "entities",
        Some(json!([{"type": "(Building; Vehicle)|Other"}])),
    ));
    s.terms
        .insert("Building".into(), format!("{VOCAB}Building"));
    s.terms.insert("Vehicle".into(), format!("{VOCAB}Vehicle"));
    let out = Value::Object(render_subscription(&s, &IdentityTerms, now(), false));
    assert_eq!(
        out["entities"][0]["type"],
        format!("({VOCAB}Building; {VOCAB}Vehicle)|Other")
    );
    assert_eq!(
        render(&s)["entities"][0]["type"],
        "(Building; Vehicle)|Other"
    );
}

#[test]
fn a_type_written_as_an_iri_is_compacted() {
    let s = sub(with(
        "entities",
        Some(json!([{"type": format!("{VOCAB}Vehicle")}])),
    ));
    assert_eq!(render(&s)["entities"][0]["type"], "Vehicle");
}

#[test]
fn system_attributes_render_only_when_asked() {
    let s = sub(minimal());
    assert!(render(&s).get("createdAt").is_none());
    let out = render_subscription(&s, &TestTerms, now(), true);
    assert_eq!(out["createdAt"], "2024-01-02T03:04:05.000Z");
    assert_eq!(out["modifiedAt"], "2024-01-02T03:04:05.000Z");
}

#[test]
fn an_active_subscription_does_not_show_is_active() {
    let out = render(&sub(minimal()));
    assert!(out.get("isActive").is_none());
    assert_eq!(out["status"], "active");
}

#[test]
fn an_expired_subscription_renders_status_expired() {
    let mut s = sub(minimal());
    s.expires_at = Some(now() - Duration::seconds(1));
    assert_eq!(render(&s)["status"], "expired");
}

#[test]
fn delivery_status_renders_once_a_notification_was_attempted() {
    let mut s = sub(minimal());
    let n = render(&s)["notification"].clone();
    for member in [
        "status",
        "timesSent",
        "timesFailed",
        "lastNotification",
        "lastSuccess",
        "lastFailure",
    ] {
        assert!(n.get(member).is_none(), "{member} rendered");
    }
    s.delivery.times_sent = 2;
    s.delivery.times_failed = 1;
    s.delivery.last_notification = Some(now());
    s.delivery.last_success = Some(now());
    s.delivery.last_failure = Some(now());
    s.delivery.outcome = Some(DeliveryOutcome::Failed);
    let n = render(&s)["notification"].clone();
    assert_eq!(n["status"], "failed");
    assert_eq!(n["timesSent"], json!(2));
    assert_eq!(n["timesFailed"], json!(1));
    assert_eq!(n["lastNotification"], "2024-01-02T03:04:05.000Z");
    assert_eq!(n["lastSuccess"], "2024-01-02T03:04:05.000Z");
    assert_eq!(n["lastFailure"], "2024-01-02T03:04:05.000Z");
}

#[test]
fn integral_numbers_render_as_integers() {
    let s = sub(with("throttling", Some(json!(5.0))));
    assert_eq!(render(&s)["throttling"], json!(5));
    assert!(render(&s)["throttling"].is_u64());
}

#[test]
fn a_rendered_subscription_parses_back_to_the_same_subscription() {
    let original = sub(json!({
        "id": "urn:ngsi-ld:Subscription:rt",
        "type": "Subscription",
        "entities": [{"type": "Building", "idPattern": ".*"}],
        "watchedAttributes": ["name"],
        "notificationTrigger": ["entityDeleted"],
        "throttling": 1.5,
        "notification": {"pick": ["name"], "format": "keyValues", "endpoint": {"uri": "http://a.b/n", "accept": "application/geo+json"}}
    }));
    let rendered = render_subscription(&original, &TestTerms, now(), true);
    let again = parse_subscription(
        SubscriptionKind::Entities,
        &rendered,
        &TestTerms,
        "https://other.example/ctx",
        now(),
        || unreachable!(),
    )
    .unwrap();
    // The rendering always names the @context, which the parse then reads as written.
    assert!(again.jsonld_context_written);
    let again = Subscription {
        jsonld_context_written: false,
        ..again
    };
    assert_eq!(again, original);
}

#[test]
fn the_body_jsonld_context_wins_over_the_request_one() {
    let s = sub(with(
        "jsonldContext",
        Some(json!("https://example.org/given.jsonld")),
    ));
    assert_eq!(s.jsonld_context, "https://example.org/given.jsonld");
}

#[test]
fn explicit_default_triggers_and_implicit_ones_fire_alike() {
    let implicit = sub(minimal());
    let explicit = sub(with(
        "notificationTrigger",
        Some(json!(["attributeCreated", "attributeUpdated"])),
    ));
    for t in Trigger::ALL {
        assert_eq!(implicit.fires_on(t), explicit.fires_on(t), "{t:?}");
    }
    assert_eq!(
        render(&implicit)["notificationTrigger"],
        render(&explicit)["notificationTrigger"]
    );
}

#[test]
fn frozen_terms_are_kept_out_of_the_rendering() {
    let mut s = sub(minimal());
    s.terms = BTreeMap::from([("Building".to_owned(), format!("{VOCAB}Building"))]);
    assert!(render(&s).get("terms").is_none());
}

#[test]
fn dropped_notifications_are_reported_on_the_subscription_once_there_are_some() {
    let mut s = sub(minimal());
    assert!(render(&s)["notification"]
        .get("lostNotifications")
        .is_none());
    s.delivery.lost = 3;
    assert_eq!(render(&s)["notification"]["lostNotifications"], json!(3));
}
