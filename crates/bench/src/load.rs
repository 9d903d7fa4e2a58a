//! Running a scenario: the probe that detects unsupported endpoints, and the timed run with one
//! connection per worker, bounded by a deadline and a request count: closed-loop (each worker
//! sends its next request when the answer arrived) or paced at a fixed rate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{Connection, Target};
use crate::error::BenchError;
use crate::ledger::Ledger;
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
    /// Requests per second across all workers (none: as fast as the answers come).
    pub rate: Option<f64>,
}

/// Spaces the requests of a run evenly: request `n` is due `n / rate` seconds after the start.
#[derive(Debug, Clone, Copy)]
pub struct Pacer {
    start: Instant,
    rate: f64,
}

impl Pacer {
    /// `None` unless `rate` is a positive finite number.
    pub fn new(start: Instant, rate: Option<f64>) -> Option<Self> {
        rate.filter(|r| r.is_finite() && *r > 0.0)
            .map(|rate| Self { start, rate })
    }

    pub fn due(&self, n: u64) -> Instant {
        let secs = n as f64 / self.rate;
        self.start + Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX / 4)
    }

    /// Waits until request `n` is due and returns the instant its latency counts from: when
    /// it was sent, or when it was due if the worker was late (the broker held up the previous
    /// request, so this one waited in the generator, as it would in a producer's queue).
    pub async fn wait(&self, n: u64) -> Instant {
        let due = self.due(n);
        if due > Instant::now() {
            tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
            Instant::now()
        } else {
            due
        }
    }
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

/// The timed run: `connections` workers send requests back to back (or at `load.rate`) until
/// the deadline or the request budget runs out; request `n` of the run is the `seq` of its
/// scenario request, and is booked in `ledger` when given. Returns the merged outcome and the
/// wall time.
pub async fn run(
    target: &Arc<Target>,
    plan: &Arc<Plan>,
    scenario: Scenario,
    load: &Load,
    ledger: Option<&Arc<Ledger>>,
) -> (Outcome, Duration) {
    let started = Instant::now();
    let deadline = started + load.duration;
    let pacer = Pacer::new(started, load.rate);
    let tickets = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::with_capacity(load.connections);
    for w in 0..load.connections.max(1) {
        let (target, plan) = (Arc::clone(target), Arc::clone(plan));
        let counters = Counters {
            tickets: Arc::clone(&tickets),
            answered: Arc::clone(&answered),
            max: load.max_requests,
            pacer,
            ledger: ledger.cloned(),
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
    pacer: Option<Pacer>,
    ledger: Option<Arc<Ledger>>,
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
    while Instant::now() < deadline {
        let seq = counters.tickets.fetch_add(1, Ordering::Relaxed);
        if seq >= counters.max {
            break;
        }
        if counters.pacer.is_some_and(|p| p.due(seq) >= deadline) {
            break;
        }
        let paced = match counters.pacer {
            Some(p) => Some(p.wait(seq).await),
            None => None,
        };
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
        let t0 = paced.unwrap_or_else(Instant::now);
        let req = plan.request(scenario, &mut rng, Some(w), seq);
        if let Some(ledger) = &counters.ledger {
            if !ledger.sent(seq, t0) {
                break;
            }
        }
        let acked = match c.send(req).await {
            Ok(r) => {
                out.latency.record(t0.elapsed());
                counters.answered.fetch_add(1, Ordering::Relaxed);
                let acked = (200..300).contains(&r.status);
                if acked {
                    out.ok += 1;
                } else {
                    out.errors.status(r.status);
                }
                conn = Some(c);
                acked
            }
            Err(e) => {
                out.errors.transport(|| e);
                false
            }
        };
        if let Some(ledger) = &counters.ledger {
            ledger.answered(seq, acked);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pacer_spaces_requests_evenly_from_the_start() {
        let start = Instant::now();
        let p = Pacer::new(start, Some(1_000.0));
        assert_eq!(p.map(|p| p.due(0)), Some(start));
        assert_eq!(
            p.map(|p| p.due(1_500)),
            Some(start + Duration::from_millis(1_500))
        );
        assert!(Pacer::new(start, None).is_none());
        assert!(Pacer::new(start, Some(0.0)).is_none());
        assert!(Pacer::new(start, Some(f64::NAN)).is_none());
    }

    #[tokio::test]
    async fn a_late_request_counts_from_when_it_was_due() {
        let start = Instant::now() - Duration::from_secs(1);
        let p = Pacer::new(start, Some(10.0));
        // Request 2 was due 800 ms ago: its latency starts then, not now.
        let due = start + Duration::from_millis(200);
        assert_eq!(p.map(|p| p.due(2)), Some(due));
        if let Some(p) = p {
            assert_eq!(p.wait(2).await, due);
            // Request 11 is due 100 ms from now: waited for, then timed from the send.
            let t = p.wait(11).await;
            assert!(t >= start + Duration::from_millis(1_100));
        }
    }
}
