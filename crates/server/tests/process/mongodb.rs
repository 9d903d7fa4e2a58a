//! The broker on a MongoDB store, as processes: a database outage answers 503 with
//! `Retry-After` and makes the broker unready, and once the database is back the broker
//! serves again by itself, with every write it acknowledged before the outage.
//!
//! The database is SecantusDB's Python server (`secantusd-py`, on `PATH` or at
//! `RIGEL_TEST_SECANTUS`), started here on a data directory of its own. Without it the test
//! says it was skipped, unless `RIGEL_REQUIRE_MONGODB` is set (CI), which makes it fail.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{free_port, rigel_command, wait_ready, Running, Start};

/// The SecantusDB server command, or `None` when the machine has none.
fn secantus() -> Option<String> {
    let program = std::env::var("RIGEL_TEST_SECANTUS").unwrap_or_else(|_| "secantusd-py".into());
    let found = Command::new(&program)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(program);
    }
    assert!(
        std::env::var_os("RIGEL_REQUIRE_MONGODB").is_none(),
        "RIGEL_REQUIRE_MONGODB is set but {program} cannot be run"
    );
    eprintln!("skipped: no MongoDB-compatible server ({program}); see .ci/run");
    None
}

/// Starts the database on `port` over `dir`, syncing every commit, and waits until it
/// listens.
async fn start_database(program: &str, dir: &std::path::Path, port: u16) -> Running {
    let running = Command::new(program)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .arg("--storage-path")
        .arg(dir)
        .args(["--sync-on-commit", "--log-level", "WARNING"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .start();
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "the database did not start listening"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    running
}

/// Polls `url` until it answers `status`; the last response.
async fn until_status(
    client: &reqwest::Client,
    url: &str,
    status: u16,
    within: Duration,
) -> reqwest::Response {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(response) = client.get(url).send().await {
            if response.status().as_u16() == status {
                return response;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not answer {status} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_503_with_retry_after_and_the_broker_recovers_with_every_acknowledged_write(
) {
    let Some(program) = secantus() else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let broker_dir = tempfile::tempdir().unwrap();
    let db_port = free_port();
    let mut database = start_database(&program, data.path(), db_port).await;
    let (port, admin) = (free_port(), free_port());
    let _rigel = rigel_command(broker_dir.path(), port, admin)
        .args([
            "--log-level",
            "warn",
            "--mongo-database",
            "drill",
            "--mongo-timeout-ms",
            "2000",
        ])
        .arg("--store")
        .arg(format!("mongodb://127.0.0.1:{db_port}/?retryWrites=false"))
        .start();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    wait_ready(&client, &base).await;
    let ready = format!("http://127.0.0.1:{admin}/health/ready");
    until_status(&client, &ready, 200, Duration::from_secs(10)).await;

    for i in 0..20 {
        let created = client
            .post(format!("{base}/entities"))
            .json(&serde_json::json!({
                "id": format!("urn:ngsi-ld:Spot:{i}"),
                "type": "https://example.org/ParkingSpot",
                "status": {"type": "Property", "value": "free"},
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
    }

    database.kill().unwrap();
    database.wait().unwrap();
    let one = format!("{base}/entities/urn:ngsi-ld:Spot:3");
    let refused = until_status(&client, &one, 503, Duration::from_secs(15)).await;
    assert!(
        refused.headers().get("retry-after").is_some(),
        "503 without Retry-After"
    );
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["title"], "Service Unavailable");
    until_status(&client, &ready, 503, Duration::from_secs(10)).await;
    let during = client
        .post(format!("{base}/entities"))
        .json(&serde_json::json!({"id": "urn:ngsi-ld:Spot:late", "type": "https://example.org/ParkingSpot"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        during.status(),
        503,
        "a write during the outage is refused, not acknowledged"
    );

    let _database = start_database(&program, data.path(), db_port).await;
    until_status(&client, &ready, 200, Duration::from_secs(20)).await;
    let all = until_status(
        &client,
        &format!("{base}/entities?type=https://example.org/ParkingSpot&count=true&limit=0"),
        200,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(
        all.headers()
            .get("ngsild-results-count")
            .and_then(|v| v.to_str().ok()),
        Some("20"),
        "every write acknowledged before the outage is there after it"
    );
}
