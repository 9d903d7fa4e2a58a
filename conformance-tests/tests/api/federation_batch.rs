//! Batch operations, distributed (clauses 5.6.7.4-5.6.10.4, 5.6.20.4): each registration's
//! source gets one batch with the entities and attributes it takes, or single-entity
//! requests when it offers no batch operation; the answer joins the local result and the
//! sources'. As in `federation`, the source is the broker under test in another tenant.

use serde_json::{json, Value};

use crate::federation::{vehicle, Pair};
use crate::harness::*;

fn at_source(pair: &Pair, id: &str) -> reqwest::RequestBuilder {
    Pair::at(&pair.source, get(&format!("/entities/{id}")))
}

async fn batch(pair: &Pair, operation: &str, body: &Value) -> Reply {
    send(
        Pair::at(
            &pair.broker,
            post(&format!("/entityOperations/{operation}")),
        )
        .json(body),
    )
    .await
}

fn car(id: &str, speed: i64, brand: &str) -> Value {
    vehicle(
        id,
        json!({
            "speed": {"type": "Property", "value": speed},
            "brandName": {"type": "Property", "value": brand}
        }),
    )
}

/// Clause 5.6.7.4: an exclusive registration for `speed` gets that attribute of every new
/// entity in one batch; the broker keeps the rest. Clause 5.6.9.4: an update of the same
/// entities is split the same way.
#[tokio::test]
async fn a_batch_is_split_between_the_broker_and_an_exclusive_source() {
    let pair = Pair::new();
    let prefix = format!("urn:ngsi-ld:Vehicle:split{}", nonce());
    let (a, b) = (format!("{prefix}-a"), format!("{prefix}-b"));
    let info = json!({"entities": [{"type": "Vehicle", "idPattern": format!("{prefix}-.*")}], "propertyNames": ["speed"]});
    pair.register_for(
        &root_url(""),
        "exclusive",
        info,
        Some(json!(["redirectionOps"])),
    )
    .await;

    let created = batch(
        &pair,
        "create",
        &json!([car(&a, 10, "Fiat"), car(&b, 20, "Seat")]),
    )
    .await
    .expect_status(201)
    .json();
    assert_eq!(created, json!([a, b]));
    for (id, speed, brand) in [(&a, 10, "Fiat"), (&b, 20, "Seat")] {
        let remote = send(at_source(&pair, id)).await.expect_status(200).json();
        assert_eq!(remote["speed"]["value"], speed, "{remote}");
        assert!(remote.get("brandName").is_none(), "{remote}");
        let local = pair
            .retrieve(id, "?local=true")
            .await
            .expect_status(200)
            .json();
        assert_eq!(local["brandName"]["value"], brand, "{local}");
        assert!(local.get("speed").is_none(), "{local}");
    }

    let update = json!([
        {"id": a, "type": "Vehicle", "speed": {"type": "Property", "value": 11}},
        {"id": b, "type": "Vehicle", "speed": {"type": "Property", "value": 21}, "brandName": {"type": "Property", "value": "Cupra"}}
    ]);
    batch(&pair, "update", &update).await.expect_status(204);
    assert_eq!(
        send(at_source(&pair, &a)).await.json()["speed"]["value"],
        11
    );
    assert_eq!(
        send(at_source(&pair, &b)).await.json()["speed"]["value"],
        21
    );
    let local = pair.retrieve(&b, "?local=true").await.json();
    assert_eq!(local["brandName"]["value"], "Cupra", "{local}");
    assert!(local.get("speed").is_none(), "{local}");
}

/// Clauses 5.6.8.4, 5.6.20.4 and 5.6.10.4: with an inclusive registration, upserts, merges
/// and deletions happen at the broker and at the source alike.
#[tokio::test]
async fn upsert_merge_and_delete_reach_an_inclusive_source_too() {
    let pair = Pair::new();
    let (a, b) = (unique_id("inc-a"), unique_id("inc-b"));
    let ops = json!(["retrieveOps", "upsertBatch", "mergeBatch", "deleteBatch"]);
    let info = json!({"entities": [{"type": "Vehicle"}]});
    pair.register_for(&root_url(""), "inclusive", info, Some(ops))
        .await;

    let upserted = batch(
        &pair,
        "upsert",
        &json!([car(&a, 1, "Kia"), car(&b, 2, "Opel")]),
    )
    .await
    .expect_status(201)
    .json();
    assert_eq!(upserted, json!([a, b]));
    for id in [&a, &b] {
        send(at_source(&pair, id)).await.expect_status(200);
        pair.retrieve(id, "?local=true").await.expect_status(200);
    }

    let merge = json!([{"id": a, "type": "Vehicle", "speed": {"type": "Property", "value": 7}}]);
    batch(&pair, "merge", &merge).await.expect_status(204);
    assert_eq!(send(at_source(&pair, &a)).await.json()["speed"]["value"], 7);
    let local = pair.retrieve(&a, "?local=true").await.json();
    assert_eq!(local["speed"]["value"], 7, "{local}");
    assert_eq!(local["brandName"]["value"], "Kia", "{local}");

    batch(&pair, "delete", &json!([a, b]))
        .await
        .expect_status(204);
    for id in [&a, &b] {
        assert_eq!(send(at_source(&pair, id)).await.status, 404);
        assert_eq!(pair.retrieve(id, "?local=true").await.status, 404);
    }
}

