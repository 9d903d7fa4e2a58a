//! Context Source Registrations (clauses 5.2.9, 5.9, 5.10, 5.12; HTTP 6.8, 6.9): register,
//! retrieve, query, update and delete, the mode rules, discovery filters, and the parameters
//! not provided yet.

use serde_json::{json, Value};

use crate::harness::*;

/// A registration of `entity_type` with the given attribute names (none: every attribute)
/// and mode.
pub fn registration(id: &str, entity_type: &str, properties: &[&str], mode: &str) -> Value {
    let mut info = json!({"entities": [{"type": entity_type}]});
    if !properties.is_empty() {
        info["propertyNames"] = json!(properties);
    }
    json!({
        "id": id,
        "type": "ContextSourceRegistration",
        "information": [info],
        "endpoint": "http://source.example.org:1026",
        "mode": mode
    })
}

fn registration_path(id: &str) -> String {
    format!("/csourceRegistrations/{id}")
}

/// Registers `body` (as `application/json`), asserting 201.
async fn register(body: &Value) -> Reply {
    send(post("/csourceRegistrations").json(body))
        .await
        .expect_status(201)
}

/// Deletes a registration, asserting 204.
async fn unregister(id: &str) {
    send(delete(&registration_path(id)))
        .await
        .expect_status(204);
}

fn csr_id(test: &str) -> String {
    format!("urn:ngsi-ld:ContextSourceRegistration:{test}-{}", nonce())
}

