//! Unit tests: change classification, trigger firing, compilation and the registry index.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use chrono::{TimeZone, Utc};
use rigel_model::codec::parse::parse_entity;
use rigel_model::subscription::parse::parse_subscription;
use rigel_model::subscription::{Subscription, SubscriptionKind, Trigger};
use rigel_model::{Entity, IdentityTerms, Tenant};
use rigel_storage::ChangeEvent;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::change::{classify, fires, EntityChange};
use crate::compile::{Compiled, IndexKeys};
use crate::registry::{Entry, Shared, TenantIndex};

const T: &str = "urn:t:Vehicle";
const SPEED: &str = "urn:a:speed";
const BRAND: &str = "urn:a:brand";

fn entity(v: Value) -> Entity {
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    parse_entity(v.as_object().unwrap(), &IdentityTerms, now).unwrap()
}

fn vehicle(speed: i64) -> Entity {
    entity(json!({"id": "urn:v:1", "type": T,
        "urn:a:speed": {"type": "Property", "value": speed},
        "urn:a:brand": {"type": "Property", "value": "Mercedes"}}))
}

fn subscription(extra: Value) -> Subscription {
    let mut body = json!({"id": "urn:s:1", "type": "Subscription",
        "notification": {"endpoint": {"uri": "http://127.0.0.1:1/n"}}});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    parse_subscription(
        SubscriptionKind::Entities,
        body.as_object().unwrap(),
        &IdentityTerms,
        "urn:ctx",
        now,
        || "urn:s:generated".into(),
    )
    .unwrap()
}

fn event(previous: Option<Entity>, current: Option<Entity>) -> ChangeEvent {
    ChangeEvent {
        tenant: Tenant::default(),
        id: "urn:v:1".into(),
        previous: previous.map(Arc::new),
        current: current.map(Arc::new),
        at: Utc::now(),
        seq: None,
    }
}

#[test]
fn a_creation_is_entity_created_with_every_attribute_created() {
    let change = classify(&event(None, Some(vehicle(1))));
    assert_eq!(change.entity, EntityChange::Created);
    assert_eq!(change.attributes[SPEED], Trigger::AttributeCreated);
    assert_eq!(change.attributes[BRAND], Trigger::AttributeCreated);
}

#[test]
fn an_update_that_only_moves_timestamps_changes_no_attribute() {
    let before = vehicle(1);
    let mut after = vehicle(1);
    for instances in after.attributes.values_mut() {
        instances[0].modified_at = Some(Utc::now());
    }
    let change = classify(&event(Some(before), Some(after)));
    assert!(change.attributes.is_empty(), "{:?}", change.attributes);
}

#[test]
fn a_changed_value_is_attribute_updated_and_the_others_untouched() {
    let change = classify(&event(Some(vehicle(1)), Some(vehicle(2))));
    assert_eq!(change.attributes.len(), 1);
    assert_eq!(change.attributes[SPEED], Trigger::AttributeUpdated);
}

#[test]
fn removing_one_dataset_instance_is_an_attribute_deletion_of_that_instance() {
    let two = entity(json!({"id": "urn:v:1", "type": T, "urn:a:speed": [
        {"type": "Property", "value": 1},
        {"type": "Property", "value": 2, "datasetId": "urn:d:gps"}]}));
    let one = entity(json!({"id": "urn:v:1", "type": T,
        "urn:a:speed": {"type": "Property", "value": 1}}));
    let change = classify(&event(Some(two), Some(one)));
    assert_eq!(change.attributes[SPEED], Trigger::AttributeDeleted);
    assert_eq!(
        change.deleted_instances[SPEED],
        vec![Some("urn:d:gps".to_owned())]
    );
}

