//! @context handling (clauses 4.4, 5.5.6, 5.5.7, 6.3.5, 6.3.6): term expansion and compaction
//! with user contexts from Link headers and bodies, the built-in core context, and remote
//! context failures.

use serde_json::{json, Value};

use crate::harness::*;

const VOCAB: &str = "https://example.org/vocab/";

/// A user @context mapping `Car` and `speed` into [`VOCAB`].
fn user_context() -> Value {
    json!({"Car": format!("{VOCAB}Car"), "speed": format!("{VOCAB}speed")})
}

fn car(id: &str) -> Value {
    json!({"id": id, "type": "Car", "speed": {"type": "Property", "value": 5}})
}

/// Clauses 6.3.5 and 5.5.7: a user @context given in a `Link` header expands the terms of a
/// JSON body and compacts the response of a GET that links the same @context; without it,
/// the response shows Fully Qualified Names. The JSON response links the request's @context
/// (6.3.6).
#[tokio::test]
async fn user_context_from_link_header_compacts_response() {
    let ctx = serve_context(user_context());
    let id = unique_id("ctx-link");
    send(post("/entities").json(&car(&id)).context_link(&ctx))
        .await
        .expect_status(201);

    let plain = retrieve(&id, "").await;
    assert_eq!(plain["type"], json!(format!("{VOCAB}Car")), "{plain}");
    assert_eq!(
        plain[format!("{VOCAB}speed").as_str()]["value"],
        json!(5),
        "{plain}"
    );

    let reply = send(get(&format!("/entities/{id}")).context_link(&ctx))
        .await
        .expect_status(200);
    let compacted = reply.json();
    assert_eq!(compacted["type"], json!("Car"), "{compacted}");
    assert_eq!(compacted["speed"]["value"], json!(5), "{compacted}");
    let link = reply.header("link").expect("a Link header");
    assert!(
        link.contains(&ctx),
        "the response links the request's @context: {link}"
    );
}

/// Clauses 6.3.5 and 5.5.7: an inline @context in an `application/ld+json` body expands the
/// body's terms.
#[tokio::test]
async fn inline_context_of_an_ld_json_body_expands_terms() {
    let id = unique_id("ctx-inline");
    let mut entity = car(&id);
    entity["@context"] = json!([user_context(), CORE_CONTEXT]);
    send(post("/entities").ld_json(&entity))
        .await
        .expect_status(201);
    let plain = retrieve(&id, "").await;
    assert_eq!(plain["type"], json!(format!("{VOCAB}Car")), "{plain}");
    assert!(
        plain.get(format!("{VOCAB}speed").as_str()).is_some(),
        "{plain}"
    );
}

/// Clauses 5.5.5 and 5.5.7: terms sent without a user @context expand through the core
/// @context's default vocabulary, and a request @context that maps the term elsewhere does
/// not compact them back to the short name. They come back as JSON-LD compaction gives
/// them, a compact IRI on the core `ngsi-ld` prefix, which the ETSI conformance suite
/// expects.
#[tokio::test]
async fn terms_without_a_user_context_use_the_default_vocabulary() {
    let id = unique_id("ctx-default");
    create(&json!({"id": id, "type": "Car", "speed": {"type": "Property", "value": 5}})).await;
    let ctx = serve_context(user_context());
    let e = send(get(&format!("/entities/{id}")).context_link(&ctx))
        .await
        .expect_status(200)
        .json();
    assert_eq!(e["type"], json!("ngsi-ld:default-context/Car"), "{e}");
    assert!(e.get("ngsi-ld:default-context/speed").is_some(), "{e}");
    assert!(e.get("speed").is_none(), "{e}");
}

/// Clauses 4.4 and 5.5.7: the core @context is protected; a user @context redefining a core
/// term (`location`) does not change its meaning.
#[tokio::test]
async fn the_core_context_cannot_be_overridden() {
    let id = unique_id("ctx-protected");
    let entity = json!({
        "id": id,
        "type": "Vehicle",
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1.0, 2.0]}},
        "@context": [{"location": format!("{VOCAB}location")}, CORE_CONTEXT]
    });
    send(post("/entities").ld_json(&entity))
        .await
        .expect_status(201);
    let e = retrieve(&id, "").await;
    assert_eq!(
        e["location"]["value"],
        json!({"type": "Point", "coordinates": [1.0, 2.0]}),
        "{e}"
    );
}

