//! Notification content and delivery (clauses 5.8.6, 5.2.14, 5.2.15, 5.3.1; HTTP 6.3.8):
//! representation formats, projections, system attributes, changes, the @context, GeoJSON,
//! receiver headers, and the delivery status members (clause 5.2.14.2).

use std::time::Duration;

use serde_json::{json, Value};

use super::{
    assert_quiet, existing_vehicle, only_entity, set_speed, subscription, subscription_when,
    vehicle, WAIT,
};
use crate::harness::*;

/// Subscribes to a fresh type with `notification` members added, creates a vehicle of it
/// and returns the notified entity.
async fn notified_entity(test: &str, notification: Value) -> (String, Value) {
    let receiver = Receiver::start();
    let ty = unique_type(test);
    let mut body = subscription(&ty, &receiver);
    for (k, v) in notification.as_object().unwrap() {
        body["notification"][k] = v.clone();
    }
    subscribe(&body).await;
    let id = unique_id(test);
    create(&vehicle(&id, &ty, 80)).await;
    let received = receiver.expect(1, WAIT).await;
    (id, only_entity(&received[0]).clone())
}

/// Clauses 5.2.14 and 5.8.6: the normalized representation is the default.
#[tokio::test]
async fn notifications_are_normalized_by_default() {
    let (id, entity) = notified_entity("NotifNormalized", json!({})).await;
    assert_eq!(entity["id"], json!(id));
    assert_eq!(
        entity["speed"],
        json!({"type": "Property", "value": 80, "unitCode": "KMH"})
    );
    assert_eq!(
        entity["owner"],
        json!({"type": "Relationship", "object": "urn:ngsi-ld:Person:Alice"})
    );
    assert!(entity.get("createdAt").is_none(), "no sysAttrs: {entity}");
}

/// Clauses 5.2.14 and 4.5.1: format concise drops the attribute types and shortens plain
/// values.
#[tokio::test]
async fn concise_format_notifies_concise_entities() {
    let (_, entity) = notified_entity("NotifConcise", json!({"format": "concise"})).await;
    assert_eq!(entity["speed"], json!({"value": 80, "unitCode": "KMH"}));
    assert_eq!(entity["brandName"], json!("Mercedes"));
    assert_eq!(
        entity["owner"],
        json!({"object": "urn:ngsi-ld:Person:Alice"})
    );
}

/// Clauses 5.2.14 and 4.5.4: format keyValues (and its synonym simplified) notifies plain
/// values.
#[tokio::test]
async fn key_values_format_notifies_simplified_entities() {
    for format in ["keyValues", "simplified"] {
        let (id, entity) = notified_entity("NotifKeyValues", json!({"format": format})).await;
        assert_eq!(entity["id"], json!(id));
        assert_eq!(entity["speed"], json!(80), "{format}: {entity}");
        assert_eq!(entity["brandName"], json!("Mercedes"), "{format}");
        assert_eq!(
            entity["owner"],
            json!("urn:ngsi-ld:Person:Alice"),
            "{format}"
        );
    }
}

/// Clauses 5.2.14 and 5.8.6: notification.attributes keeps only the listed attributes.
#[tokio::test]
async fn notification_attributes_restrict_the_notified_attributes() {
    let (id, entity) = notified_entity("NotifAttrs", json!({"attributes": ["speed"]})).await;
    let mut members: Vec<&String> = entity.as_object().unwrap().keys().collect();
    members.sort();
    assert_eq!(members, ["id", "speed", "type"], "{entity}");
    assert_eq!(entity["id"], json!(id));
}

/// Clauses 5.2.14 and 4.8: sysAttrs adds createdAt and modifiedAt to the entity and its
/// attributes.
#[tokio::test]
async fn sys_attrs_adds_the_system_timestamps() {
    let (_, entity) = notified_entity("NotifSysAttrs", json!({"sysAttrs": true})).await;
    instant(&entity["createdAt"]);
    instant(&entity["modifiedAt"]);
    instant(&entity["speed"]["createdAt"]);
    instant(&entity["speed"]["modifiedAt"]);
}

