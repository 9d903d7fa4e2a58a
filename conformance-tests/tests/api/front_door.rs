//! What clients written for Orion-LD send and expect beyond the letter of the spec: trailing
//! slashes, older spellings (`options=count`, the subscription member `expires`), merge-patch
//! bodies on POST, `GET /version`, request ids, the `Fiware-Service` headers and the health
//! probes on the API port. Rigel extensions, listed in docs/conformance.md; a broker that
//! follows only the spec may fail these.

use serde_json::json;

use crate::harness::*;

/// Every route answers with a trailing slash as without one.
#[tokio::test]
async fn every_route_answers_with_a_trailing_slash() {
    let kind = unique_type("slash");
    let id = unique_id("slash");
    let entity = json!({"id": id, "type": kind, "speed": {"type": "Property", "value": 1}});
    send(post("/entities/").json(&entity))
        .await
        .expect_status(201);
    send(get(&format!("/entities/{id}/")))
        .await
        .expect_status(200);
    let body = json!({"speed": {"type": "Property", "value": 2}});
    send(patch(&format!("/entities/{id}/attrs/")).json(&body))
        .await
        .expect_status(204);
    send(patch(&format!("/entities/{id}/attrs/speed/")).json(&json!({"value": 3})))
        .await
        .expect_status(204);
    let upsert = json!([{"id": id, "type": kind, "speed": {"type": "Property", "value": 4}}]);
    send(post("/entityOperations/upsert/?options=update").json(&upsert))
        .await
        .expect_status(204);
    let found = send(get(&format!("/entities/?type={kind}")))
        .await
        .expect_status(200)
        .json();
    assert_eq!(found[0]["speed"]["value"], json!(4), "{found}");
    for path in [
        "/subscriptions/",
        "/types/",
        "/attributes/",
        "/jsonldContexts/",
    ] {
        send(get(path)).await.expect_status(200);
    }
    send(get(&format!("/types/{kind}/")))
        .await
        .expect_status(200);
    send(delete(&format!("/entities/{id}/")))
        .await
        .expect_status(204);
}

/// `options=count` is the older spelling of `count=true`, on entities and subscriptions.
#[tokio::test]
async fn options_count_asks_for_the_results_count() {
    let kind = unique_type("options-count");
    for n in 0..3 {
        let id = unique_id(&format!("options-count-{n}"));
        create(&json!({"id": id, "type": kind})).await;
    }
    let reply = send(get(&format!("/entities?type={kind}&options=count")))
        .await
        .expect_status(200);
    assert_eq!(reply.header("NGSILD-Results-Count"), Some("3"));
    let reply = send(get(&format!(
        "/entities?type={kind}&options=keyValues,count&limit=1"
    )))
    .await
    .expect_status(200);
    assert_eq!(reply.header("NGSILD-Results-Count"), Some("3"));
    assert_eq!(
        reply.json()[0]["type"],
        json!(kind),
        "keyValues still applies"
    );
    let reply = send(get("/subscriptions?options=count"))
        .await
        .expect_status(200);
    assert!(reply.header("NGSILD-Results-Count").is_some());
}

/// `application/merge-patch+json` is read as JSON wherever JSON is accepted, and media type
/// parameters such as `charset` are ignored.
#[tokio::test]
async fn merge_patch_json_and_charset_are_accepted_where_json_is() {
    let id = create_sample("merge-patch-post").await;
    let body = json!({"color": {"type": "Property", "value": "red"}}).to_string();
    send(
        post(&format!("/entities/{id}/attrs"))
            .raw_body("application/merge-patch+json", body.clone()),
    )
    .await
    .expect_status(204);
    assert_eq!(retrieve(&id, "").await["color"]["value"], json!("red"));
    let other = unique_id("charset");
    let entity = json!({"id": other, "type": "Thing"}).to_string();
    send(post("/entities").raw_body("application/json; charset=utf-8", entity))
        .await
        .expect_status(201);
    let reply = send(post("/entities").raw_body("text/plain", body)).await;
    assert_eq!(reply.status, 415, "{}", reply.body);
}

