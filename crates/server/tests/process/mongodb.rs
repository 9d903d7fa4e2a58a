//! The broker on a MongoDB store, as processes: a database outage answers 503 with
//! `Retry-After` and makes the broker unready, and once the database is back the broker
//! serves again by itself, with every write it acknowledged before the outage; three
//! brokers over one database share their subscriptions, each change is notified once, and
//! when the broker delivering a subscription dies another takes it over and notifies what
//! it left; a lone broker killed right after acknowledging a burst of changes notifies all
//! of them once restarted; every tenant exported from the embedded store, imported into
//! MongoDB, exported again and imported back comes back record for record; a database that
//! stops answering (a frozen process) makes requests fail with 503 within the deadline,
//! and the broker serves again once it answers; an @context added through one broker is
//! served and used by the others, and deleted for all; a registration subscription is
//! notified once, by its lease holder, and the broker taking it over from a dead holder
//! notifies the registration changes it left.
//!
//! The database is SecantusDB's Python server (`secantusd-py`, on `PATH` or at
//! `RIGEL_TEST_SECANTUS`), started here on a data directory of its own. Without it the test
//! says it was skipped, unless `RIGEL_REQUIRE_MONGODB` is set (CI), which makes it fail.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{
    free_port, get_json, rigel_command, start_receiver, wait_ready, Running, Start,
};

