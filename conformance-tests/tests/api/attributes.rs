//! Attribute operations (clauses 5.6.2-5.6.5, 5.6.19; HTTP 6.6.3, 6.7.3): update, append,
//! partial update, replace and delete of attributes, and the entity type selector on writes.

use serde_json::{json, Value};

use crate::harness::*;

fn attrs(id: &str) -> String {
    format!("/entities/{id}/attrs")
}

fn attr(id: &str, name: &str) -> String {
    format!("/entities/{id}/attrs/{name}")
}

/// An entity whose `speed` has a default instance and two datasetId instances.
async fn create_multi_instance(test: &str) -> String {
    let id = unique_id(test);
    create(&json!({
        "id": id,
        "type": "Vehicle",
        "speed": [
            {"type": "Property", "value": 80},
            {"type": "Property", "value": 81, "datasetId": "urn:ngsi-ld:Dataset:gps"},
            {"type": "Property", "value": 82, "datasetId": "urn:ngsi-ld:Dataset:radar"}
        ],
        "brandName": {"type": "Property", "value": "Mercedes"}
    }))
    .await;
    id
}

/// The instances of an attribute as a list, whether rendered as an object or an array.
fn instances(attribute: &Value) -> Vec<Value> {
    match attribute {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

fn dataset_values(attribute: &Value) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = instances(attribute)
        .into_iter()
        .map(|i| {
            (
                i["datasetId"].as_str().unwrap_or("@none").to_owned(),
                i["value"].clone(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Clauses 5.6.2.4 and 5.5.8 (example 2): Update Attributes replaces a whole existing
/// attribute (sub-attributes not sent are gone) and appends the ones the entity lacks; 204.
#[tokio::test]
async fn update_attributes_replaces_and_appends() {
    let id = create_sample("update-attrs").await;
    let fragment = json!({
        "speed": {"type": "Property", "value": 100, "observedAt": "2024-03-14T13:00:00Z"},
        "colour": {"type": "Property", "value": "red"}
    });
    send(patch(&attrs(&id)).json(&fragment))
        .await
        .expect_status(204);
    let e = retrieve(&id, "").await;
    assert_same_entity(&e["speed"], &fragment["speed"]);
    assert_eq!(e["colour"], fragment["colour"]);
    assert_eq!(
        e["brandName"],
        json!({"type": "Property", "value": "Mercedes"})
    );
}

/// Clauses 5.6.2.4 and 5.5.8 (example 3): an NGSI-LD Null value deletes the attribute.
#[tokio::test]
async fn update_attributes_with_ngsi_ld_null_deletes_the_attribute() {
    let id = create_sample("update-attrs-null").await;
    send(
        patch(&attrs(&id))
            .json(&json!({"speed": {"type": "Property", "value": "urn:ngsi-ld:null"}})),
    )
    .await
    .expect_status(204);
    let e = retrieve(&id, "").await;
    assert!(e.get("speed").is_none(), "{e}");
    assert!(e.get("brandName").is_some(), "{e}");
}

/// Clauses 5.6.2.4 and 4.8: replacing an attribute keeps its system `createdAt`.
#[tokio::test]
async fn update_attributes_keeps_the_attribute_created_at() {
    let id = create_sample("update-attrs-created").await;
    let before = retrieve(&id, "?options=sysAttrs").await["speed"]["createdAt"].clone();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    send(patch(&attrs(&id)).json(&json!({"speed": {"type": "Property", "value": 1}})))
        .await
        .expect_status(204);
    let after = retrieve(&id, "?options=sysAttrs").await["speed"].clone();
    assert_eq!(instant(&after["createdAt"]), instant(&before));
    assert!(
        instant(&after["modifiedAt"]) > instant(&before),
        "modifiedAt moves on: {after}"
    );
}

/// Clause 5.6.2.4: updating the attributes of an unknown entity is ResourceNotFound.
#[tokio::test]
async fn update_attributes_of_an_unknown_entity_is_404_resource_not_found() {
    let id = unique_id("update-attrs-unknown");
    let reply =
        send(patch(&attrs(&id)).json(&json!({"speed": {"type": "Property", "value": 1}}))).await;
    assert_problem(&reply, 404, "ResourceNotFound");
}

/// Clause 5.6.3.4: Append Attributes adds new attributes and, by default, overwrites
/// existing ones; 204 when everything was appended.
#[tokio::test]
async fn append_adds_and_overwrites_by_default() {
    let id = create_sample("append").await;
    let fragment = json!({
        "speed": {"type": "Property", "value": 120},
        "colour": {"type": "Property", "value": "red"}
    });
    send(post(&attrs(&id)).json(&fragment))
        .await
        .expect_status(204);
    let e = retrieve(&id, "").await;
    assert_eq!(e["speed"], fragment["speed"]);
    assert_eq!(e["colour"], fragment["colour"]);
}

/// Clauses 5.6.3.4, 5.6.3.5, 5.2.18 and 6.3.6: with `options=noOverwrite` existing attributes
/// are left untouched and the answer is 207 with an UpdateResult naming what was appended and
/// what not, by Fully Qualified Name (no @context applies to partial-success bodies).
#[tokio::test]
async fn append_with_no_overwrite_is_207_for_existing() {
    let id = create_sample("append-no-overwrite").await;
    let fragment = json!({
        "speed": {"type": "Property", "value": 120},
        "colour": {"type": "Property", "value": "red"}
    });
    let reply = send(post(&format!("{}?options=noOverwrite", attrs(&id))).json(&fragment))
        .await
        .expect_status(207);
    assert_eq!(reply.media_type(), "application/json");
    let result = reply.json();
    assert_eq!(
        result["updated"],
        json!([format!("{DEFAULT_VOCAB}colour")]),
        "{result}"
    );
    let not_updated = result["notUpdated"]
        .as_array()
        .expect("notUpdated is an array");
    assert_eq!(not_updated.len(), 1, "{result}");
    assert_eq!(
        not_updated[0]["attributeName"],
        json!(format!("{DEFAULT_VOCAB}speed")),
        "{result}"
    );
    assert!(not_updated[0]["reason"].is_string(), "{result}");

    let e = retrieve(&id, "").await;
    assert_eq!(e["speed"]["value"], json!(80), "speed untouched");
    assert_eq!(e["colour"]["value"], json!("red"));
}

/// Clause 5.6.3.4: entity types in the fragment that the entity lacks are added.
#[tokio::test]
async fn append_adds_new_entity_types() {
    let id = create_sample("append-types").await;
    send(
        post(&attrs(&id))
            .json(&json!({"type": "Car", "colour": {"type": "Property", "value": "red"}})),
    )
    .await
    .expect_status(204);
    let mut types: Vec<String> =
        serde_json::from_value(retrieve(&id, "").await["type"].clone()).expect("array");
    types.sort();
    assert_eq!(types, ["Car", "Vehicle"]);
}

/// Clause 5.6.3.4: appending to an unknown entity is ResourceNotFound.
#[tokio::test]
async fn append_to_an_unknown_entity_is_404_resource_not_found() {
    let id = unique_id("append-unknown");
    let reply =
        send(post(&attrs(&id)).json(&json!({"speed": {"type": "Property", "value": 1}}))).await;
    assert_problem(&reply, 404, "ResourceNotFound");
}

/// Clause 5.5.4: NGSI-LD Null is allowed only in update and merge fragments, so an append
/// holding one is BadRequestData.
#[tokio::test]
async fn append_with_ngsi_ld_null_is_400_bad_request_data() {
    let id = create_sample("append-null").await;
    let reply = send(
        post(&attrs(&id))
            .json(&json!({"speed": {"type": "Property", "value": "urn:ngsi-ld:null"}})),
    )
    .await;
    assert_problem(&reply, 400, "BadRequestData");
}

/// Clauses 5.6.4.4 and 5.5.8 (example 1): Partial Attribute Update changes only the members
/// sent and keeps the others (here `unitCode`).
#[tokio::test]
async fn partial_update_keeps_other_members() {
    let id = create_sample("partial").await;
    send(
        patch(&attr(&id, "speed"))
            .json(&json!({"type": "Property", "value": 100, "observedAt": "2024-03-14T13:00:00Z"})),
    )
    .await
    .expect_status(204);
    let speed = retrieve(&id, "").await["speed"].clone();
    assert_same_entity(
        &speed,
        &json!({"type": "Property", "value": 100, "unitCode": "KMH", "observedAt": "2024-03-14T13:00:00Z"}),
    );
}

/// Clause 5.6.4.4: with a `datasetId` in the fragment only that instance is updated.
#[tokio::test]
async fn partial_update_with_a_dataset_id_targets_that_instance() {
    let id = create_multi_instance("partial-dataset").await;
    send(
        patch(&attr(&id, "speed"))
            .json(&json!({"value": 91, "datasetId": "urn:ngsi-ld:Dataset:gps"})),
    )
    .await
    .expect_status(204);
    let speed = retrieve(&id, "").await["speed"].clone();
    assert_eq!(
        dataset_values(&speed),
        [
            ("@none".to_owned(), json!(80)),
            ("urn:ngsi-ld:Dataset:gps".to_owned(), json!(91)),
            ("urn:ngsi-ld:Dataset:radar".to_owned(), json!(82))
        ]
    );
}

/// Clause 5.6.4.4: an attribute the entity does not have is ResourceNotFound.
#[tokio::test]
async fn partial_update_of_a_missing_attribute_is_404_resource_not_found() {
    let id = create_sample("partial-missing").await;
    let reply = send(patch(&attr(&id, "colour")).json(&json!({"value": "red"}))).await;
    assert_problem(&reply, 404, "ResourceNotFound");
}

/// Clause 5.6.4.4: the target attribute cannot be `scope`.
#[tokio::test]
async fn partial_update_of_scope_is_400_bad_request_data() {
    let id = unique_id("partial-scope");
    create(&json!({"id": id, "type": "Vehicle", "scope": "/Madrid"})).await;
    let reply = send(patch(&attr(&id, "scope")).json(&json!({"value": "/Paris"}))).await;
    assert_problem(&reply, 400, "BadRequestData");
}

/// Clause 5.6.4.4: the type of an attribute cannot be changed by a partial update.
#[tokio::test]
async fn partial_update_cannot_change_the_attribute_type() {
    let id = create_sample("partial-type").await;
    let reply = send(
        patch(&attr(&id, "speed"))
            .json(&json!({"type": "Relationship", "object": "urn:ngsi-ld:X:1"})),
    )
    .await;
    assert_problem(&reply, 400, "BadRequestData");
    assert_eq!(retrieve(&id, "").await["speed"]["type"], json!("Property"));
}

/// Clause 5.6.19.4: Replace Attribute replaces the whole attribute (members not sent are gone)
/// and keeps its `createdAt`.
#[tokio::test]
async fn replace_attribute_replaces_the_whole_attribute() {
    let id = create_sample("replace-attr").await;
    let before = retrieve(&id, "?options=sysAttrs").await["speed"]["createdAt"].clone();
    send(put(&attr(&id, "speed")).json(&json!({"type": "Property", "value": 5})))
        .await
        .expect_status(204);
    let speed = retrieve(&id, "?options=sysAttrs").await["speed"].clone();
    assert_eq!(speed["value"], json!(5));
    assert!(
        speed.get("unitCode").is_none() && speed.get("observedAt").is_none(),
        "{speed}"
    );
    assert_eq!(instant(&speed["createdAt"]), instant(&before));
}

/// Clause 5.6.19.4: replacing an attribute the entity lacks is ResourceNotFound.
#[tokio::test]
async fn replace_of_a_missing_attribute_is_404_resource_not_found() {
    let id = create_sample("replace-attr-missing").await;
    let reply =
        send(put(&attr(&id, "colour")).json(&json!({"type": "Property", "value": "red"}))).await;
    assert_problem(&reply, 404, "ResourceNotFound");
}

/// Clause 5.6.5.4: Delete Attribute removes the (default instance of the) attribute; 204.
#[tokio::test]
async fn delete_attribute_removes_it() {
    let id = create_sample("delete-attr").await;
    send(delete(&attr(&id, "speed"))).await.expect_status(204);
    let e = retrieve(&id, "").await;
    assert!(e.get("speed").is_none(), "{e}");
    assert!(e.get("brandName").is_some(), "{e}");
}

/// Clause 5.6.5.4: deleting an attribute the entity lacks is ResourceNotFound.
#[tokio::test]
async fn delete_of_a_missing_attribute_is_404_resource_not_found() {
    let id = create_sample("delete-attr-missing").await;
    let reply = send(delete(&attr(&id, "colour"))).await;
    assert_problem(&reply, 404, "ResourceNotFound");
}

/// Clauses 5.6.5.4 and 6.7.3.2: `datasetId` deletes only that instance; without it, only the
/// default instance goes.
#[tokio::test]
async fn delete_attribute_by_dataset_id() {
    let id = create_multi_instance("delete-attr-dataset").await;
    send(delete(&format!(
        "{}?datasetId=urn:ngsi-ld:Dataset:gps",
        attr(&id, "speed")
    )))
    .await
    .expect_status(204);
    let speed = retrieve(&id, "").await["speed"].clone();
    assert_eq!(
        dataset_values(&speed),
        [
            ("@none".to_owned(), json!(80)),
            ("urn:ngsi-ld:Dataset:radar".to_owned(), json!(82))
        ]
    );

    send(delete(&attr(&id, "speed"))).await.expect_status(204);
    let speed = retrieve(&id, "").await["speed"].clone();
    assert_eq!(
        dataset_values(&speed),
        [("urn:ngsi-ld:Dataset:radar".to_owned(), json!(82))]
    );
}

/// Clauses 5.6.5.4 and 6.7.3.2: `deleteAll=true` removes every instance of the attribute.
#[tokio::test]
async fn delete_all_instances() {
    let id = create_multi_instance("delete-attr-all").await;
    send(delete(&format!("{}?deleteAll=true", attr(&id, "speed"))))
        .await
        .expect_status(204);
    let e = retrieve(&id, "").await;
    assert!(e.get("speed").is_none(), "{e}");
    assert!(e.get("brandName").is_some(), "{e}");
}

/// Clause 6.7.3.2: the `datasetId` parameter shall be a URI.
#[tokio::test]
async fn delete_attribute_with_a_non_uri_dataset_id_is_400_bad_request_data() {
    let id = create_multi_instance("delete-attr-bad-dataset").await;
    let reply = send(delete(&format!(
        "{}?datasetId=not%20a%20uri",
        attr(&id, "speed")
    )))
    .await;
    assert_problem(&reply, 400, "BadRequestData");
}

/// The write operations that take the `type` selector (Tables 6.5.3.2-1, 6.5.3.3-1, 6.5.3.4-1,
/// 6.6.3.1-1, 6.6.3.2-1, 6.7.3.1-1, 6.7.3.2-1, 6.7.3.3-1), with the given selector.
fn typed_writes(id: &str, selector: &str) -> Vec<(&'static str, reqwest::RequestBuilder)> {
    let q = format!("?type={selector}");
    let prop = json!({"type": "Property", "value": 7});
    vec![
        (
            "partial attribute update",
            patch(&format!("{}{q}", attr(id, "speed"))).json(&json!({"value": 7})),
        ),
        (
            "append attributes",
            post(&format!("{}{q}", attrs(id))).json(&json!({"colour": prop})),
        ),
        (
            "update attributes",
            patch(&format!("{}{q}", attrs(id))).json(&json!({"speed": prop})),
        ),
        (
            "replace attribute",
            put(&format!("{}{q}", attr(id, "speed"))).json(&prop),
        ),
        (
            "merge entity",
            patch(&format!("/entities/{id}{q}")).json(&json!({"speed": prop})),
        ),
        (
            "delete attribute",
            delete(&format!("{}{q}", attr(id, "brandName"))),
        ),
        (
            "replace entity",
            put(&format!("/entities/{id}{q}")).json(&json!({"type": "Vehicle", "speed": prop})),
        ),
        ("delete entity", delete(&format!("/entities/{id}{q}"))),
    ]
}

/// Clauses 5.6.2.4, 5.6.3.4, 5.6.4.4, 5.6.5.4, 5.6.6.4, 5.6.17.4, 5.6.18.4 and 5.6.19.4: a
/// target entity exists only "where specified type" matches, so every write with a type
/// selector the entity does not match is ResourceNotFound and changes nothing.
#[tokio::test]
async fn writes_with_a_non_matching_type_selector_are_404_resource_not_found() {
    let id = create_sample("typed-writes-mismatch").await;
    let before = retrieve(&id, "").await;
    for (operation, request) in typed_writes(&id, "Bicycle") {
        let reply = send(request).await;
        assert_eq!(reply.status, 404, "{operation}: {}", reply.body);
        assert_problem(&reply, 404, "ResourceNotFound");
    }
    assert_eq!(retrieve(&id, "").await, before);
}

/// The same clauses: with a type selector the entity matches, every write goes through.
#[tokio::test]
async fn writes_with_a_matching_type_selector_succeed() {
    let id = create_sample("typed-writes-match").await;
    for (operation, request) in typed_writes(&id, "Vehicle") {
        let reply = send(request).await;
        assert_eq!(reply.status, 204, "{operation}: {}", reply.body);
    }
    assert_gone(&id).await;
}
