//! Subscription management (clauses 5.2.12, 5.8.1-5.8.5; HTTP 6.10, 6.11): create, retrieve,
//! query, update and delete subscriptions, their validation and their tenant isolation.

use serde_json::{json, Value};

use crate::harness::*;

/// A minimal valid subscription to entities of `entity_type`, notifying `endpoint`.
fn subscription(entity_type: &str, endpoint: &str) -> Value {
    json!({
        "type": "Subscription",
        "entities": [{"type": entity_type}],
        "notification": {"endpoint": {"uri": endpoint}}
    })
}

/// A subscription with an explicit, fresh id.
fn subscription_with_id(test: &str) -> (String, Value) {
    let id = format!("urn:ngsi-ld:Subscription:{test}-{}", nonce());
    let mut body = subscription(&unique_type("Sub"), "http://127.0.0.1:9/notify");
    body["id"] = json!(id);
    (id, body)
}

async fn retrieve_subscription(id: &str) -> Value {
    send(get(&format!("/subscriptions/{id}")))
        .await
        .expect_status(200)
        .json()
}

/// Clauses 5.8.1.4 and 6.10.3.1: Create Subscription answers 201 with the relative path of
/// the new subscription in `Location`; the given id is kept.
#[tokio::test]
async fn creating_a_subscription_returns_201_with_its_location() {
    let (id, body) = subscription_with_id("create");
    let reply = send(post("/subscriptions").json(&body))
        .await
        .expect_status(201);
    assert_eq!(
        reply.header("Location"),
        Some(subscription_path(&id).as_str())
    );
    let stored = retrieve_subscription(&id).await;
    assert_eq!(stored["id"], json!(id));
    assert_eq!(stored["type"], json!("Subscription"));
    assert_eq!(stored["status"], json!("active"));
}

/// Clause 5.8.1.4: without an id the broker generates a URI, which `Location` names.
#[tokio::test]
async fn a_subscription_without_id_gets_a_generated_uri() {
    let body = subscription(&unique_type("SubNoId"), "http://127.0.0.1:9/notify");
    let id = subscribe(&body).await;
    assert!(
        id.contains(':') && !id.contains('/'),
        "the generated id {id:?} is a URI usable as a path segment"
    );
    let stored = retrieve_subscription(&id).await;
    assert_eq!(stored["id"], json!(id));
}

/// Clauses 5.8.1.4 and 6.10.3.1: a second subscription with the same id is AlreadyExists
/// (409) and the first one is left as it was.
#[tokio::test]
async fn creating_a_subscription_with_a_taken_id_is_409_already_exists() {
    let (id, body) = subscription_with_id("duplicate");
    subscribe(&body).await;
    let mut other = body.clone();
    other["description"] = json!("the second one");
    let reply = send(post("/subscriptions").json(&other)).await;
    assert_problem(&reply, 409, "AlreadyExists");
    assert!(retrieve_subscription(&id)
        .await
        .get("description")
        .is_none());
}