#[test]
fn default_triggers_fire_on_creation_and_update_but_not_deletion() {
    let sub = subscription(json!({"entities": [{"type": T}]}));
    let compiled = Compiled::compile(&sub, &sub.frozen_terms()).unwrap();
    let created = classify(&event(None, Some(vehicle(1))));
    let updated = classify(&event(Some(vehicle(1)), Some(vehicle(2))));
    let deleted = classify(&event(Some(vehicle(2)), None));
    assert!(fires(&sub, &compiled, &created));
    assert!(fires(&sub, &compiled, &updated));
    assert!(!fires(&sub, &compiled, &deleted));
}

#[test]
fn watched_attributes_limit_what_fires() {
    let sub = subscription(json!({"entities": [{"type": T}], "watchedAttributes": [BRAND]}));
    let compiled = Compiled::compile(&sub, &sub.frozen_terms()).unwrap();
    let speed_changed = classify(&event(Some(vehicle(1)), Some(vehicle(2))));
    assert!(!fires(&sub, &compiled, &speed_changed));
}

#[test]
fn entity_deleted_fires_only_on_deletion() {
    let sub = subscription(json!({"entities": [{"type": T}],
        "notificationTrigger": ["entityDeleted"]}));
    let compiled = Compiled::compile(&sub, &sub.frozen_terms()).unwrap();
    assert!(fires(
        &sub,
        &compiled,
        &classify(&event(Some(vehicle(1)), None))
    ));
    assert!(!fires(
        &sub,
        &compiled,
        &classify(&event(Some(vehicle(1)), Some(vehicle(2))))
    ));
}

#[test]
fn q_is_read_with_its_percent_escapes_decoded() {
    let sub = subscription(json!({"entities": [{"type": T}],
        "q": "urn:a:brand==%22Mercedes%22"}));
    let compiled = Compiled::compile(&sub, &sub.frozen_terms()).unwrap();
    assert!(compiled.matches(&vehicle(1)));
}

#[test]
fn type_selectors_index_by_type_and_watched_only_subscriptions_by_attribute() {
    let typed = subscription(json!({"entities": [{"type": T}]}));
    let watched = subscription(json!({"watchedAttributes": [BRAND]}));
    let typed = Compiled::compile(&typed, &typed.frozen_terms()).unwrap();
    let watched_c = Compiled::compile(&watched, &watched.frozen_terms()).unwrap();
    assert_eq!(typed.index_keys(), IndexKeys::Types(vec![T.to_owned()]));
    assert_eq!(watched_c.index_keys(), IndexKeys::Any);
}

fn entry(sub: Subscription) -> Arc<Entry> {
    let compiled = Compiled::compile(&sub, &sub.frozen_terms()).unwrap();
    let (queue, _rx) = mpsc::channel(1);
    Arc::new(Entry {
        shared: Arc::new(Shared {
            tenant: Tenant::default(),
            delivery: Mutex::new(sub.delivery.clone()),
            config: sub,
            compiled,
            retired: Default::default(),
            render_key: 0,
            queued: Default::default(),
        }),
        queue,
    })
}

#[test]
fn candidates_are_only_the_subscriptions_a_change_could_match() {
    let mut index = TenantIndex::default();
    let mut on_type = subscription(json!({"entities": [{"type": T}]}));
    on_type.id = "urn:s:type".into();
    let mut other_type = subscription(json!({"entities": [{"type": "urn:t:Other"}]}));
    other_type.id = "urn:s:other".into();
    let mut on_brand = subscription(json!({"watchedAttributes": [BRAND]}));
    on_brand.id = "urn:s:brand".into();
    for s in [on_type, other_type, on_brand] {
        index.insert(entry(s));
    }
    let ids = |c: Vec<&Arc<Entry>>| {
        let mut ids: Vec<String> = c.iter().map(|e| e.shared.config.id.clone()).collect();
        ids.sort();
        ids
    };
    let types = [T.to_owned()];
    let speed_only = [SPEED.to_owned()];
    let both = [SPEED.to_owned(), BRAND.to_owned(), BRAND.to_owned()];
    assert_eq!(
        ids(index.candidates(types.iter(), speed_only.iter())),
        vec!["urn:s:type"]
    );
    assert_eq!(
        ids(index.candidates(types.iter(), both.iter())),
        vec!["urn:s:brand", "urn:s:type"]
    );
    index.remove("urn:s:brand");
    assert_eq!(
        ids(index.candidates(types.iter(), both.iter())),
        vec!["urn:s:type"]
    );
}

