//! Distributed operations (clauses 4.3.6, 4.5.5, 5.7.1.4, 6.3.17, 6.3.18): reads forwarded
//! to the context sources registrations name, and merged. The source is the broker under
//! test itself, in another tenant (a registration's `tenant` is the tenant to ask at the
//! source), so every test runs against any target.

use serde_json::{json, Value};

use crate::harness::*;

/// A test's pair of tenants: the one the client reads, and the one standing for the source.
pub(crate) struct Pair {
    pub broker: String,
    pub source: String,
}

impl Pair {
    pub(crate) fn new() -> Self {
        Self {
            broker: unique_tenant(),
            source: unique_tenant(),
        }
    }

    pub(crate) fn at(tenant: &str, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.header("NGSILD-Tenant", tenant)
    }

    pub(crate) async fn create(tenant: &str, entity: &Value) {
        send(Self::at(tenant, post("/entities")).json(entity))
            .await
            .expect_status(201);
    }

    /// Registers, in the broker's tenant, the source's tenant of this very broker.
    pub(crate) async fn register(&self, mode: &str, information: Value) -> String {
        self.register_at(&root_url(""), mode, information).await
    }

    pub(crate) async fn register_at(
        &self,
        endpoint: &str,
        mode: &str,
        information: Value,
    ) -> String {
        self.register_for(endpoint, mode, information, None).await
    }

    /// Registers with the given `operations` (none: the default, `federationOps`).
    pub(crate) async fn register_for(
        &self,
        endpoint: &str,
        mode: &str,
        information: Value,
        operations: Option<Value>,
    ) -> String {
        let id = format!("urn:ngsi-ld:ContextSourceRegistration:fed-{}", nonce());
        let mut body = json!({
            "id": id,
            "type": "ContextSourceRegistration",
            "information": [information],
            "endpoint": endpoint,
            "tenant": self.source,
            "mode": mode
        });
        if let Some(operations) = operations {
            body["operations"] = operations;
        }
        send(Self::at(&self.broker, post("/csourceRegistrations")).json(&body))
            .await
            .expect_status(201);
        id
    }

    pub(crate) async fn retrieve(&self, id: &str, query: &str) -> Reply {
        send(Self::at(
            &self.broker,
            get(&format!("/entities/{id}{query}")),
        ))
        .await
    }
}

pub(crate) fn vehicle(id: &str, attributes: Value) -> Value {
    let mut entity = json!({"id": id, "type": "Vehicle"});
    for (k, v) in attributes.as_object().unwrap() {
        entity[k] = v.clone();
    }
    entity
}

/// Clauses 5.7.1.4 and 4.5.5: an entity split between the broker (inclusive registration)
/// and a source is retrieved as one, with the attributes of both; `local=true` reads only
/// the broker's part.
#[tokio::test]
async fn a_retrieval_merges_the_entity_held_by_the_broker_and_a_source() {
    let pair = Pair::new();
    let id = unique_id("split");
    Pair::create(
        &pair.broker,
        &vehicle(
            &id,
            json!({"brandName": {"type": "Property", "value": "Volvo"}}),
        ),
    )
    .await;
    Pair::create(
        &pair.source,
        &vehicle(&id, json!({"speed": {"type": "Property", "value": 80}})),
    )
    .await;
    pair.register("inclusive", json!({"entities": [{"type": "Vehicle"}]}))
        .await;

    let merged = pair.retrieve(&id, "").await.expect_status(200);
    assert_eq!(merged.header("NGSILD-Warning"), None);
    let body = merged.json();
    assert_eq!(body["brandName"]["value"], "Volvo", "{body}");
    assert_eq!(body["speed"]["value"], 80, "{body}");

    let local = pair
        .retrieve(&id, "?local=true")
        .await
        .expect_status(200)
        .json();
    assert!(local.get("speed").is_none(), "{local}");
}

/// Clauses 5.7.1.4 and 4.3.6.2: an entity only a source holds is found through its
/// registration (exclusive here), and only the registered attributes are asked for.
#[tokio::test]
async fn an_entity_only_a_source_holds_is_retrieved_through_its_registration() {
    let pair = Pair::new();
    let id = unique_id("remote");
    let attributes = json!({
        "speed": {"type": "Property", "value": 30},
        "brandName": {"type": "Property", "value": "Fiat"}
    });
    Pair::create(&pair.source, &vehicle(&id, attributes)).await;
    assert_problem(&pair.retrieve(&id, "").await, 404, "NonexistentTenant");
    pair.register(
        "exclusive",
        json!({"entities": [{"type": "Vehicle", "id": id}], "propertyNames": ["speed"]}),
    )
    .await;

    let body = pair.retrieve(&id, "").await.expect_status(200).json();
    assert_eq!(body["type"], "Vehicle");
    assert_eq!(body["speed"]["value"], 30, "{body}");
    assert!(body.get("brandName").is_none(), "not registered: {body}");
    let other = unique_id("remote-other");
    assert_problem(&pair.retrieve(&other, "").await, 404, "ResourceNotFound");
}

