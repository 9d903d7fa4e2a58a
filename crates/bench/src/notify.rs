//! The notify scenario: a receiver inside the generator, `--subscriptions` subscriptions on the
//! seeded entities' (queried) type notifying it, then partial updates of those entities, each
//! writing a value that names the update, so every notified entity is matched to its update:
//! the sent-versus-received audit and the update-to-receipt delays come from that.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::{Connection, Target};
use crate::error::BenchError;
use crate::inbox::{Inbox, NOTIFY_PATH};
use crate::ledger::{Ledger, MAX_CAPACITY};
use crate::load::{self, progress, Load, UNSUPPORTED};
use crate::procstat::{self, Proc, Usage};
use crate::receiver::{Handler, Receiver};
use crate::report::{Latency, Measured, Notifications, Verdict};
use crate::scenario::{delete, get, Plan, Scenario};

/// After the updates, the receiver is waited for until every receipt is in, or none came
/// for this long ...
const DRAIN_QUIET: Duration = Duration::from_secs(2);
/// ... or this long passed.
const DRAIN_MAX: Duration = Duration::from_secs(30);
const DRAIN_POLL: Duration = Duration::from_millis(50);

/// Where the receiver listens and what the broker is told.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    /// The endpoint base the subscriptions name (default: `http://` and the bound address).
    pub endpoint: Option<String>,
}

/// How the wait for late notifications ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainEnd {
    /// Every acknowledged update was received by every subscription.
    Complete,
    /// Nothing arrived for [`DRAIN_QUIET`].
    Quiet,
    /// [`DRAIN_MAX`] passed.
    Limit,
}

impl DrainEnd {
    pub fn name(self) -> &'static str {
        match self {
            DrainEnd::Complete => "complete",
            DrainEnd::Quiet => "quiet",
            DrainEnd::Limit => "limit",
        }
    }
}

/// Whether draining, begun at `started`, is over at `now`: `complete` says no receipt is
/// missing, `changed` is when the receipt count last grew.
pub fn drain_end(
    complete: bool,
    now: Instant,
    started: Instant,
    changed: Instant,
    quiet: Duration,
    max: Duration,
) -> Option<DrainEnd> {
    if complete {
        Some(DrainEnd::Complete)
    } else if now.duration_since(changed) >= quiet {
        Some(DrainEnd::Quiet)
    } else if now.duration_since(started) >= max {
        Some(DrainEnd::Limit)
    } else {
        None
    }
}

/// Runs the scenario: subscriptions, timed updates, draining, counters, clean-up.
pub async fn measure(
    target: &Arc<Target>,
    plan: &Arc<Plan>,
    load: &Load,
    options: &Options,
    broker: Option<Proc>,
    ticks: u64,
) -> Verdict {
    let epoch = Instant::now();
    let capacity = load.max_requests.min(MAX_CAPACITY);
    let ledger = Arc::new(Ledger::new(epoch, capacity));
    let subscriptions = plan.subscriptions;
    let per_update = u32::try_from(subscriptions).unwrap_or(u32::MAX);
    let inbox = Arc::new(Inbox::new(
        Arc::clone(&ledger),
        plan.value_base,
        usize::try_from(subscriptions).unwrap_or(usize::MAX),
        epoch,
    ));
    let handler: Arc<dyn Handler> = inbox.clone();
    let receiver = match Receiver::start(options.listen, handler).await {
        Ok(r) => r,
        Err(e) => {
            return Verdict::Failed {
                reason: format!("cannot listen on {}: {e}", options.listen),
            }
        }
    };
    let endpoint = options
        .endpoint
        .clone()
        .unwrap_or_else(|| format!("http://{}", receiver.addr));
    if let Err(verdict) = subscribe(target, plan, &endpoint).await {
        return verdict;
    }
    eprintln!(
        "   {subscriptions} subscription(s) notifying {endpoint}{NOTIFY_PATH}K, updating {} entities",
        plan.notified_count()
    );

    let load = Load {
        max_requests: load.max_requests.min(ledger.capacity()),
        ..load.clone()
    };
    let before = (
        broker.map(procstat::sample),
        procstat::sample(Proc::OwnProcess),
    );
    let started = Instant::now();
    let ticker = load.progress.map(|every| {
        let until = started + load.duration + DRAIN_MAX;
        let counter = Arc::clone(&inbox.entities);
        tokio::spawn(progress(
            counter,
            started,
            until,
            every,
            "entity-notifications/s",
        ))
    });
    let (outcome, elapsed) = load::run(target, plan, Scenario::Notify, &load, Some(&ledger)).await;
    let after = (
        broker.map(procstat::sample),
        procstat::sample(Proc::OwnProcess),
    );
    let drain_started = Instant::now();
    let end = drain(&inbox, &ledger, per_update).await;
    let drain_took = drain_started.elapsed();
    if let Some(t) = ticker {
        t.abort();
    }

    let counters = match Connection::open(Arc::clone(target)).await {
        Ok(mut conn) => {
            let counters = broker_counters(&mut conn, plan).await;
            unsubscribe(&mut conn, plan, subscriptions).await;
            counters
        }
        Err(e) => {
            eprintln!("   warning: the subscriptions could not be deleted: {e}");
            None
        }
    };
    drop(receiver);

    let mut broker_usage = match (before.0, after.0) {
        (Some(a), Some(b)) => usage(a, b, ticks),
        _ => None,
    };
    // The peak RSS may come while the notification backlog drains.
    if let (Some(u), Some(Ok(late))) = (broker_usage.as_mut(), broker.map(procstat::sample)) {
        u.peak_rss_kib = late.peak_rss_kib();
    }
    let own_usage = usage(before.1, after.1, ticks);
    let mut measured = Measured::new(&outcome, elapsed, None, broker_usage, own_usage);

    let audit = ledger.audit(per_update);
    let window = inbox
        .last_receipt()
        .map(|t| t.saturating_duration_since(started).as_secs_f64())
        .filter(|s| *s > 0.0);
    let rate = |n: u64| window.map_or(0.0, |s| n as f64 / s);
    let notifications = inbox.notifications();
    let entity_notifications = inbox.entities.load(Ordering::Relaxed);
    measured.notifications = Some(Notifications {
        subscriptions,
        endpoint,
        audit,
        notifications,
        entity_notifications,
        notifications_per_sec: rate(notifications),
        entity_notifications_per_sec: rate(entity_notifications),
        delay: Latency::of(&inbox.delays()),
        unknown: inbox.unknown.load(Ordering::Relaxed),
        malformed: inbox.malformed.load(Ordering::Relaxed),
        strays: inbox.strays.load(Ordering::Relaxed),
        drain_s: drain_took.as_secs_f64(),
        drain_end: end.name(),
        broker_times_sent: counters.map(|c| c.0),
        broker_times_failed: counters.map(|c| c.1),
    });
    Verdict::Measured(Box::new(measured))
}

