//! Create Entity (clauses 5.6.1, 6.4.3.1) and the validation of entity payloads (4.5.1, 5.5.4).

use serde_json::json;

use crate::harness::*;

/// Clauses 5.6.1.4 and 6.4.3.1: a created entity answers 201 Created, no body, and a
/// `Location` header with the relative path of the new entity.
#[tokio::test]
async fn creating_an_entity_returns_201_with_its_location() {
    let id = unique_id("create-location");
    let reply = send(post("/entities").json(&sample_entity(&id)))
        .await
        .expect_status(201);
    assert_eq!(reply.header("location"), Some(entity_path(&id).as_str()));
    assert!(reply.body.is_empty(), "201 has no body: {}", reply.body);
}

/// Clauses 5.6.1.4 and 6.3.2: creating an entity whose id exists is an AlreadyExists (409).
#[tokio::test]
async fn creating_an_existing_entity_is_409_already_exists() {
    let id = create_sample("create-twice").await;
    let reply = send(post("/entities").json(&sample_entity(&id))).await;
    assert_problem(&reply, 409, "AlreadyExists");
}

/// Clauses 5.6.1.4 and 5.7.1.4: what was created is retrieved as sent (normalized, clause 4.5.1).
#[tokio::test]
async fn a_created_entity_is_retrieved_as_sent() {
    let id = unique_id("create-roundtrip");
    let entity = sample_entity(&id);
    create(&entity).await;
    assert_same_entity(&retrieve(&id, "").await, &entity);
}

/// Clauses 4.5.1 and 5.5.4: `id` is mandatory; without it the payload is BadRequestData.
#[tokio::test]
async fn entity_without_id_is_400_bad_request_data() {
    let reply = send(post("/entities").json(&json!({"type": "Vehicle"}))).await;
    assert_problem(&reply, 400, "BadRequestData");
}

/// Clauses 4.5.1 and 5.5.4: the entity `id` must be a URI.
#[tokio::test]
async fn entity_id_that_is_not_a_uri_is_400_bad_request_data() {
    let reply = send(post("/entities").json(&json!({"id": "not a uri", "type": "Vehicle"}))).await;
    assert_problem(&reply, 400, "BadRequestData");
}

/// Clauses 4.5.1 and 5.5.4: `type` is mandatory.
#[tokio::test]
async fn entity_without_type_is_400_bad_request_data() {
    let reply = send(post("/entities").json(&json!({"id": unique_id("create-no-type")}))).await;
    assert_problem(&reply, 400, "BadRequestData");
}

/// Clause 5.5.4: a payload that is not a valid JSON document is an InvalidRequest.
#[tokio::test]
async fn invalid_json_body_is_400_invalid_request() {
    let reply =
        send(post("/entities").raw_body("application/json", "{\"id\": \"urn:ngsi-ld:X:1\", "))
            .await;
    assert_problem(&reply, 400, "InvalidRequest");
}

/// Clause 5.5.4: a body that is valid JSON but not a JSON object cannot be an entity. The
/// spec's wording would allow BadRequestData; the official ETSI conformance suite expects
/// InvalidRequest for it, which Rigel follows.
#[tokio::test]
async fn json_array_body_is_400_invalid_request() {
    let id = unique_id("create-array");
    let reply = send(post("/entities").json(&json!([{"id": id, "type": "Vehicle"}]))).await;
    assert_problem(&reply, 400, "InvalidRequest");
}

/// Clause 5.5.4: `"urn:ngsi-ld:null"` as a first-level member value outside update and
/// merge fragments is BadRequestData.
#[tokio::test]
async fn ngsi_ld_null_as_a_member_value_on_create_is_400_bad_request_data() {
    let id = unique_id("create-null-member");
    let reply = send(
        post("/entities").json(&json!({"id": id, "type": "Vehicle", "speed": "urn:ngsi-ld:null"})),
    )
    .await;
    assert_problem(&reply, 400, "BadRequestData");
}

/// Clause 5.5.4: `"urn:ngsi-ld:null"` as the `value` of a Property outside update and
/// merge fragments is BadRequestData.
#[tokio::test]
async fn ngsi_ld_null_as_a_property_value_on_create_is_400_bad_request_data() {
    let id = unique_id("create-null-value");
    let entity = json!({"id": id, "type": "Vehicle", "speed": {"type": "Property", "value": "urn:ngsi-ld:null"}});
    let reply = send(post("/entities").json(&entity)).await;
    assert_problem(&reply, 400, "BadRequestData");
}