/// Clause 4.5.5: when the broker and a source hold the same attribute, the later
/// `observedAt` wins, whichever side holds it.
#[tokio::test]
async fn the_latest_observation_wins_when_both_hold_an_attribute() {
    let pair = Pair::new();
    let id = unique_id("clash");
    let reading = |value: i64, at: &str| json!({"speed": {"type": "Property", "value": value, "observedAt": at}});
    Pair::create(
        &pair.broker,
        &vehicle(&id, reading(1, "2024-01-01T00:00:00Z")),
    )
    .await;
    Pair::create(
        &pair.source,
        &vehicle(&id, reading(2, "2024-06-01T00:00:00Z")),
    )
    .await;
    pair.register("inclusive", json!({"entities": [{"type": "Vehicle"}]}))
        .await;
    let body = pair.retrieve(&id, "").await.expect_status(200).json();
    assert_eq!(body["speed"]["value"], 2, "{body}");
}

/// Clause 6.3.17: a source that does not answer never fails a retrieval: the broker's own
/// data comes back with an `NGSILD-Warning` (199) naming the registration.
#[tokio::test]
async fn a_dead_source_is_a_warning_not_a_failure() {
    let pair = Pair::new();
    let id = unique_id("dead");
    Pair::create(
        &pair.broker,
        &vehicle(&id, json!({"speed": {"type": "Property", "value": 5}})),
    )
    .await;
    let dead = closed_port_url().replace("/context.jsonld", "");
    let csr = pair
        .register_at(
            &dead,
            "inclusive",
            json!({"entities": [{"type": "Vehicle"}]}),
        )
        .await;
    let reply = pair.retrieve(&id, "").await.expect_status(200);
    let warning = reply
        .header("NGSILD-Warning")
        .unwrap_or_default()
        .to_owned();
    assert!(
        warning.starts_with("199 ") && warning.contains(&csr),
        "{warning}"
    );
    assert_eq!(reply.json()["speed"]["value"], 5);
    let path = format!("/csourceRegistrations/{csr}");
    let counted = send(Pair::at(&pair.broker, get(&path)))
        .await
        .expect_status(200)
        .json();
    assert_eq!(counted["timesSent"], 1, "{counted}");
    assert_eq!(counted["timesFailed"], 1, "{counted}");
    assert!(counted["lastFailure"].is_string(), "{counted}");
}

/// Clauses 5.2.34 and 6.3.17: after a failure, a source is not called again for its
/// registration's `cooldown`; the answer says so, and the source's counters do not move.
#[tokio::test]
async fn a_failed_source_rests_for_its_cooldown() {
    let pair = Pair::new();
    let id = unique_id("cooldown");
    let speed = json!({"speed": {"type": "Property", "value": 5}});
    Pair::create(&pair.broker, &vehicle(&id, speed)).await;
    let dead = closed_port_url().replace("/context.jsonld", "");
    let body = json!({
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": "Vehicle"}]}],
        "endpoint": dead,
        "management": {"cooldown": 60000}
    });
    let reply = send(Pair::at(&pair.broker, post("/csourceRegistrations")).json(&body))
        .await
        .expect_status(201);
    let location = reply.header("Location").unwrap().to_owned();
    let first = pair.retrieve(&id, "").await.expect_status(200);
    assert!(first.header("NGSILD-Warning").is_some());
    let second = pair.retrieve(&id, "").await.expect_status(200);
    let warning = second
        .header("NGSILD-Warning")
        .unwrap_or_default()
        .to_owned();
    assert!(warning.contains("cooling down"), "{warning}");
    let path = location.trim_start_matches("/ngsi-ld/v1");
    let counted = send(Pair::at(&pair.broker, get(path)))
        .await
        .expect_status(200)
        .json();
    assert_eq!(counted["timesSent"], 1, "{counted}");
}

/// Clauses 4.3.6.4 and 6.3.18: a registration pointing back at the same broker and tenant
/// does not loop: the forwarded request carries this broker in `Via` and is answered from
/// local data there.
#[tokio::test]
async fn a_registration_back_to_the_same_tenant_does_not_loop() {
    let pair = Pair::new();
    let id = unique_id("loop");
    Pair::create(
        &pair.broker,
        &vehicle(&id, json!({"speed": {"type": "Property", "value": 7}})),
    )
    .await;
    let own = Pair {
        broker: pair.broker.clone(),
        source: pair.broker.clone(),
    };
    own.register("inclusive", json!({"entities": [{"type": "Vehicle"}]}))
        .await;
    let started = std::time::Instant::now();
    let reply = pair.retrieve(&id, "").await.expect_status(200);
    // A loop would only end when the first forwarded request timed out, with a warning.
    assert_eq!(reply.header("NGSILD-Warning"), None);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert_eq!(reply.json()["speed"]["value"], 7);
}

