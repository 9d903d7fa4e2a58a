//! @context management (clauses 5.13, 6.29, 6.30): Add, List, Serve, Delete and Reload of
//! Hosted and Cached @contexts, using a hosted @context by URL, and the errors.

use serde_json::{json, Value};

use crate::harness::*;

const VOCAB: &str = "https://example.org/hosted/";

/// A context document with terms unique to one test, so that parallel tests do not meet.
fn document(test: &str) -> Value {
    json!({"@context": {
        "Car": format!("{VOCAB}{test}/Car"),
        "speed": format!("{VOCAB}{test}/speed")
    }})
}

/// Percent-encodes everything but unreserved characters, as a path segment.
fn encode(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Adds `body` as a hosted @context; returns the `Location` path.
async fn add(body: &Value) -> String {
    let reply = send(post("/jsonldContexts").json(body))
        .await
        .expect_status(201);
    assert!(reply.body.is_empty(), "no body: {}", reply.body);
    reply.header("location").expect("a Location").to_owned()
}

/// The local id at the end of a `Location` path.
fn local_id(location: &str) -> &str {
    location.rsplit('/').next().unwrap_or(location)
}

async fn details(id: &str) -> Value {
    send(get(&format!("/jsonldContexts/{}?details=true", encode(id))))
        .await
        .expect_status(200)
        .json()
}

async fn list(query: &str) -> Vec<Value> {
    let reply = send(get(&format!("/jsonldContexts{query}")))
        .await
        .expect_status(200);
    assert_eq!(reply.media_type(), "application/json");
    reply.json().as_array().cloned().expect("a JSON array")
}

/// Clauses 5.13.2, 6.29.3.1: Add @context answers 201 with the relative path of the stored
/// @context in `Location` and no body; a local id is a URI.
#[tokio::test]
async fn adding_a_context_returns_201_with_its_relative_location() {
    let location = add(&document("add")).await;
    let prefix = format!(
        "{}/jsonldContexts/",
        entity_path("").trim_end_matches("/entities/")
    );
    assert!(location.starts_with(&prefix), "{location}");
    assert!(local_id(&location).contains(':'), "a URI: {location}");
}

/// Clauses 5.13.2.3, 5.13.4, 6.30.3.1: a hosted @context is served as added, members outside
/// `@context` dropped, as `application/json`.
#[tokio::test]
async fn a_hosted_context_is_served_as_added() {
    let mut body = document("serve");
    body["comment"] = json!("not part of the @context");
    let location = add(&body).await;
    let reply = send(get(&format!("/jsonldContexts/{}", local_id(&location))))
        .await
        .expect_status(200);
    assert_eq!(reply.media_type(), "application/json");
    assert_eq!(reply.json(), document("serve"));
}

/// Clauses 5.13.3.5, 5.13.4: the details of a hosted @context: its URL (where it is served),
/// local id, kind, creation time and hits.
#[tokio::test]
async fn details_of_a_hosted_context_describe_it() {
    let location = add(&document("details")).await;
    let id = local_id(&location);
    let d = details(id).await;
    assert_eq!(d["localId"], json!(id), "{d}");
    assert_eq!(d["kind"], json!("Hosted"), "{d}");
    assert_eq!(d["numberOfHits"], json!(0), "{d}");
    let url = d["URL"].as_str().expect("a URL");
    assert!(url.starts_with("http") && url.ends_with(&location), "{d}");
    instant(&d["createdAt"]);
    let allowed = [
        "URL",
        "localId",
        "kind",
        "createdAt",
        "expiresAt",
        "lastUsage",
        "numberOfHits",
        "extraInfo",
    ];
    let object = d.as_object().expect("an object");
    assert!(object.keys().all(|k| allowed.contains(&k.as_str())), "{d}");
}

/// Clauses 5.13.3, 6.29.3.2: List @contexts gives URLs, or details with `details=true`,
/// filtered by `kind`; the built-in core @context is listed as Cached.
#[tokio::test]
async fn listing_filters_by_kind_and_gives_urls_or_details() {
    let location = add(&document("list")).await;
    let names = |items: &[Value], location: &str| {
        items
            .iter()
            .filter(|i| i.as_str().is_some_and(|u| u.ends_with(location)))
            .count()
    };
    assert_eq!(names(&list("").await, &location), 1);
    assert_eq!(names(&list("?kind=Hosted").await, &location), 1);
    assert_eq!(
        names(&list("?details=false&kind=Hosted").await, &location),
        1
    );
    assert_eq!(names(&list("?kind=Cached").await, &location), 0);
    assert_eq!(names(&list("?kind=ImplicitlyCreated").await, &location), 0);
    assert!(list("?kind=Cached").await.contains(&json!(CORE_CONTEXT)));

    let detailed = list("?details=true&kind=Hosted").await;
    let entry = detailed
        .iter()
        .find(|d| d["localId"] == json!(local_id(&location)))
        .expect("the added @context is listed");
    assert_eq!(entry["kind"], json!("Hosted"));
    assert!(detailed.iter().all(|d| d["kind"] == json!("Hosted")));
}

/// Clauses 5.13.3.3, 6.3.2: a `kind` that is not one of the three, or a `details` that is not
/// a boolean, is BadRequestData.
#[tokio::test]
async fn invalid_list_parameters_are_400_bad_request_data() {
    for query in [
        "?kind=other",
        "?details=other",
        "?kind=hosted",
        "?details=true&kind=x",
    ] {
        let reply = send(get(&format!("/jsonldContexts{query}"))).await;
        assert_problem(&reply, 400, "BadRequestData");
    }
}

/// Clauses 5.13.1, 5.13.4.1, 6.3.5: a hosted @context is usable by its URL, in a `Link`
/// header and in an `application/ld+json` body, or by the relative path of its `Location`;
/// each use counts as a hit.
#[tokio::test]
async fn a_hosted_context_is_usable_by_its_url() {
    let location = add(&document("use")).await;
    let url = details(local_id(&location)).await["URL"]
        .as_str()
        .expect("a URL")
        .to_owned();
    let car =
        |id: &str| json!({"id": id, "type": "Car", "speed": {"type": "Property", "value": 7}});

    let linked = unique_id("hosted-link");
    send(post("/entities").json(&car(&linked)).context_link(&url))
        .await
        .expect_status(201);
    let plain = retrieve(&linked, "").await;
    assert_eq!(plain["type"], json!(format!("{VOCAB}use/Car")), "{plain}");
    let compacted = send(get(&format!("/entities/{linked}")).context_link(&url))
        .await
        .expect_status(200)
        .json();
    assert_eq!(compacted["type"], json!("Car"), "{compacted}");
    assert_eq!(compacted["speed"]["value"], json!(7), "{compacted}");

    let inline = unique_id("hosted-body");
    let mut entity = car(&inline);
    entity["@context"] = json!([url, CORE_CONTEXT]);
    send(post("/entities").ld_json(&entity))
        .await
        .expect_status(201);
    let plain = retrieve(&inline, "").await;
    assert!(
        plain.get(format!("{VOCAB}use/speed").as_str()).is_some(),
        "{plain}"
    );

    // The relative path of `Location`, resolved against the request URL, names it too.
    let relative = unique_id("hosted-relative");
    let mut entity = car(&relative);
    entity["@context"] = json!(location);
    send(post("/entities").ld_json(&entity))
        .await
        .expect_status(201);
    let plain = retrieve(&relative, "").await;
    assert_eq!(plain["type"], json!(format!("{VOCAB}use/Car")), "{plain}");

    let d = details(local_id(&location)).await;
    assert_eq!(d["numberOfHits"], json!(4), "{d}");
    instant(&d["lastUsage"]);
}

/// Clauses 5.13.5, 6.30.3.2: deleting a hosted @context answers 204; it is then unknown.
#[tokio::test]
async fn deleting_a_hosted_context_returns_204_and_it_is_gone() {
    let location = add(&document("delete")).await;
    let path = format!("/jsonldContexts/{}", local_id(&location));
    let reply = send(delete(&path)).await.expect_status(204);
    assert!(reply.body.is_empty());
    assert_problem(&send(get(&path)).await, 404, "ResourceNotFound");
    assert_problem(&send(delete(&path)).await, 404, "ResourceNotFound");
    let all = list("").await;
    assert!(!all
        .iter()
        .any(|u| u.as_str().is_some_and(|u| u.ends_with(&location))));
}

/// Clauses 5.13.2.4, 5.5.4: a body that is not JSON, or not an object with `@context`, is
/// InvalidRequest; an invalid @context is BadRequestData.
#[tokio::test]
async fn invalid_payloads_are_400() {
    let reply = send(post("/jsonldContexts").raw_body("application/json", "{\"@context\": ")).await;
    assert_problem(&reply, 400, "InvalidRequest");
    for body in [json!({"A1": "urn:ngsi-ld:attributes:A1"}), json!(["x"])] {
        let reply = send(post("/jsonldContexts").json(&body)).await;
        assert_problem(&reply, 400, "InvalidRequest");
    }
    for context in [json!({"A1": 5}), json!(7), json!("relative.jsonld")] {
        let reply = send(post("/jsonldContexts").json(&json!({ "@context": context }))).await;
        assert_problem(&reply, 400, "BadRequestData");
    }
    let reply = send(post("/jsonldContexts").raw_body("text/plain", "{}")).await;
    assert_eq!(reply.status, 415);
}

/// Clauses 5.13.4.4, 5.13.5.4: an unknown identifier is ResourceNotFound, whether served,
/// described or deleted.
#[tokio::test]
async fn unknown_identifiers_are_404_resource_not_found() {
    for id in ["urn:ngsi-ld:jsonldContext:unknown", "1234567890123456"] {
        for query in ["", "?details=true"] {
            let reply = send(get(&format!("/jsonldContexts/{}{query}", encode(id)))).await;
            assert_problem(&reply, 404, "ResourceNotFound");
        }
        for query in ["", "?reload=false"] {
            let reply = send(delete(&format!("/jsonldContexts/{}{query}", encode(id)))).await;
            assert_problem(&reply, 404, "ResourceNotFound");
        }
    }
}

/// Clause 5.13.5.4: reload applies to Cached @contexts only; a hosted @context or an
/// identifier naming no Cached @context is BadRequestData, as is a non-boolean `reload`.
#[tokio::test]
async fn reloading_what_is_not_cached_is_400_bad_request_data() {
    let location = add(&document("reload-hosted")).await;
    let path = format!("/jsonldContexts/{}", local_id(&location));
    for query in ["?reload=true", "?reload=xxx"] {
        assert_problem(
            &send(delete(&format!("{path}{query}"))).await,
            400,
            "BadRequestData",
        );
    }
    let reply = send(delete("/jsonldContexts/wrong_id_context?reload=true")).await;
    assert_problem(&reply, 400, "BadRequestData");
    send(get(&path)).await.expect_status(200);
}

/// Clauses 4.4, 5.13.5: the core @context is built in: its details are served (by any
/// of its URLs), reloading it succeeds, deleting it is BadRequestData.
#[tokio::test]
async fn the_core_context_is_described_and_cannot_be_deleted() {
    let older = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld";
    let d = details(older).await;
    assert_eq!(d["kind"], json!("Cached"), "{d}");
    assert_eq!(d["URL"], json!(CORE_CONTEXT), "{d}");
    for query in ["", "?reload=false"] {
        let reply = send(delete(&format!("/jsonldContexts/{}{query}", encode(older)))).await;
        assert_problem(&reply, 400, "BadRequestData");
    }
    send(delete(&format!(
        "/jsonldContexts/{}?reload=true",
        encode(older)
    )))
    .await
    .expect_status(204);
    details(CORE_CONTEXT).await;
}

/// Clauses 5.13.1, 5.13.3-5.13.5: a remote @context a request used is stored as Cached under
/// its URL: described by URL or local id, not served (OperationNotSupported), reloaded, and
/// deleted, after which a request downloads it again.
#[tokio::test]
async fn a_downloaded_context_is_cached_described_reloaded_and_deleted() {
    let url = serve_context(document("cached")["@context"].clone());
    let id = unique_id("cached");
    let car = json!({"id": id, "type": "Car"});
    send(post("/entities").json(&car).context_link(&url))
        .await
        .expect_status(201);

    assert!(list("?kind=Cached").await.contains(&json!(url)));
    let d = details(&url).await;
    assert_eq!(d["kind"], json!("Cached"), "{d}");
    assert_eq!(d["URL"], json!(url), "{d}");
    instant(&d["createdAt"]);
    let by_id = details(d["localId"].as_str().expect("a local id")).await;
    assert_eq!(by_id["URL"], json!(url));

    let reply = send(get(&format!("/jsonldContexts/{}", encode(&url)))).await;
    assert_problem(&reply, 422, "OperationNotSupported");

    let path = format!("/jsonldContexts/{}", encode(&url));
    send(delete(&format!("{path}?reload=true")))
        .await
        .expect_status(204);
    assert_eq!(details(&url).await["localId"], d["localId"]);
    send(delete(&path)).await.expect_status(204);
    assert_problem(
        &send(get(&format!("{path}?details=true"))).await,
        404,
        "ResourceNotFound",
    );

    send(get(&format!("/entities/{id}")).context_link(&url))
        .await
        .expect_status(200);
    assert_eq!(details(&url).await["kind"], json!("Cached"));
}

/// A tenant's listing holds the Cached @contexts its own requests named, not the URLs
/// (query strings included) other tenants' clients fetched.
#[tokio::test]
async fn a_tenant_lists_only_the_cached_contexts_its_requests_named() {
    let url = serve_context(document("tenant-listing")["@context"].clone());
    let tenant_a = unique_tenant();
    let car = json!({"id": unique_id("tenant-listing"), "type": "Car"});
    send(
        post("/entities")
            .json(&car)
            .context_link(&url)
            .tenant(&tenant_a),
    )
    .await
    .expect_status(201);
    let listed = |tenant: String| async move {
        send(get("/jsonldContexts?kind=Cached").tenant(&tenant))
            .await
            .expect_status(200)
            .json()
    };
    let seen_by_a = listed(tenant_a.clone()).await;
    assert!(
        seen_by_a
            .as_array()
            .is_some_and(|l| l.contains(&json!(url))),
        "{seen_by_a}"
    );
    let seen_by_b = listed(unique_tenant()).await;
    assert!(!seen_by_b.to_string().contains(&url), "{seen_by_b}");
    assert!(
        !list("?kind=Cached").await.contains(&json!(url)),
        "nor the default tenant"
    );
}

/// Clauses 6.29, 6.30, 6.3.2: methods the resources do not have are 405 with `Allow`;
/// DELETE without an identifier is BadRequestData.
#[tokio::test]
async fn other_methods_are_405_and_delete_needs_an_identifier() {
    let reply = send(put("/jsonldContexts").json(&json!({}))).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET, POST"));
    let reply = send(patch("/jsonldContexts/urn:x").json(&json!({}))).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET, DELETE"));
    assert_problem(
        &send(delete("/jsonldContexts/")).await,
        400,
        "BadRequestData",
    );
}