/// Clause 5.2.14: showChanges adds the previous value of each updated attribute.
#[tokio::test]
async fn show_changes_adds_the_previous_value() {
    let receiver = Receiver::start();
    let (ty, id) = existing_vehicle("NotifShowChanges").await;
    let mut body = subscription(&ty, &receiver);
    body["notification"]["showChanges"] = json!(true);
    subscribe(&body).await;

    set_speed(&id, 90).await;
    let received = receiver.expect(1, WAIT).await;
    let entity = only_entity(&received[0]);
    assert_eq!(entity["speed"]["value"], json!(90));
    assert_eq!(entity["speed"]["previousValue"], json!(80), "{entity}");
    assert!(
        entity["brandName"].get("previousValue").is_none(),
        "an unchanged attribute has no previous value: {entity}"
    );
}

/// Clauses 5.2.15, 5.8.6 and 6.3.8: accept application/ld+json puts the subscription's
/// @context in the body; application/json (the default) sends it in a Link header instead.
#[tokio::test]
async fn the_context_travels_in_the_body_for_json_ld_and_in_a_link_for_json() {
    let vocab = "https://example.org/notif/";
    let ctx = serve_context(json!({"speed": format!("{vocab}speed")}));
    let ty = unique_type("NotifAccept");
    let as_json = Receiver::start();
    let as_json_ld = Receiver::start();
    for (receiver, accept) in [
        (&as_json, "application/json"),
        (&as_json_ld, "application/ld+json"),
    ] {
        let mut body = subscription(&ty, receiver);
        body["notification"]["endpoint"]["accept"] = json!(accept);
        subscribe_with(post("/subscriptions").json(&body).context_link(&ctx)).await;
    }
    let id = unique_id("notif-accept");
    send(
        post("/entities")
            .json(&vehicle(&id, &ty, 80))
            .context_link(&ctx),
    )
    .await
    .expect_status(201);

    let json_n = as_json.expect(1, WAIT).await.remove(0);
    assert_eq!(json_n.media_type(), "application/json");
    assert!(json_n.body.get("@context").is_none(), "{}", json_n.raw);
    let link = json_n
        .header("Link")
        .unwrap_or_else(|| panic!("a Link header: {:?}", json_n.headers));
    assert!(
        link.contains(&format!("<{ctx}>")) && link.contains(JSONLD_CONTEXT_REL),
        "the Link names the subscription's @context: {link}"
    );
    assert_eq!(only_entity(&json_n)["speed"]["value"], json!(80));

    let ld_n = as_json_ld.expect(1, WAIT).await.remove(0);
    assert_eq!(ld_n.media_type(), "application/ld+json");
    let context = &only_entity(&ld_n)["@context"];
    assert!(
        *context == json!(ctx) || context.as_array().is_some_and(|a| a.contains(&json!(ctx))),
        "each notified entity carries the subscription's @context: {}",
        ld_n.raw
    );
    assert_eq!(
        only_entity(&ld_n)["speed"]["value"],
        json!(80),
        "compacted with the subscription's @context"
    );
}

/// Clauses 5.2.15 and 6.3.8: each receiverInfo pair arrives as an HTTP header.
#[tokio::test]
async fn receiver_info_pairs_arrive_as_headers() {
    let receiver = Receiver::start();
    let ty = unique_type("NotifReceiverInfo");
    let mut body = subscription(&ty, &receiver);
    body["notification"]["endpoint"]["receiverInfo"] = json!([
        {"key": "X-Auth-Token", "value": "secret-1"},
        {"key": "X-Fleet", "value": "north"}
    ]);
    subscribe(&body).await;
    create(&vehicle(&unique_id("notif-receiver-info"), &ty, 1)).await;
    let received = receiver.expect(1, WAIT).await;
    assert_eq!(received[0].header("X-Auth-Token"), Some("secret-1"));
    assert_eq!(received[0].header("X-Fleet"), Some("north"));
}