/// Clauses 6.3.17 and 6.3.18: a write whose only holder is a registration pointing back at
/// the same broker and tenant comes back with this broker in `Via`; it is refused there as a
/// loop, and the client gets 508 Loop Detected.
#[tokio::test]
async fn a_write_that_loops_back_is_508_loop_detected() {
    let pair = Pair::new();
    let id = unique_id("write-loop");
    Pair::create(
        &pair.broker,
        &vehicle(
            &id,
            json!({"brandName": {"type": "Property", "value": "Mini"}}),
        ),
    )
    .await;
    let own = Pair {
        broker: pair.broker.clone(),
        source: pair.broker.clone(),
    };
    let info = json!({"entities": [{"type": "Vehicle"}], "propertyNames": ["speed"]});
    own.register_for(&root_url(""), "exclusive", info, Some(json!(["updateOps"])))
        .await;
    let update = json!({"speed": {"type": "Property", "value": 3}});
    let path = format!("/entities/{id}/attrs");
    let reply = send(Pair::at(&pair.broker, patch(&path)).json(&update)).await;
    assert_eq!(reply.status, 508, "{}", reply.json());
    assert_eq!(reply.json()["title"], "Loop Detected");
}

impl Pair {
    async fn query(&self, query: &str) -> Reply {
        send(Self::at(&self.broker, get(&format!("/entities?{query}")))).await
    }
}

fn ids(entities: &Value) -> Vec<String> {
    entities
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Clause 5.7.2.4: a query answers the broker's matches and the source's, merged by id
/// and in id order, paged and counted over the whole; `local=true` keeps to local data.
#[tokio::test]
async fn a_query_merges_the_matches_of_the_broker_and_a_source() {
    let pair = Pair::new();
    let ty = unique_type("fedq");
    let entity = |id: &str, attributes: Value| {
        let mut e = vehicle(id, attributes);
        e["type"] = json!(ty);
        e
    };
    let (a, b, c) = (unique_id("q-a"), unique_id("q-b"), unique_id("q-c"));
    let speed = |v: i64| json!({"speed": {"type": "Property", "value": v}});
    let brand = json!({"brandName": {"type": "Property", "value": "Seat"}});
    Pair::create(&pair.broker, &entity(&a, speed(10))).await;
    Pair::create(&pair.broker, &entity(&b, brand.clone())).await;
    Pair::create(&pair.source, &entity(&b, speed(20))).await;
    Pair::create(&pair.source, &entity(&c, speed(30))).await;
    pair.register("inclusive", json!({"entities": [{"type": ty}]}))
        .await;

    let all = pair
        .query(&format!("type={ty}&count=true"))
        .await
        .expect_status(200);
    assert_eq!(all.header("NGSILD-Results-Count"), Some("3"));
    let body = all.json();
    let mut expected = vec![a.clone(), b.clone(), c.clone()];
    expected.sort();
    assert_eq!(ids(&body), expected);
    let merged_b = body
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == json!(b))
        .unwrap();
    assert_eq!(merged_b["speed"]["value"], 20, "{merged_b}");
    assert_eq!(merged_b["brandName"]["value"], "Seat", "{merged_b}");

    let page = pair
        .query(&format!("type={ty}&limit=1&offset=1"))
        .await
        .expect_status(200);
    assert_eq!(ids(&page.json()), [expected[1].as_str()]);
    let fast = pair
        .query(&format!("type={ty}&q=speed>15"))
        .await
        .expect_status(200)
        .json();
    let mut fast_ids = ids(&fast);
    fast_ids.sort();
    let mut expected_fast = vec![b.clone(), c.clone()];
    expected_fast.sort();
    assert_eq!(fast_ids, expected_fast);
    let local = pair
        .query(&format!("type={ty}&local=true"))
        .await
        .expect_status(200)
        .json();
    let mut local_ids = ids(&local);
    local_ids.sort();
    let mut expected_local = vec![a, b];
    expected_local.sort();
    assert_eq!(local_ids, expected_local);
}

/// Clause 5.7.2.4: `orderBy` needs the query limited to local data; with a matching
/// registration it is BadRequestData, with `local=true` it is served.
#[tokio::test]
async fn order_by_needs_a_local_query_when_sources_match() {
    let pair = Pair::new();
    let ty = unique_type("fedorder");
    let mut e = vehicle(
        &unique_id("order"),
        json!({"speed": {"type": "Property", "value": 1}}),
    );
    e["type"] = json!(ty);
    Pair::create(&pair.broker, &e).await;
    pair.register("inclusive", json!({"entities": [{"type": ty}]}))
        .await;
    let refused = pair.query(&format!("type={ty}&orderBy=speed")).await;
    assert_problem(&refused, 400, "BadRequestData");
    pair.query(&format!("type={ty}&orderBy=speed&local=true"))
        .await
        .expect_status(200);
}

/// Clause 4.3.6.1: a query is passed on within the registration's constraints: a source
/// registered for one entity's speed is asked for that entity and attribute only.
#[tokio::test]
async fn a_query_keeps_to_what_the_registration_registers() {
    let pair = Pair::new();
    let ty = unique_type("fedscope");
    let (registered, other) = (unique_id("scope-in"), unique_id("scope-out"));
    for id in [&registered, &other] {
        let mut e = vehicle(
            id,
            json!({"speed": {"type": "Property", "value": 3}, "brandName": {"type": "Property", "value": "Kia"}}),
        );
        e["type"] = json!(ty);
        Pair::create(&pair.source, &e).await;
    }
    pair.register(
        "exclusive",
        json!({"entities": [{"type": ty, "id": registered}], "propertyNames": ["speed"]}),
    )
    .await;
    let found = pair
        .query(&format!("type={ty}"))
        .await
        .expect_status(200)
        .json();
    assert_eq!(ids(&found), [registered.as_str()]);
    assert!(found[0].get("brandName").is_none(), "{found}");
    assert_eq!(found[0]["speed"]["value"], 3);
}

