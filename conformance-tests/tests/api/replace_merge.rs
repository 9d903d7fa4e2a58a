//! Replace Entity (clauses 5.6.18, 6.5.3.3) and Merge Entity (clauses 5.6.17, 5.5.12, 6.5.3.4).

use std::time::Duration;

use serde_json::json;

use crate::harness::*;

fn entity_url(id: &str) -> String {
    format!("/entities/{id}")
}

/// Clause 5.6.18.4: Replace Entity swaps every attribute for the new content and keeps the
/// entity's `createdAt`; 204.
#[tokio::test]
async fn replace_entity_keeps_created_at() {
    let id = create_sample("replace-entity").await;
    let created = retrieve(&id, "?options=sysAttrs").await["createdAt"].clone();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let replacement =
        json!({"id": id, "type": "Car", "colour": {"type": "Property", "value": "red"}});
    let reply = send(put(&entity_url(&id)).json(&replacement))
        .await
        .expect_status(204);
    assert!(reply.body.is_empty());

    assert_same_entity(&retrieve(&id, "").await, &replacement);
    let e = retrieve(&id, "?options=sysAttrs").await;
    assert_eq!(instant(&e["createdAt"]), instant(&created));
    assert!(
        instant(&e["modifiedAt"]) > instant(&created),
        "modifiedAt moves on: {e}"
    );
}

/// Clause 5.6.18.4: replacing an unknown entity is ResourceNotFound.
#[tokio::test]
async fn replace_entity_of_an_unknown_entity_is_404_resource_not_found() {
    let id = unique_id("replace-unknown");
    let reply = send(put(&entity_url(&id)).json(&json!({"type": "Vehicle"}))).await;
    assert_problem(&reply, 404, "ResourceNotFound");
}

/// Clauses 5.6.18.4 and 5.5.4: Replace Entity does not support NGSI-LD Null; it is BadRequestData.
#[tokio::test]
async fn replace_entity_with_ngsi_ld_null_is_400_bad_request_data() {
    let id = create_sample("replace-null").await;
    let body =
        json!({"type": "Vehicle", "speed": {"type": "Property", "value": "urn:ngsi-ld:null"}});
    let reply = send(put(&entity_url(&id)).json(&body)).await;
    assert_problem(&reply, 400, "BadRequestData");
}

/// Clauses 5.6.17.4 and 5.5.12 (example 1): merging an attribute updates the members sent and
/// keeps the others; new attributes are added; entity types are added.
#[tokio::test]
async fn merge_entity_merges_attributes_and_adds_new_ones() {
    let id = create_sample("merge").await;
    let fragment = json!({
        "type": "Car",
        "speed": {"type": "Property", "value": 100, "observedAt": "2024-03-14T13:00:00Z"},
        "colour": {"type": "Property", "value": "red"}
    });
    send(patch(&entity_url(&id)).json(&fragment))
        .await
        .expect_status(204);
    let e = retrieve(&id, "").await;
    assert_same_entity(
        &e["speed"],
        &json!({"type": "Property", "value": 100, "unitCode": "KMH", "observedAt": "2024-03-14T13:00:00Z"}),
    );
    assert_eq!(e["colour"], fragment["colour"]);
    assert_eq!(
        e["brandName"],
        json!({"type": "Property", "value": "Mercedes"})
    );
    let mut types: Vec<String> = serde_json::from_value(e["type"].clone()).expect("array");
    types.sort();
    assert_eq!(types, ["Car", "Vehicle"]);
}

/// Clauses 5.6.17.4 and 5.5.12: an attribute whose value is NGSI-LD Null is deleted, in
/// normalized and in concise form.
#[tokio::test]
async fn merge_entity_deletes_with_ngsi_ld_null() {
    let id = create_sample("merge-null").await;
    let fragment = json!({
        "speed": {"type": "Property", "value": "urn:ngsi-ld:null"},
        "owner": "urn:ngsi-ld:null"
    });
    send(patch(&entity_url(&id)).json(&fragment))
        .await
        .expect_status(204);
    let e = retrieve(&id, "").await;
    assert!(e.get("speed").is_none() && e.get("owner").is_none(), "{e}");
    assert!(e.get("brandName").is_some(), "{e}");
}

