//! Seeding (untimed): creates the entities the scenarios on existing entities work on, in
//! Batch Entity Creations of `--seed-batch` entities, or one POST /entities each when batches
//! are not wanted or the broker does not offer them; and the temporal entities the temporal
//! scenarios read, `--temporal-chunk` instances per attribute per POST /temporal/entities.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::{Connection, Request, Target};
use crate::load::{progress, UNSUPPORTED};
use crate::rng::Rng;
use crate::scenario::{self, Plan};
use crate::temporal;

/// Seeding gives up after this long plus [`SEED_TIME_PER_ENTITY`] per entity.
const SEED_TIME_BASE: Duration = Duration::from_secs(600);

/// Time allowed per seeded entity on top of the base (1,000,000 entities: 10 + 33 minutes).
const SEED_TIME_PER_ENTITY: Duration = Duration::from_millis(2);

/// Time allowed per temporal instance on top of the base (10,000,000 instances: 10 + 8 minutes).
const SEED_TIME_PER_INSTANCE: Duration = Duration::from_micros(50);

/// How many characters of an error body are kept for the report.
const SNIPPET: usize = 300;

/// The default seeding time limit for `count` entities: it scales with the count.
pub fn time_limit(count: u64) -> Duration {
    let per = SEED_TIME_PER_ENTITY.saturating_mul(u32::try_from(count).unwrap_or(u32::MAX));
    SEED_TIME_BASE.saturating_add(per)
}

/// The default temporal seeding time limit for `instances` instances (over all entities and
/// attributes): it scales with the count.
pub fn temporal_time_limit(instances: u64) -> Duration {
    let per = SEED_TIME_PER_INSTANCE.saturating_mul(u32::try_from(instances).unwrap_or(u32::MAX));
    SEED_TIME_BASE.saturating_add(per)
}

/// How the seeding requests are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// One POST /entities per entity.
    Single,
    /// POST /entityOperations/create with `plan.seed_batch` entities.
    Batch,
    /// POST /temporal/entities with `plan.temporal_chunk` instances of each attribute of one
    /// temporal entity.
    Temporal,
}

impl Via {
    /// The request line, for messages.
    pub fn line(self) -> &'static str {
        match self {
            Via::Single => "POST /entities",
            Via::Batch => "POST /entityOperations/create",
            Via::Temporal => "POST /temporal/entities",
        }
    }

    /// What seeding counts: entities, or temporal instances.
    pub fn unit(self) -> &'static str {
        match self {
            Via::Single | Via::Batch => "entities",
            Via::Temporal => "instances",
        }
    }

    /// The rate unit of the progress lines.
    fn rate_unit(self) -> &'static str {
        match self {
            Via::Single | Via::Batch => "entities/s",
            Via::Temporal => "instances/s",
        }
    }

    /// Work items per request: entities, or one temporal seeding request.
    fn step(self, plan: &Plan) -> u64 {
        match self {
            Via::Single | Via::Temporal => 1,
            Via::Batch => plan.seed_batch,
        }
    }

    /// The end of the work items: the seeded entities, or the temporal seeding requests.
    fn items(self, plan: &Plan) -> u64 {
        match self {
            Via::Single | Via::Batch => plan.seed_count,
            Via::Temporal => plan.temporal_requests(),
        }
    }

    /// How many [`Via::unit`]s a complete seeding creates.
    pub fn total(self, plan: &Plan) -> u64 {
        match self {
            Via::Single | Via::Batch => plan.seed_count,
            Via::Temporal => plan.temporal_total(),
        }
    }

    /// The request for the work items from `start` on, and how many units it creates.
    fn request(self, plan: &Plan, start: u64, rng: &mut Rng) -> (Request, u64) {
        match self {
            Via::Single => (plan.seed_request(start, rng), 1),
            Via::Batch => plan.seed_batch_request(start, rng),
            Via::Temporal => plan.temporal_seed_request(start, rng),
        }
    }
}

/// A seeding that went through.
#[derive(Debug)]
pub struct Seeded {
    pub took: Duration,
    pub via: Via,
}

/// Why seeding stopped: the status (0 for transport) and a message naming the request.
pub type SeedError = (u16, String);