/// Clauses 5.6.4.4 and 4.3.6.3, the IoT agent's case: a device registers itself as the
/// exclusive source of its command attribute; a partial update of that attribute reaches
/// the source, and only there.
#[tokio::test]
async fn a_command_update_reaches_the_exclusive_source() {
    let pair = Pair::new();
    let id = format!("urn:ngsi-ld:Bell:{}", nonce());
    let bell = |attributes: Value| {
        let mut e = vehicle(&id, attributes);
        e["type"] = json!("Bell");
        e
    };
    Pair::create(
        &pair.source,
        &bell(json!({"ring": {"type": "Property", "value": " "}})),
    )
    .await;
    Pair::create(
        &pair.broker,
        &bell(json!({"name": {"type": "Property", "value": "Front door"}})),
    )
    .await;
    pair.register_for(
        &root_url(""),
        "exclusive",
        json!({"entities": [{"type": "Bell", "id": id}], "propertyNames": ["ring"]}),
        Some(json!(["retrieveOps", "updateOps"])),
    )
    .await;

    let command = json!({"type": "Property", "value": "ring now"});
    send(Pair::at(&pair.broker, patch(&format!("/entities/{id}/attrs/ring"))).json(&command))
        .await
        .expect_status(204);
    let at_source = send(Pair::at(&pair.source, get(&format!("/entities/{id}"))))
        .await
        .expect_status(200)
        .json();
    assert_eq!(at_source["ring"]["value"], "ring now", "{at_source}");
    let local = pair
        .retrieve(&id, "?local=true")
        .await
        .expect_status(200)
        .json();
    assert!(local.get("ring").is_none(), "{local}");

    // Update Attributes splits: the command to the source, the rest locally.
    let both = json!({
        "ring": {"type": "Property", "value": "twice"},
        "name": {"type": "Property", "value": "Back door"}
    });
    send(Pair::at(&pair.broker, patch(&format!("/entities/{id}/attrs"))).json(&both))
        .await
        .expect_status(204);
    let merged = pair.retrieve(&id, "").await.expect_status(200).json();
    assert_eq!(merged["ring"]["value"], "twice", "{merged}");
    assert_eq!(merged["name"]["value"], "Back door", "{merged}");
}

/// Clause 6.3.17: an update whose one part is an exclusive source's fails as that source
/// failed: 502 when it cannot be reached, 409 when the registration does not offer updates
/// (the default operations, `federationOps`, are reads).
#[tokio::test]
async fn an_update_held_by_one_failing_source_reports_its_failure() {
    let pair = Pair::new();
    let id = format!("urn:ngsi-ld:Bell:{}", nonce());
    let dead = closed_port_url().replace("/context.jsonld", "");
    pair.register_for(
        &dead,
        "exclusive",
        json!({"entities": [{"type": "Bell", "id": id}], "propertyNames": ["ring"]}),
        Some(json!(["updateOps"])),
    )
    .await;
    let command = json!({"type": "Property", "value": "ring"});
    let path = format!("/entities/{id}/attrs/ring");
    let unreachable = send(Pair::at(&pair.broker, patch(&path)).json(&command)).await;
    assert_eq!(unreachable.status, 502, "{unreachable:?}");

    let other = Pair::new();
    let id = format!("urn:ngsi-ld:Bell:{}", nonce());
    let body = json!({
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": "Bell", "id": id}], "propertyNames": ["ring"]}],
        "endpoint": root_url(""),
        "mode": "exclusive",
        "operations": ["retrieveOps"]
    });
    send(Pair::at(&other.broker, post("/csourceRegistrations")).json(&body))
        .await
        .expect_status(201);
    let path = format!("/entities/{id}/attrs/ring");
    let refused = send(Pair::at(&other.broker, patch(&path)).json(&command)).await;
    assert_problem(&refused, 409, "Conflict");
}

/// Clauses 5.6.3.4, 5.6.19.4 and 5.6.5.4: appending, replacing and deleting an attribute a
/// source is registered for (redirect, with every entity operation) happens at the source.
#[tokio::test]
async fn append_replace_and_delete_of_a_registered_attribute_happen_at_the_source() {
    let pair = Pair::new();
    let id = format!("urn:ngsi-ld:Lamp:{}", nonce());
    let mut lamp = vehicle(&id, json!({"on": {"type": "Property", "value": false}}));
    lamp["type"] = json!("Lamp");
    Pair::create(&pair.source, &lamp).await;
    pair.register_for(
        &root_url(""),
        "redirect",
        json!({"entities": [{"type": "Lamp", "id": id}], "propertyNames": ["on", "level"]}),
        Some(json!(["redirectionOps"])),
    )
    .await;
    let at_source = || async {
        send(Pair::at(&pair.source, get(&format!("/entities/{id}"))))
            .await
            .expect_status(200)
            .json()
    };
    let level = json!({"level": {"type": "Property", "value": 3}});
    let attrs = format!("/entities/{id}/attrs");
    send(Pair::at(&pair.broker, post(&attrs)).json(&level))
        .await
        .expect_status(204);
    assert_eq!(at_source().await["level"]["value"], 3);
    let replaced = json!({"type": "Property", "value": 7});
    let level_path = format!("/entities/{id}/attrs/level");
    send(Pair::at(&pair.broker, put(&level_path)).json(&replaced))
        .await
        .expect_status(204);
    assert_eq!(at_source().await["level"]["value"], 7);
    send(Pair::at(&pair.broker, delete(&level_path)))
        .await
        .expect_status(204);
    let after = at_source().await;
    assert!(after.get("level").is_none(), "{after}");
    assert_eq!(after["on"]["value"], false);
}

