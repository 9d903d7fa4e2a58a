//! Starting, signalling and waiting for `rigel` processes, and a notification receiver.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `rigel` command on loopback ports with `dir` as data directory; the admin server
/// on `admin_port`.
pub fn rigel_command(dir: &Path, port: u16, admin_port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rigel"));
    command
        .args(["--bind", "127.0.0.1", "--admin-bind", "127.0.0.1"])
        .args(["--port", &port.to_string()])
        .args(["--admin-port", &admin_port.to_string()])
        .arg("--data-dir")
        .arg(dir)
        // Receivers and sources of the tests listen on loopback (docs/security.md).
        .env("RIGEL_EGRESS_ALLOW", "127.0.0.0/8,::1")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    command
}

/// A running `rigel`, killed when dropped: a test that fails part way never leaves a broker
/// behind, holding the test runner's output pipe open and the CI job with it.
pub struct Running(Child);

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Spawns a command as a [`Running`] process.
pub trait Start {
    fn start(&mut self) -> Running;
}

impl Start for Command {
    fn start(&mut self) -> Running {
        Running(self.spawn().expect("rigel starts"))
    }
}

/// Starts `rigel` with warnings only in its log (and a free admin port).
pub fn spawn_rigel(dir: &Path, port: u16) -> Running {
    rigel_command(dir, port, free_port())
        .args(["--log-level", "warn"])
        .start()
}

pub async fn wait_ready(client: &reqwest::Client, base: &str) {
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

/// Sends SIGTERM to the process.
pub fn terminate(child: &Child) {
    signal(child, "TERM");
}

/// Sends a signal (`TERM`, `HUP`, ...) to the process.
pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} failed");
}

/// Waits for the process to exit, at most `limit`; its exit code.
pub async fn exit_code(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if Instant::now() >= deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("rigel did not exit within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One request an HTTP mock received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub target: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What a mock answers to a request: a status and a JSON body, or `None` to hold the
/// connection without answering.
pub type Answer =
    std::pin::Pin<Box<dyn std::future::Future<Output = Option<(u16, String)>> + Send>>;

/// Serves HTTP/1.1 on a loopback port, answering each request with `answer`; the port.
pub async fn serve_http(answer: impl Fn(Received) -> Answer + Send + Sync + 'static) -> u16 {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                loop {
                    let mut request_line = String::new();
                    if stream.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let mut parts = request_line.split_whitespace();
                    let method = parts.next().unwrap_or_default().to_owned();
                    let target = parts.next().unwrap_or_default().to_owned();
                    let mut headers = Vec::new();
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = line.trim_end().split_once(':') {
                            let name = name.to_ascii_lowercase();
                            if name == "content-length" {
                                length = value.trim().parse().unwrap_or(0);
                            }
                            headers.push((name, value.trim().to_owned()));
                        }
                    }
                    let mut body = vec![0; length];
                    if stream.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let request = Received {
                        method,
                        target,
                        headers,
                        body,
                    };
                    let Some((status, text)) = answer(request).await else {
                        tokio::time::sleep(Duration::from_secs(600)).await;
                        return;
                    };
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{text}",
                        text.len()
                    );
                    if stream.get_mut().write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// A notification receiver: keeps the body of every notification (HTTP POST) it answers
/// with 200, after `delay` (a slow endpoint lets notifications queue up).
pub async fn start_receiver(delay: Duration) -> (u16, Arc<Mutex<Vec<serde_json::Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    let port = serve_http(move |request| {
        let sink = sink.clone();
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            sink.lock()
                .unwrap()
                .push(serde_json::from_slice(&request.body).unwrap());
            Some((200, String::new()))
        })
    })
    .await;
    (port, received)
}

/// POSTs a JSON body; the response status.
pub async fn post_json(client: &reqwest::Client, url: &str, body: &serde_json::Value) -> u16 {
    let r = client.post(url).json(body).send().await.unwrap();
    r.status().as_u16()
}

