//! The temporal API (clauses 5.6.11-5.6.16, 5.7.3, 5.7.4, 6.18-6.24): what entity writes
//! record, temporal provision, retrieval and query in every representation, timerel edges,
//! aggregation and paging.

use serde_json::{json, Value};

use crate::harness::*;

/// Speeds observed one minute apart from 12:00, as a temporal attribute.
fn speeds(values: &[i64]) -> Value {
    Value::Array(
        values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                json!({"type": "Property", "value": v, "observedAt": format!("2020-08-01T12:{i:02}:00Z")})
            })
            .collect(),
    )
}

async fn upsert(body: &Value) -> Reply {
    send(post("/temporal/entities").json(body)).await
}

async fn temporal(id: &str, query: &str) -> Value {
    send(get(&format!("/temporal/entities/{id}?{query}")))
        .await
        .expect_status(200)
        .json()
}

fn values_of(attr: &Value) -> Vec<Value> {
    attr.as_array()
        .map(|all| all.iter().map(|i| i["value"].clone()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn entity_writes_are_kept_as_instances_with_deletions_as_null() {
    let id = unique_id("history-writes");
    create(&json!({"id": id, "type": "Car", "speed": {"type": "Property", "value": 1}})).await;
    send(patch(&format!("/entities/{id}/attrs/speed")).json(&json!({"value": 2})))
        .await
        .expect_status(204);
    send(delete(&format!("/entities/{id}/attrs/speed")))
        .await
        .expect_status(204);
    let found = temporal(
        &id,
        "timeproperty=modifiedAt&timerel=after&timeAt=2000-01-01T00:00:00Z",
    )
    .await;
    let speed = &found["speed"];
    assert_eq!(
        values_of(speed),
        [json!(1), json!(2), json!("urn:ngsi-ld:null")],
        "{found}"
    );
    assert!(speed[2]["deletedAt"].is_string(), "{found}");
    for instance in speed.as_array().unwrap() {
        assert!(
            instance["instanceId"].as_str().unwrap().starts_with("urn:"),
            "{found}"
        );
    }
    send(delete(&format!("/entities/{id}")))
        .await
        .expect_status(204);
    let after = temporal(&id, "options=sysAttrs").await;
    assert!(
        after["deletedAt"].is_string(),
        "the history outlives the entity: {after}"
    );
}

#[tokio::test]
async fn upsert_creates_then_adds_instances_and_types() {
    let id = unique_id("temporal-upsert");
    let first = json!({"id": id, "type": "Vehicle", "speed": speeds(&[120, 80])});
    let reply = upsert(&first).await.expect_status(201);
    assert_eq!(
        reply.header("Location"),
        Some(format!("/ngsi-ld/v1/temporal/entities/{id}").as_str())
    );
    let second = json!({"id": id, "type": ["Vehicle", "Truck"], "speed": [{"type": "Property", "value": 100, "observedAt": "2020-08-01T12:05:00Z"}]});
    upsert(&second).await.expect_status(204);
    let found = temporal(&id, "").await;
    assert_eq!(
        values_of(&found["speed"]),
        [json!(120), json!(80), json!(100)]
    );
    assert_eq!(found["type"], json!(["Vehicle", "Truck"]));
    send(get(&format!("/entities/{id}")))
        .await
        .expect_status(404);
    send(delete(&format!("/temporal/entities/{id}")))
        .await
        .expect_status(204);
    send(get(&format!("/temporal/entities/{id}")))
        .await
        .expect_status(404);
}

#[tokio::test]
async fn scope_changes_are_kept_as_a_property_observed_when_modified() {
    let id = unique_id("scope-history");
    create(&json!({"id": id, "type": "Car", "scope": "/Madrid"})).await;
    send(patch(&format!("/entities/{id}/attrs")).json(&json!({"scope": ["/Madrid/Centro", "/A"]})))
        .await
        .expect_status(204);
    send(delete(&format!("/entities/{id}/attrs/scope")))
        .await
        .expect_status(204);
    let found = temporal(&id, "options=sysAttrs").await;
    let scope = &found["scope"];
    assert_eq!(
        values_of(scope),
        [
            json!(["/Madrid"]),
            json!(["/Madrid/Centro", "/A"]),
            json!([])
        ],
        "{found}"
    );
    for instance in &scope.as_array().unwrap()[..2] {
        assert_eq!(instance["type"], "Property", "{found}");
        assert_eq!(instance["observedAt"], instance["modifiedAt"], "{found}");
    }
    assert!(scope[2]["deletedAt"].is_string(), "{found}");
    let simplified = temporal(&id, "options=temporalValues").await;
    assert_eq!(
        simplified["scope"]["values"][1][0],
        json!(["/Madrid/Centro", "/A"])
    );

    let temporal_id = unique_id("temporal-scope");
    upsert(&json!({"id": temporal_id, "type": "Car", "scope": ["/B", "/C"]}))
        .await
        .expect_status(201);
    let instances = json!([
        {"type": "Property", "value": "/D", "observedAt": "2020-08-01T12:00:00Z"},
        {"type": "Property", "value": ["/E", "/F"], "observedAt": "2020-08-01T13:00:00Z"}
    ]);
    upsert(&json!({"id": temporal_id, "type": "Car", "scope": instances}))
        .await
        .expect_status(204);
    // In time order: the first scope was filed when written, without an observedAt.
    let found = temporal(&temporal_id, "").await;
    assert_eq!(
        values_of(&found["scope"]),
        [json!(["/D"]), json!(["/E", "/F"]), json!(["/B", "/C"])],
        "{found}"
    );
    let selected = send(get(&format!(
        "/temporal/entities?type=Car&scopeQ=/E&timerel=after&timeAt=2020-01-01T00:00:00Z&id={temporal_id}"
    )))
    .await
    .expect_status(200)
    .json();
    assert_eq!(selected.as_array().map(Vec::len), Some(1), "{selected}");
    let bad = json!({"id": temporal_id, "type": "Car", "scope": [{"type": "Property", "value": "no-slash"}]});
    assert_problem(&upsert(&bad).await, 400, "BadRequestData");
}

#[tokio::test]
async fn timerel_bounds_are_inclusive_at_the_start_and_exclusive_at_the_end() {
    let id = unique_id("timerel");
    upsert(&json!({"id": id, "type": "Vehicle", "speed": speeds(&[0, 1, 2, 3])}))
        .await
        .expect_status(201);
    let at = |m: u32| format!("2020-08-01T12:{m:02}:00Z");
    let before = temporal(&id, &format!("timerel=before&timeAt={}", at(1))).await;
    assert_eq!(values_of(&before["speed"]), [json!(0)]);
    let after = temporal(&id, &format!("timerel=after&timeAt={}", at(2))).await;
    assert_eq!(values_of(&after["speed"]), [json!(2), json!(3)]);
    let between = temporal(
        &id,
        &format!("timerel=between&timeAt={}&endTimeAt={}", at(1), at(3)),
    )
    .await;
    assert_eq!(values_of(&between["speed"]), [json!(1), json!(2)]);
    let last = temporal(&id, "lastN=2").await;
    assert_eq!(values_of(&last["speed"]), [json!(2), json!(3)]);
    for bad in [
        "timerel=before",
        "timerel=around&timeAt=2020-08-01T12:00:00Z",
        "timerel=between&timeAt=2020-08-01T12:00:00Z",
        "lastN=0",
        "timeproperty=seenAt",
    ] {
        let reply = send(get(&format!("/temporal/entities/{id}?{bad}"))).await;
        assert_problem(&reply, 400, "BadRequestData");
    }
}

#[tokio::test]
async fn temporal_values_pair_each_value_with_its_time() {
    let id = unique_id("temporal-values");
    let body = json!({
        "id": id, "type": "Vehicle", "speed": speeds(&[5, 6]),
        "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Person:1", "observedAt": "2020-08-01T12:00:00Z"},
        "label": {"type": "LanguageProperty", "languageMap": {"en": "car"}, "observedAt": "2020-08-01T12:00:00Z"},
    });
    upsert(&body).await.expect_status(201);
    let found = temporal(&id, "format=temporalValues").await;
    assert_eq!(
        found["speed"],
        json!({"type": "Property", "values": [[5, "2020-08-01T12:00:00Z"], [6, "2020-08-01T12:01:00Z"]]})
    );
    assert_eq!(
        found["owner"],
        json!({"type": "Relationship", "objects": [["urn:ngsi-ld:Person:1", "2020-08-01T12:00:00Z"]]})
    );
    assert_eq!(
        found["label"],
        json!({"type": "LanguageProperty", "languageMaps": [[{"languageMap": {"en": "car"}}, "2020-08-01T12:00:00Z"]]})
    );
    let deprecated = temporal(&id, "options=temporalValues").await;
    assert_eq!(deprecated["speed"], found["speed"]);
}

#[tokio::test]
async fn aggregated_values_apply_every_method_per_period() {
    let id = unique_id("aggregated");
    upsert(&json!({"id": id, "type": "Vehicle", "speed": speeds(&[1, 2, 3, 3])}))
        .await
        .expect_status(201);
    let found = temporal(&id, "format=aggregatedValues&aggrMethods=totalCount,distinctCount,sum,avg,min,max,stddev,sumsq&aggrPeriodDuration=PT2M&timerel=between&timeAt=2020-08-01T12:00:00Z&endTimeAt=2020-08-01T12:04:00Z").await;
    let speed = &found["speed"];
    let first = |m: &str| speed[m][0][0].clone();
    let second = |m: &str| speed[m][1][0].clone();
    assert_eq!(
        (first("totalCount"), second("totalCount")),
        (json!(2), json!(2)),
        "{found}"
    );
    assert_eq!(
        (first("distinctCount"), second("distinctCount")),
        (json!(2), json!(1))
    );
    assert_eq!(
        (first("sum").as_f64(), second("sum").as_f64()),
        (Some(3.0), Some(6.0))
    );
    assert_eq!(
        (first("min").as_f64(), first("max").as_f64()),
        (Some(1.0), Some(2.0))
    );
    assert_eq!(first("avg").as_f64(), Some(1.5));
    assert_eq!(first("stddev").as_f64(), Some(0.5));
    assert_eq!(second("stddev").as_f64(), Some(0.0));
    assert_eq!(first("sumsq").as_f64(), Some(5.0));
    assert_eq!(speed["sum"][0][1], json!("2020-08-01T12:00:00Z"));
    assert_eq!(speed["sum"][0][2], json!("2020-08-01T12:02:00Z"));
    let reply = send(get(&format!(
        "/temporal/entities/{id}?format=aggregatedValues&aggrMethods=median"
    )))
    .await;
    assert_problem(&reply, 400, "BadRequestData");
}

#[tokio::test]
async fn attributes_and_instances_are_deleted_and_modified() {
    let id = unique_id("temporal-edit");
    let ds = "urn:ngsi-ld:dataset:b";
    let mut fuel = speeds(&[10, 20]);
    fuel.as_array_mut().unwrap()[1]["datasetId"] = json!(ds);
    upsert(&json!({"id": id, "type": "Vehicle", "speed": speeds(&[1, 2]), "fuel": fuel}))
        .await
        .expect_status(201);
    send(delete(&format!(
        "/temporal/entities/{id}/attrs/fuel?datasetId={ds}"
    )))
    .await
    .expect_status(204);
    assert_eq!(values_of(&temporal(&id, "").await["fuel"]), [json!(10)]);
    send(delete(&format!(
        "/temporal/entities/{id}/attrs/fuel?deleteAll=true"
    )))
    .await
    .expect_status(204);
    assert!(temporal(&id, "").await.get("fuel").is_none());
    send(delete(&format!("/temporal/entities/{id}/attrs/fuel")))
        .await
        .expect_status(404);
    let found = temporal(&id, "").await;
    let first = found["speed"][0]["instanceId"].as_str().unwrap().to_owned();
    let second = found["speed"][1]["instanceId"].as_str().unwrap().to_owned();
    let fix =
        json!({"speed": [{"type": "Property", "value": 9, "observedAt": "2020-08-01T12:00:00Z"}]});
    send(patch(&format!("/temporal/entities/{id}/attrs/speed/{first}")).json(&fix))
        .await
        .expect_status(204);
    let bare = json!({"type": "Property", "value": 8, "observedAt": "2020-08-01T12:01:00Z"});
    send(patch(&format!("/temporal/entities/{id}/attrs/speed/{second}")).json(&bare))
        .await
        .expect_status(204);
    assert_eq!(
        values_of(&temporal(&id, "").await["speed"]),
        [json!(9), json!(8)],
        "the instance alone is a body too"
    );
    send(delete(&format!(
        "/temporal/entities/{id}/attrs/speed/{second}"
    )))
    .await
    .expect_status(204);
    let left = temporal(&id, "").await;
    assert_eq!(values_of(&left["speed"]), [json!(9)]);
    assert_eq!(
        left["speed"][0]["instanceId"],
        json!(first),
        "the id survives a change"
    );
    send(delete(&format!(
        "/temporal/entities/{id}/attrs/speed/{second}"
    )))
    .await
    .expect_status(404);
}

#[tokio::test]
async fn query_orders_by_id_either_way_links_its_pages_and_refuses_other_members() {
    let kind = unique_type("TemporalOrder");
    let ids: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|n| format!("urn:ngsi-ld:{kind}:{n}"))
        .collect();
    for id in [&ids[1], &ids[2], &ids[0]] {
        upsert(&json!({"id": id, "type": kind, "speed": speeds(&[1])}))
            .await
            .expect_status(201);
    }
    let query = |q: &str| {
        format!("/temporal/entities?type={kind}&timerel=after&timeAt=2020-01-01T00:00:00Z&{q}")
    };
    let ids_of = |found: &Value| -> Vec<&String> {
        let got: Vec<&str> = found
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        got.iter()
            .map(|g| ids.iter().find(|i| i == g).unwrap())
            .collect()
    };
    for (order, expected) in [
        ("orderBy=id", vec![&ids[0], &ids[1], &ids[2]]),
        ("orderBy=id;asc", vec![&ids[0], &ids[1], &ids[2]]),
        ("orderBy=id;desc", vec![&ids[2], &ids[1], &ids[0]]),
        ("orderBy=id;desc&offset=1&limit=1", vec![&ids[1]]),
    ] {
        let reply = send(get(&query(&format!("{order}&count=true"))))
            .await
            .expect_status(200);
        assert_eq!(reply.header("NGSILD-Results-Count"), Some("3"), "{order}");
        let found = reply.json();
        assert_eq!(ids_of(&found), expected, "{order}: {found}");
    }
    // Link: prev and next pages (6.3.10), whichever exist.
    for (q, prev, next) in [
        ("limit=2", false, true),
        ("limit=2&offset=2", true, false),
        ("orderBy=id;desc&limit=1&offset=1", true, true),
        ("limit=3", false, false),
    ] {
        let reply = send(get(&query(q))).await.expect_status(200);
        let links = reply.headers_all("Link").join(",");
        assert_eq!(links.contains("rel=\"prev\""), prev, "{q}: {links}");
        assert_eq!(links.contains("rel=\"next\""), next, "{q}: {links}");
    }
    for bad in [
        "orderBy=speed",
        "orderBy=id,type",
        "orderBy=id;up",
        "collation=und-x-icu",
    ] {
        assert_problem(&send(get(&query(bad))).await, 400, "BadRequestData");
    }
}

#[tokio::test]
async fn query_combines_type_time_and_q_on_the_instances_in_range() {
    let kind = unique_type("TemporalQuery");
    let fast = unique_id("tq-fast");
    let slow = unique_id("tq-slow");
    upsert(&json!({"id": fast, "type": kind, "speed": speeds(&[10, 90])}))
        .await
        .expect_status(201);
    upsert(&json!({"id": slow, "type": kind, "speed": speeds(&[10, 20])}))
        .await
        .expect_status(201);
    let query = |q: &str| {
        format!("/temporal/entities?type={kind}&timerel=after&timeAt=2020-08-01T12:00:00Z&{q}")
    };
    let all = send(get(&query("count=true"))).await.expect_status(200);
    assert_eq!(all.header("NGSILD-Results-Count"), Some("2"));
    let found = send(get(&query("q=speed>50")))
        .await
        .expect_status(200)
        .json();
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found[0]["id"], json!(fast));
    let early = send(get(&format!(
        "/temporal/entities?type={kind}&timerel=before&timeAt=2020-08-01T12:01:00Z&q=speed>50"
    )))
    .await
    .expect_status(200)
    .json();
    assert_eq!(early, json!([]), "q sees only the instances in range");
    let body = json!({"type": "Query", "entities": [{"type": kind}], "q": "speed>50", "temporalQ": {"timerel": "after", "timeAt": "2020-08-01T12:00:00Z"}});
    let posted = send(post("/temporal/entityOperations/query").json(&body))
        .await
        .expect_status(200)
        .json();
    assert_eq!(posted, found);
    let reply = send(get(&format!("/temporal/entities?type={kind}"))).await;
    assert_problem(&reply, 400, "BadRequestData");
}