/// Clause 5.6.6.4: Delete Entity reaches every source registered for the entity; next to
/// an inclusive source a missing local entity is one failed part (207, its ProblemDetails
/// with status 404), while an exclusive source deleting it is enough (204).
#[tokio::test]
async fn a_deletion_reaches_the_sources_registered_for_the_entity() {
    let pair = Pair::new();
    let ops = Some(json!(["retrieveOps", "deleteEntity"]));
    let (both, remote) = (unique_id("del-both"), unique_id("del-remote"));
    let speed = json!({"speed": {"type": "Property", "value": 1}});
    Pair::create(&pair.broker, &vehicle(&both, speed.clone())).await;
    Pair::create(&pair.source, &vehicle(&both, speed.clone())).await;
    Pair::create(&pair.source, &vehicle(&remote, speed.clone())).await;
    let info = json!({"entities": [{"type": "Vehicle"}]});
    pair.register_for(&root_url(""), "inclusive", info, ops.clone())
        .await;
    let at_source = |id: &str| send(Pair::at(&pair.source, get(&format!("/entities/{id}"))));

    send(Pair::at(&pair.broker, delete(&format!("/entities/{both}"))))
        .await
        .expect_status(204);
    assert_eq!(at_source(&both).await.status, 404);
    assert_eq!(pair.retrieve(&both, "?local=true").await.status, 404);

    let partly = send(Pair::at(
        &pair.broker,
        delete(&format!("/entities/{remote}")),
    ))
    .await
    .expect_status(207)
    .json();
    assert_eq!(partly["success"], json!([remote]), "{partly}");
    assert_eq!(partly["errors"][0]["error"]["status"], 404, "{partly}");
    assert_eq!(at_source(&remote).await.status, 404);

    let owned = Pair::new();
    let id = unique_id("del-owned");
    Pair::create(&owned.source, &vehicle(&id, speed)).await;
    let info = json!({"entities": [{"type": "Vehicle", "id": id}]});
    owned
        .register_for(&root_url(""), "exclusive", info, ops)
        .await;
    send(Pair::at(&owned.broker, delete(&format!("/entities/{id}"))))
        .await
        .expect_status(204);
    let gone = send(Pair::at(&owned.source, get(&format!("/entities/{id}")))).await;
    assert_eq!(gone.status, 404);
}

/// Clause 5.6.1.4: a new entity's attributes that an exclusive registration takes are
/// created at its source, the rest locally (201); next to an inclusive source, an entity
/// the broker already holds is one failed part (207, AlreadyExists with status 409).
#[tokio::test]
async fn a_creation_is_split_between_the_broker_and_its_sources() {
    let pair = Pair::new();
    let ops = Some(json!(["retrieveOps", "createEntity"]));
    let id = format!("urn:ngsi-ld:Bell:{}", nonce());
    let info = json!({"entities": [{"type": "Bell", "id": id}], "propertyNames": ["ring"]});
    pair.register_for(&root_url(""), "exclusive", info, ops.clone())
        .await;
    let bell = json!({
        "id": id, "type": "Bell",
        "ring": {"type": "Property", "value": "idle"},
        "name": {"type": "Property", "value": "Gate"}
    });
    let created = send(Pair::at(&pair.broker, post("/entities")).json(&bell))
        .await
        .expect_status(201);
    assert!(created
        .header("Location")
        .unwrap_or_default()
        .ends_with(&id));
    let at_source = send(Pair::at(&pair.source, get(&format!("/entities/{id}"))))
        .await
        .expect_status(200)
        .json();
    assert_eq!(at_source["ring"]["value"], "idle", "{at_source}");
    assert!(at_source.get("name").is_none(), "{at_source}");
    let local = pair
        .retrieve(&id, "?local=true")
        .await
        .expect_status(200)
        .json();
    assert_eq!(local["name"]["value"], "Gate", "{local}");
    assert!(local.get("ring").is_none(), "{local}");

    let shared = Pair::new();
    let id = unique_id("create-twice");
    let car = vehicle(&id, json!({"speed": {"type": "Property", "value": 1}}));
    Pair::create(&shared.broker, &car).await;
    let info = json!({"entities": [{"type": "Vehicle"}]});
    shared
        .register_for(&root_url(""), "inclusive", info, ops)
        .await;
    let again = send(Pair::at(&shared.broker, post("/entities")).json(&car))
        .await
        .expect_status(207)
        .json();
    assert_eq!(again["success"], json!([id]), "{again}");
    assert_eq!(again["errors"][0]["error"]["status"], 409, "{again}");
}

