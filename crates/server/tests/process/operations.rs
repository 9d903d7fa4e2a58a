//! What an operator sees of a running `rigel`: health probes and Prometheus metrics on the
//! admin port, the request log (JSON lines, request ids), Orion-LD's environment variables.

use std::io::Read;
use std::process::Stdio;

use crate::common::{
    free_port, meter, post_json, rigel_command, subscribe_to_meters, terminate_cleanly, wait_ready,
    Running, Start,
};

async fn get_text(client: &reqwest::Client, url: &str) -> (u16, String) {
    let r = client.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Liveness, readiness and metrics on the admin port; metrics name routes by template and
/// cover the store, notifications, @context downloads and the build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_port_serves_probes_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (port, admin) = (free_port(), free_port());
    let mut child = rigel_command(dir.path(), port, admin)
        .args(["--log-level", "warn", "--api-health", "false"])
        .start();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    let admin_base = format!("http://127.0.0.1:{admin}");
    let client = reqwest::Client::new();
    wait_ready(&client, &base).await;

    let (status, body) = get_text(&client, &format!("{admin_base}/health/live")).await;
    assert_eq!((status, body.contains("live")), (200, true), "{body}");
    let (status, body) = get_text(&client, &format!("{admin_base}/health/ready")).await;
    assert_eq!((status, body.contains("ready")), (200, true), "{body}");
    let (status, _) = get_text(&client, &format!("http://127.0.0.1:{port}/health/ready")).await;
    assert_eq!(
        status, 404,
        "--api-health false keeps the probes off the API port"
    );

    let status = post_json(
        &client,
        &format!("{base}/entities"),
        &meter("urn:ngsi-ld:Meter:m", 0),
    )
    .await;
    assert_eq!(status, 201);
    // Port 9 (discard) has no listener here: deliveries fail, the subscription stays.
    subscribe_to_meters(&client, &base, "urn:ngsi-ld:Subscription:m", 9).await;
    for _ in 0..2 {
        let (status, _) = get_text(&client, &format!("{base}/entities/urn:ngsi-ld:Meter:m")).await;
        assert_eq!(status, 200);
    }
    let (status, metrics) = get_text(&client, &format!("{admin_base}/metrics")).await;
    assert_eq!(status, 200);
    for expected in [
        r#"rigel_http_requests_total{route="/ngsi-ld/v1/entities/{entityId}",method="GET",status="200"} 2"#,
        r#"rigel_http_requests_total{route="/ngsi-ld/v1/entities",method="POST",status="201"} 1"#,
        r#"rigel_http_request_duration_seconds_bucket{"#,
        "rigel_store_commits_total",
        "rigel_store_group_commit_size_bucket",
        "rigel_store_sync_duration_seconds_count",
        "rigel_store_cache_hits_total",
        "rigel_notifications_sent_total",
        "rigel_notifications_failed_total",
        "rigel_notifications_lost_total",
        r#"rigel_notification_queue_depth{tenant="",subscription="urn:ngsi-ld:Subscription:m"}"#,
        r#"rigel_context_fetches_total{outcome="ok"} 0"#,
        "rigel_build_info{version=",
        "rigel_ready 1",
    ] {
        assert!(
            metrics.contains(expected),
            "{expected} missing in:\n{metrics}"
        );
    }
    terminate_cleanly(&mut child).await;
}

/// One JSON line per request with method, path, tenant, status, latency, bytes and the
/// request id; the id is the client's when it sends one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_log_has_one_json_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = rigel_command(dir.path(), port, free_port())
        .args(["--log-format", "json"])
        .stdout(Stdio::piped())
        .start();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    let client = reqwest::Client::new();
    wait_ready(&client, &base).await;
    let r = client
        .get(format!("{base}/types"))
        .header("X-Request-Id", "operator-trace-1")
        .header("NGSILD-Tenant", "nobody")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-request-id"], "operator-trace-1");
    let r = client.get(format!("{base}/types")).send().await.unwrap();
    let generated = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    terminate_cleanly(&mut child).await;
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let line = lines
        .iter()
        .find(|l| l["request_id"] == "operator-trace-1")
        .unwrap_or_else(|| panic!("no request line in {out}"));
    assert_eq!(line["method"], "GET");
    assert_eq!(line["path"], "/ngsi-ld/v1/types");
    assert_eq!(line["tenant"], "nobody");
    assert_eq!(line["status"], 404);
    assert!(line["latency_ms"].as_f64().is_some(), "{line}");
    assert!(line["bytes_out"].as_u64().unwrap() > 0, "{line}");
    assert!(
        lines.iter().any(|l| l["request_id"] == generated.as_str()),
        "the generated id {generated} is logged"
    );
}

/// `rigel` on loopback with a free admin port, its own port left to the environment `env`.
fn spawn_with_env(dir: &std::path::Path, env: &[(&str, String)]) -> Running {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_rigel"));
    command
        .args([
            "--bind",
            "127.0.0.1",
            "--admin-port",
            &free_port().to_string(),
        ])
        .arg("--data-dir")
        .arg(dir)
        .stdout(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    command.start()
}

/// Orion-LD's variables configure Rigel where it has the same option; Rigel's own win.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orion_ld_environment_variables_are_synonyms() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let port = free_port();
    let mut child = spawn_with_env(
        dir.path(),
        &[
            ("ORIONLD_PORT", port.to_string()),
            ("ORIONLD_LOG_LEVEL", "WARN".to_owned()),
            ("ORIONLD_HTTP_TIMEOUT", "-1".to_owned()),
        ],
    );
    wait_ready(&client, &format!("http://127.0.0.1:{port}/ngsi-ld/v1")).await;
    terminate_cleanly(&mut child).await;

    let other = free_port();
    let mut child = spawn_with_env(
        dir.path(),
        &[
            ("ORIONLD_PORT", free_port().to_string()),
            ("RIGEL_PORT", other.to_string()),
        ],
    );
    wait_ready(&client, &format!("http://127.0.0.1:{other}/ngsi-ld/v1")).await;
    terminate_cleanly(&mut child).await;

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rigel"))
        .env("ORIONLD_PORT", "not-a-port")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ORIONLD_PORT"), "{err}");
}
