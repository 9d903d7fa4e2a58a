//! HTTP preconditions and response rules (clauses 6.3.2-6.3.6, 6.3.20): Accept and
//! Content-Type negotiation, @context placement, Link headers, method and parameter errors.

use serde_json::json;

use crate::harness::*;

/// Clause 6.3.4: no Accept header means `application/json` (written by hand: HTTP client
/// libraries add an Accept header of their own).
#[tokio::test]
async fn missing_accept_gives_json() {
    let id = create_sample("neg-no-accept").await;
    let reply = raw_http(
        &format!("GET {} HTTP/1.1", raw_path(&format!("/entities/{id}"))),
        "",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let media = reply.header("content-type").unwrap_or("");
    assert!(media.starts_with("application/json"), "{media}");
}

/// Clause 6.3.4: `*/*` expands to all three media types; the first of the list,
/// `application/json`, is chosen.
#[tokio::test]
async fn accept_wildcard_gives_json() {
    let id = create_sample("neg-wildcard").await;
    let reply = send(get(&format!("/entities/{id}")).accept("*/*"))
        .await
        .expect_status(200);
    assert_eq!(reply.media_type(), "application/json");
}

/// Clauses 6.3.4 and 6.3.6: `application/ld+json` gives JSON-LD with the @context in the body.
#[tokio::test]
async fn accept_ld_json_puts_the_context_in_the_body() {
    let id = create_sample("neg-ld-json").await;
    let reply = send(get(&format!("/entities/{id}")).accept("application/ld+json"))
        .await
        .expect_status(200);
    assert_eq!(reply.media_type(), "application/ld+json");
    assert!(reply.json().get("@context").is_some(), "{}", reply.body);
}

/// Clause 6.3.6: an `application/json` response carries no @context in the body but a
/// `Link` header to it (here the core @context: the request had none).
#[tokio::test]
async fn json_response_links_the_context() {
    let id = create_sample("neg-json-link").await;
    let reply = send(get(&format!("/entities/{id}")).accept("application/json"))
        .await
        .expect_status(200);
    assert_eq!(reply.media_type(), "application/json");
    assert!(reply.json().get("@context").is_none(), "{}", reply.body);
    let link = reply.header("link").expect("a Link header");
    assert!(
        link.contains(JSONLD_CONTEXT_REL) && link.contains("ngsi-ld-core-context"),
        "{link}"
    );
}

/// Clause 6.3.4: q-values weigh media ranges (RFC 7231, section 5.3.2).
#[tokio::test]
async fn accept_q_values_are_honoured() {
    let id = create_sample("neg-q").await;
    let accept = "application/json;q=0.5, application/ld+json;q=0.9";
    let reply = send(get(&format!("/entities/{id}")).accept(accept))
        .await
        .expect_status(200);
    assert_eq!(reply.media_type(), "application/ld+json");
}

/// Clause 6.3.4: an Accept header allowing no available representation is 406, and the body
/// lists the available representations.
#[tokio::test]
async fn accept_text_plain_is_406() {
    let id = create_sample("neg-406").await;
    let reply = send(get(&format!("/entities/{id}")).accept("text/plain")).await;
    assert_eq!(reply.status, 406, "{}", reply.body);
    assert!(
        reply.body.contains("application/json") && reply.body.contains("application/ld+json"),
        "the body lists the available representations: {}",
        reply.body
    );
}

/// Clause 6.3.4: a body that is neither `application/json` nor `application/ld+json` is
/// just a 415, without a body.
#[tokio::test]
async fn content_type_text_plain_is_415() {
    let id = unique_id("neg-415");
    let body = json!({"id": id, "type": "Vehicle"}).to_string();
    let reply = send(post("/entities").raw_body("text/plain", body)).await;
    assert_eq!(reply.status, 415, "{}", reply.body);
    assert!(reply.body.is_empty(), "415 has no body: {}", reply.body);
    assert_eq!(
        send(get(&format!("/entities/{id}"))).await.status,
        404,
        "nothing was created"
    );
}

/// Clause 6.3.4: a body without any Content-Type is a 415 as well.
#[tokio::test]
async fn missing_content_type_is_415() {
    let id = unique_id("neg-415-missing");
    let reply =
        send(post("/entities").body(json!({"id": id, "type": "Vehicle"}).to_string())).await;
    assert_eq!(reply.status, 415, "{}", reply.body);
    assert!(reply.body.is_empty(), "415 has no body: {}", reply.body);
}

/// Clause 6.3.4: on PATCH, `application/merge-patch+json` is accepted as `application/json`.
#[tokio::test]
async fn merge_patch_content_type_is_accepted_on_patch() {
    let id = create_sample("neg-merge-patch").await;
    let body = json!({"speed": {"type": "Property", "value": 99}}).to_string();
    send(patch(&format!("/entities/{id}")).raw_body("application/merge-patch+json", body))
        .await
        .expect_status(204);
    assert_eq!(retrieve(&id, "").await["speed"]["value"], json!(99));
}

/// Clause 6.3.4: a POST without Content-Length is just a 411, without a body.
#[tokio::test]
async fn post_without_content_length_is_411() {
    let head = format!(
        "POST {} HTTP/1.1\r\nContent-Type: application/json",
        raw_path("/entities")
    );
    let reply = raw_http(&head, "").await;
    assert_eq!(reply.status, 411, "{}\n{}", reply.head, reply.body);
    assert!(
        reply.body.trim().is_empty() || reply.body.trim() == "0",
        "411 has no body: {}",
        reply.body
    );
}

/// Clause 6.3.2: a verb the resource does not support is 405 with an `Allow` header listing
/// the allowed methods (RFC 7231, section 6.5.5).
#[tokio::test]
async fn put_on_attrs_collection_is_405_with_allow_header() {
    let id = create_sample("neg-405").await;
    let body = json!({"speed": {"type": "Property", "value": 1}});
    let reply = send(put(&format!("/entities/{id}/attrs")).json(&body)).await;
    assert_eq!(reply.status, 405, "{}", reply.body);
    let allow = reply
        .header("allow")
        .expect("an Allow header")
        .to_ascii_uppercase();
    let methods: Vec<&str> = allow.split(',').map(str::trim).collect();
    assert!(
        methods.contains(&"POST") && methods.contains(&"PATCH") && !methods.contains(&"PUT"),
        "{allow}"
    );
}

/// Clauses 6.3.3 and 6.3.6: errors are ProblemDetails in `application/json` whatever the
/// Accept header, and carry no `Link` header.
#[tokio::test]
async fn errors_are_json_problem_details_without_link_whatever_the_accept() {
    let id = unique_id("neg-error-json");
    let reply = send(get(&format!("/entities/{id}")).accept("application/ld+json")).await;
    assert_problem(&reply, 404, "ResourceNotFound");
    assert!(
        reply.header("link").is_none(),
        "errors carry no Link: {:?}",
        reply.header("link")
    );
}

/// Clause 6.3.6: responses without a body (201, 204) carry no `Link` header, and a 204 has no
/// Content-Length header.
#[tokio::test]
async fn bodiless_responses_have_no_link_and_204_no_content_length() {
    let id = unique_id("neg-bodiless");
    let created = send(post("/entities").json(&sample_entity(&id)))
        .await
        .expect_status(201);
    assert!(created.header("link").is_none(), "201 carries no Link");
    let body = json!({"speed": {"type": "Property", "value": 1}});
    let updated = send(patch(&format!("/entities/{id}/attrs")).json(&body))
        .await
        .expect_status(204);
    assert!(updated.header("link").is_none(), "204 carries no Link");
    assert!(
        updated.header("content-length").is_none(),
        "204 has no Content-Length"
    );
}

/// Clause 6.3.5: a body sent as `application/json` must not contain @context; BadRequestData.
#[tokio::test]
async fn json_body_with_context_member_is_400_bad_request_data() {
    let mut entity = sample_entity(&unique_id("neg-json-context"));
    entity["@context"] = json!(CORE_CONTEXT);
    let reply = send(post("/entities").json(&entity)).await;
    assert_problem(&reply, 400, "BadRequestData");
}

/// Clause 6.3.5: a body sent as `application/ld+json` must contain its @context.
#[tokio::test]
async fn ld_json_body_without_context_is_400_bad_request_data() {
    let reply =
        send(post("/entities").ld_json(&sample_entity(&unique_id("neg-ld-no-context")))).await;
    assert_problem(&reply, 400, "BadRequestData");
}

/// Clause 6.3.5: `application/ld+json` together with a JSON-LD Link header is BadRequestData.
#[tokio::test]
async fn ld_json_body_with_link_header_is_400_bad_request_data() {
    let mut entity = sample_entity(&unique_id("neg-ld-link"));
    entity["@context"] = json!(CORE_CONTEXT);
    let reply = send(
        post("/entities")
            .ld_json(&entity)
            .context_link(CORE_CONTEXT),
    )
    .await;
    assert_problem(&reply, 400, "BadRequestData");
}

/// Clause 6.3.20: a parameter the operation does not know is an InvalidRequest.
#[tokio::test]
async fn unknown_query_parameter_is_400_invalid_request() {
    let id = create_sample("neg-unknown-param").await;
    let reply = send(get(&format!("/entities/{id}?frobnicate=1"))).await;
    assert_problem(&reply, 400, "InvalidRequest");
}

/// Clause 6.3.20: an `options` value the operation does not support is an InvalidRequest.
#[tokio::test]
async fn unsupported_options_value_is_400_invalid_request() {
    let id = create_sample("neg-unknown-option").await;
    let reply = send(get(&format!("/entities/{id}?options=frobnicate"))).await;
    assert_problem(&reply, 400, "InvalidRequest");
}