async fn ids_of(query: &str) -> Vec<String> {
    send(get(&format!("/csourceRegistrations?{query}")))
        .await
        .expect_status(200)
        .json()
        .as_array()
        .expect("an array")
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Clauses 5.9.2.4 and 6.8.3.1: a registration is created with 201 and its path in
/// `Location`, and reads back as written; the id is generated when none is given.
#[tokio::test]
async fn a_registration_is_created_and_reads_back_as_written() {
    let id = csr_id("create");
    let body = registration(&id, &unique_type("Csr"), &["speed"], "inclusive");
    let reply = register(&body).await;
    assert_eq!(
        reply.header("Location"),
        Some(format!("/ngsi-ld/v1/csourceRegistrations/{id}").as_str())
    );
    let read = send(get(&registration_path(&id)))
        .await
        .expect_status(200)
        .json();
    assert_eq!(read, body);

    let mut anonymous = body.clone();
    anonymous.as_object_mut().expect("object").remove("id");
    let reply = register(&anonymous).await;
    let location = reply.header("Location").expect("a Location").to_owned();
    let generated = location.rsplit('/').next().expect("an id").to_owned();
    assert!(generated.starts_with("urn:ngsi-ld:ContextSourceRegistration:"));
    unregister(&generated).await;
    unregister(&id).await;
}

/// Clause 5.9.2.4: an invalid registration is BadRequestData, a second one with the same id
/// AlreadyExists.
#[tokio::test]
async fn invalid_and_duplicate_registrations_are_refused() {
    let id = csr_id("invalid");
    let body = registration(&id, &unique_type("Csr"), &[], "inclusive");
    let mut no_endpoint = body.clone();
    no_endpoint
        .as_object_mut()
        .expect("object")
        .remove("endpoint");
    let reply = send(post("/csourceRegistrations").json(&no_endpoint)).await;
    assert_problem(&reply, 400, "BadRequestData");
    let mut bad_mode = body.clone();
    bad_mode["mode"] = json!("sometimes");
    let reply = send(post("/csourceRegistrations").json(&bad_mode)).await;
    assert_problem(&reply, 400, "BadRequestData");
    register(&body).await;
    let reply = send(post("/csourceRegistrations").json(&body)).await;
    assert_problem(&reply, 409, "AlreadyExists");
    unregister(&id).await;
}

/// Clauses 5.10.2.4 and 5.12: a query matches by type and attribute names; one without a
/// type, attributes, q or geoquery is too wide.
#[tokio::test]
async fn registrations_are_queried_by_type_and_attributes() {
    let ty = unique_type("Csr");
    let speed = csr_id("speed");
    let whole = csr_id("whole");
    register(&registration(&speed, &ty, &["speed"], "inclusive")).await;
    register(&registration(&whole, &ty, &[], "inclusive")).await;
    let mut both = vec![speed.clone(), whole.clone()];
    both.sort();
    assert_eq!(ids_of(&format!("type={ty}")).await, both);
    assert_eq!(ids_of(&format!("type={ty}&attrs=speed")).await, both);
    assert_eq!(
        ids_of(&format!("type={ty}&attrs=brand")).await,
        std::slice::from_ref(&whole)
    );
    assert_eq!(
        ids_of(&format!("type={ty}&q=brand%3D%3D%22x%22")).await,
        std::slice::from_ref(&whole)
    );
    assert!(ids_of(&format!("type={ty}Other")).await.is_empty());
    let reply = send(get(&format!(
        "/csourceRegistrations?type={ty}&count=true&limit=1"
    )))
    .await;
    assert_eq!(reply.header("NGSILD-Results-Count"), Some("2"));
    let reply = send(get("/csourceRegistrations?limit=5")).await;
    assert_problem(&reply, 400, "BadRequestData");
    let reply = send(get(&format!("/csourceRegistrations?type={ty}&pick=id"))).await;
    assert_problem(&reply, 422, "OperationNotSupported");
    for id in [speed, whole] {
        unregister(&id).await;
    }
}

/// Clause 5.10.2.4: a context source filter reads the registration's own properties.
#[tokio::test]
async fn a_context_source_filter_selects_by_the_registrations_properties() {
    let ty = unique_type("Csr");
    let city = csr_id("city");
    let region = csr_id("region");
    for (id, operator) in [(&city, "city"), (&region, "region")] {
        let mut body = registration(id, &ty, &[], "inclusive");
        body["operator"] = json!(operator);
        register(&body).await;
    }
    assert_eq!(
        ids_of(&format!("type={ty}&csf=operator%3D%3D%22city%22")).await,
        std::slice::from_ref(&city)
    );
    let reply = send(get(&format!("/csourceRegistrations?type={ty}&csf=%3D%3D"))).await;
    assert_problem(&reply, 400, "BadRequestData");
    for id in [city, region] {
        unregister(&id).await;
    }
}

/// Clause 5.10.2.4: a temporal query finds the registrations whose interval meets it, and
/// only those; a geoquery those whose location may hold a match.
#[tokio::test]
async fn discovery_filters_by_interval_and_location() {
    let ty = unique_type("Csr");
    let timed = csr_id("timed");
    let mut body = registration(&timed, &ty, &[], "inclusive");
    body["observationInterval"] =
        json!({"startAt": "2026-01-01T00:00:00Z", "endAt": "2026-02-01T00:00:00Z"});
    body["location"] = json!({"type": "Point", "coordinates": [2.35, 48.85]});
    register(&body).await;
    assert!(
        ids_of(&format!("type={ty}")).await.is_empty(),
        "no temporal query: latest only"
    );
    let between = "timerel=between&timeAt=2026-01-15T00:00:00Z&endTimeAt=2026-03-01T00:00:00Z";
    assert_eq!(
        ids_of(&format!("type={ty}&{between}")).await,
        std::slice::from_ref(&timed)
    );
    let later = "timerel=after&timeAt=2026-03-01T00:00:00Z";
    assert!(ids_of(&format!("type={ty}&{later}")).await.is_empty());
    let near = |m: u32| {
        format!(
            "type={ty}&{between}&georel=near%3BmaxDistance%3D%3D{m}&geometry=Point&coordinates=%5B2.36%2C48.85%5D"
        )
    };
    assert_eq!(ids_of(&near(2000)).await, std::slice::from_ref(&timed));
    assert!(ids_of(&near(100)).await.is_empty());
    unregister(&timed).await;
}

/// Clauses 5.9.2.4 and 4.3.6.3: an exclusive registration conflicts with another exclusive
/// one for the same entity and attributes, and with a local entity holding them.
#[tokio::test]
async fn exclusive_registrations_conflict_over_the_same_attributes() {
    let entity = create_sample("exclusive").await;
    let ty = unique_type("Csr");
    let remote = unique_id("remote");
    let registered = |id: &str, attribute: &str| {
        json!({
            "id": id,
            "type": "ContextSourceRegistration",
            "information": [{"entities": [{"type": ty, "id": remote}], "propertyNames": [attribute]}],
            "endpoint": "http://source.example.org:1026",
            "mode": "exclusive"
        })
    };
    let first = csr_id("exclusive-a");
    register(&registered(&first, "speed")).await;
    let reply = send(post("/csourceRegistrations").json(&registered(&csr_id("b"), "speed"))).await;
    assert_problem(&reply, 409, "Conflict");
    register(&registered(&csr_id("c"), "brand")).await;

    let local = read_any_attribute(&entity).await;
    let mut over_local = registered(&csr_id("local"), &local);
    over_local["information"][0]["entities"][0]["id"] = json!(entity);
    let reply = send(post("/csourceRegistrations").json(&over_local)).await;
    assert_problem(&reply, 409, "Conflict");
    unregister(&first).await;
}

/// The name of one attribute the entity holds.
async fn read_any_attribute(id: &str) -> String {
    let entity = retrieve(id, "").await;
    entity
        .as_object()
        .expect("an entity")
        .keys()
        .find(|k| !matches!(k.as_str(), "id" | "type" | "@context"))
        .expect("an attribute")
        .clone()
}

/// Clauses 5.9.3.4 and 5.9.4.4: a fragment replaces members and removes those set to null;
/// a deleted registration is gone (404), and so is an unknown one.
#[tokio::test]
async fn registrations_are_updated_and_deleted() {
    let id = csr_id("update");
    let body = registration(&id, &unique_type("Csr"), &["speed"], "inclusive");
    register(&body).await;
    send(
        patch(&registration_path(&id))
            .json(&json!({"description": "moved", "endpoint": "http://elsewhere.example.org"})),
    )
    .await
    .expect_status(204);
    let read = send(get(&registration_path(&id)))
        .await
        .expect_status(200)
        .json();
    assert_eq!(read["description"], json!("moved"));
    assert_eq!(read["endpoint"], json!("http://elsewhere.example.org"));
    send(patch(&registration_path(&id)).json(&json!({"description": null})))
        .await
        .expect_status(204);
    let read = send(get(&registration_path(&id)))
        .await
        .expect_status(200)
        .json();
    assert!(read.get("description").is_none());
    let reply = send(patch(&registration_path(&id)).json(&json!({"endpoint": null}))).await;
    assert_problem(&reply, 400, "BadRequestData");
    unregister(&id).await;
    let reply = send(get(&registration_path(&id))).await;
    assert_problem(&reply, 404, "ResourceNotFound");
    let reply = send(delete(&registration_path(&id))).await;
    assert_problem(&reply, 404, "ResourceNotFound");
}