/// Clauses 5.8.6 and 5.2.14.2: a delivery answered with 200 counts as sent and successful:
/// timesSent, lastNotification, lastSuccess and status "ok".
#[tokio::test]
async fn a_successful_delivery_is_reported_ok() {
    let receiver = Receiver::start();
    let (ty, id) = existing_vehicle("NotifOk").await;
    let sub = subscribe(&subscription(&ty, &receiver)).await;
    set_speed(&id, 81).await;
    receiver.expect(1, WAIT).await;

    let s = subscription_when(&sub, |s| s["notification"]["status"] == json!("ok")).await;
    let n = &s["notification"];
    assert_eq!(n["timesSent"], json!(1), "{s}");
    instant(&n["lastNotification"]);
    instant(&n["lastSuccess"]);
    assert!(n.get("timesFailed").is_none(), "{s}");
    assert!(n.get("lastFailure").is_none(), "{s}");
    assert_eq!(s["status"], json!("active"));
}

/// Clauses 5.8.6 and 5.2.14.2: a delivery answered with an error status counts as failed:
/// timesFailed, lastFailure and status "failed"; the subscription stays active.
#[tokio::test]
async fn a_failing_endpoint_is_reported_failed() {
    let receiver = Receiver::start();
    receiver.answer_with(500);
    let (ty, id) = existing_vehicle("NotifFailed").await;
    let sub = subscribe(&subscription(&ty, &receiver)).await;
    set_speed(&id, 81).await;
    receiver.expect(1, WAIT).await;

    let s = subscription_when(&sub, |s| s["notification"]["status"] == json!("failed")).await;
    let n = &s["notification"];
    assert_eq!(n["timesFailed"], json!(1), "{s}");
    assert_eq!(n["timesSent"], json!(1), "{s}");
    instant(&n["lastFailure"]);
    instant(&n["lastNotification"]);
    assert!(n.get("lastSuccess").is_none(), "{s}");
    assert_eq!(s["status"], json!("active"));

    receiver.answer_with(200);
    set_speed(&id, 82).await;
    receiver.expect(2, WAIT).await;
    let s = subscription_when(&sub, |s| s["notification"]["status"] == json!("ok")).await;
    let n = &s["notification"];
    assert_eq!(n["timesSent"], json!(2), "{s}");
    assert_eq!(n["timesFailed"], json!(1), "{s}");
    instant(&n["lastSuccess"]);
}

/// Clauses 5.8.6 and 5.2.14.2: an endpoint nobody listens on is a failed delivery.
#[tokio::test]
async fn an_unreachable_endpoint_is_reported_failed() {
    let (ty, id) = existing_vehicle("NotifUnreachable").await;
    let sub = subscribe(&json!({
        "type": "Subscription",
        "entities": [{"type": ty}],
        "notification": {"endpoint": {"uri": closed_port_url()}}
    }))
    .await;
    set_speed(&id, 81).await;
    let s = subscription_when(&sub, |s| s["notification"]["status"] == json!("failed")).await;
    assert_eq!(s["notification"]["timesFailed"], json!(1), "{s}");
    instant(&s["notification"]["lastFailure"]);
}

/// Clause 5.8.6: a receiver that is slow to answer delays only its own subscription's
/// notifications.
#[tokio::test]
async fn a_slow_endpoint_does_not_delay_other_subscriptions() {
    let slow = Receiver::start();
    slow.delay_answers(Duration::from_secs(3));
    let fast = Receiver::start();
    let slow_type = unique_type("NotifSlow");
    let fast_type = unique_type("NotifFast");
    subscribe(&subscription(&slow_type, &slow)).await;
    subscribe(&subscription(&fast_type, &fast)).await;

    create(&vehicle(&unique_id("notif-slow"), &slow_type, 1)).await;
    let held = slow.expect(1, WAIT).await.remove(0);
    create(&vehicle(&unique_id("notif-fast"), &fast_type, 2)).await;
    let arrived = fast.expect(1, WAIT).await.remove(0);
    let after = arrived.at.duration_since(held.at);
    assert!(
        after < Duration::from_millis(2000),
        "the fast receiver got its notification {after:?} after the slow one started \
         answering its own, which takes 3 s"
    );
}