/// A receiver that accepts connections and never answers: every notification hangs until
/// its timeout.
fn black_hole() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// ADR 0003: when a subscription's queue is full, further changes are dropped for it and
/// counted on the subscription (`lost`), and other subscriptions are unaffected.
#[tokio::test]
async fn a_full_queue_counts_every_dropped_change_on_its_subscription() {
    use crate::{ServiceOptions, SubscriptionService};
    use rigel_storage::ChangeListener;
    use rigel_storage_embedded::EmbeddedStore;

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let resolver =
        rigel_jsonld::ContextResolver::new(rigel_jsonld::ResolverConfig::default()).unwrap();
    let options = ServiceOptions {
        queue_capacity: 2,
        delivery_timeout: std::time::Duration::from_secs(30),
        ..ServiceOptions::default()
    };
    let service = SubscriptionService::new(
        store.clone(),
        store.clone(),
        resolver,
        Arc::new(rigel_model::SystemClock),
        options,
    )
    .unwrap();
    service.start().await.unwrap();
    let (_hole, port) = black_hole();
    let mut slow = subscription(json!({"entities": [{"type": T}],
        "notification": {"endpoint": {"uri": format!("http://127.0.0.1:{port}/n")}}}));
    slow.id = "urn:s:slow".into();
    service.create(&Tenant::default(), slow).await.unwrap();

    for speed in 0..10 {
        service.changed(vec![event(Some(vehicle(speed)), Some(vehicle(speed + 1)))]);
        // Let the worker take the first change off the queue before the rest arrive.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let lost = service
        .get(&Tenant::default(), "urn:s:slow")
        .unwrap()
        .delivery
        .lost;
    // One change is being delivered (hanging), two wait in the queue, seven are dropped.
    assert_eq!(lost, 7);
    service.shutdown().await;
    store.close().await.unwrap();
}

/// ADR 0003's outbox: only changes a subscription may want are worth noting, and a noted
/// change that no subscription takes is done at once.
#[tokio::test]
async fn changes_of_unwatched_types_are_not_wanted_and_unmatched_noted_changes_are_done_at_once() {
    use crate::{ServiceOptions, SubscriptionService};
    use rigel_storage::ChangeListener;
    use rigel_storage_embedded::EmbeddedStore;

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let resolver =
        rigel_jsonld::ContextResolver::new(rigel_jsonld::ResolverConfig::default()).unwrap();
    let service = SubscriptionService::new(
        store.clone(),
        store.clone(),
        resolver,
        Arc::new(rigel_model::SystemClock),
        ServiceOptions::default(),
    )
    .unwrap();
    service.start().await.unwrap();
    let (_hole, port) = black_hole();
    let watching = subscription(json!({"entities": [{"type": T}],
        "notification": {"endpoint": {"uri": format!("http://127.0.0.1:{port}/n")}}}));
    service.create(&Tenant::default(), watching).await.unwrap();

    let wanted = event(None, Some(vehicle(1)));
    let mut other = vehicle(1);
    other.types = vec!["https://example.org/Bin".into()];
    let unwanted = event(None, Some(other));
    assert!(service.may_want(&wanted));
    assert!(!service.may_want(&unwanted));

    service.changed(vec![ChangeEvent {
        seq: Some(5),
        ..unwanted
    }]);
    assert_eq!(service.outbox_done(), [5]);
    service.changed(vec![ChangeEvent {
        seq: Some(6),
        ..wanted
    }]);
    assert!(
        service.outbox_done().is_empty(),
        "queued for a subscription whose endpoint never answers: not done"
    );
    service.shutdown().await;
    store.close().await.unwrap();
}