/// Clauses 5.2.12, 5.2.14, 5.2.15 and 5.8.1.4: bodies breaking the Subscription data type
/// rules are BadRequestData (400), and nothing is created.
#[tokio::test]
async fn invalid_subscriptions_are_400_bad_request_data() {
    let endpoint = json!({"uri": "http://127.0.0.1:9/notify"});
    let ty = unique_type("SubInvalid");
    let past = date_time(std::time::SystemTime::now() - std::time::Duration::from_secs(3600));
    let cases: Vec<(&str, Value)> = vec![
        (
            "no endpoint",
            json!({"type": "Subscription", "entities": [{"type": ty}], "notification": {}}),
        ),
        (
            "no notification",
            json!({"type": "Subscription", "entities": [{"type": ty}]}),
        ),
        (
            "endpoint uri not a URI",
            json!({"type": "Subscription", "entities": [{"type": ty}],
                   "notification": {"endpoint": {"uri": "not a uri"}}}),
        ),
        (
            "wrong type",
            json!({"type": "Subscriptions", "entities": [{"type": ty}],
                   "notification": {"endpoint": endpoint}}),
        ),
        (
            "id not a URI",
            json!({"id": "not a uri", "type": "Subscription", "entities": [{"type": ty}],
                   "notification": {"endpoint": endpoint}}),
        ),
        (
            "empty entities",
            json!({"type": "Subscription", "entities": [],
                   "notification": {"endpoint": endpoint}}),
        ),
        (
            "neither entities nor watchedAttributes",
            json!({"type": "Subscription", "notification": {"endpoint": endpoint}}),
        ),
        (
            "empty watchedAttributes",
            json!({"type": "Subscription", "entities": [{"type": ty}], "watchedAttributes": [],
                   "notification": {"endpoint": endpoint}}),
        ),
        (
            "throttling with timeInterval",
            json!({"type": "Subscription", "entities": [{"type": ty}], "throttling": 5,
                   "timeInterval": 10, "notification": {"endpoint": endpoint}}),
        ),
        (
            "watchedAttributes with timeInterval",
            json!({"type": "Subscription", "entities": [{"type": ty}],
                   "watchedAttributes": ["speed"], "timeInterval": 10,
                   "notification": {"endpoint": endpoint}}),
        ),
        (
            "throttling not greater than 0",
            json!({"type": "Subscription", "entities": [{"type": ty}], "throttling": 0,
                   "notification": {"endpoint": endpoint}}),
        ),
        (
            "expiresAt in the past",
            json!({"type": "Subscription", "entities": [{"type": ty}], "expiresAt": past,
                   "notification": {"endpoint": endpoint}}),
        ),
        (
            "expiresAt not a DateTime",
            json!({"type": "Subscription", "entities": [{"type": ty}], "expiresAt": "tomorrow",
                   "notification": {"endpoint": endpoint}}),
        ),
        (
            "unknown notification trigger",
            json!({"type": "Subscription", "entities": [{"type": ty}],
                   "notificationTrigger": ["entityRenamed"],
                   "notification": {"endpoint": endpoint}}),
        ),
        (
            "unknown accept",
            json!({"type": "Subscription", "entities": [{"type": ty}],
                   "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify",
                                                 "accept": "text/plain"}}}),
        ),
        (
            "unknown format",
            json!({"type": "Subscription", "entities": [{"type": ty}],
                   "notification": {"format": "compact", "endpoint": endpoint}}),
        ),
        (
            "showChanges with keyValues",
            json!({"type": "Subscription", "entities": [{"type": ty}],
                   "notification": {"format": "keyValues", "showChanges": true,
                                    "endpoint": endpoint}}),
        ),
        (
            "invalid q",
            json!({"type": "Subscription", "entities": [{"type": ty}], "q": "speed>>(",
                   "notification": {"endpoint": endpoint}}),
        ),
        (
            "geoQ with an unknown georel",
            json!({"type": "Subscription", "entities": [{"type": ty}],
                   "geoQ": {"geometry": "Point", "coordinates": [1, 2], "georel": "nearby"},
                   "notification": {"endpoint": endpoint}}),
        ),
        (
            "geoQ with an unknown geometry",
            json!({"type": "Subscription", "entities": [{"type": ty}],
                   "geoQ": {"geometry": "Circle", "coordinates": [1, 2], "georel": "intersects"},
                   "notification": {"endpoint": endpoint}}),
        ),
        (
            "geoQ with coordinates not fitting the geometry",
            json!({"type": "Subscription", "entities": [{"type": ty}],
                   "geoQ": {"geometry": "Point", "coordinates": [[1, 2], [3]],
                            "georel": "intersects"},
                   "notification": {"endpoint": endpoint}}),
        ),
    ];
    for (case, body) in cases {
        let reply = send(post("/subscriptions").json(&body)).await;
        assert_eq!(
            reply.status, 400,
            "{case}: expected 400, got {}: {}",
            reply.status, reply.body
        );
        assert_problem(&reply, 400, "BadRequestData");
    }
    let listed = send(get("/subscriptions").query(&[("limit", "1000")]))
        .await
        .expect_status(200)
        .json();
    assert!(
        !listed.to_string().contains(&ty),
        "no invalid subscription was created: {listed}"
    );
}

