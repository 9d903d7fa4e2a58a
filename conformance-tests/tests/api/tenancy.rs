//! Multi-tenancy (clauses 4.14, 5.5.10, 6.3.14): isolation, implicit creation, the
//! `NGSILD-Tenant` header and its `Fiware-Service` synonym.

use serde_json::json;

use crate::harness::*;

/// Clauses 5.5.10 and 6.3.14: reading from a tenant that does not exist is NonexistentTenant.
#[tokio::test]
async fn unknown_tenant_read_is_404_nonexistent_tenant() {
    let id = create_sample("tenant-unknown-read").await;
    let reply = send(get(&format!("/entities/{id}")).tenant(&unique_tenant())).await;
    assert_problem(&reply, 404, "NonexistentTenant");
}

/// Clause 5.5.10: updating or deleting in a tenant that does not exist is NonexistentTenant.
#[tokio::test]
async fn unknown_tenant_writes_are_404_nonexistent_tenant() {
    let id = create_sample("tenant-unknown-write").await;
    let tenant = unique_tenant();
    let body = json!({"speed": {"type": "Property", "value": 1}});
    let reply = send(
        patch(&format!("/entities/{id}/attrs"))
            .json(&body)
            .tenant(&tenant),
    )
    .await;
    assert_problem(&reply, 404, "NonexistentTenant");
    let reply = send(delete(&format!("/entities/{id}")).tenant(&tenant)).await;
    assert_problem(&reply, 404, "NonexistentTenant");
}

/// Clauses 4.14 and 5.5.10: Create Entity implicitly creates its tenant, and entities of one
/// tenant are invisible to the others, the default tenant included.
#[tokio::test]
async fn tenants_do_not_see_each_others_entities() {
    let (a, b) = (unique_tenant(), unique_tenant());
    let id = unique_id("tenant-isolation");
    let mut in_a = sample_entity(&id);
    in_a["speed"]["value"] = json!(1);
    let mut in_b = sample_entity(&id);
    in_b["speed"]["value"] = json!(2);
    send(post("/entities").json(&in_a).tenant(&a))
        .await
        .expect_status(201);
    send(post("/entities").json(&in_b).tenant(&b))
        .await
        .expect_status(201);

    let from_a = send(get(&format!("/entities/{id}")).tenant(&a))
        .await
        .expect_status(200)
        .json();
    let from_b = send(get(&format!("/entities/{id}")).tenant(&b))
        .await
        .expect_status(200)
        .json();
    assert_eq!(from_a["speed"]["value"], json!(1));
    assert_eq!(from_b["speed"]["value"], json!(2));
    assert_gone(&id).await;

    send(delete(&format!("/entities/{id}")).tenant(&a))
        .await
        .expect_status(204);
    assert_eq!(
        send(get(&format!("/entities/{id}")).tenant(&b))
            .await
            .status,
        200,
        "B keeps its entity"
    );
}

/// Clause 6.3.14: a request with `NGSILD-Tenant` gets the header back in its response.
#[tokio::test]
async fn the_tenant_header_is_echoed_in_responses() {
    let tenant = unique_tenant();
    let id = unique_id("tenant-echo");
    let created = send(post("/entities").json(&sample_entity(&id)).tenant(&tenant))
        .await
        .expect_status(201);
    assert_eq!(created.header("ngsild-tenant"), Some(tenant.as_str()));
    let read = send(get(&format!("/entities/{id}")).tenant(&tenant))
        .await
        .expect_status(200);
    assert_eq!(read.header("ngsild-tenant"), Some(tenant.as_str()));
}

/// Rigel extension for FIWARE clients (not in the spec; tenancy per clause 6.3.14):
/// `Fiware-Service` names the same tenant as `NGSILD-Tenant`.
#[tokio::test]
async fn fiware_service_is_a_synonym_of_ngsild_tenant() {
    let tenant = unique_tenant();
    let id = unique_id("tenant-fiware");
    send(
        post("/entities")
            .json(&sample_entity(&id))
            .header("Fiware-Service", &tenant),
    )
    .await
    .expect_status(201);
    send(get(&format!("/entities/{id}")).tenant(&tenant))
        .await
        .expect_status(200);
    assert_gone(&id).await;
}

/// Rigel extension (not in the spec): `NGSILD-Tenant` and `Fiware-Service` naming different
/// tenants is BadRequestData.
#[tokio::test]
async fn different_ngsild_tenant_and_fiware_service_is_400() {
    let id = unique_id("tenant-conflict");
    let reply = send(
        post("/entities")
            .json(&sample_entity(&id))
            .tenant(&unique_tenant())
            .header("Fiware-Service", unique_tenant()),
    )
    .await;
    assert_problem(&reply, 400, "BadRequestData");
}
