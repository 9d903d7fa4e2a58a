//! Retrieve Entity (clauses 5.7.1, 6.5.3.1): lookup, type selector, attribute and dataset selection.

use serde_json::json;

use crate::harness::*;

/// Clauses 5.7.1.4 and 6.3.2: an unknown entity id is ResourceNotFound (404).
#[tokio::test]
async fn retrieving_an_unknown_entity_is_404_resource_not_found() {
    let reply = send(get(&format!("/entities/{}", unique_id("retrieve-unknown")))).await;
    assert_problem(&reply, 404, "ResourceNotFound");
}

/// Clause 5.7.1.4: an entity id that is not a URI is BadRequestData.
#[tokio::test]
async fn retrieving_with_an_id_that_is_not_a_uri_is_400_bad_request_data() {
    let reply = send(get("/entities/not-a-uri")).await;
    assert_problem(&reply, 400, "BadRequestData");
}

/// Clauses 5.7.1.3, 5.7.1.4 and 4.17: a `type` selector the entity matches returns it.
#[tokio::test]
async fn retrieving_with_a_matching_type_selector_returns_the_entity() {
    let id = create_sample("retrieve-type-match").await;
    assert_eq!(retrieve(&id, "?type=Vehicle").await["id"], json!(id));
}

/// Clause 5.7.1.4: an entity exists only "where specified type" matches; else ResourceNotFound.
#[tokio::test]
async fn retrieving_with_another_type_is_404_resource_not_found() {
    let id = create_sample("retrieve-type-mismatch").await;
    let reply = send(get(&format!("/entities/{id}?type=Bicycle"))).await;
    assert_problem(&reply, 404, "ResourceNotFound");
}

/// Clauses 5.7.1.4 and 6.5.3.1 (`attrs`): only the listed attributes are returned.
#[tokio::test]
async fn attrs_keeps_only_the_listed_attributes() {
    let id = create_sample("retrieve-attrs").await;
    let entity = retrieve(&id, "?attrs=speed,owner").await;
    let mut keys: Vec<&str> = entity
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["id", "owner", "speed", "type"]);
}

/// Clauses 5.7.1.4 and 6.5.3.1: if the entity has none of the attributes in `attrs`, 404.
#[tokio::test]
async fn attrs_matching_no_attribute_is_404_resource_not_found() {
    let id = create_sample("retrieve-attrs-none").await;
    let reply = send(get(&format!("/entities/{id}?attrs=colour"))).await;
    assert_problem(&reply, 404, "ResourceNotFound");
}

/// Clauses 5.7.1.4 and 4.5.5: `datasetId` keeps only the instances with those datasetIds
/// (`@none` is the default instance); attributes with no such instance are left out.
#[tokio::test]
async fn dataset_id_parameter_selects_attribute_instances() {
    let id = unique_id("retrieve-dataset");
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

    let gps = retrieve(&id, "?datasetId=urn:ngsi-ld:Dataset:gps").await;
    assert_eq!(
        gps["speed"],
        json!({"type": "Property", "value": 81, "datasetId": "urn:ngsi-ld:Dataset:gps"})
    );
    assert!(
        gps.get("brandName").is_none(),
        "no brandName instance has that datasetId: {gps}"
    );

    let default = retrieve(&id, "?datasetId=@none").await;
    assert_eq!(default["speed"], json!({"type": "Property", "value": 80}));
    assert_eq!(
        default["brandName"],
        json!({"type": "Property", "value": "Mercedes"})
    );
}

/// Clause 5.7.1.4: `geometryProperty` without `Accept: application/geo+json` is BadRequestData.
#[tokio::test]
async fn geometry_property_without_geojson_accept_is_400_bad_request_data() {
    let id = create_sample("retrieve-geometry-json").await;
    let reply =
        send(get(&format!("/entities/{id}?geometryProperty=location")).accept("application/json"))
            .await;
    assert_problem(&reply, 400, "BadRequestData");
}