/// Clauses 5.6.17.4 and 5.6.18.4: merging and replacing an entity split between the broker
/// and an exclusive source send the registered attribute to the source and keep the rest
/// locally.
#[tokio::test]
async fn merge_and_replace_split_the_entity_between_the_broker_and_the_source() {
    let pair = Pair::new();
    let id = format!("urn:ngsi-ld:Lamp:{}", nonce());
    let lamp = |attributes: Value| {
        let mut e = vehicle(&id, attributes);
        e["type"] = json!("Lamp");
        e
    };
    Pair::create(
        &pair.source,
        &lamp(json!({"level": {"type": "Property", "value": 1}})),
    )
    .await;
    Pair::create(
        &pair.broker,
        &lamp(json!({"on": {"type": "Property", "value": false}})),
    )
    .await;
    let info = json!({"entities": [{"type": "Lamp", "id": id}], "propertyNames": ["level"]});
    let ops = Some(json!(["redirectionOps"]));
    pair.register_for(&root_url(""), "exclusive", info, ops)
        .await;
    let path = format!("/entities/{id}");
    let at_source = || async {
        send(Pair::at(&pair.source, get(&path)))
            .await
            .expect_status(200)
            .json()
    };

    let fragment = json!({"level": {"type": "Property", "value": 5}, "on": {"type": "Property", "value": true}});
    send(Pair::at(&pair.broker, patch(&path)).json(&fragment))
        .await
        .expect_status(204);
    assert_eq!(at_source().await["level"]["value"], 5);
    let local = pair
        .retrieve(&id, "?local=true")
        .await
        .expect_status(200)
        .json();
    assert_eq!(local["on"]["value"], true, "{local}");
    assert!(local.get("level").is_none(), "{local}");

    let whole = lamp(
        json!({"level": {"type": "Property", "value": 9}, "colour": {"type": "Property", "value": "red"}}),
    );
    send(Pair::at(&pair.broker, put(&path)).json(&whole))
        .await
        .expect_status(204);
    assert_eq!(at_source().await["level"]["value"], 9);
    let local = pair
        .retrieve(&id, "?local=true")
        .await
        .expect_status(200)
        .json();
    assert_eq!(local["colour"]["value"], "red", "{local}");
    assert!(local.get("on").is_none(), "replaced: {local}");
}

/// Clause 5.7.11: `/types` and `/attributes` merge the broker's types and attributes with
/// those of the sources registered for discovery; `local=true` keeps to the broker's.
#[tokio::test]
async fn types_and_attributes_include_what_the_sources_hold() {
    let pair = Pair::new();
    let (here, there) = (format!("Kiosk{}", nonce()), format!("Ferry{}", nonce()));
    let entity = |kind: &str, attribute: &str| {
        let mut e = vehicle(&unique_id("discovery"), json!({}));
        e["type"] = json!(kind);
        e[attribute] = json!({"type": "Property", "value": 1});
        e
    };
    Pair::create(&pair.broker, &entity(&here, "opening")).await;
    Pair::create(&pair.source, &entity(&there, "draught")).await;
    pair.register("inclusive", json!({"entities": [{"type": there}]}))
        .await;
    let read = |path: &str| send(Pair::at(&pair.broker, get(path)));

    let types = read("/types").await.expect_status(200).json();
    let list = types["typeList"].as_array().cloned().unwrap_or_default();
    assert!(
        list.contains(&json!(here)) && list.contains(&json!(there)),
        "{types}"
    );
    let local = read("/types?local=true").await.expect_status(200).json();
    assert_eq!(local["typeList"], json!([here]), "{local}");

    let info = read(&format!("/types/{there}"))
        .await
        .expect_status(200)
        .json();
    assert_eq!(info["entityCount"], 1, "{info}");
    assert_eq!(
        info["attributeDetails"][0]["attributeName"], "draught",
        "{info}"
    );
    assert_eq!(
        info["attributeDetails"][0]["attributeTypes"],
        json!(["Property"]),
        "{info}"
    );

    let attributes = read("/attributes?details=true")
        .await
        .expect_status(200)
        .json();
    let draught = attributes
        .as_array()
        .and_then(|all| all.iter().find(|a| a["attributeName"] == "draught"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(draught["typeNames"], json!([there]), "{attributes}");
    let one = read("/attributes/draught").await.expect_status(200).json();
    assert_eq!(one["attributeCount"], 1, "{one}");
    assert_eq!(read("/attributes/draught?local=true").await.status, 404);
}

/// Clause 4.3.6.1: the query a source gets is rebuilt from the parsed one: a POST query
/// with two entity selectors, a q with an or inside an and, a scopeQ and a geoquery reaches
/// a GET-only source as one query per selector, and the source's matches come back.
#[tokio::test]
async fn a_rebuilt_query_reaches_a_source_selector_by_selector() {
    let pair = Pair::new();
    let (car, bus) = (unique_type("fedcar"), unique_type("fedbus"));
    let thing = |id: &str, kind: &str, speed: i64, scope: &str, lon: f64| {
        json!({
            "id": id, "type": kind, "scope": scope,
            "speed": {"type": "Property", "value": speed},
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, 40.0]}}
        })
    };
    let (a, b, c, d) = (
        unique_id("sel-a"),
        unique_id("sel-b"),
        unique_id("sel-c"),
        unique_id("sel-d"),
    );
    Pair::create(&pair.source, &thing(&a, &car, 80, "/city/north", 8.0)).await;
    Pair::create(&pair.source, &thing(&b, &car, 80, "/city/north", 8.0)).await;
    Pair::create(&pair.source, &thing(&c, &bus, 5, "/city/south", 8.001)).await;
    Pair::create(&pair.source, &thing(&d, &bus, 70, "/elsewhere", 8.0)).await;
    let info = json!({"entities": [{"type": car}, {"type": bus}]});
    pair.register_for(
        &root_url(""),
        "inclusive",
        info,
        Some(json!(["retrieveOps"])),
    )
    .await;
    let query = json!({
        "type": "Query",
        "entities": [{"type": car, "id": a}, {"type": bus}],
        "q": "(speed>50|speed<10);speed!=70",
        "scopeQ": "/city/#",
        "geoQ": {"georel": "near;maxDistance==1000", "geometry": "Point", "coordinates": [8.0, 40.0]}
    });
    let found = send(Pair::at(&pair.broker, post("/entityOperations/query")).json(&query))
        .await
        .expect_status(200);
    assert_eq!(found.header("NGSILD-Warning"), None);
    let mut expected = vec![a, c];
    expected.sort();
    assert_eq!(ids(&found.json()), expected);
}

