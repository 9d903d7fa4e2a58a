//! Drills for brokers sharing a MongoDB store, under continuous write and notification load:
//! the database restarted, and every broker restarted in turn. In both, every write
//! acknowledged with 201 is there afterwards and is notified at least once; writes the
//! brokers could not make durable are refused (503, or the connection refused by a broker
//! that is down), never acknowledged, and none is answered 409 because a commit cut short
//! by the restart was run again.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{
    exit_code, free_port, missing_entities, rigel_command, subscribe_to_bins, terminate,
    wait_ready, Running, Start,
};
use crate::mongodb::{secantus, settle, start_database, until_status};

/// Writers creating Bins round robin over several brokers as fast as they answer, until
/// stopped; refusals and connection errors are counted and the writer moves on.
struct Load {
    acked: Arc<Mutex<Vec<String>>>,
    refused: Arc<Mutex<usize>>,
    stop: Arc<AtomicBool>,
    writers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(bases: &[String], writers: usize) -> Self {
        let acked = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let writers = (0..writers)
            .map(|w| {
                let (client, bases) = (client.clone(), bases.to_vec());
                let (acked, refused, stop) = (acked.clone(), refused.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut n = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        let id = format!("urn:ngsi-ld:Bin:w{w}-{n}");
                        let base = &bases[(n + w) % bases.len()];
                        n += 1;
                        let body = serde_json::json!({"id": id, "type": "https://example.org/Bin",
                            "fill": {"type": "Property", "value": n}});
                        match client
                            .post(format!("{base}/entities"))
                            .json(&body)
                            .send()
                            .await
                        {
                            Ok(r) if r.status() == 201 => acked.lock().unwrap().push(id),
                            Ok(r) if r.status() == 503 => *refused.lock().unwrap() += 1,
                            Ok(r) => panic!("unexpected status {} from {base}", r.status()),
                            Err(_) => {
                                *refused.lock().unwrap() += 1;
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                        }
                    }
                })
            })
            .collect();
        Load {
            acked,
            refused,
            stop,
            writers,
        }
    }

    fn acked(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// Waits until `more` further writes are acknowledged (at most a minute).
    async fn advance(&self, more: usize) {
        let target = self.acked() + more;
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.acked() < target {
            assert!(
                Instant::now() < deadline,
                "writes stopped being acknowledged"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the writers: the ids acknowledged, and how many writes were refused.
    async fn finish(self) -> (Vec<String>, usize) {
        self.stop.store(true, Ordering::Relaxed);
        for w in self.writers {
            w.await.unwrap();
        }
        let acked = self.acked.lock().unwrap().clone();
        let refused = *self.refused.lock().unwrap();
        (acked, refused)
    }
}

/// A broker on the database at `db_port`, on `port`.
fn broker(db_port: u16, dir: &std::path::Path, port: u16) -> Running {
    rigel_command(dir, port, free_port())
        .args([
            "--log-level",
            "error",
            "--mongo-database",
            "drill",
            "--mongo-timeout-ms",
            "2000",
        ])
        .arg("--store")
        .arg(format!("mongodb://127.0.0.1:{db_port}/?retryWrites=false"))
        .start()
}

/// Every acknowledged write is stored and was notified.
async fn check(
    client: &reqwest::Client,
    base: &str,
    acked: &[String],
    received: &Mutex<Vec<serde_json::Value>>,
) {
    let missing = missing_entities(client, base, acked).await;
    assert!(
        missing.is_empty(),
        "acknowledged but not stored: {missing:?}"
    );
    let counts = settle(received, "urn:ngsi-ld:Bin:", acked.len()).await;
    let notified: BTreeSet<&String> = counts.keys().collect();
    let unnotified: Vec<&String> = acked.iter().filter(|id| !notified.contains(id)).collect();
    assert!(
        unnotified.is_empty(),
        "acknowledged but never notified: {unnotified:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_restarted_under_load_loses_no_acknowledged_write_or_notification() {
    let Some(program) = secantus() else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let db_port = free_port();
    let mut database = start_database(&program, data.path(), db_port).await;
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports = [free_port(), free_port()];
    let _brokers: Vec<Running> = (0..2)
        .map(|i| broker(db_port, dirs[i].path(), ports[i]))
        .collect();
    let bases: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}/ngsi-ld/v1"))
        .collect();
    let client = reqwest::Client::new();
    for base in &bases {
        wait_ready(&client, base).await;
    }
    let received = subscribe_to_bins(&client, &bases[0], Duration::ZERO).await;
    let load = Load::start(&bases, 4);
    load.advance(40).await;

    database.kill().unwrap();
    database.wait().unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _database = start_database(&program, data.path(), db_port).await;
    for base in &bases {
        until_status(
            &client,
            &format!("{base}/entities/urn:ngsi-ld:Bin:none"),
            404,
            Duration::from_secs(30),
        )
        .await;
    }
    load.advance(40).await;
    // Writes in flight during the restart either waited for the database (it was back
    // within the server-selection timeout) or were refused: neither is acknowledged
    // without being stored.
    let (acked, _refused) = load.finish().await;
    check(&client, &bases[1], &acked, &received).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_broker_restarted_in_turn_under_load_loses_no_acknowledged_write_or_notification() {
    let Some(program) = secantus() else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let db_port = free_port();
    let _database = start_database(&program, data.path(), db_port).await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports = [free_port(), free_port(), free_port()];
    let mut brokers: Vec<Running> = (0..3)
        .map(|i| broker(db_port, dirs[i].path(), ports[i]))
        .collect();
    let bases: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}/ngsi-ld/v1"))
        .collect();
    let client = reqwest::Client::new();
    for base in &bases {
        wait_ready(&client, base).await;
    }
    let received = subscribe_to_bins(&client, &bases[0], Duration::ZERO).await;
    let load = Load::start(&bases, 3);
    load.advance(30).await;

    for i in 0..3 {
        terminate(&brokers[i]);
        assert_eq!(
            exit_code(&mut brokers[i], Duration::from_secs(30)).await,
            Some(0)
        );
        load.advance(20).await;
        brokers[i] = broker(db_port, dirs[i].path(), ports[i]);
        wait_ready(&client, &bases[i]).await;
        load.advance(20).await;
    }
    let (acked, _) = load.finish().await;
    check(&client, &bases[2], &acked, &received).await;
}