/// CPU and memory between two samples; a failed sample is said on stderr.
fn usage(
    a: Result<procstat::Sample, BenchError>,
    b: Result<procstat::Sample, BenchError>,
    ticks: u64,
) -> Option<Usage> {
    match (a, b) {
        (Ok(a), Ok(b)) => Some(procstat::usage(&a, &b, ticks)),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("   warning: {e}");
            None
        }
    }
}

/// Creates the subscriptions; on a refusal deletes those already made and says why.
async fn subscribe(target: &Arc<Target>, plan: &Plan, endpoint: &str) -> Result<(), Verdict> {
    let mut conn = Connection::open(Arc::clone(target))
        .await
        .map_err(|reason| Verdict::Failed { reason })?;
    for k in 0..plan.subscriptions {
        let answer = conn.send(plan.subscription_request(k, endpoint)).await;
        let verdict = match answer {
            Ok(r) if (200..300).contains(&r.status) => continue,
            Ok(r) => {
                let body: String = String::from_utf8_lossy(&r.body).chars().take(300).collect();
                if UNSUPPORTED.contains(&r.status) {
                    Verdict::Unsupported {
                        status: r.status,
                        detail: format!("POST /subscriptions: {body}"),
                    }
                } else {
                    Verdict::Failed {
                        reason: format!("POST /subscriptions answered {}: {body}", r.status),
                    }
                }
            }
            Err(e) => Verdict::Failed {
                reason: format!("POST /subscriptions: {e}"),
            },
        };
        unsubscribe(&mut conn, plan, k).await;
        return Err(verdict);
    }
    Ok(())
}

/// Deletes subscriptions `0..count`, so a reused broker is left as it was.
async fn unsubscribe(conn: &mut Connection, plan: &Plan, count: u64) {
    for k in 0..count {
        let id = plan.subscription_id(k);
        match conn.send(delete(format!("/subscriptions/{id}"))).await {
            Ok(r) if (200..300).contains(&r.status) => {}
            Ok(r) => eprintln!(
                "   warning: DELETE /subscriptions/{id} answered {}",
                r.status
            ),
            Err(e) => eprintln!("   warning: DELETE /subscriptions/{id}: {e}"),
        }
    }
}

/// The subscriptions' `timesSent` and `timesFailed`, summed; `None` if one cannot be read.
async fn broker_counters(conn: &mut Connection, plan: &Plan) -> Option<(u64, u64)> {
    let mut sums = (0, 0);
    for k in 0..plan.subscriptions {
        let id = plan.subscription_id(k);
        let r = conn.send(get(format!("/subscriptions/{id}"))).await.ok()?;
        if r.status != 200 {
            return None;
        }
        let (sent, failed) = delivery_counters(&r.body)?;
        sums.0 += sent;
        sums.1 += failed;
    }
    Some(sums)
}

/// `notification.timesSent` and `timesFailed` of a subscription (absent means none).
pub fn delivery_counters(body: &[u8]) -> Option<(u64, u64)> {
    let sub: Value = serde_json::from_slice(body).ok()?;
    let n = sub.get("notification")?;
    let count = |name: &str| n.get(name).and_then(Value::as_u64).unwrap_or(0);
    Some((count("timesSent"), count("timesFailed")))
}

/// Waits for late notifications: until every acknowledged update was received by every
/// subscription, nothing arrived for [`DRAIN_QUIET`], or [`DRAIN_MAX`] passed.
async fn drain(inbox: &Inbox, ledger: &Ledger, per_update: u32) -> DrainEnd {
    let started = Instant::now();
    let mut last = inbox.entities.load(Ordering::Relaxed);
    let mut changed = started;
    loop {
        let now = Instant::now();
        let received = inbox.entities.load(Ordering::Relaxed);
        if received != last {
            last = received;
            changed = now;
        }
        let complete = ledger.audit(per_update).lost == 0;
        if let Some(end) = drain_end(complete, now, started, changed, DRAIN_QUIET, DRAIN_MAX) {
            return end;
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
}

#[cfg(test)]
#[path = "notify_tests.rs"]
mod tests;