/// What one seeding answer means.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Created,
    /// 404, 405, 422 or 501: the broker does not offer the operation.
    Unsupported(String),
    Failed(String),
}

/// Judges one answer: any 2xx creates, but a batch's 207 means some entities failed.
fn judge(via: Via, status: u16, body: &[u8]) -> Answer {
    match status {
        207 if via == Via::Batch => Answer::Failed(first_batch_error(body)),
        200..=299 => Answer::Created,
        s if UNSUPPORTED.contains(&s) => Answer::Unsupported(snippet(body)),
        _ => Answer::Failed(snippet(body)),
    }
}

fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(SNIPPET)
        .collect()
}

/// The first error of a BatchOperationResult, with how many entities failed.
fn first_batch_error(body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let errors = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(Value::as_array);
    match errors.and_then(|e| e.first().map(|first| (e.len(), first))) {
        Some((n, first)) => {
            let entity = first.get("entityId").and_then(Value::as_str).unwrap_or("?");
            let error = first.get("error").map(Value::to_string).unwrap_or_default();
            let text = format!("{n} entities failed, first {entity}: {error}");
            text.chars().take(SNIPPET).collect()
        }
        None => snippet(body),
    }
}

/// Creates the `plan.seed_count` seeded entities with `connections` concurrent workers, in
/// batches when `plan.seed_batch` > 1 and the broker answers the first one with 2xx; a first
/// batch answered 404/405/422/501 falls back to one POST /entities per entity. Stops at the
/// first failure or after `limit`; prints the rate of every `every` when given.
pub async fn seed(
    target: &Arc<Target>,
    plan: &Arc<Plan>,
    connections: usize,
    limit: Duration,
    every: Option<Duration>,
) -> Result<Seeded, SeedError> {
    let started = Instant::now();
    let (via, first) = if plan.seed_batch > 1 {
        match first_batch(target, plan).await? {
            Some(n) => (Via::Batch, n),
            None => (Via::Single, 0),
        }
    } else {
        (Via::Single, 0)
    };
    let effort = Effort {
        connections,
        limit,
        every,
    };
    finish(target, plan, via, first, started, effort).await
}

/// Creates the `plan.seed_count` temporal entities, each with `plan.temporal_instances`
/// instances of every attribute, `plan.temporal_chunk` per attribute and request, with
/// `connections` concurrent workers. Stops at the first failure or after `limit`; prints the
/// rate of every `every` when given.
pub async fn seed_temporal(
    target: &Arc<Target>,
    plan: &Arc<Plan>,
    connections: usize,
    limit: Duration,
    every: Option<Duration>,
) -> Result<Seeded, SeedError> {
    let effort = Effort {
        connections,
        limit,
        every,
    };
    finish(target, plan, Via::Temporal, 0, Instant::now(), effort).await
}

/// How hard and how long seeding goes on.
#[derive(Debug, Clone, Copy)]
struct Effort {
    connections: usize,
    limit: Duration,
    every: Option<Duration>,
}

/// Seeds what is left once `first` units are done (seeding began at `started`).
async fn finish(
    target: &Arc<Target>,
    plan: &Arc<Plan>,
    via: Via,
    first: u64,
    started: Instant,
    effort: Effort,
) -> Result<Seeded, SeedError> {
    let Effort {
        connections,
        limit,
        every,
    } = effort;
    let deadline = started + limit;
    let done = Arc::new(AtomicU64::new(first));
    let ticker = every.map(|e| {
        let done = Arc::clone(&done);
        tokio::spawn(progress(done, started, deadline, e, via.rate_unit()))
    });
    let result = workers(target, plan, via, connections, deadline, &done).await;
    if let Some(t) = ticker {
        t.abort();
    }
    result?;
    if done.load(Ordering::Relaxed) < via.total(plan) {
        return Err((
            0,
            format!(
                "{}: not done within {} s (see --seed-timeout)",
                via.line(),
                limit.as_secs()
            ),
        ));
    }
    Ok(Seeded {
        took: started.elapsed(),
        via,
    })
}

