//! `rigel export` and `rigel import` as an operator runs them: a tenant moved from one
//! embedded store to another is served unchanged (system timestamps, history and
//! subscriptions included), a dry run writes nothing, and a broker holding a store keeps
//! the command out.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{exit_code, free_port, spawn_rigel, terminate, wait_ready};

/// Runs `rigel <args>` on the embedded store in `dir`.
pub fn rigel_tool(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rigel"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .args(["--log-level", "warn"])
        .stdin(Stdio::null())
        .output()
        .expect("rigel runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Writes two tenants (an entity updated once, so it has history, and a subscription)
/// through a broker on `dir`, then stops it.
pub async fn populate(dir: &Path) {
    let port = free_port();
    let mut rigel = spawn_rigel(dir, port);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    wait_ready(&client, &base).await;
    for tenant in ["city", "port"] {
        let spot = json!({"id": "urn:ngsi-ld:Spot:1", "type": "Spot",
            "status": {"type": "Property", "value": "free", "observedAt": "2026-12-07T08:00:00Z"}});
        let created = client
            .post(format!("{base}/entities"))
            .header("NGSILD-Tenant", tenant)
            .json(&spot)
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let update = json!({"status": {"type": "Property", "value": "taken", "observedAt": "2026-12-07T09:00:00Z"}});
        let patched = client
            .patch(format!("{base}/entities/urn:ngsi-ld:Spot:1/attrs"))
            .header("NGSILD-Tenant", tenant)
            .json(&update)
            .send()
            .await
            .unwrap();
        assert_eq!(patched.status(), 204);
        let subscription = json!({"type": "Subscription", "entities": [{"type": "Spot"}],
            "notification": {"endpoint": {"uri": "http://127.0.0.1:9/spots"}}});
        let subscribed = client
            .post(format!("{base}/subscriptions"))
            .header("NGSILD-Tenant", tenant)
            .json(&subscription)
            .send()
            .await
            .unwrap();
        assert_eq!(subscribed.status(), 201);
    }
    terminate(&rigel);
    assert_eq!(
        exit_code(&mut rigel, Duration::from_secs(20)).await,
        Some(0)
    );
}

/// What a broker on `dir` serves of tenant `city`: the entity with its system attributes,
/// its temporal representation and its subscriptions.
async fn served(dir: &Path, tenant: &str) -> Vec<Value> {
    let port = free_port();
    let mut rigel = spawn_rigel(dir, port);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    wait_ready(&client, &base).await;
    let mut views = Vec::new();
    for path in [
        "entities/urn:ngsi-ld:Spot:1?options=sysAttrs",
        "temporal/entities/urn:ngsi-ld:Spot:1?options=sysAttrs",
        "subscriptions",
    ] {
        let response = client
            .get(format!("{base}/{path}"))
            .header("NGSILD-Tenant", tenant)
            .send()
            .await
            .unwrap();
        views.push(response.json::<Value>().await.unwrap());
    }
    terminate(&rigel);
    assert_eq!(
        exit_code(&mut rigel, Duration::from_secs(20)).await,
        Some(0)
    );
    views
}

/// Instance ids are the store's own: an import assigns new ones.
fn without_instance_ids(mut v: Value) -> Value {
    if let Some(map) = v.as_object_mut() {
        map.remove("instanceId");
        for value in map.values_mut() {
            *value = without_instance_ids(value.take());
        }
    } else if let Some(list) = v.as_array_mut() {
        for value in list.iter_mut() {
            *value = without_instance_ids(value.take());
        }
    }
    v
}

#[tokio::test]
async fn a_tenant_exported_and_imported_into_another_store_is_served_unchanged() {
    let from = tempfile::tempdir().unwrap();
    let to = tempfile::tempdir().unwrap();
    populate(from.path()).await;
    let dump = from.path().join("city.ndjson");
    let dump_arg = dump.to_str().unwrap();

    let exported = rigel_tool(from.path(), &["export", "--tenant", "city", "-o", dump_arg]);
    assert!(exported.status.success(), "{}", stderr(&exported));
    assert!(
        stderr(&exported).contains(
            "exported 1 tenant(s): 1 entities, 1 histories (2 instances), 1 subscriptions"
        ),
        "{}",
        stderr(&exported)
    );

    let dry = rigel_tool(to.path(), &["import", dump_arg, "--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(stderr(&dry).contains("dry run"), "{}", stderr(&dry));
    let written = rigel_tool(to.path(), &["import", dump_arg]);
    assert!(written.status.success(), "{}", stderr(&written));
    let again = rigel_tool(to.path(), &["import", dump_arg]);
    assert!(
        stderr(&again).contains("entities       0 created, 0 replaced, 1 skipped"),
        "{}",
        stderr(&again)
    );

    let original: Vec<Value> = served(from.path(), "city")
        .await
        .into_iter()
        .map(without_instance_ids)
        .collect();
    let copy: Vec<Value> = served(to.path(), "city")
        .await
        .into_iter()
        .map(without_instance_ids)
        .collect();
    assert_eq!(copy, original);
    assert_eq!(original[2].as_array().map(Vec::len), Some(1));
    let other: Vec<Value> = served(to.path(), "port").await;
    assert_eq!(
        other[2]["type"], "https://uri.etsi.org/ngsi-ld/errors/NonexistentTenant",
        "only the chosen tenant moves"
    );
}

#[tokio::test]
async fn a_store_a_broker_holds_is_refused_and_a_bad_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _rigel = spawn_rigel(dir.path(), port);
    wait_ready(
        &reqwest::Client::new(),
        &format!("http://127.0.0.1:{port}/ngsi-ld/v1"),
    )
    .await;
    let busy = rigel_tool(dir.path(), &["export"]);
    assert_eq!(busy.status.code(), Some(2), "{}", stderr(&busy));

    let other = tempfile::tempdir().unwrap();
    let bad = other.path().join("bad.ndjson");
    std::fs::write(&bad, "{\"kind\":\"entity\"}\n").unwrap();
    let refused = rigel_tool(other.path(), &["import", bad.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("not a Rigel export"),
        "{}",
        stderr(&refused)
    );
}