/// Clause 6.3.6: a JSON-LD response carries the request's @context in its body.
#[tokio::test]
async fn ld_json_response_carries_the_request_context() {
    let ctx = serve_context(user_context());
    let id = unique_id("ctx-ld-response");
    send(post("/entities").json(&car(&id)).context_link(&ctx))
        .await
        .expect_status(201);
    let e = send(
        get(&format!("/entities/{id}"))
            .context_link(&ctx)
            .accept("application/ld+json"),
    )
    .await
    .expect_status(200)
    .json();
    let context = &e["@context"];
    let mentions =
        context == &json!(ctx) || context.as_array().is_some_and(|a| a.contains(&json!(ctx)));
    assert!(
        mentions,
        "the body's @context includes the request's: {context}"
    );
    assert_eq!(e["speed"]["value"], json!(5), "{e}");
}

/// Clauses 5.7.1.5 and 5.5.7: VocabProperty values are expanded on input and compacted with
/// the request's @context on output (a Fully Qualified Name when no term matches).
#[tokio::test]
async fn vocab_values_are_compacted_with_the_request_context() {
    let ctx = serve_context(json!({"Electric": format!("{VOCAB}Electric")}));
    let id = unique_id("ctx-vocab");
    let entity = json!({"id": id, "type": "Vehicle", "engine": {"type": "VocabProperty", "vocab": "Electric"}});
    send(post("/entities").json(&entity).context_link(&ctx))
        .await
        .expect_status(201);
    assert_eq!(
        retrieve(&id, "").await["engine"]["vocab"],
        json!(format!("{VOCAB}Electric"))
    );
    let e = send(get(&format!("/entities/{id}")).context_link(&ctx))
        .await
        .expect_status(200)
        .json();
    assert_eq!(
        e["engine"],
        json!({"type": "VocabProperty", "vocab": "Electric"})
    );
}

/// Clause 4.4: the core @context is built in; referring to it by its versioned or its
/// unversioned URL needs no network access.
#[tokio::test]
async fn unversioned_core_context_url_needs_no_network() {
    for (n, core) in [UNVERSIONED_CORE_CONTEXT, CORE_CONTEXT]
        .into_iter()
        .enumerate()
    {
        let id = unique_id(&format!("ctx-core-{n}"));
        let mut entity = sample_entity(&id);
        entity["@context"] = json!(core);
        send(post("/entities").ld_json(&entity))
            .await
            .expect_status(201);
        let e = send(get(&format!("/entities/{id}")).context_link(core))
            .await
            .expect_status(200)
            .json();
        assert_eq!(e["speed"]["value"], json!(80), "{e}");
    }
}

/// Clauses 5.5.6 and 6.3.2: a remote @context that cannot be retrieved is
/// LdContextNotAvailable (504), for writes and reads alike.
#[tokio::test]
async fn unreachable_context_is_504_ld_context_not_available() {
    let unreachable = closed_port_url();
    let id = unique_id("ctx-unreachable");
    let reply = send(post("/entities").json(&car(&id)).context_link(&unreachable)).await;
    assert_problem(&reply, 504, "LdContextNotAvailable");

    let existing = create_sample("ctx-unreachable-read").await;
    let reply = send(get(&format!("/entities/{existing}")).context_link(&unreachable)).await;
    assert_problem(&reply, 504, "LdContextNotAvailable");
}

/// Clause 5.5.6: a remote @context that is not a valid JSON-LD @context is BadRequestData.
#[tokio::test]
async fn invalid_remote_context_is_400_bad_request_data() {
    let ctx = serve_document("this is not JSON".to_owned());
    let reply = send(
        post("/entities")
            .json(&car(&unique_id("ctx-invalid")))
            .context_link(&ctx),
    )
    .await;
    assert_problem(&reply, 400, "BadRequestData");
}

/// Clause 5.5.7: a user @context should not contain JSON-LD scoped contexts. Rigel accepts
/// such contexts (published vocabularies use them) but a scoped context never takes effect:
/// terms are expanded with the top-level context only (see docs/adr/0002).
#[tokio::test]
async fn scoped_context_in_a_user_context_has_no_effect() {
    let id = unique_id("ctx-scoped");
    let mut entity = car(&id);
    entity["@context"] = json!([
        {"Car": {"@id": format!("{VOCAB}Car"), "@context": {"speed": format!("{VOCAB}hijacked")}}},
        CORE_CONTEXT
    ]);
    send(post("/entities").ld_json(&entity))
        .await
        .expect_status(201);
    let stored = send(get(&format!("/entities/{id}")))
        .await
        .expect_status(200)
        .json();
    assert!(
        stored.get(format!("{VOCAB}hijacked").as_str()).is_none(),
        "{stored}"
    );
}