/// Clause 5.8.6: when showChanges is true a deleted attribute is a JSON object whose value is
/// "urn:ngsi-ld:null", with the previous value.
#[tokio::test]
async fn a_deleted_attribute_with_show_changes_carries_its_previous_value() {
    let receiver = Receiver::start();
    let (ty, id) = existing_vehicle("NotifDeletedShow").await;
    let mut body = subscription(&ty, &receiver);
    body["notificationTrigger"] = json!(["attributeDeleted"]);
    body["notification"]["showChanges"] = json!(true);
    subscribe(&body).await;
    send(delete(&format!("/entities/{id}/attrs/brandName")))
        .await
        .expect_status(204);
    let received = receiver.expect(1, WAIT).await;
    let attribute = &only_entity(&received[0])["brandName"];
    assert_eq!(attribute["value"], json!("urn:ngsi-ld:null"), "{attribute}");
    assert_eq!(attribute["previousValue"], json!("Mercedes"), "{attribute}");
}

/// Clauses 5.8.6 and 5.2.14.1: when sysAttrs is true a deleted attribute is a JSON object whose
/// value is "urn:ngsi-ld:null", with its deletedAt.
#[tokio::test]
async fn a_deleted_attribute_with_sys_attrs_carries_deleted_at() {
    let receiver = Receiver::start();
    let (ty, id) = existing_vehicle("NotifDeletedSys").await;
    let mut body = subscription(&ty, &receiver);
    body["notificationTrigger"] = json!(["attributeDeleted"]);
    body["notification"]["sysAttrs"] = json!(true);
    subscribe(&body).await;
    send(delete(&format!("/entities/{id}/attrs/brandName")))
        .await
        .expect_status(204);
    let received = receiver.expect(1, WAIT).await;
    let attribute = &only_entity(&received[0])["brandName"];
    assert_eq!(attribute["value"], json!("urn:ngsi-ld:null"), "{attribute}");
    instant(&attribute["deletedAt"]);
}

/// Clause 5.8.6: a deleted entity notified with sysAttrs has createdAt and modifiedAt besides
/// deletedAt, and no attributes.
#[tokio::test]
async fn a_deleted_entity_with_sys_attrs_carries_its_timestamps() {
    let receiver = Receiver::start();
    let (ty, id) = existing_vehicle("NotifEntityDeletedSys").await;
    let mut body = subscription(&ty, &receiver);
    body["notificationTrigger"] = json!(["entityDeleted"]);
    body["notification"]["sysAttrs"] = json!(true);
    subscribe(&body).await;
    send(delete(&format!("/entities/{id}")))
        .await
        .expect_status(204);
    let received = receiver.expect(1, WAIT).await;
    let entity = only_entity(&received[0]);
    instant(&entity["deletedAt"]);
    instant(&entity["createdAt"]);
    instant(&entity["modifiedAt"]);
    assert!(entity.get("speed").is_none(), "{entity}");
}

