//! Context Source Registration Subscriptions (clause 5.11) as the model reads and writes
//! them: `temporalQ`, no `notificationTrigger`, `jsonldContext` only as written.

#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use serde_json::{json, Map, Value};

use super::parse::{apply_fragment, parse_subscription};
use super::render::render_subscription;
use super::{Subscription, SubscriptionKind};
use crate::{ErrorKind, IdentityTerms};

const CONTEXT: &str = "https://example.org/context.jsonld";

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap()
}

fn body(extra: Value) -> Map<String, Value> {
    let mut body = json!({
        "id": "urn:ngsi-ld:Subscription:csr",
        "type": "Subscription",
        "entities": [{"type": "Building"}],
        "notification": {"endpoint": {"uri": "http://my.endpoint.org/notify"}},
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body.as_object().cloned().unwrap()
}

fn parse(kind: SubscriptionKind, extra: Value) -> Result<Subscription, crate::ModelError> {
    parse_subscription(kind, &body(extra), &IdentityTerms, CONTEXT, now(), || {
        unreachable!("the body has an id")
    })
}

fn registrations(extra: Value) -> Result<Subscription, crate::ModelError> {
    parse(SubscriptionKind::Registrations, extra)
}

fn rendered(sub: &Subscription) -> Map<String, Value> {
    render_subscription(sub, &IdentityTerms, now(), false)
}

#[test]
fn a_temporal_query_is_read_and_reads_back_as_written() {
    let temporal = json!({"timerel": "between", "timeAt": "2020-06-01T22:07:00Z",
        "endTimeAt": "2020-06-02T00:00:00.5Z", "timeproperty": "modifiedAt"});
    let sub = registrations(json!({"temporalQ": temporal})).unwrap();
    let t = sub.temporal_q.as_ref().unwrap();
    assert_eq!(t.timerel, "between");
    assert_eq!(
        t.time_at,
        Utc.with_ymd_and_hms(2020, 6, 1, 22, 7, 0).unwrap()
    );
    assert_eq!(rendered(&sub)["temporalQ"], temporal);
}

#[test]
fn a_temporal_query_that_breaks_clause_4_11_is_bad_request_data() {
    for temporal in [
        json!("after"),
        json!({"timeAt": "2020-06-01T22:07:00Z"}),
        json!({"timerel": "during", "timeAt": "2020-06-01T22:07:00Z"}),
        json!({"timerel": "after"}),
        json!({"timerel": "after", "timeAt": "yesterday"}),
        json!({"timerel": "between", "timeAt": "2020-06-01T22:07:00Z"}),
        json!({"timerel": "between", "timeAt": "2020-06-01T22:07:00Z", "endTimeAt": "2020-06-01T22:00:00Z"}),
        json!({"timerel": "before", "timeAt": "2020-06-01T22:07:00Z", "endTimeAt": "2020-06-02T22:00:00Z"}),
        json!({"timerel": "after", "timeAt": "2020-06-01T22:07:00Z", "timeproperty": "seenAt"}),
    ] {
        let err = registrations(json!({"temporalQ": temporal})).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadRequestData, "{temporal}");
    }
}

#[test]
fn an_entity_subscription_ignores_temporal_q_and_a_registration_one_ignores_triggers() {
    let temporal = json!({"timerel": "after", "timeAt": "2020-06-01T22:07:00Z"});
    let entities = parse(SubscriptionKind::Entities, json!({"temporalQ": temporal})).unwrap();
    assert!(entities.temporal_q.is_none());
    let sub = registrations(json!({"notificationTrigger": ["entityCreated"]})).unwrap();
    assert_eq!(sub.kind, SubscriptionKind::Registrations);
    assert!(sub.notification_trigger.is_none());
    assert!(!rendered(&sub).contains_key("notificationTrigger"));
}

#[test]
fn a_registration_subscription_shows_jsonld_context_only_when_written() {
    let sub = registrations(json!({})).unwrap();
    assert_eq!(sub.jsonld_context, CONTEXT);
    assert!(!rendered(&sub).contains_key("jsonldContext"));
    let written = registrations(json!({"jsonldContext": "https://example.org/other.jsonld"}));
    assert_eq!(
        rendered(&written.unwrap())["jsonldContext"],
        "https://example.org/other.jsonld"
    );
    let entities = parse(SubscriptionKind::Entities, json!({})).unwrap();
    assert_eq!(rendered(&entities)["jsonldContext"], CONTEXT);
}

#[test]
fn a_fragment_sets_and_removes_the_temporal_query() {
    let sub = registrations(json!({})).unwrap();
    let set = json!({"temporalQ": {"timerel": "before", "timeAt": "2030-01-01T00:00:00Z"}});
    let updated = apply_fragment(&sub, set.as_object().unwrap(), &IdentityTerms, now()).unwrap();
    assert_eq!(updated.temporal_q.as_ref().unwrap().timerel, "before");
    let remove = json!({"temporalQ": "urn:ngsi-ld:null"});
    let removed =
        apply_fragment(&updated, remove.as_object().unwrap(), &IdentityTerms, now()).unwrap();
    assert!(removed.temporal_q.is_none());
}