/// Sends the first batch alone: `Some(entities created)`, or `None` when the broker does not
/// offer Batch Entity Creation (said on stderr; seeding goes on one entity at a time).
async fn first_batch(target: &Arc<Target>, plan: &Plan) -> Result<Option<u64>, SeedError> {
    let line = Via::Batch.line();
    let mut conn = Connection::open(Arc::clone(target))
        .await
        .map_err(|e| (0, format!("{line}: {e}")))?;
    let mut rng = Rng::new(0xA11CE ^ 0xF1257);
    let (request, n) = plan.seed_batch_request(0, &mut rng);
    let r = conn
        .send(request)
        .await
        .map_err(|e| (0, format!("{line}: {e}")))?;
    match judge(Via::Batch, r.status, &r.body) {
        Answer::Created => Ok(Some(n)),
        Answer::Unsupported(body) => {
            eprintln!(
                "   {line} answered {}, so seeding falls back to {}: {body}",
                r.status,
                Via::Single.line()
            );
            Ok(None)
        }
        Answer::Failed(msg) => Err((r.status, format!("{line}: {msg}"))),
    }
}

/// Shared by the seeding workers.
struct Shared {
    /// The first entity not yet handed out.
    next: AtomicU64,
    failed: AtomicBool,
    first_failure: Mutex<Option<SeedError>>,
}

impl Shared {
    fn fail(&self, status: u16, message: String) {
        self.failed.store(true, Ordering::Relaxed);
        if let Ok(mut f) = self.first_failure.lock() {
            f.get_or_insert((status, message));
        }
    }
}