/// GETs a JSON document.
pub async fn get_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// Creates a subscription `id` to every Meter, notifying the receiver on `receiver_port`.
pub async fn subscribe_to_meters(
    client: &reqwest::Client,
    base: &str,
    id: &str,
    receiver_port: u16,
) {
    let subscription = serde_json::json!({
        "id": id,
        "type": "Subscription",
        "entities": [{"type": "Meter"}],
        "notification": {"endpoint": {"uri": format!("http://127.0.0.1:{receiver_port}/notify")}}
    });
    let status = post_json(client, &format!("{base}/subscriptions"), &subscription).await;
    assert_eq!(status, 201);
}

/// A Meter entity with a reading.
pub fn meter(id: &str, reading: u64) -> serde_json::Value {
    serde_json::json!({"id": id, "type": "Meter", "reading": {"type": "Property", "value": reading}})
}

/// Stops the process with SIGTERM and expects a clean exit (0) within 30 s.
pub async fn terminate_cleanly(child: &mut Child) {
    terminate(child);
    assert_eq!(exit_code(child, Duration::from_secs(30)).await, Some(0));
}

/// The ids of `ids` that the broker does not have.
pub async fn missing_entities(client: &reqwest::Client, base: &str, ids: &[String]) -> Vec<String> {
    let mut missing = Vec::new();
    for id in ids {
        let r = client
            .get(format!("{base}/entities/{id}"))
            .send()
            .await
            .unwrap();
        if r.status() != 200 {
            missing.push(id.clone());
        }
    }
    missing
}

/// Concurrent writers creating Meters as fast as the broker acknowledges them, until stopped
/// or until the broker goes away; they keep the ids acknowledged with 201.
pub struct Burst {
    acked: Arc<Mutex<Vec<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    writers: Vec<tokio::task::JoinHandle<()>>,
}

impl Burst {
    pub fn start(client: &reqwest::Client, base: &str, writers: usize) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let acked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let writers = (0..writers)
            .map(|w| {
                let (client, url) = (client.clone(), format!("{base}/entities"));
                let (acked, stop) = (acked.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let id = format!("urn:ngsi-ld:Meter:w{w}-{n}");
                        n += 1;
                        match client.post(&url).json(&meter(&id, n)).send().await {
                            Ok(r) if r.status() == 201 => acked.lock().unwrap().push(id),
                            Ok(r) => panic!("unexpected status {}", r.status()),
                            Err(_) => break, // refused or cut off: not acknowledged
                        }
                    }
                })
            })
            .collect();
        Self {
            acked,
            stop,
            writers,
        }
    }

    /// Waits (at most a minute) until `n` writes are acknowledged, the writers still going.
    pub async fn wait_for(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.acked.lock().unwrap().len() < n {
            assert!(
                Instant::now() < deadline,
                "{n} writes not acknowledged in time"
            );
            assert!(
                self.writers.iter().any(|w| !w.is_finished()),
                "every writer stopped early"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops the writers; the ids acknowledged.
    pub async fn finish(self) -> Vec<String> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for w in self.writers {
            w.await.unwrap();
        }
        let acked = self.acked.lock().unwrap().clone();
        acked
    }
}

/// Subscribes to every `https://example.org/Bin` through `base`, notified to a new receiver
/// answering after `delay`; the notifications it receives.
pub async fn subscribe_to_bins(
    client: &reqwest::Client,
    base: &str,
    delay: Duration,
) -> Arc<Mutex<Vec<serde_json::Value>>> {
    let (receiver, received) = start_receiver(delay).await;
    let subscription = serde_json::json!({
        "type": "Subscription",
        "entities": [{"type": "https://example.org/Bin"}],
        "notification": {"endpoint": {"uri": format!("http://127.0.0.1:{receiver}/notify")}},
    });
    assert_eq!(
        post_json(client, &format!("{base}/subscriptions"), &subscription).await,
        201
    );
    received
}