/// Clauses 5.8.3 and 6.11.3.1: Retrieve Subscription gives back the members as sent, with
/// names compacted by the @context of the retrieval, `jsonldContext` defaulting to the
/// @context of the creation, and the read-only `status`.
#[tokio::test]
async fn a_retrieved_subscription_round_trips_compacted_with_the_link_context() {
    let vocab = "https://example.org/fleet/";
    let ctx = serve_context(json!({
        "Car": format!("{vocab}Car"),
        "speed": format!("{vocab}speed"),
        "brand": format!("{vocab}brand"),
    }));
    let id = format!("urn:ngsi-ld:Subscription:round-trip-{}", nonce());
    let body = json!({
        "id": id,
        "type": "Subscription",
        "subscriptionName": "fast cars",
        "description": "cars faster than 10",
        "entities": [{"type": "Car", "idPattern": "urn:ngsi-ld:Car:.*"}],
        "watchedAttributes": ["speed"],
        "notificationTrigger": ["attributeCreated", "entityDeleted"],
        "q": "speed>10",
        "throttling": 2.5,
        "notification": {
            "attributes": ["speed", "brand"],
            "format": "keyValues",
            "endpoint": {
                "uri": "http://127.0.0.1:9/notify",
                "accept": "application/ld+json",
                "receiverInfo": [{"key": "X-Token", "value": "t1"}]
            }
        }
    });
    subscribe_with(post("/subscriptions").json(&body).context_link(&ctx)).await;

    let reply = send(get(&format!("/subscriptions/{id}")).context_link(&ctx))
        .await
        .expect_status(200);
    assert_eq!(reply.media_type(), "application/json");
    let s = reply.json();
    assert_eq!(s["id"], json!(id));
    assert_eq!(s["type"], json!("Subscription"));
    assert_eq!(s["subscriptionName"], json!("fast cars"));
    assert_eq!(s["description"], json!("cars faster than 10"));
    assert_eq!(
        s["entities"],
        json!([{"type": "Car", "idPattern": "urn:ngsi-ld:Car:.*"}])
    );
    assert_eq!(s["watchedAttributes"], json!(["speed"]));
    let mut triggers: Vec<String> = serde_json::from_value(s["notificationTrigger"].clone())
        .unwrap_or_else(|e| panic!("notificationTrigger is a string array ({e}): {s}"));
    triggers.sort();
    assert_eq!(triggers, ["attributeCreated", "entityDeleted"]);
    assert_eq!(s["q"], json!("speed>10"));
    assert_eq!(s["throttling"], json!(2.5));
    assert_eq!(s["jsonldContext"], json!(ctx));
    assert_eq!(s["status"], json!("active"));
    assert!(
        s.get("isActive").is_none() || s["isActive"] == json!(true),
        "{s}"
    );
    let n = &s["notification"];
    let mut attributes: Vec<String> = serde_json::from_value(n["attributes"].clone())
        .unwrap_or_else(|e| panic!("notification.attributes is a string array ({e}): {s}"));
    attributes.sort();
    assert_eq!(attributes, ["brand", "speed"]);
    assert_eq!(n["format"], json!("keyValues"));
    assert_eq!(n["endpoint"]["uri"], json!("http://127.0.0.1:9/notify"));
    assert_eq!(n["endpoint"]["accept"], json!("application/ld+json"));
    assert_eq!(
        n["endpoint"]["receiverInfo"],
        json!([{"key": "X-Token", "value": "t1"}])
    );
    assert!(
        n.get("timesSent").is_none(),
        "nothing was sent yet, so no timesSent (clause 5.2.14.2: greater than 0): {s}"
    );

    // Without the Link the core @context applies: the user terms come back as IRIs.
    let s = retrieve_subscription(&id).await;
    assert_eq!(s["entities"][0]["type"], json!(format!("{vocab}Car")));
    assert_eq!(s["watchedAttributes"], json!([format!("{vocab}speed")]));
}

