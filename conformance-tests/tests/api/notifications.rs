//! Notification triggering (clauses 5.8.6, 5.3.1, 5.2.12; HTTP 6.3.8): which changes of which
//! entities notify, when, and what a notification is; what it carries and how its delivery is
//! reported is in `content`. Every test listens on its own receiver and subscribes to its own
//! entity type.

use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use crate::harness::*;

#[path = "notification_content.rs"]
mod content;

/// How long a notification that should come may take.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long a test watches for a notification that should not come.
const QUIET: Duration = Duration::from_millis(700);

/// A vehicle of `entity_type` with a speed, a brand and an owner.
pub fn vehicle(id: &str, entity_type: &str, speed: i64) -> Value {
    json!({
        "id": id,
        "type": entity_type,
        "speed": {"type": "Property", "value": speed, "unitCode": "KMH"},
        "brandName": {"type": "Property", "value": "Mercedes"},
        "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Person:Alice"}
    })
}

/// A subscription to every entity of `entity_type`, notifying `receiver`.
pub fn subscription(entity_type: &str, receiver: &Receiver) -> Value {
    json!({
        "type": "Subscription",
        "entities": [{"type": entity_type}],
        "notification": {"endpoint": {"uri": receiver.url()}}
    })
}

/// A fresh entity type and a vehicle of it, created before any subscription sees it.
pub async fn existing_vehicle(test: &str) -> (String, String) {
    let ty = unique_type(test);
    let id = unique_id(test);
    create(&vehicle(&id, &ty, 80)).await;
    (ty, id)
}

/// Update Attributes (clause 5.6.2) of the speed.
pub async fn set_speed(id: &str, speed: i64) {
    send(
        patch(&format!("/entities/{id}/attrs"))
            .json(&json!({"speed": {"type": "Property", "value": speed, "unitCode": "KMH"}})),
    )
    .await
    .expect_status(204);
}

async fn set_brand(id: &str, brand: &str) {
    send(
        patch(&format!("/entities/{id}/attrs"))
            .json(&json!({"brandName": {"type": "Property", "value": brand}})),
    )
    .await
    .expect_status(204);
}

/// Append Attributes (clause 5.6.3) of a new attribute.
async fn add_temperature(id: &str) {
    send(
        post(&format!("/entities/{id}/attrs"))
            .json(&json!({"temperature": {"type": "Property", "value": 21}})),
    )
    .await
    .expect_status(204);
}

/// Watches `receiver` for [`QUIET`] and asserts it still holds exactly `count` requests.
#[track_caller]
pub fn assert_quiet(
    receiver: &Receiver,
    count: usize,
) -> impl std::future::Future<Output = ()> + '_ {
    let caller = std::panic::Location::caller();
    async move {
        tokio::time::sleep(QUIET).await;
        let received = receiver.received();
        assert_eq!(
            received.len(),
            count,
            "{caller}: unexpected notifications: {:?}",
            received.iter().map(|r| &r.raw).collect::<Vec<_>>()
        );
    }
}

/// The single entity of a notification.
#[track_caller]
pub fn only_entity(notification: &Received) -> &Value {
    let data = notification.data();
    assert_eq!(data.len(), 1, "one entity: {}", notification.raw);
    &data[0]
}

async fn retrieve_subscription(id: &str) -> Value {
    send(get(&format!("/subscriptions/{id}")))
        .await
        .expect_status(200)
        .json()
}

