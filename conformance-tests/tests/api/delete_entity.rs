//! Delete Entity (clauses 5.6.6, 6.5.3.2).

use crate::harness::*;

/// Clauses 5.6.6.4 and 6.5.3.2: deleting an entity answers 204 with no body; it is gone.
#[tokio::test]
async fn deleting_an_entity_returns_204_and_it_is_gone() {
    let id = create_sample("delete").await;
    let reply = send(delete(&format!("/entities/{id}")))
        .await
        .expect_status(204);
    assert!(reply.body.is_empty());
    assert_gone(&id).await;
}

/// Clauses 5.6.6.4 and 6.3.2: deleting an unknown entity is ResourceNotFound (404).
#[tokio::test]
async fn deleting_an_unknown_entity_is_404_resource_not_found() {
    let reply = send(delete(&format!(
        "/entities/{}",
        unique_id("delete-unknown")
    )))
    .await;
    assert_problem(&reply, 404, "ResourceNotFound");
}

/// Clause 5.6.6.4: an entity id that is not a URI is BadRequestData.
#[tokio::test]
async fn deleting_with_an_id_that_is_not_a_uri_is_400_bad_request_data() {
    let reply = send(delete("/entities/not-a-uri")).await;
    assert_problem(&reply, 400, "BadRequestData");
}

/// Clause 5.6.1.4: after deletion the id is free again; creating it anew succeeds.
#[tokio::test]
async fn a_deleted_entity_id_can_be_created_again() {
    let id = create_sample("delete-recreate").await;
    send(delete(&format!("/entities/{id}")))
        .await
        .expect_status(204);
    create(&sample_entity(&id)).await;
    assert_eq!(retrieve(&id, "").await["id"], serde_json::json!(id));
}