/// Clauses 5.2.34 and 4.3.6.4: a registration with `management.localOnly` has its source
/// answer from its own data only (`local=true`): what that source would itself fetch from
/// further sources stays out; without it, the request cascades.
#[tokio::test]
async fn local_only_registrations_do_not_cascade() {
    let near = Pair::new();
    let far = unique_tenant();
    let ty = unique_type("cascade");
    let entity = |id: &str| {
        let mut e = vehicle(id, json!({"speed": {"type": "Property", "value": 1}}));
        e["type"] = json!(ty);
        e
    };
    let (held, beyond) = (unique_id("held"), unique_id("beyond"));
    Pair::create(&near.source, &entity(&held)).await;
    Pair::create(&far, &entity(&beyond)).await;
    // The source itself federates a further tenant.
    let onward = Pair {
        broker: near.source.clone(),
        source: far,
    };
    onward
        .register("inclusive", json!({"entities": [{"type": ty}]}))
        .await;
    let cascading = near
        .register("inclusive", json!({"entities": [{"type": ty}]}))
        .await;
    let mut everything = vec![held.clone(), beyond];
    everything.sort();
    let all = near
        .query(&format!("type={ty}"))
        .await
        .expect_status(200)
        .json();
    assert_eq!(ids(&all), everything);
    let path = format!("/csourceRegistrations/{cascading}");
    let limit = json!({"management": {"localOnly": true}});
    send(Pair::at(&near.broker, patch(&path)).json(&limit))
        .await
        .expect_status(204);
    let own = near
        .query(&format!("type={ty}"))
        .await
        .expect_status(200)
        .json();
    assert_eq!(ids(&own), [held]);
}

/// Clause 4.3.6.7: an entity split between the broker and a source matches a query on
/// attributes of both only with `splitEntities=true`, when the conditions are applied to
/// the merged entity; without it each side filters its own part.
#[tokio::test]
async fn split_entities_are_filtered_after_the_merge() {
    let pair = Pair::new();
    let ty = unique_type("split");
    let id = unique_id("split");
    let part = |attributes: Value| {
        let mut e = vehicle(&id, attributes);
        e["type"] = json!(ty);
        e
    };
    Pair::create(
        &pair.broker,
        &part(json!({"brandName": {"type": "Property", "value": "Fiat"}})),
    )
    .await;
    Pair::create(
        &pair.source,
        &part(json!({"speed": {"type": "Property", "value": 80}})),
    )
    .await;
    pair.register("inclusive", json!({"entities": [{"type": ty}]}))
        .await;
    let q = "speed>50;brandName==%22Fiat%22";
    let parts = pair
        .query(&format!("type={ty}&q={q}"))
        .await
        .expect_status(200)
        .json();
    assert_eq!(parts, json!([]), "each part alone fails the query");
    let whole = pair
        .query(&format!("type={ty}&q={q}&splitEntities=true"))
        .await
        .expect_status(200)
        .json();
    assert_eq!(ids(&whole), std::slice::from_ref(&id));
    assert_eq!(whole[0]["speed"]["value"], 80, "{whole}");
}