/// Retrieves the subscription until `done` holds (the delivery counters are updated after
/// the receiver answers), failing after [`WAIT`].
pub async fn subscription_when(id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let s = retrieve_subscription(id).await;
        if done(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "the subscription never got there: {s}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clauses 5.3.1, 5.8.6 and 6.3.8: a notification is a JSON POST whose body has an id (a URI),
/// type "Notification", the subscriptionId, notifiedAt and the entities in `data`.
#[tokio::test]
async fn a_notification_has_the_notification_members() {
    let receiver = Receiver::start();
    let (ty, id) = existing_vehicle("NotifShape").await;
    let sub = subscribe(&subscription(&ty, &receiver)).await;
    let before = date_time(SystemTime::now() - Duration::from_secs(1));
    set_speed(&id, 90).await;

    let received = receiver.expect(1, WAIT).await;
    let n = &received[0];
    assert_eq!(n.method, "POST");
    assert_eq!(n.path, "/notify");
    assert_eq!(n.media_type(), "application/json");
    assert!(
        n.header("Link")
            .is_some_and(|l| l.contains(JSONLD_CONTEXT_REL)),
        "a JSON notification links its @context: {:?}",
        n.headers
    );
    let body = &n.body;
    let nid = body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("an id: {body}"));
    assert!(nid.contains(':'), "the id {nid:?} is a URI");
    assert_eq!(body["type"], json!("Notification"));
    assert_eq!(body["subscriptionId"], json!(sub));
    assert!(
        instant(&body["notifiedAt"]) >= instant(&json!(before)),
        "notifiedAt is now: {body}"
    );
    let entity = only_entity(n);
    assert_eq!(entity["id"], json!(id));
    assert_eq!(entity["type"], json!(ty));
    assert_eq!(entity["speed"]["value"], json!(90));
}

/// Clauses 5.2.12 and 5.8.6: with the default triggers (attributeCreated, attributeUpdated)
/// creating a subscribed entity and updating its attributes notify; deleting an attribute
/// does not.
#[tokio::test]
async fn default_triggers_notify_creation_and_updates_but_not_attribute_deletion() {
    let receiver = Receiver::start();
    let ty = unique_type("NotifDefault");
    subscribe(&subscription(&ty, &receiver)).await;
    let id = unique_id("notif-default");
    create(&vehicle(&id, &ty, 80)).await;
    let received = receiver.expect(1, WAIT).await;
    let created = only_entity(&received[0]);
    assert_eq!(created["id"], json!(id));
    assert_eq!(created["speed"]["value"], json!(80));
    assert_eq!(created["brandName"]["value"], json!("Mercedes"));

    set_speed(&id, 95).await;
    let received = receiver.expect(2, WAIT).await;
    assert_eq!(only_entity(&received[1])["speed"]["value"], json!(95));

    send(delete(&format!("/entities/{id}/attrs/brandName")))
        .await
        .expect_status(204);
    assert_quiet(&receiver, 2).await;
}

/// Clause 5.8.6: an entity of another type, or in another tenant, does not notify.
#[tokio::test]
async fn only_subscribed_entities_notify() {
    let receiver = Receiver::start();
    let ty = unique_type("NotifSelect");
    subscribe(&subscription(&ty, &receiver)).await;
    create(&vehicle(
        &unique_id("notif-other-type"),
        &unique_type("Other"),
        1,
    ))
    .await;
    send(
        post("/entities")
            .json(&vehicle(&unique_id("notif-other-tenant"), &ty, 2))
            .tenant(&unique_tenant()),
    )
    .await
    .expect_status(201);
    assert_quiet(&receiver, 0).await;
    let id = unique_id("notif-selected");
    create(&vehicle(&id, &ty, 3)).await;
    let received = receiver.expect(1, WAIT).await;
    assert_eq!(only_entity(&received[0])["id"], json!(id));
}

/// Clauses 5.8.6 and 6.3.14: a subscription of a tenant is notified of that tenant's changes
/// with the NGSILD-Tenant header.
#[tokio::test]
async fn notifications_of_a_tenant_carry_its_header() {
    let receiver = Receiver::start();
    let tenant = unique_tenant();
    let ty = unique_type("NotifTenant");
    subscribe_with(
        post("/subscriptions")
            .json(&subscription(&ty, &receiver))
            .tenant(&tenant),
    )
    .await;
    create(&vehicle(&unique_id("notif-default-tenant"), &ty, 1)).await;
    let id = unique_id("notif-tenant");
    send(
        post("/entities")
            .json(&vehicle(&id, &ty, 2))
            .tenant(&tenant),
    )
    .await
    .expect_status(201);
    let received = receiver.expect(1, WAIT).await;
    assert_eq!(only_entity(&received[0])["id"], json!(id));
    assert_eq!(received[0].header("NGSILD-Tenant"), Some(tenant.as_str()));
    assert_quiet(&receiver, 1).await;
}

/// Clauses 5.8.1.4 and 5.8.6: only changes of watched attributes notify.
#[tokio::test]
async fn changes_to_unwatched_attributes_do_not_notify() {
    let receiver = Receiver::start();
    let (ty, id) = existing_vehicle("NotifWatched").await;
    let mut body = subscription(&ty, &receiver);
    body["watchedAttributes"] = json!(["speed"]);
    subscribe(&body).await;

    set_brand(&id, "Seat").await;
    assert_quiet(&receiver, 0).await;
    set_speed(&id, 101).await;
    let received = receiver.expect(1, WAIT).await;
    let entity = only_entity(&received[0]);
    assert_eq!(entity["speed"]["value"], json!(101));
    assert_eq!(
        entity["brandName"]["value"],
        json!("Seat"),
        "the whole entity"
    );
}

/// Clause 5.8.1.4: without entities, every entity having a watched attribute is subscribed.
#[tokio::test]
async fn watched_attributes_alone_select_the_entities_having_them() {
    let receiver = Receiver::start();
    let attribute = unique_type("watched");
    subscribe(&json!({
        "type": "Subscription",
        "watchedAttributes": [attribute],
        "notification": {"endpoint": {"uri": receiver.url()}}
    }))
    .await;
    let ty = unique_type("NotifWatchedOnly");
    create(&vehicle(&unique_id("notif-without"), &ty, 1)).await;
    assert_quiet(&receiver, 0).await;
    let id = unique_id("notif-with");
    let mut entity = vehicle(&id, &ty, 2);
    entity[&attribute] = json!({"type": "Property", "value": true});
    create(&entity).await;
    let received = receiver.expect(1, WAIT).await;
    assert_eq!(only_entity(&received[0])["id"], json!(id));
}

/// Clauses 5.2.12 and 5.8.6: only entities meeting q after the change are notified.
#[tokio::test]
async fn q_filters_the_notified_changes() {
    let receiver = Receiver::start();
    let (ty, id) = existing_vehicle("NotifQ").await;
    let mut body = subscription(&ty, &receiver);
    body["q"] = json!("speed>100");
    subscribe(&body).await;

    set_speed(&id, 90).await;
    assert_quiet(&receiver, 0).await;
    set_speed(&id, 120).await;
    let received = receiver.expect(1, WAIT).await;
    assert_eq!(only_entity(&received[0])["speed"]["value"], json!(120));
}

/// Clauses 5.2.12 and 5.8.6: a geoQ filters the notified entities by their location.
#[tokio::test]
async fn geo_q_filters_the_notified_changes() {
    let receiver = Receiver::start();
    let ty = unique_type("NotifGeo");
    let mut body = subscription(&ty, &receiver);
    body["geoQ"] = json!({
        "geometry": "Polygon",
        "coordinates": [[[0, 0], [0, 10], [10, 10], [10, 0], [0, 0]]],
        "georel": "within"
    });
    subscribe(&body).await;
    let located = |id: &str, lon: f64| {
        let mut v = vehicle(id, &ty, 1);
        v["location"] =
            json!({"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, 5.0]}});
        v
    };
    create(&located(&unique_id("notif-outside"), 20.0)).await;
    assert_quiet(&receiver, 0).await;
    let inside = unique_id("notif-inside");
    create(&located(&inside, 5.0)).await;
    let received = receiver.expect(1, WAIT).await;
    assert_eq!(only_entity(&received[0])["id"], json!(inside));
}

/// Clause 5.2.12: the entityCreated trigger notifies creations and not updates.
#[tokio::test]
async fn entity_created_trigger_notifies_only_creations() {
    let receiver = Receiver::start();
    let ty = unique_type("NotifEntityCreated");
    let mut body = subscription(&ty, &receiver);
    body["notificationTrigger"] = json!(["entityCreated"]);
    subscribe(&body).await;
    let first = unique_id("notif-created-1");
    create(&vehicle(&first, &ty, 1)).await;
    let received = receiver.expect(1, WAIT).await;
    let entity = only_entity(&received[0]);
    assert_eq!(entity["id"], json!(first));
    assert_eq!(entity["speed"]["value"], json!(1));

    set_speed(&first, 2).await;
    assert_quiet(&receiver, 1).await;
    let second = unique_id("notif-created-2");
    create(&vehicle(&second, &ty, 3)).await;
    let received = receiver.expect(2, WAIT).await;
    assert_eq!(only_entity(&received[1])["id"], json!(second));
}

/// Clause 5.2.12: entityUpdated stands for attributeCreated, attributeUpdated and
/// attributeDeleted, so deleting the entity (which deletes its attributes) notifies them
/// deleted (clause 5.8.6).
#[tokio::test]
async fn entity_updated_trigger_notifies_attribute_changes() {
    let receiver = Receiver::start();
    let (ty, id) = existing_vehicle("NotifEntityUpdated").await;
    let mut body = subscription(&ty, &receiver);
    body["notificationTrigger"] = json!(["entityUpdated"]);
    subscribe(&body).await;

    set_speed(&id, 81).await;
    let received = receiver.expect(1, WAIT).await;
    assert_eq!(only_entity(&received[0])["speed"]["value"], json!(81));
    add_temperature(&id).await;
    let received = receiver.expect(2, WAIT).await;
    assert_eq!(only_entity(&received[1])["temperature"]["value"], json!(21));
    send(delete(&format!("/entities/{id}/attrs/brandName")))
        .await
        .expect_status(204);
    let received = receiver.expect(3, WAIT).await;
    assert_eq!(
        only_entity(&received[2])["brandName"],
        json!({"type": "Property", "value": "urn:ngsi-ld:null"})
    );
    send(delete(&format!("/entities/{id}")))
        .await
        .expect_status(204);
    let received = receiver.expect(4, WAIT).await;
    let deleted = only_entity(&received[3]);
    assert!(deleted.get("deletedAt").is_some(), "{}", received[3].raw);
    assert_eq!(
        deleted["speed"],
        json!({"type": "Property", "value": "urn:ngsi-ld:null"})
    );
    assert_quiet(&receiver, 4).await;
}

/// Clauses 5.2.12 and 5.8.6: the entityDeleted trigger notifies deletions, with only id, type
/// and deletedAt (showChanges not set).
#[tokio::test]
async fn entity_deleted_trigger_notifies_deletions_with_deleted_at() {
    let receiver = Receiver::start();
    let (ty, id) = existing_vehicle("NotifEntityDeleted").await;
    let mut body = subscription(&ty, &receiver);
    body["notificationTrigger"] = json!(["entityDeleted"]);
    subscribe(&body).await;

    set_speed(&id, 81).await;
    assert_quiet(&receiver, 0).await;
    let before = date_time(SystemTime::now() - Duration::from_secs(1));
    send(delete(&format!("/entities/{id}")))
        .await
        .expect_status(204);
    let received = receiver.expect(1, WAIT).await;
    let entity = only_entity(&received[0]);
    assert_eq!(entity["id"], json!(id));
    assert_eq!(entity["type"], json!(ty));
    assert!(
        instant(&entity["deletedAt"]) >= instant(&json!(before)),
        "deletedAt is the deletion time: {entity}"
    );
    let mut members: Vec<&String> = entity.as_object().unwrap().keys().collect();
    members.sort();
    assert_eq!(members, ["deletedAt", "id", "type"], "{entity}");
}

/// Clause 5.2.12: the attributeCreated trigger notifies new attributes, not updated ones.
#[tokio::test]
async fn attribute_created_trigger_notifies_only_new_attributes() {
    let receiver = Receiver::start();
    let (ty, id) = existing_vehicle("NotifAttrCreated").await;
    let mut body = subscription(&ty, &receiver);
    body["notificationTrigger"] = json!(["attributeCreated"]);
    subscribe(&body).await;

    set_speed(&id, 81).await;
    assert_quiet(&receiver, 0).await;
    add_temperature(&id).await;
    let received = receiver.expect(1, WAIT).await;
    assert_eq!(only_entity(&received[0])["temperature"]["value"], json!(21));
}

/// Clause 5.2.12: the attributeUpdated trigger notifies updated attributes, not new ones.
#[tokio::test]
async fn attribute_updated_trigger_notifies_only_updated_attributes() {
    let receiver = Receiver::start();
    let (ty, id) = existing_vehicle("NotifAttrUpdated").await;
    let mut body = subscription(&ty, &receiver);
    body["notificationTrigger"] = json!(["attributeUpdated"]);
    subscribe(&body).await;

    add_temperature(&id).await;
    assert_quiet(&receiver, 0).await;
    set_speed(&id, 82).await;
    let received = receiver.expect(1, WAIT).await;
    assert_eq!(only_entity(&received[0])["speed"]["value"], json!(82));
}

/// Clauses 5.2.12 and 5.8.6: the attributeDeleted trigger notifies a deleted attribute with
/// "urn:ngsi-ld:null" as its value (in the normalized format, an attribute of its kind, as
/// the ETSI conformance suite reads clause 5.8.6).
#[tokio::test]
async fn attribute_deleted_trigger_notifies_deleted_attributes_as_ngsi_ld_null() {
    let receiver = Receiver::start();
    let (ty, id) = existing_vehicle("NotifAttrDeleted").await;
    let mut body = subscription(&ty, &receiver);
    body["notificationTrigger"] = json!(["attributeDeleted"]);
    subscribe(&body).await;

    set_speed(&id, 83).await;
    assert_quiet(&receiver, 0).await;
    send(delete(&format!("/entities/{id}/attrs/brandName")))
        .await
        .expect_status(204);
    let received = receiver.expect(1, WAIT).await;
    let entity = only_entity(&received[0]);
    assert_eq!(entity["id"], json!(id));
    assert_eq!(
        entity["brandName"],
        json!({"type": "Property", "value": "urn:ngsi-ld:null"})
    );
}

/// Clause 5.2.12: within the throttling period after a notification no other is sent.
#[tokio::test]
async fn throttling_sends_one_notification_per_period() {
    let receiver = Receiver::start();
    let (ty, id) = existing_vehicle("NotifThrottle").await;
    let mut body = subscription(&ty, &receiver);
    body["throttling"] = json!(5);
    subscribe(&body).await;

    set_speed(&id, 81).await;
    set_speed(&id, 82).await;
    receiver.expect(1, WAIT).await;
    set_speed(&id, 83).await;
    assert_quiet(&receiver, 1).await;
}

/// Clauses 5.8.1.4 and 5.8.6: with timeInterval the subscribed entities meeting q are
/// notified periodically, without any change.
#[tokio::test]
async fn time_interval_notifies_periodically_without_changes() {
    let receiver = Receiver::start();
    let (ty, id) = existing_vehicle("NotifPeriodic").await;
    create(&vehicle(&unique_id("notif-periodic-slow"), &ty, 10)).await;
    let mut body = subscription(&ty, &receiver);
    body["timeInterval"] = json!(1);
    body["q"] = json!("speed>50");
    subscribe(&body).await;

    let received = receiver.expect(2, Duration::from_secs(4)).await;
    for n in &received[..2] {
        let entity = only_entity(n);
        assert_eq!(entity["id"], json!(id));
        assert_eq!(entity["speed"]["value"], json!(80));
    }
    let gap = received[1].at.duration_since(received[0].at);
    assert!(
        gap >= Duration::from_millis(500),
        "notifications come once per interval, not in a burst ({gap:?} apart)"
    );
}

/// Clauses 5.8.1.4 and 5.8.6: once expiresAt has passed the subscription is expired and
/// notifies no more.
#[tokio::test]
async fn an_expired_subscription_stops_notifying() {
    let receiver = Receiver::start();
    let (ty, id) = existing_vehicle("NotifExpires").await;
    let expires = SystemTime::now() + Duration::from_millis(2000);
    let mut body = subscription(&ty, &receiver);
    body["expiresAt"] = json!(date_time(expires));
    let sub = subscribe(&body).await;

    set_speed(&id, 81).await;
    receiver.expect(1, WAIT).await;
    let wait = expires
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        + Duration::from_millis(300);
    tokio::time::sleep(wait).await;
    assert_eq!(
        retrieve_subscription(&sub).await["status"],
        json!("expired")
    );
    set_speed(&id, 82).await;
    assert_quiet(&receiver, 1).await;
}

/// Clauses 5.8.2.4 and 5.8.6: a paused subscription (isActive false) does not notify; made
/// active again it does.
#[tokio::test]
async fn a_paused_subscription_does_not_notify_until_resumed() {
    let receiver = Receiver::start();
    let (ty, id) = existing_vehicle("NotifPause").await;
    let sub = subscribe(&subscription(&ty, &receiver)).await;
    set_speed(&id, 81).await;
    receiver.expect(1, WAIT).await;

    send(patch(&format!("/subscriptions/{sub}")).json(&json!({"isActive": false})))
        .await
        .expect_status(204);
    set_speed(&id, 82).await;
    assert_quiet(&receiver, 1).await;

    send(patch(&format!("/subscriptions/{sub}")).json(&json!({"isActive": true})))
        .await
        .expect_status(204);
    set_speed(&id, 83).await;
    let received = receiver.expect(2, WAIT).await;
    assert_eq!(only_entity(&received[1])["speed"]["value"], json!(83));
}

/// Clause 5.8.5: a deleted subscription notifies no more.
#[tokio::test]
async fn a_deleted_subscription_stops_notifying() {
    let receiver = Receiver::start();
    let (ty, id) = existing_vehicle("NotifDeleted").await;
    let sub = subscribe(&subscription(&ty, &receiver)).await;
    send(delete(&format!("/subscriptions/{sub}")))
        .await
        .expect_status(204);
    set_speed(&id, 81).await;
    assert_quiet(&receiver, 0).await;
}

/// Clause 5.8.6: every entity a batch operation changes is notified.
#[tokio::test]
async fn a_batch_upsert_notifies_each_entity() {
    let receiver = Receiver::start();
    let ty = unique_type("NotifBatch");
    let existing: Vec<String> = (0..2).map(|_| unique_id("notif-batch-old")).collect();
    for id in &existing {
        create(&vehicle(id, &ty, 1)).await;
    }
    subscribe(&subscription(&ty, &receiver)).await;
    let new = unique_id("notif-batch-new");
    let batch: Vec<Value> = existing
        .iter()
        .chain([&new])
        .map(|id| vehicle(id, &ty, 50))
        .collect();
    let reply = send(post("/entityOperations/upsert").json(&json!(batch))).await;
    assert!(
        reply.status == 201 || reply.status == 204,
        "upsert succeeds: {reply:?}"
    );

    let notified = |received: &[Received]| -> Vec<String> {
        let mut ids: Vec<String> = received
            .iter()
            .flat_map(|r| r.data().iter())
            .filter(|e| e["speed"]["value"] == json!(50))
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let received = receiver.wait_until(WAIT, |r| notified(r).len() >= 3).await;
    let mut expected: Vec<String> = existing.into_iter().chain([new]).collect();
    expected.sort();
    assert_eq!(notified(&received), expected);
}

/// Clause 5.8.6: an attribute changes only when one of its members takes a different value;
/// an update writing the same values notifies nothing.
#[tokio::test]
async fn an_update_writing_the_same_value_does_not_notify() {
    let receiver = Receiver::start();
    let (ty, id) = existing_vehicle("NotifUnchanged").await;
    subscribe(&subscription(&ty, &receiver)).await;

    set_speed(&id, 80).await;
    send(
        patch(&format!("/entities/{id}"))
            .json(&json!({"brandName": {"type": "Property", "value": "Mercedes"}})),
    )
    .await
    .expect_status(204);
    assert_quiet(&receiver, 0).await;
    set_speed(&id, 84).await;
    let received = receiver.expect(1, WAIT).await;
    assert_eq!(only_entity(&received[0])["speed"]["value"], json!(84));
}

/// Clause 5.2.33: entity selectors by id and by idPattern select the notified entities.
#[tokio::test]
async fn entity_selectors_by_id_and_id_pattern_pick_the_notified_entities() {
    let receiver = Receiver::start();
    let ty = unique_type("NotifSelectors");
    let by_id = unique_id("notif-by-id");
    let prefix = format!("urn:ngsi-ld:Pattern{}:", nonce());
    subscribe(&json!({
        "type": "Subscription",
        "entities": [{"id": by_id, "type": ty}, {"idPattern": format!("^{prefix}.*"), "type": ty}],
        "notification": {"endpoint": {"uri": receiver.url()}}
    }))
    .await;
    create(&vehicle(&unique_id("notif-not-selected"), &ty, 1)).await;
    assert_quiet(&receiver, 0).await;
    create(&vehicle(&by_id, &ty, 2)).await;
    let matched = format!("{prefix}one");
    create(&vehicle(&matched, &ty, 3)).await;
    let received = receiver.expect(2, WAIT).await;
    let mut ids: Vec<&Value> = received
        .iter()
        .flat_map(|r| r.data().iter())
        .map(|e| &e["id"])
        .collect();
    ids.sort_by_key(|v| v.to_string());
    let mut expected = [json!(by_id), json!(matched)];
    expected.sort_by_key(|v| v.to_string());
    assert_eq!(ids, expected.iter().collect::<Vec<_>>());
}

/// Clause 5.8.2.4: an expired subscription stays expired when only isActive is set, and
/// becomes active again, notifying, when expiresAt moves to the future.
#[tokio::test]
async fn extending_an_expired_subscription_makes_it_active_again() {
    let receiver = Receiver::start();
    let (ty, id) = existing_vehicle("NotifExtend").await;
    let expires = SystemTime::now() + Duration::from_millis(1000);
    let mut body = subscription(&ty, &receiver);
    body["expiresAt"] = json!(date_time(expires));
    let sub = subscribe(&body).await;
    let wait = expires
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        + Duration::from_millis(200);
    tokio::time::sleep(wait).await;

    send(patch(&format!("/subscriptions/{sub}")).json(&json!({"isActive": true})))
        .await
        .expect_status(204);
    assert_eq!(
        retrieve_subscription(&sub).await["status"],
        json!("expired")
    );

    let later = date_time(SystemTime::now() + Duration::from_secs(3600));
    send(patch(&format!("/subscriptions/{sub}")).json(&json!({"expiresAt": later})))
        .await
        .expect_status(204);
    assert_eq!(retrieve_subscription(&sub).await["status"], json!("active"));
    set_speed(&id, 85).await;
    let received = receiver.expect(1, WAIT).await;
    assert_eq!(only_entity(&received[0])["speed"]["value"], json!(85));
}

/// Clause 5.8.6, audited: 100 entities updated 5 times each, concurrently — every change is
/// in a notification exactly once, whether the broker sent it alone or together with others
/// queued behind it.
#[tokio::test]
async fn every_change_under_concurrent_load_is_notified_exactly_once() {
    let receiver = Receiver::start();
    let ty = unique_type("NotifAudit");
    let ids: Vec<String> = (0..100).map(|i| unique_id(&format!("audit-{i}"))).collect();
    for id in &ids {
        create(&vehicle(id, &ty, 0)).await;
    }
    subscribe(&subscription(&ty, &receiver)).await;
    for round in 1..=5 {
        let updates: Vec<_> = ids
            .iter()
            .cloned()
            .map(|id| tokio::spawn(async move { set_speed(&id, round).await }))
            .collect();
        for update in updates {
            update.await.expect("the update task");
        }
    }
    let changes = |received: &[Received]| -> Vec<(String, i64)> {
        received
            .iter()
            .flat_map(|r| r.body["data"].as_array().cloned().unwrap_or_default())
            .map(|e| {
                (
                    e["id"].as_str().unwrap_or_default().to_owned(),
                    e["speed"]["value"].as_i64().unwrap_or(-1),
                )
            })
            .collect()
    };
    let received = receiver
        .wait_until(Duration::from_secs(20), |r| changes(r).len() >= 500)
        .await;
    let mut seen = changes(&received);
    seen.sort();
    let mut expected: Vec<(String, i64)> = ids
        .iter()
        .flat_map(|id| (1..=5).map(move |v| (id.clone(), v)))
        .collect();
    expected.sort();
    assert_eq!(seen, expected, "sent and received changes differ");
}