/// Clauses 5.8.3 and 6.3.6: asked for JSON-LD, the subscription carries its @context in the
/// body.
#[tokio::test]
async fn a_subscription_retrieved_as_json_ld_carries_its_context() {
    let (id, body) = subscription_with_id("as-json-ld");
    subscribe(&body).await;
    let reply = send(get(&format!("/subscriptions/{id}")).accept("application/ld+json"))
        .await
        .expect_status(200);
    assert_eq!(reply.media_type(), "application/ld+json");
    let s = reply.json();
    assert!(s.get("@context").is_some(), "{s}");
    assert_eq!(s["id"], json!(id));
}

/// Clause 5.2.12 (Table 5.2.12-2) and 5.2.14.2: read-only members sent by a client are
/// ignored.
#[tokio::test]
async fn read_only_members_sent_on_creation_are_ignored() {
    let (id, mut body) = subscription_with_id("read-only");
    body["status"] = json!("expired");
    body["notification"]["timesSent"] = json!(12);
    body["notification"]["status"] = json!("failed");
    subscribe(&body).await;
    let s = retrieve_subscription(&id).await;
    assert_eq!(s["status"], json!("active"));
    assert!(s["notification"].get("timesSent").is_none(), "{s}");
    assert!(s["notification"].get("status").is_none(), "{s}");
}

/// Clauses 5.8.1.4 and 6.11.3.1: an unknown subscription is ResourceNotFound (404); an id
/// that is not a URI is BadRequestData (400).
#[tokio::test]
async fn retrieving_an_unknown_subscription_is_404() {
    let unknown = format!("urn:ngsi-ld:Subscription:unknown-{}", nonce());
    let reply = send(get(&format!("/subscriptions/{unknown}"))).await;
    assert_problem(&reply, 404, "ResourceNotFound");
    let reply = send(get("/subscriptions/not-a-uri")).await;
    assert_problem(&reply, 400, "BadRequestData");
}

/// Clauses 5.8.4, 5.5.9, 6.3.10 and 6.3.13: Query Subscriptions pages with limit and offset,
/// counts with count=true, and links the next page.
#[tokio::test]
async fn querying_subscriptions_pages_and_counts() {
    let tenant = unique_tenant();
    let mut ids = Vec::new();
    for n in 0..3 {
        let id = format!("urn:ngsi-ld:Subscription:page-{}-{n}", nonce());
        let mut body = subscription(&unique_type("SubPage"), "http://127.0.0.1:9/notify");
        body["id"] = json!(id);
        subscribe_with(post("/subscriptions").json(&body).tenant(&tenant)).await;
        ids.push(id);
    }
    let ids_of = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("an array: {v}"))
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };

    let first = send(
        get("/subscriptions")
            .query(&[("limit", "2"), ("count", "true")])
            .tenant(&tenant),
    )
    .await
    .expect_status(200);
    assert_eq!(first.header("NGSILD-Results-Count"), Some("3"));
    let first_ids = ids_of(&first.json());
    assert_eq!(first_ids.len(), 2, "{}", first.body);
    let links = first.headers_all("Link");
    assert!(
        links
            .iter()
            .any(|l| l.contains("rel=\"next\"") && l.contains("offset=2")),
        "a next link: {links:?}"
    );

    let second = send(
        get("/subscriptions")
            .query(&[("limit", "2"), ("offset", "2")])
            .tenant(&tenant),
    )
    .await
    .expect_status(200);
    let second_ids = ids_of(&second.json());
    assert_eq!(second_ids.len(), 1, "{}", second.body);
    assert!(
        !second
            .headers_all("Link")
            .iter()
            .any(|l| l.contains("rel=\"next\"")),
        "no next link on the last page"
    );
    let mut all: Vec<String> = first_ids.into_iter().chain(second_ids).collect();
    all.sort();
    ids.sort();
    assert_eq!(all, ids);

    let counted = send(
        get("/subscriptions")
            .query(&[("limit", "0"), ("count", "true")])
            .tenant(&tenant),
    )
    .await
    .expect_status(200);
    assert_eq!(counted.json(), json!([]));
    assert_eq!(counted.header("NGSILD-Results-Count"), Some("3"));
}