/// Clauses 5.2.34 and 6.3.17: within a registration's `cacheDuration` the same read is
/// answered from the copy the source last gave, with a 110 warning naming the
/// registration; the source is not asked again.
#[tokio::test]
async fn reads_within_the_cache_duration_use_the_kept_answer() {
    let pair = Pair::new();
    let id = unique_id("cached");
    let speed = |v: i64| vehicle(&id, json!({"speed": {"type": "Property", "value": v}}));
    Pair::create(&pair.source, &speed(1)).await;
    let csr = pair
        .register("inclusive", json!({"entities": [{"type": "Vehicle"}]}))
        .await;
    let path = format!("/csourceRegistrations/{csr}");
    let cached = json!({"management": {"cacheDuration": "PT1H"}});
    send(Pair::at(&pair.broker, patch(&path)).json(&cached))
        .await
        .expect_status(204);
    let first = pair.retrieve(&id, "").await.expect_status(200);
    assert_eq!(first.header("NGSILD-Warning"), None);
    assert_eq!(first.json()["speed"]["value"], 1);
    let update = json!({"speed": {"type": "Property", "value": 2}});
    send(Pair::at(&pair.source, patch(&format!("/entities/{id}/attrs"))).json(&update))
        .await
        .expect_status(204);
    let again = pair.retrieve(&id, "").await.expect_status(200);
    let warning = again
        .header("NGSILD-Warning")
        .unwrap_or_default()
        .to_owned();
    assert!(
        warning.starts_with("110 ") && warning.contains(&csr),
        "{warning}"
    );
    assert_eq!(again.json()["speed"]["value"], 1);
    let counted = send(Pair::at(&pair.broker, get(&path))).await.json();
    assert_eq!(counted["timesSent"], 1, "{counted}");
}

/// Clauses 5.15.1 and 5.2.40: the broker tells who it is as a context source: an id per
/// tenant, the alias its forwarded requests carry in `Via`, its uptime and its clock.
#[tokio::test]
async fn the_broker_tells_its_identity_as_a_context_source() {
    let identity = send(get("/info/sourceIdentity"))
        .await
        .expect_status(200)
        .json();
    assert_eq!(identity["type"], "ContextSourceIdentity", "{identity}");
    let alias = identity["contextSourceAlias"].as_str().unwrap_or_default();
    assert!(!alias.is_empty(), "{identity}");
    assert!(identity["contextSourceUptime"]
        .as_str()
        .is_some_and(|u| u.starts_with("PT")));
    assert!(identity["contextSourceTimeAt"].is_string(), "{identity}");
    let tenant = unique_tenant();
    let of_tenant = send(Pair::at(&tenant, get("/info/sourceIdentity")))
        .await
        .expect_status(200)
        .json();
    assert_eq!(of_tenant["contextSourceAlias"], alias);
    assert_ne!(of_tenant["id"], identity["id"]);
    assert!(of_tenant["id"]
        .as_str()
        .is_some_and(|id| id.ends_with(&tenant)));
}

/// Clauses 5.14 and 6.4.3.2: `entityMap=true` keeps the set of entities a distributed
/// query found and where each is held (201, `NGSILD-EntityMap`); the following pages read
/// exactly that set, even when a source has gained entities since; the map can be read,
/// given a new `expiresAt` and deleted.
#[tokio::test]
async fn an_entity_map_keeps_the_set_a_query_pages_through() {
    let pair = Pair::new();
    let ty = unique_type("mapped");
    let entity = |id: &str| {
        let mut e = vehicle(id, json!({"speed": {"type": "Property", "value": 1}}));
        e["type"] = json!(ty);
        e
    };
    let mut found: Vec<String> = (0..3).map(|i| unique_id(&format!("map{i}"))).collect();
    found.sort();
    Pair::create(&pair.broker, &entity(&found[0])).await;
    Pair::create(&pair.source, &entity(&found[1])).await;
    Pair::create(&pair.source, &entity(&found[2])).await;
    let csr = pair
        .register("inclusive", json!({"entities": [{"type": ty}]}))
        .await;
    let first = pair
        .query(&format!("type={ty}&entityMap=true&limit=2&count=true"))
        .await
        .expect_status(201);
    assert_eq!(first.header("NGSILD-Results-Count"), Some("3"));
    let location = first
        .header("NGSILD-EntityMap")
        .unwrap_or_default()
        .to_owned();
    assert!(
        location.starts_with("/ngsi-ld/v1/entityMaps/"),
        "{location}"
    );
    assert_eq!(ids(&first.json()), found[..2]);

    let map_path = location.trim_start_matches("/ngsi-ld/v1");
    let map = send(Pair::at(&pair.broker, get(map_path)))
        .await
        .expect_status(200)
        .json();
    assert_eq!(map["type"], "EntityMap", "{map}");
    assert_eq!(map["entityMap"][&found[0]], json!(["@none"]), "{map}");
    assert_eq!(map["entityMap"][&found[2]], json!([csr]), "{map}");

    // A later entity at the source is not part of the mapped set.
    Pair::create(&pair.source, &entity(&unique_id("map-later"))).await;
    let rest = send(
        Pair::at(
            &pair.broker,
            get(&format!("/entities?type={ty}&offset=2&limit=2")),
        )
        .header("NGSILD-EntityMap", &location),
    )
    .await
    .expect_status(200);
    assert_eq!(rest.header("NGSILD-EntityMap"), Some(location.as_str()));
    assert_eq!(ids(&rest.json()), found[2..]);

    let later = json!({"expiresAt": "2099-01-01T00:00:00Z"});
    send(Pair::at(&pair.broker, patch(map_path)).json(&later))
        .await
        .expect_status(204);
    send(Pair::at(&pair.broker, delete(map_path)))
        .await
        .expect_status(204);
    assert_problem(
        &send(Pair::at(&pair.broker, get(map_path))).await,
        404,
        "ResourceNotFound",
    );
}