/// Clauses 5.2.15, 5.3.1 and 6.3.8: accept application/geo+json notifies a FeatureCollection
/// holding the @context; with receiverInfo Prefer: body=json the @context goes to a Link
/// header instead.
#[tokio::test]
async fn geo_json_notifications_are_feature_collections() {
    let ty = unique_type("NotifGeoJson");
    let plain = Receiver::start();
    let prefer_json = Receiver::start();
    for (receiver, info) in [
        (&plain, json!([])),
        (
            &prefer_json,
            json!([{"key": "Prefer", "value": "body=json"}]),
        ),
    ] {
        let mut body = subscription(&ty, receiver);
        body["notification"]["endpoint"]["accept"] = json!("application/geo+json");
        if info != json!([]) {
            body["notification"]["endpoint"]["receiverInfo"] = info;
        }
        subscribe(&body).await;
    }
    let id = unique_id("notif-geojson");
    let mut entity = vehicle(&id, &ty, 80);
    entity["location"] =
        json!({"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1.5, 2.5]}});
    create(&entity).await;

    let n = plain.expect(1, WAIT).await.remove(0);
    assert_eq!(n.media_type(), "application/geo+json");
    let data = &n.body["data"];
    assert_eq!(data["type"], json!("FeatureCollection"), "{}", n.raw);
    assert!(data.get("@context").is_some(), "{}", n.raw);
    let feature = &data["features"][0];
    assert_eq!(feature["type"], json!("Feature"));
    assert_eq!(feature["id"], json!(id));
    assert_eq!(
        feature["geometry"],
        json!({"type": "Point", "coordinates": [1.5, 2.5]})
    );
    assert!(feature["properties"].get("speed").is_some(), "{feature}");

    let n = prefer_json.expect(1, WAIT).await.remove(0);
    assert_eq!(n.body["data"]["type"], json!("FeatureCollection"));
    assert!(n.body["data"].get("@context").is_none(), "{}", n.raw);
    assert!(
        n.header("Link")
            .is_some_and(|l| l.contains(JSONLD_CONTEXT_REL)),
        "{:?}",
        n.headers
    );
}

/// Clauses 5.2.14, 5.8.6 and 4.21: pick keeps only the listed entity members, omit removes
/// them.
#[tokio::test]
async fn pick_and_omit_shape_the_notified_entities() {
    let (id, picked) = notified_entity("NotifPick", json!({"pick": ["id", "speed"]})).await;
    assert_eq!(
        picked,
        json!({"id": id, "speed": {"type": "Property", "value": 80, "unitCode": "KMH"}})
    );
    let (_, omitted) = notified_entity("NotifOmit", json!({"omit": ["brandName", "owner"]})).await;
    let mut members: Vec<&String> = omitted.as_object().unwrap().keys().collect();
    members.sort();
    assert_eq!(members, ["id", "speed", "type"], "{omitted}");
}

/// Clauses 5.2.12 and 5.8.6: with datasetId only the attribute instances of those datasets
/// are notified.
#[tokio::test]
async fn dataset_id_keeps_only_the_selected_instances() {
    let receiver = Receiver::start();
    let ty = unique_type("NotifDataset");
    let mut body = subscription(&ty, &receiver);
    body["datasetId"] = json!(["urn:ngsi-ld:Dataset:gps"]);
    subscribe(&body).await;
    let id = unique_id("notif-dataset");
    create(&json!({
        "id": id,
        "type": ty,
        "speed": [
            {"type": "Property", "value": 80},
            {"type": "Property", "value": 81, "datasetId": "urn:ngsi-ld:Dataset:gps"},
            {"type": "Property", "value": 82, "datasetId": "urn:ngsi-ld:Dataset:radar"}
        ]
    }))
    .await;
    let received = receiver.expect(1, WAIT).await;
    let speed = &only_entity(&received[0])["speed"];
    let instances = match speed {
        Value::Array(items) => items.clone(),
        single => vec![single.clone()],
    };
    assert_eq!(instances.len(), 1, "{speed}");
    assert_eq!(instances[0]["value"], json!(81));
    assert_eq!(instances[0]["datasetId"], json!("urn:ngsi-ld:Dataset:gps"));
}

/// Clause 5.2.15: after a failed delivery nothing is sent during the endpoint's cooldown.
#[tokio::test]
async fn no_notification_is_sent_during_the_cooldown_after_a_failure() {
    let receiver = Receiver::start();
    receiver.answer_with(503);
    let (ty, id) = existing_vehicle("NotifCooldown").await;
    let mut body = subscription(&ty, &receiver);
    body["notification"]["endpoint"]["cooldown"] = json!(10_000);
    let sub = subscribe(&body).await;
    set_speed(&id, 81).await;
    receiver.expect(1, WAIT).await;
    subscription_when(&sub, |s| s["notification"]["status"] == json!("failed")).await;
    set_speed(&id, 82).await;
    assert_quiet(&receiver, 1).await;
}

/// Clauses 5.2.15 and 5.2.14.2: a receiver answering later than the endpoint's timeout is a
/// failed delivery.
#[tokio::test]
async fn an_endpoint_slower_than_its_timeout_is_a_failure() {
    let receiver = Receiver::start();
    receiver.delay_answers(Duration::from_secs(3));
    let (ty, id) = existing_vehicle("NotifTimeout").await;
    let mut body = subscription(&ty, &receiver);
    body["notification"]["endpoint"]["timeout"] = json!(300);
    let sub = subscribe(&body).await;
    set_speed(&id, 81).await;
    receiver.expect(1, WAIT).await;
    let s = subscription_when(&sub, |s| s["notification"]["status"] == json!("failed")).await;
    assert_eq!(s["notification"]["timesFailed"], json!(1), "{s}");
}

/// Clauses 5.8.1.4 and 5.8.6: notifications are compacted with the subscription's
/// jsonldContext, given explicitly.
#[tokio::test]
async fn an_explicit_jsonld_context_compacts_the_notifications() {
    let vocab = "https://example.org/explicit/";
    let ctx = serve_context(json!({"speed": format!("{vocab}speed")}));
    let receiver = Receiver::start();
    let ty = unique_type("NotifExplicitCtx");
    let mut body = subscription(&ty, &receiver);
    body["jsonldContext"] = json!(ctx);
    subscribe(&body).await;
    let id = unique_id("notif-explicit-ctx");
    send(
        post("/entities")
            .json(&vehicle(&id, &ty, 80))
            .context_link(&ctx),
    )
    .await
    .expect_status(201);
    let received = receiver.expect(1, WAIT).await;
    assert_eq!(only_entity(&received[0])["speed"]["value"], json!(80));
    assert!(
        received[0]
            .header("Link")
            .is_some_and(|l| l.contains(&format!("<{ctx}>"))),
        "{:?}",
        received[0].headers
    );

    // Created with the core context, the same attribute is notified by its full IRI.
    let core = Receiver::start();
    subscribe(&subscription(&ty, &core)).await;
    let other = unique_id("notif-core-ctx");
    send(
        post("/entities")
            .json(&vehicle(&other, &ty, 70))
            .context_link(&ctx),
    )
    .await
    .expect_status(201);
    let received = core.expect(1, WAIT).await;
    assert_eq!(
        only_entity(&received[0])[format!("{vocab}speed")]["value"],
        json!(70)
    );
}

/// Clauses 5.8.1.4 and 5.5.5: a subscription whose @context is inline in its body notifies
/// with that @context.
#[tokio::test]
async fn an_inline_context_compacts_the_notifications() {
    let vocab = "https://example.org/inline/";
    let receiver = Receiver::start();
    let ty = unique_type("NotifInlineCtx");
    let mut body = subscription(&ty, &receiver);
    body["@context"] = json!([{"speed": format!("{vocab}speed")}, CORE_CONTEXT]);
    subscribe_with(post("/subscriptions").ld_json(&body)).await;
    let id = unique_id("notif-inline-ctx");
    let mut entity = vehicle(&id, &ty, 80);
    entity["@context"] = json!([{"speed": format!("{vocab}speed")}, CORE_CONTEXT]);
    send(post("/entities").ld_json(&entity))
        .await
        .expect_status(201);
    let received = receiver.expect(1, WAIT).await;
    assert_eq!(only_entity(&received[0])["speed"]["value"], json!(80));
}

/// Clauses 5.8.6 and 4.5.5: deleting one datasetId instance of an attribute is an attribute
/// deletion, notified as a JSON object with that datasetId and the value "urn:ngsi-ld:null".
#[tokio::test]
async fn a_deleted_dataset_instance_is_notified_with_its_dataset_id() {
    let receiver = Receiver::start();
    let ty = unique_type("NotifDeletedDataset");
    let id = unique_id("notif-deleted-dataset");
    create(&json!({
        "id": id,
        "type": ty,
        "speed": [
            {"type": "Property", "value": 80},
            {"type": "Property", "value": 81, "datasetId": "urn:ngsi-ld:Dataset:gps"}
        ]
    }))
    .await;
    let mut body = subscription(&ty, &receiver);
    body["notificationTrigger"] = json!(["attributeDeleted"]);
    subscribe(&body).await;
    send(delete(&format!(
        "/entities/{id}/attrs/speed?datasetId=urn:ngsi-ld:Dataset:gps"
    )))
    .await
    .expect_status(204);
    let received = receiver.expect(1, WAIT).await;
    let speed = &only_entity(&received[0])["speed"];
    let instances = match speed {
        Value::Array(items) => items.clone(),
        single => vec![single.clone()],
    };
    assert!(
        instances
            .iter()
            .any(|i| i["datasetId"] == json!("urn:ngsi-ld:Dataset:gps")
                && i["value"] == json!("urn:ngsi-ld:null")),
        "the deleted instance: {speed}"
    );
}