/// Clauses 5.8.2.4 and 5.5.8: Update Subscription (204) replaces the members it gives and
/// keeps the others.
#[tokio::test]
async fn updating_a_subscription_merges_the_fragment() {
    let (id, mut body) = subscription_with_id("update");
    body["q"] = json!("speed>10");
    body["description"] = json!("kept");
    subscribe(&body).await;
    let before = retrieve_subscription(&id).await;

    send(patch(&format!("/subscriptions/{id}")).json(&json!({
        "q": "speed>20",
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/other"}, "format": "concise"}
    })))
    .await
    .expect_status(204);
    let after = retrieve_subscription(&id).await;
    assert_eq!(after["q"], json!("speed>20"));
    assert_eq!(after["description"], json!("kept"));
    assert_eq!(after["entities"], before["entities"]);
    assert_eq!(
        after["notification"]["endpoint"]["uri"],
        json!("http://127.0.0.1:9/other")
    );
    assert_eq!(after["notification"]["format"], json!("concise"));
}

/// Clause 5.8.2.4: isActive false pauses the subscription, true makes it active again.
#[tokio::test]
async fn updating_is_active_pauses_and_resumes_a_subscription() {
    let (id, body) = subscription_with_id("pause");
    subscribe(&body).await;
    send(patch(&format!("/subscriptions/{id}")).json(&json!({"isActive": false})))
        .await
        .expect_status(204);
    let s = retrieve_subscription(&id).await;
    assert_eq!(s["status"], json!("paused"));
    assert_eq!(s["isActive"], json!(false));

    send(patch(&format!("/subscriptions/{id}")).json(&json!({"isActive": true})))
        .await
        .expect_status(204);
    let s = retrieve_subscription(&id).await;
    assert_eq!(s["status"], json!("active"));
}

/// Clause 5.8.1.4: a subscription created with isActive false starts paused.
#[tokio::test]
async fn a_subscription_created_inactive_is_paused() {
    let (id, mut body) = subscription_with_id("created-paused");
    body["isActive"] = json!(false);
    subscribe(&body).await;
    assert_eq!(retrieve_subscription(&id).await["status"], json!("paused"));
}

/// Clause 5.8.2.4: a fragment with expiresAt in the past, or breaking the data type rules,
/// is BadRequestData and changes nothing.
#[tokio::test]
async fn invalid_subscription_updates_are_400() {
    let (id, body) = subscription_with_id("update-invalid");
    subscribe(&body).await;
    let past = date_time(std::time::SystemTime::now() - std::time::Duration::from_secs(60));
    for fragment in [
        json!({"expiresAt": past}),
        json!({"notificationTrigger": ["sometimes"]}),
        json!({"timeInterval": 5, "watchedAttributes": ["speed"]}),
        json!({"q": "speed>>("}),
    ] {
        let reply = send(patch(&format!("/subscriptions/{id}")).json(&fragment)).await;
        assert_problem(&reply, 400, "BadRequestData");
    }
    let s = retrieve_subscription(&id).await;
    assert!(s.get("expiresAt").is_none() && s.get("q").is_none(), "{s}");
}