/// Clause 5.5.12 (example 2): JSON object values are merged per RFC 7396 to any depth, an
/// NGSI-LD Null removing a key.
#[tokio::test]
async fn merge_deep_merges_json_object_values() {
    let id = unique_id("merge-deep");
    create(&json!({
        "id": id,
        "type": "Building",
        "address": {"type": "Property", "value": {
            "street": "Straße des 17. Juni", "city": "Berlin", "country": "Germany",
            "geo": {"district": "Tiergarten", "zip": "10557"}
        }}
    }))
    .await;
    let fragment = json!({"address": {"type": "Property", "value": {
        "street": "Pariser Platz", "country": "urn:ngsi-ld:null", "geo": {"zip": "10117"}
    }}});
    send(patch(&entity_url(&id)).json(&fragment))
        .await
        .expect_status(204);
    assert_eq!(
        retrieve(&id, "").await["address"]["value"],
        json!({"street": "Pariser Platz", "city": "Berlin", "geo": {"district": "Tiergarten", "zip": "10117"}})
    );
}

/// Clauses 5.6.17.4 and 6.5.3.4 (`format=keyValues`): simplified values merge into existing
/// attributes and keep their type.
#[tokio::test]
async fn merge_with_keyvalues_keeps_attribute_types() {
    let id = create_sample("merge-keyvalues").await;
    let fragment = json!({"speed": 90, "owner": "urn:ngsi-ld:Person:Bob"});
    send(patch(&format!("{}?format=keyValues", entity_url(&id))).json(&fragment))
        .await
        .expect_status(204);
    let e = retrieve(&id, "").await;
    assert_eq!(e["speed"]["type"], json!("Property"));
    assert_eq!(e["speed"]["value"], json!(90));
    assert_eq!(e["speed"]["unitCode"], json!("KMH"));
    assert_eq!(
        e["owner"],
        json!({"type": "Relationship", "object": "urn:ngsi-ld:Person:Bob"})
    );
}

/// Clauses 5.6.17.4 and 6.5.3.4 (`observedAt`): the common timestamp updates `observedAt` of
/// merged attributes that had one.
#[tokio::test]
async fn merge_with_observed_at_updates_observed_at() {
    let id = create_sample("merge-observed").await;
    let url = format!("{}?observedAt=2025-01-02T03:04:05Z", entity_url(&id));
    send(patch(&url).json(&json!({"speed": {"type": "Property", "value": 90}})))
        .await
        .expect_status(204);
    let speed = retrieve(&id, "").await["speed"].clone();
    assert_eq!(speed["value"], json!(90));
    assert_eq!(
        instant(&speed["observedAt"]),
        instant(&json!("2025-01-02T03:04:05Z"))
    );
}

/// Clauses 5.6.17.4 and 6.5.3.4 (`lang`): a string merged into a LanguageProperty replaces
/// only the entry of that language.
#[tokio::test]
async fn merge_with_lang_updates_one_language() {
    let id = create_sample("merge-lang").await;
    send(patch(&format!("{}?lang=fr", entity_url(&id))).json(&json!({"street": "Petite Place"})))
        .await
        .expect_status(204);
    assert_eq!(
        retrieve(&id, "").await["street"],
        json!({"type": "LanguageProperty", "languageMap": {"fr": "Petite Place", "nl": "Grote Markt"}})
    );
}

/// Clause 5.6.17.4: merging into an unknown entity is ResourceNotFound.
#[tokio::test]
async fn merge_of_an_unknown_entity_is_404_resource_not_found() {
    let id = unique_id("merge-unknown");
    let reply =
        send(patch(&entity_url(&id)).json(&json!({"speed": {"type": "Property", "value": 1}})))
            .await;
    assert_problem(&reply, 404, "ResourceNotFound");
}