/// The older subscription members `expires` and `name` are read as `expiresAt` and
/// `subscriptionName`; an empty `notification.attributes` (as the FIWARE IoT Agent library
/// sends) means every attribute.
#[tokio::test]
async fn a_subscription_with_older_members_is_read_as_current_ones() {
    let receiver = Receiver::start();
    let body = json!({
        "type": "Subscription",
        "name": "older spelling",
        "entities": [{"type": unique_type("expires")}],
        "expires": "2099-01-01T00:00:00Z",
        "notification": {"endpoint": {"uri": receiver.url()}, "attributes": []},
    });
    let id = subscribe(&body).await;
    let sub = send(get(&format!("/subscriptions/{id}")))
        .await
        .expect_status(200)
        .json();
    assert_eq!(sub["expiresAt"], json!("2099-01-01T00:00:00.000Z"), "{sub}");
    assert_eq!(sub["subscriptionName"], json!("older spelling"), "{sub}");
    assert!(sub["notification"].get("attributes").is_none(), "{sub}");
    let mut past = body.clone();
    past["expires"] = json!("2001-01-01T00:00:00Z");
    let reply = send(post("/subscriptions").json(&past)).await;
    assert_problem(&reply, 400, "BadRequestData");
}

/// `GET /version` answers with Orion-LD's keys and Rigel's own.
#[tokio::test]
async fn version_answers_with_orion_ld_keys() {
    let reply = send(client().get(root_url("/version")))
        .await
        .expect_status(200);
    let v = reply.json();
    for key in [
        "orionld version",
        "orion version",
        "uptime",
        "git_hash",
        "compile_time",
        "release_date",
        "doc",
        "rigel version",
        "ngsi-ld version",
    ] {
        assert!(v[key].is_string(), "{key} missing in {v}");
    }
    assert_eq!(v["ngsi-ld version"], json!("1.9.1"));
    send(client().get(root_url("/version/")))
        .await
        .expect_status(200);
    let stats = send(client().get(root_url("/statistics")))
        .await
        .expect_status(200)
        .json();
    assert!(stats["uptime_in_secs"].is_u64(), "{stats}");
}

/// A client's `X-Request-Id` is echoed; a request without one gets a new one.
#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let reply = send(get("/types").header("X-Request-Id", "client-chosen-42")).await;
    assert_eq!(reply.header("X-Request-Id"), Some("client-chosen-42"));
    let first = send(get("/types")).await;
    let second = send(get("/types")).await;
    let (a, b) = (first.header("X-Request-Id"), second.header("X-Request-Id"));
    assert!(a.is_some_and(|a| a.len() >= 16), "{a:?}");
    assert_ne!(a, b, "each request gets its own id");
    let long = "x".repeat(500);
    let reply = send(get("/types").header("X-Request-Id", &long)).await;
    assert_ne!(reply.header("X-Request-Id"), Some(long.as_str()));
}

/// Orion-LD users send `Fiware-Service` and `Fiware-ServicePath`: the service is the tenant
/// and is echoed; the service path (NGSIv2's, which NGSI-LD replaced with scopes) is accepted
/// and does not partition the data.
#[tokio::test]
async fn fiware_service_headers_work_as_with_orion_ld() {
    let tenant = unique_tenant();
    let id = unique_id("fiware-service");
    let reply = send(
        post("/entities")
            .header("Fiware-Service", &tenant)
            .header("Fiware-ServicePath", "/garden")
            .json(&json!({"id": id, "type": "Thing"})),
    )
    .await
    .expect_status(201);
    assert_eq!(reply.header("Fiware-Service"), Some(tenant.as_str()));
    let reply = send(
        get(&format!("/entities/{id}"))
            .header("Fiware-Service", &tenant)
            .header("Fiware-ServicePath", "/"),
    )
    .await
    .expect_status(200);
    assert_eq!(reply.json()["id"], json!(id));
    send(get(&format!("/entities/{id}")).tenant(&tenant))
        .await
        .expect_status(200);
}

/// The health probes and metrics are also served on the API port under `/health`.
#[tokio::test]
async fn health_probes_answer_on_the_api_port() {
    let live = send(client().get(root_url("/health/live")))
        .await
        .expect_status(200);
    assert_eq!(live.json()["status"], json!("live"));
    let ready = send(client().get(root_url("/health/ready")))
        .await
        .expect_status(200);
    assert_eq!(ready.json()["status"], json!("ready"));
    let metrics = send(client().get(root_url("/health/metrics")))
        .await
        .expect_status(200);
    assert!(
        metrics.body.contains("rigel_http_requests_total"),
        "{}",
        metrics.body
    );
}