/// Clauses 5.8.2.4 and 6.11.3.2: updating an unknown subscription is ResourceNotFound (404).
#[tokio::test]
async fn updating_an_unknown_subscription_is_404() {
    let unknown = format!("urn:ngsi-ld:Subscription:unknown-{}", nonce());
    let reply = send(patch(&format!("/subscriptions/{unknown}")).json(&json!({"q": "a>1"}))).await;
    assert_problem(&reply, 404, "ResourceNotFound");
}

/// Clauses 5.8.5 and 6.11.3.3: Delete Subscription answers 204; the subscription is gone, and
/// deleting it again is ResourceNotFound.
#[tokio::test]
async fn deleting_a_subscription_returns_204_then_404() {
    let (id, body) = subscription_with_id("delete");
    subscribe(&body).await;
    send(delete(&format!("/subscriptions/{id}")))
        .await
        .expect_status(204);
    let reply = send(get(&format!("/subscriptions/{id}"))).await;
    assert_problem(&reply, 404, "ResourceNotFound");
    let reply = send(delete(&format!("/subscriptions/{id}"))).await;
    assert_problem(&reply, 404, "ResourceNotFound");
}

/// Clauses 4.14, 5.5.10 and 6.3.14: a subscription lives in the tenant it was created in;
/// other tenants can neither see, update nor delete it.
#[tokio::test]
async fn subscriptions_are_isolated_per_tenant() {
    let tenant = unique_tenant();
    let (id, body) = subscription_with_id("tenant");
    subscribe_with(post("/subscriptions").json(&body).tenant(&tenant)).await;

    let in_tenant = send(get(&format!("/subscriptions/{id}")).tenant(&tenant))
        .await
        .expect_status(200)
        .json();
    assert_eq!(in_tenant["id"], json!(id));
    let listed = send(get("/subscriptions").tenant(&tenant))
        .await
        .expect_status(200)
        .json();
    assert!(listed.to_string().contains(&id), "{listed}");

    let reply = send(get(&format!("/subscriptions/{id}"))).await;
    assert_problem(&reply, 404, "ResourceNotFound");
    let reply =
        send(patch(&format!("/subscriptions/{id}")).json(&json!({"isActive": false}))).await;
    assert_problem(&reply, 404, "ResourceNotFound");
    let reply = send(delete(&format!("/subscriptions/{id}"))).await;
    assert_problem(&reply, 404, "ResourceNotFound");
    let listed = send(get("/subscriptions").query(&[("limit", "1000")]))
        .await
        .expect_status(200)
        .json();
    assert!(!listed.to_string().contains(&id), "{listed}");

    let still = send(get(&format!("/subscriptions/{id}")).tenant(&tenant))
        .await
        .expect_status(200)
        .json();
    assert_eq!(still["status"], json!("active"));
}

/// Clauses 5.5.10 and 6.3.14: querying subscriptions of a tenant that does not exist is
/// NonexistentTenant (404).
#[tokio::test]
async fn querying_subscriptions_of_an_unknown_tenant_is_404() {
    let reply = send(get("/subscriptions").tenant(&unique_tenant())).await;
    assert_problem(&reply, 404, "NonexistentTenant");
}

/// Clauses 5.8.1.4 and 6.3.2: a jsonldContext that cannot be retrieved is
/// LdContextNotAvailable (504); one that is not a valid @context is BadRequestData.
#[tokio::test]
async fn an_unusable_jsonld_context_is_rejected() {
    let mut body = subscription(&unique_type("SubCtx"), "http://127.0.0.1:9/notify");
    body["jsonldContext"] = json!(closed_port_url());
    let reply = send(post("/subscriptions").json(&body)).await;
    assert_problem(&reply, 504, "LdContextNotAvailable");

    body["jsonldContext"] = json!(serve_document("not json at all".to_owned()));
    let reply = send(post("/subscriptions").json(&body)).await;
    assert_problem(&reply, 400, "BadRequestData");
}