/// The SecantusDB server command, or `None` when the machine has none.
pub fn secantus() -> Option<String> {
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
pub async fn start_database(program: &str, dir: &std::path::Path, port: u16) -> Running {
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
pub async fn until_status(
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

/// A broker on the database at `db_port`, its API base URL.
fn start_replica(db_port: u16, dir: &std::path::Path) -> (Running, String) {
    let port = free_port();
    let running = rigel_command(dir, port, free_port())
        .args(["--log-level", "warn", "--mongo-database", "replicas"])
        .arg("--store")
        .arg(format!("mongodb://127.0.0.1:{db_port}/?retryWrites=false"))
        .start();
    (running, format!("http://127.0.0.1:{port}/ngsi-ld/v1"))
}

/// A database and brokers sharing it, every broker ready; dropped brokers first.
struct Cluster {
    brokers: Vec<(Running, String)>,
    _database: Running,
    _dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    async fn start(program: &str, client: &reqwest::Client, brokers: usize) -> Self {
        let data = tempfile::tempdir().unwrap();
        let db_port = free_port();
        let database = start_database(program, data.path(), db_port).await;
        let mut dirs = vec![data];
        let mut started = Vec::new();
        for _ in 0..brokers {
            let dir = tempfile::tempdir().unwrap();
            started.push(start_replica(db_port, dir.path()));
            dirs.push(dir);
        }
        for (_, base) in &started {
            wait_ready(client, base).await;
        }
        Cluster {
            brokers: started,
            _database: database,
            _dirs: dirs,
        }
    }

    /// The brokers' API base URLs.
    fn bases<const N: usize>(&self) -> [String; N] {
        let bases: Vec<String> = self.brokers.iter().map(|(_, b)| b.clone()).collect();
        bases.try_into().unwrap()
    }

    /// Kills broker `i` (SIGKILL) and waits for it to be gone.
    fn kill(&mut self, i: usize) {
        self.brokers[i].0.kill().unwrap();
        self.brokers[i].0.wait().unwrap();
    }
}

/// Creates `count` entities with ids `<prefix><n>`, round robin over `bases`.
pub async fn create_round_robin(
    client: &reqwest::Client,
    bases: &[&String],
    prefix: &str,
    count: usize,
) {
    for i in 0..count {
        let base = bases[i % bases.len()];
        let created = client
            .post(format!("{base}/entities"))
            .json(&serde_json::json!({
                "id": format!("{prefix}{i}"),
                "type": "https://example.org/Bin",
                "fill": {"type": "Property", "value": i},
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201, "create on {base}");
    }
}

/// How many notifications named each entity whose id starts with `prefix`.
pub fn notified(
    received: &std::sync::Mutex<Vec<serde_json::Value>>,
    prefix: &str,
) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for notification in received.lock().unwrap().iter() {
        for entity in notification["data"].as_array().into_iter().flatten() {
            if let Some(id) = entity["id"].as_str().filter(|id| id.starts_with(prefix)) {
                *counts.entry(id.to_owned()).or_insert(0) += 1;
            }
        }
    }
    counts
}

/// Waits until `count` entities of `prefix` were notified, then a little longer for any
/// duplicate; the counts.
pub async fn settle(
    received: &std::sync::Mutex<Vec<serde_json::Value>>,
    prefix: &str,
    count: usize,
) -> std::collections::BTreeMap<String, usize> {
    until(
        || notified(received, prefix),
        |counts| counts.len() >= count,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    notified(received, prefix)
}

/// Polls `state` until `done` holds of it, for 30 s at most (then fails showing it).
async fn until<T: std::fmt::Debug>(state: impl Fn() -> T, done: impl Fn(&T) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = state();
        if done(&now) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not reached within 30 s: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Creates the subscription `id` (in `collection`: `subscriptions` or
/// `csourceSubscriptions`) to entities of `entity_type` on the first broker, notifying
/// `receiver`, and waits until the other brokers know it from the change feed.
async fn subscribe_across(
    client: &reqwest::Client,
    bases: &[&str],
    collection: &str,
    id: &str,
    entity_type: &str,
    receiver: u16,
) {
    let created = client
        .post(format!("{}/{collection}", bases[0]))
        .json(&serde_json::json!({
            "id": id,
            "type": "Subscription",
            "entities": [{"type": entity_type}],
            "notification": {"endpoint": {"uri": format!("http://127.0.0.1:{receiver}/notify")}},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    for base in &bases[1..] {
        until_status(
            client,
            &format!("{base}/{collection}/{id}"),
            200,
            Duration::from_secs(10),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_brokers_share_subscriptions_and_a_takeover_notifies_what_the_dead_deliverer_left() {
    let Some(program) = secantus() else {
        return;
    };
    let client = reqwest::Client::new();
    let mut cluster = Cluster::start(&program, &client, 3).await;
    let [base_a, base_b, base_c] = cluster.bases();
    let (receiver, received) = start_receiver(Duration::ZERO).await;
    let subscription = "urn:ngsi-ld:Subscription:bins";
    // The others learn of it from the database's change feed.
    let bases = [base_a.as_str(), &base_b, &base_c];
    let bin = "https://example.org/Bin";
    subscribe_across(
        &client,
        &bases,
        "subscriptions",
        subscription,
        bin,
        receiver,
    )
    .await;

    create_round_robin(
        &client,
        &[&base_a, &base_b, &base_c],
        "urn:ngsi-ld:Bin:first-",
        30,
    )
    .await;
    let counts = settle(&received, "urn:ngsi-ld:Bin:first-", 30).await;
    assert!(
        counts.values().all(|n| *n == 1),
        "each change notified once: {counts:?}"
    );

    // The creator delivers the subscription; it dies, and another broker takes it over
    // once its lease lapses, replaying what was changed meanwhile: nothing is lost.
    cluster.kill(0);
    create_round_robin(&client, &[&base_b, &base_c], "urn:ngsi-ld:Bin:gap-", 30).await;
    let gap = settle(&received, "urn:ngsi-ld:Bin:gap-", 30).await;
    assert!(
        gap.values().all(|n| *n >= 1),
        "changes while nobody delivered: {gap:?}"
    );
    create_round_robin(&client, &[&base_b, &base_c], "urn:ngsi-ld:Bin:after-", 30).await;
    let counts = settle(&received, "urn:ngsi-ld:Bin:after-", 30).await;
    assert!(
        counts.values().all(|n| *n == 1),
        "each change notified once after the takeover: {counts:?}"
    );
    let status = get_json(&client, &format!("{base_c}/subscriptions/{subscription}")).await;
    assert!(
        status["notification"]["timesSent"].as_u64().unwrap_or(0) >= 30,
        "the counters the deliverers saved show on every broker: {status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_killed_after_acknowledging_changes_notifies_them_all_once_restarted() {
    let Some(program) = secantus() else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let db_port = free_port();
    let _database = start_database(&program, data.path(), db_port).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut first, base) = start_replica(db_port, dir.path());
    let client = reqwest::Client::new();
    wait_ready(&client, &base).await;
    // A slow receiver: the burst is still queued when the broker dies.
    let received =
        crate::common::subscribe_to_bins(&client, &base, Duration::from_millis(300)).await;
    create_round_robin(&client, &[&base], "urn:ngsi-ld:Bin:burst-", 20).await;
    first.kill().unwrap();
    first.wait().unwrap();
    let before = notified(&received, "urn:ngsi-ld:Bin:burst-").len();
    assert!(
        before < 20,
        "the burst was already delivered ({before}); the test proves nothing"
    );

    let (_second, base) = start_replica(db_port, dir.path());
    wait_ready(&client, &base).await;
    let counts = settle(&received, "urn:ngsi-ld:Bin:burst-", 20).await;
    assert!(
        counts.values().all(|n| *n >= 1),
        "every acknowledged change notified: {counts:?}"
    );
}

/// The records of an export file without its header line (which says when and from where).
fn records(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().skip(1).map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tenant_moves_from_the_embedded_store_to_mongodb_and_back_record_for_record() {
    let Some(program) = secantus() else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let db_port = free_port();
    let _database = start_database(&program, data.path(), db_port).await;
    let mongo = format!("mongodb://127.0.0.1:{db_port}/?retryWrites=false");
    let mongo_store = ["--store", &mongo, "--mongo-database", "moved"];
    let from = tempfile::tempdir().unwrap();
    let back = tempfile::tempdir().unwrap();
    crate::transfer::populate(from.path()).await;
    let files = tempfile::tempdir().unwrap();
    let [first, second, third] = ["1", "2", "3"].map(|n| files.path().join(n));
    let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();

    let steps: [(&std::path::Path, Vec<String>); 5] = [
        (
            from.path(),
            vec!["export".into(), "-o".into(), path(&first)],
        ),
        (from.path(), vec!["import".into(), path(&first)]),
        (
            from.path(),
            vec!["export".into(), "-o".into(), path(&second)],
        ),
        (back.path(), vec!["import".into(), path(&second)]),
        (
            back.path(),
            vec!["export".into(), "-o".into(), path(&third)],
        ),
    ];
    for (i, (dir, mut args)) in steps.into_iter().enumerate() {
        // Steps 2 and 3 run on MongoDB.
        if i == 1 || i == 2 {
            args.extend(mongo_store.iter().map(|s| s.to_string()));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = crate::transfer::rigel_tool(dir, &args);
        assert!(
            output.status.success(),
            "step {i}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let original = records(&first);
    assert_eq!(
        original.len(),
        6,
        "two tenants of an entity, a history, a subscription"
    );
    assert_eq!(
        records(&second),
        original,
        "MongoDB gives back what it was given"
    );
    assert_eq!(records(&third), original, "and so does the embedded store");
}

/// Writes the Orion-LD fixtures of `rigel-transfer` into the databases `orion` and
/// `orion-tenant1` at `url`, the subscriptions' @context being the core one (no network).
async fn orion_ld_database(url: &str) {
    use mongodb::bson::{Bson, Document};
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../transfer/fixtures/orion-ld");
    let client = mongodb::Client::with_uri_str(url).await.unwrap();
    for (database, collection, file) in [
        ("orion", "entities", "orion.entities.json"),
        ("orion-tenant1", "entities", "orion-tenant1.entities.json"),
        ("orion", "csubs", "orion.csubs.json"),
    ] {
        let text = std::fs::read_to_string(format!("{fixtures}/{file}")).unwrap();
        let documents: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        let documents: Vec<Document> = documents
            .into_iter()
            .map(|mut d| {
                if d.get("ldContext").is_some() {
                    d["ldContext"] =
                        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld".into();
                }
                match Bson::try_from(d).unwrap() {
                    Bson::Document(d) => d,
                    other => panic!("not a document: {other}"),
                }
            })
            .collect();
        let target = client.database(database).collection::<Document>(collection);
        target.insert_many(documents).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orion_ld_database_is_imported_and_its_entities_and_subscriptions_are_served() {
    let Some(program) = secantus() else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let db_port = free_port();
    let _database = start_database(&program, data.path(), db_port).await;
    let url = format!("mongodb://127.0.0.1:{db_port}/?retryWrites=false");
    orion_ld_database(&url).await;
    let broker_dir = tempfile::tempdir().unwrap();

    let dry = crate::transfer::rigel_tool(
        broker_dir.path(),
        &["import", "--from", "orion-ld", &url, "--dry-run"],
    );
    let report = String::from_utf8_lossy(&dry.stderr).into_owned();
    assert!(dry.status.success(), "{report}");
    assert!(report.contains("entities       4 created"), "{report}");
    assert!(report.contains("subscriptions  3 created"), "{report}");
    let imported =
        crate::transfer::rigel_tool(broker_dir.path(), &["import", "--from", "orion-ld", &url]);
    let report = String::from_utf8_lossy(&imported.stderr).into_owned();
    assert!(imported.status.success(), "{report}");
    assert!(report.contains("service path"), "{report}");

    let port = free_port();
    let _rigel = crate::common::spawn_rigel(broker_dir.path(), port);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    wait_ready(&client, &base).await;
    let spot: serde_json::Value = client
        .get(format!(
            "{base}/entities/urn:ngsi-ld:ParkingSpot:santander:daoiz_velarde_1_5?options=sysAttrs"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(spot["type"], "ParkingSpot", "{spot}");
    assert_eq!(spot["createdAt"], "2024-06-01T10:00:00.250Z", "{spot}");
    assert_eq!(spot["occupancyRate"]["value"], 0.75, "{spot}");
    assert_eq!(spot["occupancyRate"]["unitCode"], "P1", "{spot}");
    assert_eq!(
        spot["occupancyRate"]["observedAt"], "2024-06-03T09:59:55.000Z",
        "{spot}"
    );
    assert_eq!(
        spot["refParkingSite"]["object"], "urn:ngsi-ld:OffStreetParking:downtown1",
        "{spot}"
    );
    assert_eq!(
        spot["status"]["providedBy"]["object"], "urn:ngsi-ld:Device:parking-sensor-42",
        "{spot}"
    );
    assert_eq!(spot["location"]["value"]["type"], "Point", "{spot}");
    let near: serde_json::Value = client
        .get(format!("{base}/entities?type=ParkingSpot&geometry=Point&coordinates=[-3.8035,43.4629]&georel=near;maxDistance==100"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(near.as_array().map(Vec::len), Some(1), "{near}");
    let tenant1: serde_json::Value = client
        .get(format!("{base}/entities?type=AirQualityObserved"))
        .header("NGSILD-Tenant", "tenant1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tenant1.as_array().map(Vec::len), Some(2), "{tenant1}");
    let subscriptions: serde_json::Value = client
        .get(format!("{base}/subscriptions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut status: Vec<(&str, &str)> = subscriptions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    status.sort();
    assert_eq!(
        status,
        [
            (
                "urn:ngsi-ld:Subscription:6601a0b2c3d4e5f601234567",
                "expired"
            ),
            (
                "urn:ngsi-ld:Subscription:665b1c2e9a7f3e0012ab34cd",
                "active"
            ),
            ("urn:ngsi-ld:Subscription:vehicle-mqtt-01", "paused"),
        ],
        "{subscriptions}"
    );
}

fn signal(process: &Running, name: &str) {
    let status = Command::new("kill")
        .args([name, &process.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {name}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_stops_answering_is_503_within_the_deadline_and_the_broker_recovers() {
    let Some(program) = secantus() else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let broker_dir = tempfile::tempdir().unwrap();
    let db_port = free_port();
    let database = start_database(&program, data.path(), db_port).await;
    let port = free_port();
    // The server-selection timeout (and the health ping's patience) longer than the
    // deadline: what answers here is the deadline of each operation.
    let _rigel = rigel_command(broker_dir.path(), port, free_port())
        .args(["--log-level", "error", "--mongo-timeout-ms", "20000"])
        .args(["--mongo-deadline-ms", "1500", "--mongo-database", "slow"])
        .arg("--store")
        .arg(format!("mongodb://127.0.0.1:{db_port}/?retryWrites=false"))
        .start();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    wait_ready(&client, &base).await;
    let spot = serde_json::json!({"id": "urn:ngsi-ld:Spot:1", "type": "https://example.org/Spot"});
    let created = client
        .post(format!("{base}/entities"))
        .json(&spot)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    // The database process is frozen: connections stay open, nothing answers.
    signal(&database, "-STOP");
    let asked = Instant::now();
    let read = client
        .get(format!("{base}/entities/urn:ngsi-ld:Spot:1"))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 503);
    assert!(read.headers().get("retry-after").is_some());
    assert!(
        asked.elapsed() < Duration::from_secs(6),
        "answered after {:?}",
        asked.elapsed()
    );
    let write = serde_json::json!({"id": "urn:ngsi-ld:Spot:2", "type": "https://example.org/Spot"});
    let refused = client
        .post(format!("{base}/entities"))
        .json(&write)
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        503,
        "a write the database did not confirm is not acknowledged"
    );

    signal(&database, "-CONT");
    until_status(
        &client,
        &format!("{base}/entities/urn:ngsi-ld:Spot:1"),
        200,
        Duration::from_secs(20),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_at_context_added_through_one_broker_is_served_and_used_by_the_others() {
    let Some(program) = secantus() else {
        return;
    };
    let client = reqwest::Client::new();
    let cluster = Cluster::start(&program, &client, 2).await;
    let [base_a, base_b] = cluster.bases();
    let context = serde_json::json!({"@context": {"Lamp": "https://example.org/city#Lamp",
        "lux": "https://example.org/city#lux"}});
    let added = client
        .post(format!("{base_a}/jsonldContexts"))
        .json(&context)
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    let location = added.headers()["location"].to_str().unwrap().to_owned();
    let local_id = location.rsplit('/').next().unwrap().to_owned();
    let served_by_b = format!("{base_b}/jsonldContexts/{local_id}");
    let served = until_status(&client, &served_by_b, 200, Duration::from_secs(10)).await;
    let document: serde_json::Value = served.json().await.unwrap();
    assert_eq!(document, context);

    // A client of B links the @context by the URL A gave it.
    let link = format!("<{}{location}>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\"",
        base_a.trim_end_matches("/ngsi-ld/v1"));
    let lamp = serde_json::json!({"id": "urn:ngsi-ld:Lamp:1", "type": "Lamp", "lux": {"type": "Property", "value": 40}});
    let created = client
        .post(format!("{base_b}/entities"))
        .header("Link", &link)
        .json(&lamp)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let expanded: serde_json::Value = client
        .get(format!("{base_a}/entities/urn:ngsi-ld:Lamp:1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        expanded["type"], "https://example.org/city#Lamp",
        "{expanded}"
    );

    let deleted = client.delete(&served_by_b).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    until_status(
        &client,
        &format!("{base_a}/jsonldContexts/{local_id}"),
        404,
        Duration::from_secs(10),
    )
    .await;
}

/// The registrations notified so far, as (id, trigger reason), in order of receipt.
fn registrations_notified(
    received: &std::sync::Mutex<Vec<serde_json::Value>>,
) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    for notification in received.lock().unwrap().iter() {
        let reason = notification["triggerReason"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        for registration in notification["data"].as_array().into_iter().flatten() {
            seen.push((
                registration["id"].as_str().unwrap_or_default().to_owned(),
                reason.clone(),
            ));
        }
    }
    seen
}

async fn wait_for_registrations(
    received: &std::sync::Mutex<Vec<serde_json::Value>>,
    n: usize,
) -> Vec<(String, String)> {
    until(|| registrations_notified(received), |seen| seen.len() >= n).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    registrations_notified(received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_subscription_is_notified_once_and_taken_over_when_its_deliverer_dies() {
    let Some(program) = secantus() else {
        return;
    };
    let client = reqwest::Client::new();
    let mut cluster = Cluster::start(&program, &client, 3).await;
    let [base_a, base_b, base_c] = cluster.bases();
    let (receiver, received) = start_receiver(Duration::ZERO).await;
    let subscription = "urn:ngsi-ld:Subscription:rooms-sources";
    let bases = [base_a.as_str(), &base_b, &base_c];
    let room = "https://example.org/Room";
    let collection = "csourceSubscriptions";
    subscribe_across(&client, &bases, collection, subscription, room, receiver).await;
    let registration = |id: &str| {
        serde_json::json!({"id": id, "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": "https://example.org/Room"}]}],
        "endpoint": "http://127.0.0.1:9/source"})
    };
    let first = "urn:ngsi-ld:ContextSourceRegistration:first";
    let made = client
        .post(format!("{base_b}/csourceRegistrations"))
        .json(&registration(first))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let seen = wait_for_registrations(&received, 1).await;
    assert_eq!(
        seen,
        [(first.to_owned(), "newlyMatching".to_owned())],
        "notified once, by its deliverer"
    );

    // The deliverer dies; a registration changed before its lease lapses is notified by
    // the broker that takes the subscription over.
    cluster.kill(0);
    let updated = client
        .patch(format!("{base_c}/csourceRegistrations/{first}"))
        .json(&serde_json::json!({"description": "rooms of the first floor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 204);
    // At least once: the taker replays from where the dead deliverer last recorded, so the
    // creation may be notified again, the update must be.
    let updated = (first.to_owned(), "updated".to_owned());
    until(
        || registrations_notified(&received),
        |seen| seen.contains(&updated),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before_second = registrations_notified(&received).len();
    let second = "urn:ngsi-ld:ContextSourceRegistration:second";
    let made = client
        .post(format!("{base_b}/csourceRegistrations"))
        .json(&registration(second))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let seen = wait_for_registrations(&received, before_second + 1).await;
    let seconds = seen.iter().filter(|(id, _)| id == second).count();
    assert_eq!(seconds, 1, "notified once after the takeover: {seen:?}");
}

/// The stored forwarding status of a registration as `base` shows it: (timesSent,
/// timesFailed).
async fn forwarding_counts(client: &reqwest::Client, base: &str, id: &str) -> (u64, u64) {
    let shown = get_json(client, &format!("{base}/csourceRegistrations/{id}")).await;
    let count = |member: &str| shown[member].as_u64().unwrap_or(0);
    (count("timesSent"), count("timesFailed"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_counts_of_two_brokers_add_up_and_notify_no_registration_subscription() {
    let Some(program) = secantus() else {
        return;
    };
    let client = reqwest::Client::new();
    let cluster = Cluster::start(&program, &client, 2).await;
    let [base_a, base_b] = cluster.bases();
    let (receiver, received) = start_receiver(Duration::ZERO).await;
    let bases = [base_a.as_str(), &base_b];
    let room = "https://example.org/Room";
    let subscription = "urn:ngsi-ld:Subscription:rooms-forwarding";
    subscribe_across(
        &client,
        &bases,
        "csourceSubscriptions",
        subscription,
        room,
        receiver,
    )
    .await;
    let id = "urn:ngsi-ld:ContextSourceRegistration:forwarded";
    // Nothing listens on port 9: every forward fails, and counts as sent and failed.
    let made = client
        .post(format!("{base_a}/csourceRegistrations"))
        .json(
            &serde_json::json!({"id": id, "type": "ContextSourceRegistration",
            "information": [{"entities": [{"type": room}]}],
            "endpoint": "http://127.0.0.1:9/source"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let seen = wait_for_registrations(&received, 1).await;
    assert_eq!(seen, [(id.to_owned(), "newlyMatching".to_owned())]);
    let query = |base: &str| format!("{base}/entities?type={room}");
    for (base, times) in [(&base_a, 5), (&base_b, 3)] {
        for _ in 0..times {
            let answered = client.get(query(base)).send().await.unwrap();
            assert_eq!(answered.status(), 200);
        }
    }
    // Each broker adds its counts within a second; both then show the sum.
    let deadline = Instant::now() + Duration::from_secs(20);
    for base in bases {
        loop {
            let counts = forwarding_counts(&client, base, id).await;
            if counts == (8, 8) {
                break;
            }
            assert!(Instant::now() < deadline, "{base} shows {counts:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        registrations_notified(&received),
        [(id.to_owned(), "newlyMatching".to_owned())],
        "counting forwards is not a change subscribers hear of"
    );
}
