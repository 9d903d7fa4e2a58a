//! Durability end to end: entities acknowledged with 201 by a real `rigel` process survive a
//! SIGKILL of that process, every one of them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn_rigel(dir: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_rigel"))
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--log-level",
            "warn",
        ])
        .arg("--data-dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("rigel starts")
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if client
            .get(format!("{base}/entities/urn:ngsi-ld:Probe:0"))
            .send()
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("rigel did not start listening");
}

/// Clause 5.6.1 and the durability promise: a 201 means the entity is on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entities_acknowledged_before_sigkill_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/ngsi-ld/v1");
    let client = reqwest::Client::new();
    let mut child = spawn_rigel(dir.path(), port);
    wait_ready(&client, &base).await;

    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..16 {
        let (client, base, acked, stop) =
            (client.clone(), base.clone(), acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let id = format!("urn:ngsi-ld:Sensor:w{w}-{n}");
                n += 1;
                let body = serde_json::json!({"id": id, "type": "Sensor", "reading": {"type": "Property", "value": n}});
                match client.post(format!("{base}/entities")).json(&body).send().await {
                    Ok(r) if r.status() == 201 => acked.lock().unwrap().push(id),
                    Ok(r) => panic!("unexpected status {}", r.status()),
                    Err(_) => break, // the process is gone
                }
            }
        }));
    }
    // Kill while writes are in full flight, right after at least 500 acknowledgements.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 500 {
        assert!(
            Instant::now() < deadline,
            "the writers did not get 500 acknowledgements in time"
        );
        assert!(
            writers.iter().any(|w| !w.is_finished()),
            "every writer stopped early"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();

    let mut child = spawn_rigel(dir.path(), port);
    wait_ready(&client, &base).await;
    let mut missing = Vec::new();
    for id in &acked {
        let r = client
            .get(format!("{base}/entities/{id}"))
            .send()
            .await
            .unwrap();
        if r.status() != 200 {
            missing.push(id.clone());
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged entities lost: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
}