/// Clause 5.6.7.4: a source without the batch operation gets one Create Entity per entity;
/// an exclusive source offering neither is a Conflict for each of its entities, named by
/// the registration, while the broker's part of the batch goes ahead (207).
#[tokio::test]
async fn sources_without_the_batch_operation_get_single_writes_or_a_conflict() {
    let pair = Pair::new();
    let (a, b) = (unique_id("single-a"), unique_id("single-b"));
    let info = json!({"entities": [{"type": "Vehicle"}], "propertyNames": ["speed"]});
    pair.register_for(
        &root_url(""),
        "exclusive",
        info,
        Some(json!(["retrieveOps", "createEntity"])),
    )
    .await;
    batch(
        &pair,
        "create",
        &json!([car(&a, 3, "Lada"), car(&b, 4, "Dacia")]),
    )
    .await
    .expect_status(201);
    assert_eq!(send(at_source(&pair, &b)).await.json()["speed"]["value"], 4);

    let refused = Pair::new();
    let c = unique_id("refused");
    let info = json!({"entities": [{"type": "Vehicle"}], "propertyNames": ["speed"]});
    let csr = refused
        .register_for(
            &root_url(""),
            "exclusive",
            info,
            Some(json!(["retrieveOps"])),
        )
        .await;
    let reply = batch(&refused, "create", &json!([car(&c, 5, "Skoda")]))
        .await
        .expect_status(207)
        .json();
    assert_eq!(reply["success"], json!([c]), "{reply}");
    assert_eq!(reply["errors"][0]["entityId"], c, "{reply}");
    assert_eq!(reply["errors"][0]["registrationId"], csr, "{reply}");
    assert_eq!(reply["errors"][0]["error"]["status"], 409, "{reply}");
    let local = refused
        .retrieve(&c, "?local=true")
        .await
        .expect_status(200)
        .json();
    assert!(local.get("speed").is_none(), "{local}");
}

/// Clause 6.3.17: a source that does not answer fails only its entities of the batch
/// (207, status 502 or 504, the registration named); the broker's part is written.
#[tokio::test]
async fn a_dead_source_fails_only_its_share_of_a_batch() {
    let pair = Pair::new();
    let id = unique_id("dead-batch");
    let dead = closed_port_url().replace("/context.jsonld", "");
    let info = json!({"entities": [{"type": "Vehicle"}], "propertyNames": ["speed"]});
    let ops = Some(json!(["redirectionOps", "upsertBatch"]));
    let csr = pair.register_for(&dead, "exclusive", info, ops).await;
    let reply = batch(&pair, "upsert", &json!([car(&id, 6, "Audi")]))
        .await
        .expect_status(207)
        .json();
    assert_eq!(reply["errors"][0]["registrationId"], csr, "{reply}");
    let status = reply["errors"][0]["error"]["status"].as_u64().unwrap_or(0);
    assert!(status == 502 || status == 504, "{reply}");
    let local = pair
        .retrieve(&id, "?local=true")
        .await
        .expect_status(200)
        .json();
    assert_eq!(local["brandName"]["value"], "Audi", "{local}");
}

/// Clause 5.6.21.4: a purge reaches the sources whose registrations match it; a source
/// registered for some attributes only has those deleted (`drop`), never whole entities.
#[tokio::test]
async fn a_purge_reaches_the_sources_within_their_registrations() {
    let pair = Pair::new();
    let kind = format!("Tram{}", nonce());
    let tram = |id: &str| {
        let mut e = car(id, 40, "Alstom");
        e["type"] = json!(kind);
        e
    };
    let (a, b) = (unique_id("purge-a"), unique_id("purge-b"));
    Pair::create(&pair.broker, &tram(&a)).await;
    Pair::create(&pair.source, &tram(&b)).await;
    let info = json!({"entities": [{"type": kind}]});
    pair.register_for(
        &root_url(""),
        "inclusive",
        info,
        Some(json!(["retrieveOps", "purgeEntity"])),
    )
    .await;
    let purge = format!("/entities?type={kind}");
    send(Pair::at(&pair.broker, delete(&purge)))
        .await
        .expect_status(204);
    assert_eq!(pair.retrieve(&a, "?local=true").await.status, 404);
    assert_eq!(send(at_source(&pair, &b)).await.status, 404);

    let partial = Pair::new();
    let c = unique_id("purge-c");
    Pair::create(&partial.source, &tram(&c)).await;
    let info = json!({"entities": [{"type": kind}], "propertyNames": ["speed"]});
    partial
        .register_for(
            &root_url(""),
            "exclusive",
            info,
            Some(json!(["redirectionOps"])),
        )
        .await;
    send(Pair::at(&partial.broker, delete(&purge)))
        .await
        .expect_status(204);
    let left = send(at_source(&partial, &c))
        .await
        .expect_status(200)
        .json();
    assert!(left.get("speed").is_none(), "{left}");
    assert_eq!(left["brandName"]["value"], "Alstom", "{left}");
}
