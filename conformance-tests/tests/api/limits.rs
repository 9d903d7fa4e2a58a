//! Request limits and robustness (clause 6.3.2 and RFC 7231 status codes), and the OpenAPI
//! document Rigel serves.

use serde_json::json;

use crate::harness::*;

/// Clause 6.3.2: a request body that is too large is "Request Entity too large" (413).
#[tokio::test]
async fn oversized_body_is_413() {
    let id = unique_id("limits-413");
    let blob = "x".repeat(16 * 1024 * 1024);
    let entity = json!({"id": id, "type": "Vehicle", "blob": {"type": "Property", "value": blob}});
    let reply = post("/entities").json(&entity).send().await;
    match reply {
        Ok(response) => assert_eq!(response.status().as_u16(), 413),
        // A server may answer 413 and close before the client has sent everything; the
        // client then sees a broken connection. The entity must not exist either way.
        Err(e) => assert!(
            e.is_request() || e.is_body(),
            "unexpected client error: {e}"
        ),
    }
    assert_gone(&id).await;
}

/// RFC 7231 section 6.5.12 (clause 6.3.2 names the standard HTTP errors as binding errors):
/// a request URI longer than the server accepts is 414.
#[tokio::test]
async fn overlong_uri_is_414() {
    let id = format!("urn:ngsi-ld:Test:{}", "a".repeat(20_000));
    let reply = send(get(&format!("/entities/{id}"))).await;
    assert_eq!(reply.status, 414, "{}", reply.body);
}

/// Clause 5.5.4: a payload nested beyond what the broker parses is rejected with a 400
/// ProblemDetails, and the broker keeps serving.
#[tokio::test]
async fn deeply_nested_json_is_400_not_a_crash() {
    let id = unique_id("limits-nesting");
    let depth = 100_000;
    let value = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let body = format!(
        r#"{{"id": "{id}", "type": "Vehicle", "deep": {{"type": "Property", "value": {value}}}}}"#
    );
    let reply = send(post("/entities").raw_body("application/json", body)).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let kind = reply.json()["type"].as_str().unwrap_or_default().to_owned();
    assert!(
        kind == format!("{ERRORS}BadRequestData") || kind == format!("{ERRORS}InvalidRequest"),
        "a ProblemDetails of BadRequestData or InvalidRequest: {}",
        reply.body
    );
    create_sample("limits-after-nesting").await;
}

/// Rigel serves the OpenAPI document of its API at `/openapi.json` (next to the API base),
/// describing the entity resources.
#[tokio::test]
async fn openapi_document_is_served() {
    let reply = send(client().get(root_url("/openapi.json")))
        .await
        .expect_status(200);
    assert_eq!(reply.media_type(), "application/json");
    let doc = reply.json();
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{doc}"
    );
    assert!(doc["info"]["title"].is_string(), "{doc}");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(
        paths.keys().any(|p| p.ends_with("/entities"))
            && paths.keys().any(|p| p.ends_with("/entities/{entityId}")),
        "the entity resources are described: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
}