/// `n` numbered instances observed `step` seconds apart from `2020-08-01T12:00:00Z`.
fn every(n: usize, step: usize) -> Value {
    Value::Array(
        (0..n)
            .map(|i| {
                let s = step * i;
                let t = format!(
                    "2020-08-01T{:02}:{:02}:{:02}Z",
                    12 + s / 3600,
                    (s / 60) % 60,
                    s % 60
                );
                json!({"type": "Property", "value": i, "observedAt": t})
            })
            .collect(),
    )
}

fn count(attr: &Value) -> usize {
    attr.as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn long_ranges_are_paged_with_content_range_forwards_and_backwards() {
    // More instances than the default page of 1,000 per attribute: 1,500 speeds one second
    // apart from 12:00:00, and fuel at 12:00, 12:30 and 13:00.
    let kind = unique_type("Paged");
    let id = unique_id("history-paged");
    upsert(&json!({"id": id, "type": kind, "speed": every(1500, 1), "fuel": every(3, 1800)}))
        .await
        .expect_status(201);

    // Forwards: the first 1,000 speeds (up to 12:16:39), every attribute cut there.
    let first = send(get(&format!("/temporal/entities/{id}"))).await;
    let first = first.expect_status(206);
    assert_eq!(
        first.header("content-range"),
        Some("DateTime 2020-08-01T12:00:00.000Z-2020-08-01T12:16:39.000Z/*")
    );
    let body = first.json();
    assert_eq!(count(&body["speed"]), 1000);
    assert_eq!(count(&body["fuel"]), 1, "fuel is cut at the same instant");

    // The next page starts where the first ended and holds the rest.
    let next = send(get(&format!(
        "/temporal/entities/{id}?timerel=after&timeAt=2020-08-01T12:16:40Z"
    )))
    .await
    .expect_status(200);
    assert!(next.header("content-range").is_none());
    let rest = next.json();
    assert_eq!(count(&rest["speed"]), 500);
    assert_eq!(count(&rest["fuel"]), 2);

    // Backwards with lastN: the most recent 1,000 speeds, fuel cut at 12:08:20 too.
    let last = send(get(&format!(
        "/temporal/entities/{id}?lastN=1200&options=temporalValues"
    )))
    .await
    .expect_status(206);
    assert_eq!(
        last.header("content-range"),
        Some("DateTime 2020-08-01T13:00:00.000Z-2020-08-01T12:08:20.000Z/1200")
    );
    let body = last.json();
    assert_eq!(count(&body["speed"]["values"]), 1000);
    assert_eq!(count(&body["fuel"]["values"]), 2);

    // lastN within the page is not a cut.
    send(get(&format!("/temporal/entities/{id}?lastN=10")))
        .await
        .expect_status(200);

    // A query is cut the same way, from its timeAt.
    let query = send(get(&format!(
        "/temporal/entities?type={kind}&timerel=after&timeAt=2020-08-01T11:00:00Z"
    )))
    .await
    .expect_status(206);
    assert_eq!(
        query.header("content-range"),
        Some("DateTime 2020-08-01T11:00:00.000Z-2020-08-01T12:16:39.000Z/*")
    );
    assert_eq!(count(&query.json()[0]["speed"]), 1000);

    // An aggregation covers the whole range at once.
    let aggregated = send(get(&format!(
        "/temporal/entities/{id}?options=aggregatedValues&aggrMethods=totalCount&aggrPeriodDuration=P1D"
    )))
    .await
    .expect_status(200)
    .json();
    assert_eq!(aggregated["speed"]["totalCount"][0][0], json!(1500));
}
