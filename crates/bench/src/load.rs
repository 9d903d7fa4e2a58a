//! Running a scenario: the probe that detects unsupported endpoints, and the timed closed-loop
//! run with one connection per worker, bounded by a deadline and a request count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{Connection, Target};
use crate::error::BenchError;
use crate::rng::Rng;
use crate::scenario::{Plan, Scenario};
use crate::stats::Outcome;

/// Answers to a scenario's first request that mean the broker does not offer the operation.
pub const UNSUPPORTED: [u16; 4] = [404, 405, 422, 501];

/// How long a worker waits before retrying a failed connect.
const RECONNECT_PAUSE: Duration = Duration::from_millis(20);

/// How the timed part of a scenario is run.
#[derive(Debug, Clone)]
pub struct Load {
    pub connections: usize,
    pub duration: Duration,
    /// Upper bound on requests of one scenario, across all workers.
    pub max_requests: u64,
    /// Print the throughput of each interval to stderr while running.
    pub progress: Option<Duration>,
}

/// The answer to a scenario's probe request.
pub enum Probe {
    /// The broker answered something other than a "not supported" status.
    Supported {
        status: u16,
        body: String,
    },
    Unsupported {
        status: u16,
        body: String,
    },
}

/// Sends the scenario's first request once, untimed, on a fresh connection.
pub async fn probe(
    target: &Arc<Target>,
    plan: &Plan,
    scenario: Scenario,
) -> Result<Probe, BenchError> {
    let http = |message: String| BenchError::Http {
        context: format!("probing {}", scenario.name()),
        message,
    };
    let mut conn = Connection::open(Arc::clone(target)).await.map_err(http)?;
    let mut rng = Rng::new(0x5EED);
    let req = plan.request(scenario, &mut rng, None, 0);
    let resp = conn.send(req).await.map_err(http)?;
    let body = String::from_utf8_lossy(&resp.body)
        .chars()
        .take(300)
        .collect();
    Ok(if UNSUPPORTED.contains(&resp.status) {
        Probe::Unsupported {
            status: resp.status,
            body,
        }
    } else {
        Probe::Supported {
            status: resp.status,
            body,
        }
    })
}

/// The timed run: `connections` workers send requests back to back until the deadline or the
/// request budget runs out. Returns the merged outcome and the wall time.
pub async fn run(
    target: &Arc<Target>,
    plan: &Arc<Plan>,
    scenario: Scenario,
    load: &Load,
) -> (Outcome, Duration) {
    let started = Instant::now();
    let deadline = started + load.duration;
    let tickets = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::with_capacity(load.connections);
    for w in 0..load.connections.max(1) {
        let (target, plan) = (Arc::clone(target), Arc::clone(plan));
        let counters = Counters {
            tickets: Arc::clone(&tickets),
            answered: Arc::clone(&answered),
            max: load.max_requests,
        };
        handles.push(tokio::spawn(async move {
            worker(target, &plan, scenario, w, deadline, &counters).await
        }));
    }
    let ticker = load.progress.map(|every| {
        let answered = Arc::clone(&answered);
        tokio::spawn(progress(answered, started, deadline, every, "answers/s"))
    });
    let mut total = Outcome::default();
    for h in handles {
        match h.await {
            Ok(o) => total.merge(&o),
            Err(e) => total
                .errors
                .transport(|| format!("worker task failed: {e}")),
        }
    }
    let elapsed = started.elapsed();
    if let Some(t) = ticker {
        t.abort();
    }
    (total, elapsed)
}

/// Shared by the workers of one run.
struct Counters {
    /// Requests started (each worker takes a ticket first; none past `max`).
    tickets: Arc<AtomicU64>,
    /// Requests answered, with any status.
    answered: Arc<AtomicU64>,
    max: u64,
}

/// Prints the rate of `counter` (in `unit`, e.g. answers/s) over every `every` until the deadline.
pub async fn progress(
    counter: Arc<AtomicU64>,
    started: Instant,
    deadline: Instant,
    every: Duration,
    unit: &'static str,
) {
    let mut last = 0u64;
    let first = tokio::time::Instant::from_std(started + every);
    let mut tick = tokio::time::interval_at(first, every);
    while Instant::now() < deadline {
        tick.tick().await;
        let now = counter.load(Ordering::Relaxed);
        eprintln!(
            "   {:>6.0} s: {:>8.0} {unit}, {now} in total",
            started.elapsed().as_secs_f64(),
            now.saturating_sub(last) as f64 / every.as_secs_f64()
        );
        last = now;
    }
}

async fn worker(
    target: Arc<Target>,
    plan: &Plan,
    scenario: Scenario,
    w: usize,
    deadline: Instant,
    counters: &Counters,
) -> Outcome {
    let mut out = Outcome::default();
    let mut rng = Rng::new((w as u64) << 32 ^ 0xBE7C);
    let mut conn: Option<Connection> = None;
    let mut seq = 0u64;
    while Instant::now() < deadline {
        if counters.tickets.fetch_add(1, Ordering::Relaxed) >= counters.max {
            break;
        }
        let c = match conn.take() {
            Some(c) if !c.is_closed() => c,
            _ => match Connection::open(Arc::clone(&target)).await {
                Ok(c) => c,
                Err(e) => {
                    out.errors.transport(|| e);
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            },
        };
        let mut c = c;
        let req = plan.request(scenario, &mut rng, Some(w), seq);
        seq += 1;
        let t0 = Instant::now();
        match c.send(req).await {
            Ok(r) => {
                out.latency.record(t0.elapsed());
                counters.answered.fetch_add(1, Ordering::Relaxed);
                if (200..300).contains(&r.status) {
                    out.ok += 1;
                } else {
                    out.errors.status(r.status);
                }
                conn = Some(c);
            }
            Err(e) => out.errors.transport(|| e),
        }
    }
    out
}
