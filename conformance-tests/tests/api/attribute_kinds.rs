//! The attribute kinds of clause 4.5 on the wire: round trips, concise input, and the
//! validation of malformed attributes (clauses 4.5.x, 4.6, 4.7, 5.5.4).

use serde_json::{json, Value};

use crate::harness::*;

async fn assert_rejected(test: &str, attribute: Value) {
    let id = unique_id(test);
    let reply =
        send(post("/entities").json(&json!({"id": id, "type": "Vehicle", "attr": attribute})))
            .await;
    assert_problem(&reply, 400, "BadRequestData");
}

/// Clauses 4.5.1-4.5.5, 4.5.18, 4.5.20-4.5.22 and 4.5.24: every attribute kind (Property,
/// Relationship, GeoProperty, LanguageProperty, VocabProperty, JsonProperty, ListProperty,
/// ListRelationship), sub-attributes, several instances told apart by datasetId, `observedAt`
/// and `unitCode` come back as they were created.
#[tokio::test]
async fn every_attribute_kind_round_trips() {
    let id = unique_id("kinds-roundtrip");
    let mut entity = all_kinds_entity(&id);
    entity["speed"] = json!([
        {"type": "Property", "value": 80, "unitCode": "KMH", "observedAt": "2024-03-14T01:59:26.535Z"},
        {"type": "Property", "value": 79.5, "unitCode": "KMH", "datasetId": "urn:ngsi-ld:Dataset:gps"}
    ]);
    entity["ticket"]["json"]["nested"] = json!([1, {"speed": "not expanded", "empty": null}]);
    create(&entity).await;
    assert_same_entity(&retrieve(&id, "").await, &entity);
}

/// Clauses 4.5.2.3, 4.5.3.3, 4.5.18.3, 4.5.20.3, 4.5.21.3, 4.5.22.3 and 4.5.24.3: concise input
/// is understood, the attribute type inferred from `value` (a GeoProperty when the value is a
/// GeoJSON geometry), `object`, `languageMap`, `vocab`, `json`, `valueList` and `objectList`.
#[tokio::test]
async fn concise_input_is_understood() {
    let id = unique_id("kinds-concise");
    create(&json!({
        "id": id,
        "type": "Vehicle",
        "brandName": "Mercedes",
        "speed": {"value": 80, "unitCode": "KMH"},
        "owner": {"object": "urn:ngsi-ld:Person:Alice"},
        "location": {"value": {"type": "Point", "coordinates": [-8.5, 41.2]}},
        "street": {"languageMap": {"fr": "Grand Place"}},
        "category": {"vocab": "nonCommercial"},
        "ticket": {"json": {"id": "t-1"}},
        "tyreTreadDepths": {"valueList": [300, 120]},
        "route": {"objectList": ["urn:ngsi-ld:City:Antwerp", "urn:ngsi-ld:City:Rotterdam"]}
    }))
    .await;
    let expected = json!({
        "id": id,
        "type": "Vehicle",
        "brandName": {"type": "Property", "value": "Mercedes"},
        "speed": {"type": "Property", "value": 80, "unitCode": "KMH"},
        "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Person:Alice"},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [-8.5, 41.2]}},
        "street": {"type": "LanguageProperty", "languageMap": {"fr": "Grand Place"}},
        "category": {"type": "VocabProperty", "vocab": "nonCommercial"},
        "ticket": {"type": "JsonProperty", "json": {"id": "t-1"}},
        "tyreTreadDepths": {"type": "ListProperty", "valueList": [300, 120]},
        "route": {
            "type": "ListRelationship",
            "objectList": [{"object": "urn:ngsi-ld:City:Antwerp"}, {"object": "urn:ngsi-ld:City:Rotterdam"}]
        }
    });
    assert_same_entity(&retrieve(&id, "").await, &expected);
}

/// Clauses 4.7 and 5.5.4: a GeoProperty value that is not a valid GeoJSON geometry is
/// BadRequestData.
#[tokio::test]
async fn invalid_geojson_is_400_bad_request_data() {
    let attr =
        json!({"type": "GeoProperty", "value": {"type": "Point", "coordinates": "somewhere"}});
    assert_rejected("kinds-bad-geojson", attr).await;
}

/// Clauses 4.5.3.2 and 5.5.4: a Relationship `object` must be a URI.
#[tokio::test]
async fn relationship_object_must_be_a_uri() {
    assert_rejected(
        "kinds-bad-object",
        json!({"type": "Relationship", "object": "not a uri"}),
    )
    .await;
}

/// Clauses 4.5 and 5.5.4: an attribute whose `type` is none of the attribute kinds is
/// BadRequestData.
#[tokio::test]
async fn unknown_attribute_type_is_400_bad_request_data() {
    assert_rejected("kinds-unknown-type", json!({"type": "Banana", "value": 1})).await;
}

/// Clauses 4.5.2.2 and 5.5.4: a normalized Property without `value` is BadRequestData.
#[tokio::test]
async fn property_without_value_is_400_bad_request_data() {
    assert_rejected(
        "kinds-no-value",
        json!({"type": "Property", "unitCode": "KMH"}),
    )
    .await;
}

/// Clause 4.5.2.2 (Prohibited): a Property shall never include `object`.
#[tokio::test]
async fn property_with_a_prohibited_member_is_400_bad_request_data() {
    let attr = json!({"type": "Property", "value": 1, "object": "urn:ngsi-ld:Person:Alice"});
    assert_rejected("kinds-prohibited", attr).await;
}

/// Clause 4.5.3.2 (Prohibited): a Relationship shall never include `unitCode`.
#[tokio::test]
async fn relationship_with_a_unit_code_is_400_bad_request_data() {
    let attr =
        json!({"type": "Relationship", "object": "urn:ngsi-ld:Person:Alice", "unitCode": "KMH"});
    assert_rejected("kinds-relationship-unit", attr).await;
}

/// Clauses 4.8 and 4.6.3: `observedAt` must be a DateTime.
#[tokio::test]
async fn observed_at_that_is_not_a_datetime_is_400_bad_request_data() {
    assert_rejected(
        "kinds-bad-observed",
        json!({"type": "Property", "value": 1, "observedAt": "yesterday"}),
    )
    .await;
}

/// Clause 4.5.5: a `datasetId` must be a URI.
#[tokio::test]
async fn dataset_id_that_is_not_a_uri_is_400_bad_request_data() {
    assert_rejected(
        "kinds-bad-dataset",
        json!({"type": "Property", "value": 1, "datasetId": "not a uri"}),
    )
    .await;
}

/// Clause 4.5.5: there can only be one default instance of an attribute in a request.
#[tokio::test]
async fn two_default_instances_of_one_attribute_are_400_bad_request_data() {
    let attr = json!([{"type": "Property", "value": 1}, {"type": "Property", "value": 2}]);
    assert_rejected("kinds-two-defaults", attr).await;
}

/// Clause 4.5.18.2: each language tag of a `languageMap` maps to a string or array of strings.
#[tokio::test]
async fn language_map_with_a_non_string_is_400_bad_request_data() {
    assert_rejected(
        "kinds-bad-language-map",
        json!({"type": "LanguageProperty", "languageMap": {"en": 5}}),
    )
    .await;
}