/// Clause 4.6.2: names outside the name grammar should be rejected with BadRequestData.
#[tokio::test]
async fn invalid_attribute_name_is_400_bad_request_data() {
    let id = unique_id("create-bad-name");
    let entity =
        json!({"id": id, "type": "Vehicle", "bad name!": {"type": "Property", "value": 1}});
    let reply = send(post("/entities").json(&entity)).await;
    assert_problem(&reply, 400, "BadRequestData");
}

/// Clause 4.5.1: core terms for non-reified properties (`instanceId`, `datasetId`, ...) shall
/// not be used as attribute names; such a payload is BadRequestData (5.5.4).
#[tokio::test]
async fn core_non_reified_term_as_attribute_name_is_400_bad_request_data() {
    let id = unique_id("create-reserved-name");
    let entity =
        json!({"id": id, "type": "Vehicle", "instanceId": {"type": "Property", "value": "x"}});
    let reply = send(post("/entities").json(&entity)).await;
    assert_problem(&reply, 400, "BadRequestData");
}

/// Clauses 4.5.1 and 5.5.7: attributes shall not embed a @context; it should be BadRequestData.
#[tokio::test]
async fn embedded_context_in_an_attribute_is_400_bad_request_data() {
    let id = unique_id("create-embedded-context");
    let entity = json!({
        "id": id,
        "type": "Vehicle",
        "speed": {"type": "Property", "value": 1, "@context": {"value": "https://example.org/hijack"}},
        "@context": [CORE_CONTEXT]
    });
    let reply = send(post("/entities").ld_json(&entity)).await;
    assert_problem(&reply, 400, "BadRequestData");
}

/// Clause 4.4: `@id` and `@type` may be used instead of `id` and `type` in requests; responses
/// use only `id` and `type`.
#[tokio::test]
async fn at_id_and_at_type_are_accepted_and_rendered_as_id_and_type() {
    let id = unique_id("create-at-id");
    create(
        &json!({"@id": id, "@type": "Vehicle", "brandName": {"type": "Property", "value": "Seat"}}),
    )
    .await;
    let entity = retrieve(&id, "").await;
    assert_eq!(entity["id"], json!(id));
    assert_eq!(entity["type"], json!("Vehicle"));
    assert!(
        entity.get("@id").is_none() && entity.get("@type").is_none(),
        "{entity}"
    );
}

/// Clause 4.5.1: an entity may have several types, kept as an unordered array.
#[tokio::test]
async fn an_entity_can_have_several_types() {
    let id = unique_id("create-types");
    create(&json!({"id": id, "type": ["Vehicle", "Car"]})).await;
    let entity = retrieve(&id, "").await;
    let mut types: Vec<String> =
        serde_json::from_value(entity["type"].clone()).expect("type is an array");
    types.sort();
    assert_eq!(types, ["Car", "Vehicle"]);
}

/// Clauses 4.18 and 4.5.1: `scope` is kept; several scopes are a JSON array.
#[tokio::test]
async fn scope_round_trips() {
    let one = unique_id("create-scope-one");
    create(&json!({"id": one, "type": "Vehicle", "scope": "/Madrid/Gardens/ParqueNorte"})).await;
    assert_eq!(
        retrieve(&one, "").await["scope"],
        json!("/Madrid/Gardens/ParqueNorte")
    );

    let two = unique_id("create-scope-two");
    create(&json!({"id": two, "type": "Vehicle", "scope": ["/CompanyA/UnitC", "/Madrid"]})).await;
    let mut scopes: Vec<String> =
        serde_json::from_value(retrieve(&two, "").await["scope"].clone()).expect("array");
    scopes.sort();
    assert_eq!(scopes, ["/CompanyA/UnitC", "/Madrid"]);
}

/// Clauses 4.18 and 5.5.4: a scope outside the Scope grammar is BadRequestData.
#[tokio::test]
async fn invalid_scope_is_400_bad_request_data() {
    let id = unique_id("create-bad-scope");
    let reply = send(
        post("/entities").json(&json!({"id": id, "type": "Vehicle", "scope": "/Madrid Gardens"})),
    )
    .await;
    assert_problem(&reply, 400, "BadRequestData");
}
