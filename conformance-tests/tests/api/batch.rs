//! Batch entity operations (clauses 5.6.7-5.6.10, 5.6.20, 5.5.11; HTTP 6.14-6.17, 6.31):
//! `POST /entityOperations/{create,upsert,update,delete,merge}` and BatchOperationResult (5.2.16).

use serde_json::{json, Value};

use crate::harness::*;

const OPERATIONS: [&str; 5] = ["create", "upsert", "update", "delete", "merge"];

fn batch(operation: &str) -> String {
    format!("/entityOperations/{operation}")
}

async fn post_batch(operation: &str, body: &Value) -> Reply {
    send(post(&batch(operation)).json(body)).await
}

/// A Vehicle with one speed value.
fn vehicle(id: &str, speed: i64) -> Value {
    json!({"id": id, "type": "Vehicle", "speed": {"type": "Property", "value": speed}})
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|_| unique_id(prefix)).collect()
}

/// The ids of `success` and, for each error, its entity id and the ProblemDetails type, of a
/// 207 BatchOperationResult (clauses 5.2.16, 5.2.17).
#[track_caller]
fn multi_status(reply: &Reply) -> (Vec<String>, Vec<(String, String)>) {
    assert_eq!(reply.status, 207, "unexpected status; body: {}", reply.body);
    assert_eq!(reply.media_type(), "application/json");
    let body = reply.json();
    let success = body["success"]
        .as_array()
        .unwrap_or_else(|| panic!("no success array: {body}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array: {body}"))
        .iter()
        .map(|e| {
            let problem = &e["error"];
            assert!(
                problem["title"].is_string() && problem["detail"].is_string(),
                "each error is a ProblemDetails: {e}"
            );
            let kind = problem["type"].as_str().unwrap();
            (
                e["entityId"].as_str().unwrap().to_owned(),
                kind.strip_prefix(ERRORS).unwrap_or(kind).to_owned(),
            )
        })
        .collect();
    (success, errors)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn speed(id: &str) -> Value {
    retrieve(id, "").await["speed"]["value"].clone()
}

/// Clauses 5.6.7.4 and 6.14.3.1: when every entity is created the answer is 201 with the array
/// of their ids, and each can be retrieved.
#[tokio::test]
async fn batch_create_returns_201_with_the_created_ids() {
    let ids = ids("batch-create", 3);
    let body: Vec<Value> = ids.iter().map(|id| sample_entity(id)).collect();
    let reply = post_batch("create", &json!(body)).await.expect_status(201);
    let created: Vec<String> = serde_json::from_value(reply.json()).unwrap();
    assert_eq!(sorted(created), sorted(ids.clone()));
    assert_same_entity(&retrieve(&ids[1], "").await, &sample_entity(&ids[1]));
}

/// Clauses 5.6.7.4 and 6.14.3.1: an entity that exists already is an AlreadyExists error of a
/// 207 BatchOperationResult; the others are created.
#[tokio::test]
async fn batch_create_with_an_existing_entity_is_207_with_its_error() {
    let existing = create_sample("batch-create-existing").await;
    let new = unique_id("batch-create-new");
    let reply = post_batch("create", &json!([vehicle(&new, 1), vehicle(&existing, 2)])).await;
    let (success, errors) = multi_status(&reply);
    assert_eq!(success, [new.as_str()]);
    assert_eq!(errors, [(existing.clone(), "AlreadyExists".to_owned())]);
    assert_eq!(speed(&new).await, json!(1));
    assert_eq!(speed(&existing).await, json!(80), "left as it was");
}

/// Clause 5.6.7.5: when no entity could be created the answer is still 207, `success` empty.
#[tokio::test]
async fn batch_create_where_every_entity_fails_is_207_with_no_success() {
    let existing = create_sample("batch-create-all-fail").await;
    let reply = post_batch("create", &json!([vehicle(&existing, 2)])).await;
    let (success, errors) = multi_status(&reply);
    assert!(success.is_empty());
    assert_eq!(errors, [(existing, "AlreadyExists".to_owned())]);
}

/// Clause 5.5.11.1: the first occurrence of an id creates the entity, the later ones are
/// AlreadyExists errors.
#[tokio::test]
async fn batch_create_with_the_same_id_twice_creates_the_first_occurrence() {
    let [a, b] = [
        unique_id("batch-create-dup-a"),
        unique_id("batch-create-dup-b"),
    ];
    let reply = post_batch(
        "create",
        &json!([vehicle(&a, 1), vehicle(&b, 2), vehicle(&a, 3)]),
    )
    .await;
    let (success, errors) = multi_status(&reply);
    assert_eq!(sorted(success), sorted(vec![a.clone(), b.clone()]));
    assert_eq!(errors, [(a.clone(), "AlreadyExists".to_owned())]);
    assert_eq!(speed(&a).await, json!(1));
}

/// Clauses 5.5.4 and 5.6.7.4: an invalid entity is a BadRequestData error of its own; the
/// valid ones are created.
#[tokio::test]
async fn batch_create_reports_an_invalid_entity_and_creates_the_others() {
    let [good, untyped, bad_attr] = [
        unique_id("batch-invalid-good"),
        unique_id("batch-invalid-untyped"),
        unique_id("batch-invalid-attr"),
    ];
    let body = json!([
        vehicle(&good, 1),
        {"id": untyped, "speed": {"type": "Property", "value": 1}},
        {"id": bad_attr, "type": "Vehicle", "speed": {"type": "Property"}},
    ]);
    let (success, errors) = multi_status(&post_batch("create", &body).await);
    assert_eq!(success, [good.as_str()]);
    assert_eq!(
        sorted(errors.iter().map(|(id, _)| id.clone()).collect()),
        sorted(vec![untyped.clone(), bad_attr.clone()])
    );
    assert!(errors.iter().all(|(_, kind)| kind == "BadRequestData"));
    assert_gone(&untyped).await;
    assert_gone(&bad_attr).await;
}

/// Clauses 5.6.7.4-5.6.10.4 and 5.5.4: a body that is not a non-empty array of non-null items
/// is a BadRequestData of the whole request; one that is not JSON an InvalidRequest.
#[tokio::test]
async fn batch_bodies_that_are_not_non_empty_arrays_are_400() {
    for operation in OPERATIONS {
        for body in [
            json!([]),
            json!({"id": "urn:a:b", "type": "T"}),
            json!([null]),
        ] {
            let reply = post_batch(operation, &body).await;
            assert_problem(&reply, 400, "BadRequestData");
        }
        let reply = send(post(&batch(operation)).raw_body("application/json", "[{\"id\": ")).await;
        assert_problem(&reply, 400, "InvalidRequest");
    }
}

/// Clause 5.2.17: every error names its entity, so an item without a valid id makes the whole
/// request a BadRequestData.
#[tokio::test]
async fn batch_items_without_an_entity_id_are_400() {
    for (operation, item) in [
        ("create", json!({"type": "Vehicle"})),
        ("upsert", json!({"id": "not a uri", "type": "Vehicle"})),
        ("merge", json!("urn:ngsi-ld:Vehicle:1")),
        ("delete", json!("not a uri")),
        ("delete", json!({"id": "urn:ngsi-ld:Vehicle:1"})),
    ] {
        let reply = post_batch(operation, &json!([item])).await;
        assert_problem(&reply, 400, "BadRequestData");
    }
}

/// Clause 6.3.5: with `application/ld+json` each entity carries its own @context, so two
/// entities of one batch can map the same term to different attributes.
#[tokio::test]
async fn ld_json_batch_entities_each_use_their_own_context() {
    let ctx_a = serve_context(json!({"speed": "https://a.example.org/speed"}));
    let ctx_b = serve_context(json!({"speed": "https://b.example.org/speed"}));
    let [a, b] = [unique_id("batch-ctx-a"), unique_id("batch-ctx-b")];
    let mut ea = vehicle(&a, 1);
    ea["@context"] = json!(ctx_a);
    let mut eb = vehicle(&b, 2);
    eb["@context"] = json!([ctx_b, CORE_CONTEXT]);
    send(post(&batch("create")).ld_json(&json!([ea, eb])))
        .await
        .expect_status(201);
    let got_a = retrieve(&a, "").await;
    let got_b = retrieve(&b, "").await;
    assert_eq!(got_a["https://a.example.org/speed"]["value"], json!(1));
    assert_eq!(got_b["https://b.example.org/speed"]["value"], json!(2));
}

/// Clause 6.3.5: with `application/json` the Link header's @context applies to every entity.
#[tokio::test]
async fn json_batch_entities_use_the_link_context() {
    let ctx = serve_context(json!({"speed": "https://link.example.org/speed"}));
    let id = unique_id("batch-link");
    send(
        post(&batch("upsert"))
            .json(&json!([vehicle(&id, 4)]))
            .context_link(&ctx),
    )
    .await
    .expect_status(201);
    assert_eq!(
        retrieve(&id, "").await["https://link.example.org/speed"]["value"],
        json!(4)
    );
}

/// Clause 6.3.5: an @context in an `application/json` entity, or none in an
/// `application/ld+json` one, is that entity's BadRequestData; the others go ahead.
#[tokio::test]
async fn misplaced_or_missing_entity_contexts_are_errors_of_those_entities() {
    let [good, with_ctx] = [unique_id("batch-json-ok"), unique_id("batch-json-ctx")];
    let mut bad = vehicle(&with_ctx, 1);
    bad["@context"] = json!(CORE_CONTEXT);
    let (success, errors) =
        multi_status(&post_batch("create", &json!([vehicle(&good, 1), bad])).await);
    assert_eq!(success, [good]);
    assert_eq!(errors, [(with_ctx, "BadRequestData".to_owned())]);

    let [good, without_ctx] = [unique_id("batch-ld-ok"), unique_id("batch-ld-none")];
    let mut ok = vehicle(&good, 1);
    ok["@context"] = json!(CORE_CONTEXT);
    let reply = send(post(&batch("create")).ld_json(&json!([ok, vehicle(&without_ctx, 1)]))).await;
    let (success, errors) = multi_status(&reply);
    assert_eq!(success, [good]);
    assert_eq!(errors, [(without_ctx, "BadRequestData".to_owned())]);
}

/// Clause 6.3.5: a JSON-LD Link header with an `application/ld+json` body is a BadRequestData.
#[tokio::test]
async fn ld_json_batch_with_a_link_header_is_400() {
    let mut entity = vehicle(&unique_id("batch-ld-link"), 1);
    entity["@context"] = json!(CORE_CONTEXT);
    let reply = send(
        post(&batch("create"))
            .ld_json(&json!([entity]))
            .context_link(CORE_CONTEXT),
    )
    .await;
    assert_problem(&reply, 400, "BadRequestData");
}

/// Clauses 5.6.8.4 and 6.15.3.1: upsert creates the absent entities, replaces the existing ones
/// (keeping `createdAt`), and answers 201 with the ids of the created ones only.
#[tokio::test]
async fn batch_upsert_creates_and_replaces_and_lists_only_the_created() {
    let existing = create_sample("batch-upsert-existing").await;
    let created_at = retrieve(&existing, "?options=sysAttrs").await["createdAt"].clone();
    let new = unique_id("batch-upsert-new");
    let reply = post_batch("upsert", &json!([vehicle(&new, 1), vehicle(&existing, 2)]))
        .await
        .expect_status(201);
    assert_eq!(reply.json(), json!([new]));
    let replaced = retrieve(&existing, "?options=sysAttrs").await;
    assert_eq!(replaced["speed"]["value"], json!(2));
    assert!(
        replaced.get("brandName").is_none(),
        "replace drops: {replaced}"
    );
    assert_eq!(replaced["createdAt"], created_at);
    assert_eq!(speed(&new).await, json!(1));
}

/// Clause 6.15.3.1: when every entity existed, upsert answers 204.
#[tokio::test]
async fn batch_upsert_of_existing_entities_only_is_204() {
    let [a, b] = [
        create_sample("batch-upsert-204-a").await,
        create_sample("batch-upsert-204-b").await,
    ];
    let reply = post_batch("upsert", &json!([vehicle(&a, 5), vehicle(&b, 6)]))
        .await
        .expect_status(204);
    assert!(reply.body.is_empty());
    assert_eq!((speed(&a).await, speed(&b).await), (json!(5), json!(6)));
}

/// Clauses 5.6.8.3 and 6.15.3.1: `options=update` updates existing entities: attributes absent
/// from the input stay.
#[tokio::test]
async fn batch_upsert_with_update_option_keeps_other_attributes() {
    let id = create_sample("batch-upsert-update").await;
    send(post(&format!("{}?options=update", batch("upsert"))).json(&json!([vehicle(&id, 9)])))
        .await
        .expect_status(204);
    let got = retrieve(&id, "").await;
    assert_eq!(got["speed"]["value"], json!(9));
    assert_eq!(got["brandName"]["value"], json!("Mercedes"));
}

/// Clause 6.15.3.1: `options` takes `replace` or `update`.
#[tokio::test]
async fn batch_upsert_with_an_unknown_option_is_400() {
    let reply = send(
        post(&format!("{}?options=merge", batch("upsert")))
            .json(&json!([vehicle(&unique_id("batch-upsert-opt"), 1)])),
    )
    .await;
    assert_problem(&reply, 400, "BadRequestData");
}

/// Clause 5.5.11.2: the first occurrence creates, the next replaces what it created; the id is
/// listed once.
#[tokio::test]
async fn batch_upsert_with_the_same_id_twice_keeps_the_last_state() {
    let [a, b] = [
        unique_id("batch-upsert-dup-a"),
        unique_id("batch-upsert-dup-b"),
    ];
    let reply = post_batch(
        "upsert",
        &json!([vehicle(&a, 1), vehicle(&b, 2), vehicle(&a, 3)]),
    )
    .await
    .expect_status(201);
    let created: Vec<String> = serde_json::from_value(reply.json()).unwrap();
    assert_eq!(sorted(created), sorted(vec![a.clone(), b.clone()]));
    assert_eq!(speed(&a).await, json!(3));
}

/// Clauses 5.6.9.4 and 6.16.3.1: update overwrites and appends attributes, answers 204.
#[tokio::test]
async fn batch_update_overwrites_and_appends_attributes() {
    let id = create_sample("batch-update").await;
    let fragment = json!({"id": id, "speed": {"type": "Property", "value": 1},
        "color": {"type": "Property", "value": "red"}});
    post_batch("update", &json!([fragment]))
        .await
        .expect_status(204);
    let got = retrieve(&id, "").await;
    assert_eq!(got["speed"]["value"], json!(1));
    assert_eq!(got["color"]["value"], json!("red"));
    assert_eq!(got["brandName"]["value"], json!("Mercedes"));
}

/// Clauses 5.6.9.3 and 6.16.3.1: with `noOverwrite` existing attributes are kept and new ones
/// appended; the entity is reported in the 207 errors.
#[tokio::test]
async fn batch_update_with_no_overwrite_keeps_existing_attributes() {
    let id = create_sample("batch-update-no-overwrite").await;
    let fragment = json!({"id": id, "speed": {"type": "Property", "value": 1},
        "color": {"type": "Property", "value": "red"}});
    let reply =
        send(post(&format!("{}?options=noOverwrite", batch("update"))).json(&json!([fragment])))
            .await;
    let (success, errors) = multi_status(&reply);
    assert!(success.is_empty());
    assert_eq!(errors, [(id.clone(), "AlreadyExists".to_owned())]);
    let got = retrieve(&id, "").await;
    assert_eq!(got["speed"]["value"], json!(80));
    assert_eq!(got["color"]["value"], json!("red"));
}

/// Clause 5.6.9.4: an unknown entity is a ResourceNotFound error; the others are updated.
#[tokio::test]
async fn batch_update_of_an_unknown_entity_is_207_resource_not_found() {
    let id = create_sample("batch-update-known").await;
    let unknown = unique_id("batch-update-unknown");
    let reply = post_batch("update", &json!([vehicle(&id, 3), vehicle(&unknown, 3)])).await;
    let (success, errors) = multi_status(&reply);
    assert_eq!(success, [id.as_str()]);
    assert_eq!(errors, [(unknown.clone(), "ResourceNotFound".to_owned())]);
    assert_eq!(speed(&id).await, json!(3));
    assert_gone(&unknown).await;
}

/// Clauses 5.6.9.4 and 5.5.4: Batch Update appends, so an NGSI-LD Null is that entity's
/// BadRequestData.
#[tokio::test]
async fn batch_update_with_ngsi_ld_null_is_an_error_of_that_entity() {
    let id = create_sample("batch-update-null").await;
    let fragment = json!({"id": id, "speed": {"type": "Property", "value": "urn:ngsi-ld:null"}});
    let (success, errors) = multi_status(&post_batch("update", &json!([fragment])).await);
    assert!(success.is_empty());
    assert_eq!(errors, [(id.clone(), "BadRequestData".to_owned())]);
    assert_eq!(speed(&id).await, json!(80));
}

/// Clauses 5.6.10.4 and 6.17.3.1: delete answers 204 and the entities are gone.
#[tokio::test]
async fn batch_delete_removes_the_entities() {
    let [a, b] = [
        create_sample("batch-delete-a").await,
        create_sample("batch-delete-b").await,
    ];
    let reply = post_batch("delete", &json!([a, b]))
        .await
        .expect_status(204);
    assert!(reply.body.is_empty());
    assert_gone(&a).await;
    assert_gone(&b).await;
}

/// Clause 5.5.11.4: the first occurrence deletes the entity, the later ones are
/// ResourceNotFound; unknown entities too.
#[tokio::test]
async fn batch_delete_with_the_same_id_twice_reports_the_second() {
    let id = create_sample("batch-delete-dup").await;
    let unknown = unique_id("batch-delete-unknown");
    let (success, errors) = multi_status(&post_batch("delete", &json!([id, id, unknown])).await);
    assert_eq!(success, [id.as_str()]);
    assert_eq!(
        errors,
        [
            (id.clone(), "ResourceNotFound".to_owned()),
            (unknown, "ResourceNotFound".to_owned())
        ]
    );
    assert_gone(&id).await;
}

/// Clauses 5.6.20.4 and 6.31.3.1: merge deep-merges each fragment into its entity (5.5.12),
/// NGSI-LD Null deletes, and answers 204.
#[tokio::test]
async fn batch_merge_merges_each_entity() {
    let id = create_sample("batch-merge").await;
    let fragment = json!({"id": id, "speed": {"value": 120},
        "owner": "urn:ngsi-ld:null", "color": {"type": "Property", "value": "red"}});
    post_batch("merge", &json!([fragment]))
        .await
        .expect_status(204);
    let got = retrieve(&id, "").await;
    assert_eq!(got["speed"]["value"], json!(120));
    assert_eq!(
        got["speed"]["unitCode"],
        json!("KMH"),
        "merged, not replaced"
    );
    assert!(got.get("owner").is_none(), "deleted: {got}");
    assert_eq!(got["color"]["value"], json!("red"));
}

/// Clause 5.5.11.5: merges of the same entity apply in order.
#[tokio::test]
async fn batch_merge_with_the_same_id_twice_applies_both_in_order() {
    let id = create_sample("batch-merge-dup").await;
    let body = json!([
        {"id": id, "speed": {"value": 1}, "color": {"type": "Property", "value": "red"}},
        {"id": id, "speed": {"value": 2}},
    ]);
    post_batch("merge", &body).await.expect_status(204);
    let got = retrieve(&id, "").await;
    assert_eq!(got["speed"]["value"], json!(2));
    assert_eq!(got["color"]["value"], json!("red"));
}

/// Clauses 5.6.20.4 and 4.5.0: an unknown entity is ResourceNotFound and a JSON null (not an
/// NGSI-LD value) a BadRequestData, each for its own entity.
#[tokio::test]
async fn batch_merge_reports_unknown_entities_and_json_nulls() {
    let id = create_sample("batch-merge-known").await;
    let [unknown, nulled] = [
        unique_id("batch-merge-unknown"),
        create_sample("batch-merge-null").await,
    ];
    let body = json!([
        {"id": id, "speed": {"value": 5}},
        {"id": unknown, "speed": {"value": 5}},
        {"id": nulled, "speed": {"type": "Property", "value": null}},
    ]);
    let (success, errors) = multi_status(&post_batch("merge", &body).await);
    assert_eq!(success, [id.as_str()]);
    assert_eq!(
        sorted(
            errors
                .iter()
                .map(|(id, kind)| format!("{id} {kind}"))
                .collect()
        ),
        sorted(vec![
            format!("{unknown} ResourceNotFound"),
            format!("{nulled} BadRequestData")
        ])
    );
    assert_eq!(speed(&nulled).await, json!(80));
}

/// Clauses 5.5.10 and 6.3.14: a batch create makes its tenant exist and writes only there;
/// batches that do not create report NonexistentTenant for an unknown tenant.
#[tokio::test]
async fn batches_honour_the_tenant() {
    let tenant = unique_tenant();
    let id = unique_id("batch-tenant");
    let reply = send(
        post(&batch("create"))
            .json(&json!([vehicle(&id, 1)]))
            .tenant(&tenant),
    )
    .await
    .expect_status(201);
    assert_eq!(reply.header("ngsild-tenant"), Some(tenant.as_str()));
    assert_gone(&id).await;
    let in_tenant = send(get(&format!("/entities/{id}")).tenant(&tenant))
        .await
        .expect_status(200)
        .json();
    assert_eq!(in_tenant["speed"]["value"], json!(1));

    let unknown = unique_tenant();
    for (operation, body) in [
        ("update", json!([vehicle(&id, 2)])),
        ("merge", json!([vehicle(&id, 2)])),
        ("delete", json!([id])),
    ] {
        let reply = send(post(&batch(operation)).json(&body).tenant(&unknown)).await;
        let (success, errors) = multi_status(&reply);
        assert!(success.is_empty(), "{operation}");
        assert_eq!(
            errors,
            [(id.clone(), "NonexistentTenant".to_owned())],
            "{operation}"
        );
    }
    send(post(&batch("delete")).json(&json!([id])).tenant(&tenant))
        .await
        .expect_status(204);
}

/// Clause 6.14-6.17, 6.31: the batch resources allow POST only.
#[tokio::test]
async fn batch_resources_allow_only_post() {
    for operation in OPERATIONS {
        let reply = send(get(&batch(operation))).await;
        assert_eq!(reply.status, 405, "{operation}: {}", reply.body);
        assert_eq!(reply.header("allow"), Some("POST"));
    }
}

/// A batch of 1,000 entities in one request: upserted (201, then 204), then deleted (204).
#[tokio::test]
async fn a_batch_of_a_thousand_entities_is_one_request() {
    let ids = ids("batch-thousand", 1000);
    let body: Vec<Value> = ids.iter().map(|id| sample_entity(id)).collect();
    let reply = post_batch("upsert", &json!(body)).await.expect_status(201);
    let created: Vec<String> = serde_json::from_value(reply.json()).unwrap();
    assert_eq!(created.len(), 1000);
    post_batch("upsert", &json!(body)).await.expect_status(204);
    assert_same_entity(&retrieve(&ids[999], "").await, &sample_entity(&ids[999]));
    post_batch("delete", &json!(ids)).await.expect_status(204);
    assert_gone(&ids[500]).await;
}
