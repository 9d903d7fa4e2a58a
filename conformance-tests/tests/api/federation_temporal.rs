//! Temporal operations, distributed (clauses 5.7.3.4, 5.7.4.4): the broker's instances
//! merged with those of the sources registered for `retrieveTemporal` and `queryTemporal`.
//! As in `federation`, the source is the broker under test in another tenant.

use serde_json::{json, Value};

use crate::federation::Pair;
use crate::harness::*;

/// A Meter's evolution of `power` with these (value, minute) readings.
fn evolution(id: &str, readings: &[(i64, u32)]) -> Value {
    let instances: Vec<Value> = readings
        .iter()
        .map(|(value, minute)| {
            json!({"type": "Property", "value": value, "observedAt": format!("2020-08-01T12:{minute:02}:00Z")})
        })
        .collect();
    json!({"id": id, "type": "Meter", "power": instances})
}

async fn write(tenant: &str, body: Value) {
    send(Pair::at(tenant, post("/temporal/entities")).json(&body))
        .await
        .expect_status(201);
}

fn values(history: &Value) -> Vec<Value> {
    history["power"]
        .as_array()
        .map(|instances| instances.iter().map(|i| i["value"].clone()).collect())
        .unwrap_or_default()
}

/// Clause 5.7.3.4: a temporal retrieval merges the broker's instances with those of a
/// source registered for `retrieveTemporal`, one per instant (the same instant held twice
/// counts once), and aggregations run over the merged instances.
#[tokio::test]
async fn a_temporal_retrieval_merges_the_sources_instances() {
    let pair = Pair::new();
    let id = unique_id("temporal");
    let reading = |value: i64, minute: u32| json!({"type": "Property", "value": value, "observedAt": format!("2020-08-01T12:{minute:02}:00Z")});
    let evolution = |instances: Vec<Value>| json!({"id": id, "type": "Meter", "power": instances});
    let write =
        |tenant: &str, body: Value| send(Pair::at(tenant, post("/temporal/entities")).json(&body));
    write(&pair.broker, evolution(vec![reading(1, 0), reading(3, 2)]))
        .await
        .expect_status(201);
    write(
        &pair.source,
        evolution(vec![reading(2, 1), reading(3, 2), reading(9, 3)]),
    )
    .await
    .expect_status(201);
    let info = json!({"entities": [{"type": "Meter"}]});
    pair.register_for(
        &root_url(""),
        "inclusive",
        info,
        Some(json!(["retrieveTemporal"])),
    )
    .await;
    let read = |query: &str| {
        send(Pair::at(
            &pair.broker,
            get(&format!("/temporal/entities/{id}?{query}")),
        ))
    };
    let merged = read("timerel=after&timeAt=2020-08-01T00:00:00Z")
        .await
        .expect_status(200);
    assert_eq!(merged.header("NGSILD-Warning"), None);
    assert_eq!(
        values(&merged.json()),
        [json!(1), json!(2), json!(3), json!(9)]
    );
    let local = read("timerel=after&timeAt=2020-08-01T00:00:00Z&local=true")
        .await
        .json();
    assert_eq!(local["power"].as_array().map(Vec::len), Some(2), "{local}");
    let aggregated = read(
        "timerel=after&timeAt=2020-08-01T00:00:00Z&format=aggregatedValues&aggrMethods=max,totalCount",
    )
    .await
    .expect_status(200)
    .json();
    assert_eq!(
        aggregated["power"]["max"][0][0].as_f64(),
        Some(9.0),
        "{aggregated}"
    );
    assert_eq!(aggregated["power"]["totalCount"][0][0], 4, "{aggregated}");
}

/// Clause 5.7.4.4: a temporal query answers the broker's evolutions and the source's, an
/// entity both hold merged instant by instant, in id order, counted over the whole.
#[tokio::test]
async fn a_temporal_query_merges_the_sources_evolutions() {
    let pair = Pair::new();
    let (both, remote) = (unique_id("tq-both"), unique_id("tq-remote"));
    write(&pair.broker, evolution(&both, &[(1, 0)])).await;
    write(&pair.source, evolution(&both, &[(2, 1)])).await;
    write(&pair.source, evolution(&remote, &[(5, 4)])).await;
    let info = json!({"entities": [{"type": "Meter"}]});
    pair.register_for(
        &root_url(""),
        "inclusive",
        info,
        Some(json!(["queryTemporal"])),
    )
    .await;
    let found = send(Pair::at(
        &pair.broker,
        get("/temporal/entities?type=Meter&timerel=after&timeAt=2020-08-01T00:00:00Z&count=true"),
    ))
    .await
    .expect_status(200);
    assert_eq!(found.header("NGSILD-Results-Count"), Some("2"));
    let body = found.json();
    let mut expected = vec![both.clone(), remote.clone()];
    expected.sort();
    let ids: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    assert_eq!(ids, expected);
    let merged = body
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == json!(both))
        .cloned()
        .unwrap_or_default();
    assert_eq!(values(&merged), [json!(1), json!(2)], "{merged}");
}