/// Runs the workers until every work item from `done`'s count on is created, one fails, or
/// the deadline passes; `done` counts the units created (entities, or temporal instances, in
/// which case the work items start from 0).
async fn workers(
    target: &Arc<Target>,
    plan: &Arc<Plan>,
    via: Via,
    connections: usize,
    deadline: Instant,
    done: &Arc<AtomicU64>,
) -> Result<(), SeedError> {
    let first = match via {
        Via::Temporal => 0,
        Via::Single | Via::Batch => done.load(Ordering::Relaxed),
    };
    let shared = Arc::new(Shared {
        next: AtomicU64::new(first),
        failed: AtomicBool::new(false),
        first_failure: Mutex::new(None),
    });
    let step = via.step(plan);
    let mut handles = Vec::with_capacity(connections);
    for w in 0..connections.max(1) {
        let (target, plan) = (Arc::clone(target), Arc::clone(plan));
        let (shared, done) = (Arc::clone(&shared), Arc::clone(done));
        handles.push(tokio::spawn(async move {
            let line = via.line();
            let mut conn = match Connection::open(target).await {
                Ok(c) => c,
                Err(e) => return shared.fail(0, format!("{line}: {e}")),
            };
            let mut rng = Rng::new(0xA11CE ^ w as u64);
            while !shared.failed.load(Ordering::Relaxed) && Instant::now() < deadline {
                let start = shared.next.fetch_add(step, Ordering::Relaxed);
                if start >= via.items(&plan) {
                    break;
                }
                let (request, n) = via.request(&plan, start, &mut rng);
                match conn.send(request).await {
                    Ok(r) => match judge(via, r.status, &r.body) {
                        Answer::Created => {
                            done.fetch_add(n, Ordering::Relaxed);
                        }
                        Answer::Unsupported(msg) | Answer::Failed(msg) => {
                            return shared.fail(r.status, format!("{line}: {msg}"));
                        }
                    },
                    Err(e) => return shared.fail(0, format!("{line}: {e}")),
                }
            }
        }));
    }
    for h in handles {
        if let Err(e) = h.await {
            return Err((0, format!("seeding task failed: {e}")));
        }
    }
    match shared.first_failure.lock().ok().and_then(|mut f| f.take()) {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

/// Reads back the last temporal entity's lastN after temporal seeding and says whether the
/// broker holds what was sent: `Ok` what was found, `Err` what is missing (worth a warning,
/// not a failure: the timed scenarios still measure what the broker answers).
pub async fn check_temporal(target: &Arc<Target>, plan: &Plan) -> Result<String, String> {
    let last = plan.seed_count.saturating_sub(1);
    let path = temporal::last_n_path(&plan.temporal_id(last), false);
    let mut conn = Connection::open(Arc::clone(target)).await?;
    let r = conn.send(scenario::get(path)).await?;
    if !(200..300).contains(&r.status) {
        return Err(format!(
            "GET lastN of {} answered {}: {}",
            plan.temporal_id(last),
            r.status,
            snippet(&r.body)
        ));
    }
    temporal::check_last_n(&r.body, plan.temporal_instances)
        .map(|found| format!("{}: {found}", plan.temporal_id(last)))
        .map_err(|wrong| format!("{}: {wrong}", plan.temporal_id(last)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_answers_count_and_a_batch_multi_status_fails_with_its_first_error() {
        assert_eq!(judge(Via::Single, 201, b""), Answer::Created);
        assert_eq!(judge(Via::Batch, 201, b"[]"), Answer::Created);
        let body = br#"{"success":["a"],"errors":[
            {"entityId":"urn:x:1","error":{"type":"https://uri.etsi.org/ngsi-ld/errors/AlreadyExists","status":409}},
            {"entityId":"urn:x:2","error":{"status":409}}]}"#;
        match judge(Via::Batch, 207, body) {
            Answer::Failed(msg) => {
                assert!(
                    msg.starts_with("2 entities failed, first urn:x:1: "),
                    "{msg}"
                );
                assert!(msg.contains("AlreadyExists"), "{msg}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            judge(Via::Batch, 207, b"not json"),
            Answer::Failed("not json".into())
        );
    }

    #[test]
    fn not_offered_statuses_are_unsupported_and_others_fail() {
        for status in [404, 405, 422, 501] {
            assert_eq!(
                judge(Via::Batch, status, b"no"),
                Answer::Unsupported("no".into())
            );
        }
        assert_eq!(
            judge(Via::Single, 400, b"bad"),
            Answer::Failed("bad".into())
        );
        assert_eq!(judge(Via::Batch, 413, b""), Answer::Failed(String::new()));
    }

    #[test]
    fn the_seed_time_limit_grows_with_the_count() {
        assert_eq!(time_limit(1), Duration::from_millis(600_002));
        assert_eq!(time_limit(1_000_000), Duration::from_secs(600 + 2_000));
        assert!(time_limit(u64::MAX) > time_limit(10_000_000));
    }

    #[test]
    fn each_way_names_its_request_and_step() {
        let plan = Plan::new("r".into(), 1_000, 100).with_seed_batch(50);
        assert_eq!(Via::Single.step(&plan), 1);
        assert_eq!(Via::Batch.step(&plan), 50);
        let mut rng = Rng::new(1);
        let (r, n) = Via::Batch.request(&plan, 0, &mut rng);
        assert_eq!((r.path.as_str(), n), ("/entityOperations/create", 50));
        let (r, n) = Via::Single.request(&plan, 3, &mut rng);
        assert_eq!((r.path.as_str(), n), ("/entities", 1));
        assert_eq!(Via::Batch.line(), "POST /entityOperations/create");
    }

    #[test]
    fn temporal_seeding_hands_out_one_chunk_per_request_and_counts_instances() {
        let plan = Plan::new("r".into(), 3, 100).with_temporal(2_500, 1_000);
        assert_eq!(Via::Temporal.step(&plan), 1);
        assert_eq!(Via::Temporal.items(&plan), 9, "3 entities × 3 chunks");
        assert_eq!(Via::Temporal.total(&plan), 3 * 2_500 * 5);
        assert_eq!(Via::Temporal.line(), "POST /temporal/entities");
        assert_eq!(Via::Temporal.unit(), "instances");
        let mut rng = Rng::new(2);
        let (r, n) = Via::Temporal.request(&plan, 8, &mut rng);
        assert_eq!((r.path.as_str(), n), ("/temporal/entities", 500 * 5));
        assert_eq!(judge(Via::Temporal, 204, b""), Answer::Created);
        assert_eq!(
            judge(Via::Temporal, 404, b"no"),
            Answer::Unsupported("no".into())
        );
    }

    #[test]
    fn the_temporal_seed_time_limit_grows_with_the_instances() {
        assert_eq!(temporal_time_limit(0), SEED_TIME_BASE);
        assert_eq!(
            temporal_time_limit(10_000_000),
            Duration::from_secs(600 + 500)
        );
        assert!(temporal_time_limit(u64::MAX) > temporal_time_limit(10_000_000));
    }
}
