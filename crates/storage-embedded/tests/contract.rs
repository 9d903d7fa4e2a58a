//! The embedded store against the shared storage contract (entities and subscriptions), plus
//! its durability guarantees: reopening after a clean close, surviving SIGKILL with every
//! acknowledged write, and writing again after a full disk is freed.

// Tests fail by panicking; expect() names what was expected.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use rigel_model::Tenant;
use rigel_storage::testkit::{self, sample_entity, sample_status, sample_subscription};
use rigel_storage::{EntityStore, Expect, StorageError, SubscriptionStore, WriteOp};
use rigel_storage_embedded::{EmbeddedOptions, EmbeddedStore};
use tempfile::TempDir;

#[path = "contract/full_disk.rs"]
mod full_disk;
#[path = "contract/value_index.rs"]
mod value_index;

/// A store in its own temporary directory; the directory lives as long as the test.
fn fresh_store() -> (Arc<EmbeddedStore>, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open store");
    (Arc::new(store), dir)
}

macro_rules! contract_tests {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let (store, _dir) = fresh_store();
                testkit::$check(store).await;
            }
        )*
    };
}

rigel_storage::each_contract_check!(contract_tests);

/// `run_all` and `run_subscription_checks` cover the same checks in one go, all sharing one
/// store (the kit's checks use their own names, so they must also pass side by side).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_contract_passes_on_one_shared_store() {
    let (store, _dir) = fresh_store();
    let shared = || {
        let store = Arc::clone(&store);
        async move { store }
    };
    testkit::run_all(shared).await;
    testkit::run_subscription_checks(shared).await;
    testkit::run_registration_checks(shared).await;
    testkit::run_history_checks(shared).await;
}

const T_KILL: &str = "https://example.org/ns#KillTest";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_after_a_clean_close_keeps_everything() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tenant = Tenant::named("reopen").expect("tenant");
    let mut versions = Vec::new();
    {
        let store = EmbeddedStore::open(dir.path()).expect("open");
        for i in 0..50 {
            let entity = sample_entity(&format!("urn:ngsi-ld:Room:r{i:02}"), &[T_KILL]);
            versions.push(testkit::create(&store, &tenant, entity).await);
        }
        store
            .commit(
                &tenant,
                vec![WriteOp::Delete {
                    id: "urn:ngsi-ld:Room:r00".into(),
                    expect: Expect::Any,
                }],
            )
            .await
            .expect("delete");
        store.close().await.expect("close");
    }
    let store = EmbeddedStore::open(dir.path()).expect("reopen");
    assert!(store.tenant_exists(&tenant).await.expect("tenant_exists"));
    let ids = store
        .ids_by_type(&tenant, T_KILL, None, 1000)
        .await
        .expect("ids_by_type");
    assert_eq!(ids.len(), 49);
    for (i, version) in versions.iter().enumerate().skip(1) {
        let id = format!("urn:ngsi-ld:Room:r{i:02}");
        let read = store
            .get(&tenant, &id)
            .await
            .expect("get")
            .expect("entity survives reopen");
        assert_eq!(read.version, *version);
        assert_eq!(read.value, sample_entity(&id, &[T_KILL]));
    }
    assert!(store
        .get(&tenant, "urn:ngsi-ld:Room:r00")
        .await
        .expect("get")
        .is_none());
    // The version counter survives too: new versions stay above every earlier one.
    let max_before = versions.iter().copied().max().unwrap_or(0);
    let entity = sample_entity("urn:ngsi-ld:Room:r00", &[T_KILL]);
    assert!(testkit::create(&store, &tenant, entity).await > max_before);
}

#[tokio::test]
async fn commit_after_close_fails_with_closed_but_reads_still_work() {
    let (store, _dir) = fresh_store();
    let tenant = Tenant::default_tenant();
    let entity = sample_entity("urn:ngsi-ld:Room:closed", &[T_KILL]);
    testkit::create(&*store, &tenant, entity.clone()).await;
    store.close().await.expect("close");
    store.close().await.expect("second close is a no-op");
    let late = store
        .commit(
            &tenant,
            vec![WriteOp::Put {
                entity,
                expect: Expect::Any,
            }],
        )
        .await;
    assert!(matches!(late, Err(StorageError::Closed)));
    assert!(store
        .get(&tenant, "urn:ngsi-ld:Room:closed")
        .await
        .expect("get")
        .is_some());
}

/// Subscriptions, their saved counters, replacements and deletions all survive a close and
/// reopen, and so does the tenant a subscription created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_survive_a_close_and_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tenant = Tenant::named("sub-reopen").expect("tenant");
    let counted = sample_subscription("urn:ngsi-ld:Subscription:counted");
    let mut replaced = sample_subscription("urn:ngsi-ld:Subscription:replaced");
    let deleted = sample_subscription("urn:ngsi-ld:Subscription:deleted");
    let default_one = sample_subscription("urn:ngsi-ld:Subscription:default");
    {
        let store = EmbeddedStore::open(dir.path()).expect("open");
        for subscription in [&counted, &replaced, &deleted] {
            assert!(store
                .create_subscription(&tenant, subscription)
                .await
                .expect("create"));
        }
        assert!(store
            .create_subscription(&Tenant::default_tenant(), &default_one)
            .await
            .expect("create"));
        store
            .save_delivery_status(vec![(
                tenant.clone(),
                counted.id.clone(),
                sample_status(9, 8),
            )])
            .await
            .expect("save status");
        replaced.is_active = false;
        assert!(store
            .replace_subscription(&tenant, &replaced)
            .await
            .expect("replace"));
        assert!(store
            .delete_subscription(&tenant, &deleted.id)
            .await
            .expect("delete"));
        store.close().await.expect("close");
    }
    let store = EmbeddedStore::open(dir.path()).expect("reopen");
    assert!(store.tenant_exists(&tenant).await.expect("tenant_exists"));
    let mut all = store.all_subscriptions().await.expect("list");
    all.sort_by(|a, b| a.1.id.cmp(&b.1.id));
    let mut counted_after = counted;
    counted_after.delivery = sample_status(9, 8);
    assert_eq!(
        all,
        [
            (tenant.clone(), counted_after),
            (Tenant::default_tenant(), default_one),
            (tenant, replaced),
        ]
    );
}

#[tokio::test]
async fn subscription_writes_after_close_fail_with_closed_but_listing_still_works() {
    let (store, _dir) = fresh_store();
    let tenant = Tenant::named("sub-closed").expect("tenant");
    let subscription = sample_subscription("urn:ngsi-ld:Subscription:closed");
    assert!(store
        .create_subscription(&tenant, &subscription)
        .await
        .expect("create"));
    store.close().await.expect("close");
    let other = sample_subscription("urn:ngsi-ld:Subscription:late");
    let late_create = store.create_subscription(&tenant, &other).await;
    assert!(
        matches!(late_create, Err(StorageError::Closed)),
        "{late_create:?}"
    );
    let late_replace = store.replace_subscription(&tenant, &subscription).await;
    assert!(
        matches!(late_replace, Err(StorageError::Closed)),
        "{late_replace:?}"
    );
    let late_delete = store.delete_subscription(&tenant, &subscription.id).await;
    assert!(
        matches!(late_delete, Err(StorageError::Closed)),
        "{late_delete:?}"
    );
    let late_save = store
        .save_delivery_status(vec![(
            tenant.clone(),
            subscription.id.clone(),
            sample_status(1, 0),
        )])
        .await;
    assert!(
        matches!(late_save, Err(StorageError::Closed)),
        "{late_save:?}"
    );
    assert_eq!(
        store.all_subscriptions().await.expect("list"),
        [(tenant, subscription)]
    );
}

/// Subscription writes running alongside a stream of entity commits all apply: the two
/// write paths share redb's single write lock without starving or deadlocking each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_writes_interleave_with_entity_commits() {
    let (store, _dir) = fresh_store();
    let tenant = Tenant::named("sub-interleave").expect("tenant");
    let entities = {
        let store = Arc::clone(&store);
        let tenant = tenant.clone();
        tokio::spawn(async move {
            for i in 0..100 {
                let entity = sample_entity(&format!("urn:ngsi-ld:Room:i{i:03}"), &[T_KILL]);
                testkit::create(&*store, &tenant, entity).await;
            }
        })
    };
    let subscriptions: Vec<_> = (0..20)
        .map(|i| {
            let store = Arc::clone(&store);
            let tenant = tenant.clone();
            tokio::spawn(async move {
                let id = format!("urn:ngsi-ld:Subscription:i{i:02}");
                let subscription = sample_subscription(&id);
                assert!(store
                    .create_subscription(&tenant, &subscription)
                    .await
                    .expect("create"));
                store
                    .save_delivery_status(vec![(tenant, id, sample_status(i, 0))])
                    .await
                    .expect("save status");
            })
        })
        .collect();
    for task in subscriptions {
        task.await.expect("subscription task");
    }
    entities.await.expect("entity task");
    let all = store.all_subscriptions().await.expect("list");
    assert_eq!(all.len(), 20);
    for (_, subscription) in all {
        let n: u64 = subscription.id["urn:ngsi-ld:Subscription:i".len()..]
            .parse()
            .expect("numbered id");
        assert_eq!(subscription.delivery, sample_status(n, 0));
    }
    let ids = store
        .ids_by_type(&tenant, T_KILL, None, 1000)
        .await
        .expect("ids_by_type");
    assert_eq!(ids.len(), 100);
}

#[test]
fn opening_a_file_that_is_not_a_store_fails_with_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join(EmbeddedStore::FILE_NAME),
        vec![0x5a; 64 * 1024],
    )
    .expect("write");
    let opened = EmbeddedStore::open(dir.path());
    assert!(
        matches!(opened, Err(StorageError::Io(_) | StorageError::Corrupt(_))),
        "{opened:?}"
    );
}

#[test]
fn a_store_directory_is_created_when_missing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let nested = dir.path().join("a/b/c");
    let store = EmbeddedStore::open(&nested).expect("open");
    assert_eq!(store.path(), nested.join(EmbeddedStore::FILE_NAME));
    assert!(store.path().is_file());
}

/// Tells the child writer process where its store is.
const KILL_DIR_ENV: &str = "RIGEL_KILL_TEST_STORE_DIR";
/// And how often it checkpoints (milliseconds).
const KILL_CHECKPOINT_ENV: &str = "RIGEL_KILL_TEST_CHECKPOINT_MS";
const ACK_PREFIX: &str = "ACKED ";
const KILL_AFTER_ACKS: usize = 500;

/// The child side of the SIGKILL test, run when the parent test re-executes this binary
/// with `KILL_DIR_ENV` set: it writes from 32 concurrent tasks and prints each id as soon as
/// its commit is acknowledged, until it is killed (or gives up after 20,000).
async fn sigkill_child_writes_until_killed(dir: String, checkpoint_ms: u64) {
    let mut options = EmbeddedOptions::default();
    options.checkpoint_interval = Duration::from_millis(checkpoint_ms);
    let store =
        Arc::new(EmbeddedStore::open_with(Path::new(&dir), options).expect("child opens store"));
    let tenant = Tenant::named("kill").expect("tenant");
    let tasks: Vec<_> = (0..32u32)
        .map(|task| {
            let store = Arc::clone(&store);
            let tenant = tenant.clone();
            tokio::spawn(async move {
                for n in 0..625u32 {
                    let id = format!("urn:ngsi-ld:Kill:{task:02}-{n:04}");
                    let level = f64::from(task * 10_000 + n);
                    let entity = value_index::with_level_set(&id, &[T_KILL], level);
                    testkit::create(&*store, &tenant, entity).await;
                    // Straight to the fd (not the test harness's capture), one flushed line per ack.
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "{ACK_PREFIX}{id}").expect("stdout");
                    out.flush().expect("flush");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("child task");
    }
}

/// Every write acknowledged before a SIGKILL is in the store when it is reopened: once with
/// no checkpoint during the run (everything is replayed from the write-ahead log), once with
/// a checkpoint after every batch (the kill lands in or between checkpoints).
#[test]
fn acknowledged_writes_survive_sigkill() {
    if let Ok(dir) = std::env::var(KILL_DIR_ENV) {
        // This process is the child writer the parent below started.
        let checkpoint_ms = std::env::var(KILL_CHECKPOINT_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .expect("checkpoint interval for the child");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("child runtime");
        runtime.block_on(sigkill_child_writes_until_killed(dir, checkpoint_ms));
        return;
    }
    for checkpoint_ms in [3_600_000, 0] {
        kill_a_writer_and_check(checkpoint_ms);
    }
}

fn kill_a_writer_and_check(checkpoint_ms: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(std::env::current_exe().expect("test binary path"))
        .args([
            "acknowledged_writes_survive_sigkill",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(KILL_DIR_ENV, dir.path())
        .env(KILL_CHECKPOINT_ENV, checkpoint_ms.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child writer");
    let stdout = child.stdout.take().expect("child stdout");
    let (lines_tx, lines_rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    let mut acked = Vec::new();
    while acked.len() < KILL_AFTER_ACKS {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("child acknowledges writes (died or stalled?)");
        if let Some(id) = line.strip_prefix(ACK_PREFIX) {
            acked.push(id.to_owned());
        }
    }
    child.kill().expect("SIGKILL the child");
    let status = child.wait().expect("reap child");
    assert!(
        !status.success(),
        "the child was killed mid-run, not finished: {status:?}"
    );
    // Acks already in the pipe were printed after their commit returned: check them too.
    reader.join().expect("reader thread");
    acked.extend(
        lines_rx
            .try_iter()
            .filter_map(|l| l.strip_prefix(ACK_PREFIX).map(str::to_owned)),
    );

    if checkpoint_ms > 60_000 {
        // No checkpoint ran: what survives must come from the log.
        let log = std::fs::metadata(dir.path().join("rigel.wal")).expect("log");
        assert!(log.len() > 0, "the killed writer left an empty log");
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = EmbeddedStore::open(dir.path()).expect("reopen after SIGKILL");
        let tenant = Tenant::named("kill").expect("tenant");
        let mut highest = 0;
        for id in &acked {
            let found = store.get(&tenant, id).await.expect("get");
            let Some(found) = found else {
                panic!("acknowledged write {id} was lost");
            };
            highest = highest.max(found.version);
        }
        // Versions go on from the replayed ones: never reused.
        let outcomes = store
            .commit(
                &tenant,
                vec![WriteOp::Put {
                    entity: sample_entity("urn:ngsi-ld:Kill:after", &[T_KILL]),
                    expect: Expect::Absent,
                }],
            )
            .await
            .expect("write after reopen");
        assert!(
            matches!(outcomes[0], rigel_storage::WriteOutcome::Applied { version } if version > highest),
            "{outcomes:?} after versions up to {highest}"
        );
        let listed = store
            .ids_by_type(&tenant, T_KILL, None, usize::MAX)
            .await
            .expect("ids_by_type");
        assert!(listed.len() >= acked.len());
        // The value index holds the acknowledged entities too: the rows a batch kept in
        // memory until a checkpoint are written again by the replay.
        for id in acked.iter().step_by(25) {
            let (task, n) = id
                .strip_prefix("urn:ngsi-ld:Kill:")
                .and_then(|rest| rest.split_once('-'))
                .expect("child id");
            let level = f64::from(task.parse::<u32>().expect("task") * 10_000)
                + f64::from(n.parse::<u32>().expect("n"));
            let (found, examined) = value_index::with_level(&store, &tenant, T_KILL, level).await;
            assert_eq!(found, std::slice::from_ref(id), "level {level}");
            assert_eq!(examined, 1, "{id} found through the index");
        }
        eprintln!(
            "sigkill test (checkpoint every {checkpoint_ms} ms): {} acknowledged before/at the kill, {} present after reopen",
            acked.len(),
            listed.len()
        );
    });
}

/// A clean close checkpoints: the write-ahead log is left empty and everything is in redb.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_close_leaves_an_empty_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut options = EmbeddedOptions::default();
    options.checkpoint_interval = Duration::from_secs(3600);
    let tenant = Tenant::named("close").expect("tenant");
    let store = EmbeddedStore::open_with(dir.path(), options).expect("open");
    for n in 0..50 {
        let id = format!("urn:ngsi-ld:Close:{n}");
        testkit::create(&store, &tenant, sample_entity(&id, &[T_KILL])).await;
    }
    let log = dir.path().join("rigel.wal");
    assert!(
        std::fs::metadata(&log).expect("log").len() > 0,
        "no checkpoint yet"
    );
    store.close().await.expect("close");
    drop(store);
    assert_eq!(std::fs::metadata(&log).expect("log").len(), 0);
    let store = EmbeddedStore::open(dir.path()).expect("reopen");
    let ids = store
        .ids_by_type(&tenant, T_KILL, None, usize::MAX)
        .await
        .expect("ids");
    assert_eq!(ids.len(), 50);
}

/// Small options still work: a one-request batch bound and a one-slot queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_queue_and_batch_limits_still_apply_every_commit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut options = EmbeddedOptions::default();
    options.cache_size_bytes = 1024 * 1024;
    options.queue_capacity = 1;
    options.max_batch_requests = 1;
    let store = Arc::new(EmbeddedStore::open_with(dir.path(), options).expect("open"));
    testkit::concurrent_commits_all_apply(store).await;
}

/// What the store reports about itself as it commits and closes.
#[derive(Debug, Default)]
struct Recorder {
    groups: std::sync::Mutex<Vec<(usize, usize, Duration)>>,
}

impl rigel_storage::StoreObserver for Recorder {
    fn group_committed(&self, requests: usize, writes: usize, sync: Duration) {
        self.groups.lock().unwrap().push((requests, writes, sync));
    }
    fn group_failed(&self, _requests: usize) {}
    fn checkpointed(&self, _took: Duration) {}
}

/// The observer hears of every durable group commit with its applied writes (conflicts are
/// not writes); health is Ready while open and Closed after a close; reads count as cache
/// hits or misses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_reports_commits_health_and_cache_use() {
    use rigel_storage::BackendHealth;
    let dir = tempfile::tempdir().expect("temp dir");
    let recorder = Arc::new(Recorder::default());
    let mut options = EmbeddedOptions::default();
    options.observer = Some(recorder.clone());
    let store = EmbeddedStore::open_with(dir.path(), options).expect("open");
    let tenant = Tenant::default_tenant();
    assert_eq!(store.health(), BackendHealth::Ready);
    let entity = sample_entity("urn:ngsi-ld:Room:observed", &[T_KILL]);
    let put = |expect| WriteOp::Put {
        entity: entity.clone(),
        expect,
    };
    store
        .commit(&tenant, vec![put(Expect::Absent), put(Expect::Absent)])
        .await
        .expect("commit");
    let groups = recorder.groups.lock().unwrap().clone();
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(
        (groups[0].0, groups[0].1),
        (1, 1),
        "one call, one applied write"
    );
    assert!(
        groups[0].2 > Duration::ZERO,
        "a logged group has a sync time"
    );
    for _ in 0..3 {
        store
            .get(&tenant, "urn:ngsi-ld:Room:observed")
            .await
            .expect("get");
    }
    let counters = store.counters();
    assert_eq!(
        counters.cache_hits + counters.cache_misses,
        3,
        "{counters:?}"
    );
    store.close().await.expect("close");
    assert_eq!(store.health(), BackendHealth::Closed);
}

/// History series are numbered by the writer from a counter it keeps in memory: entities
/// created in one batch, an entity forgotten and recorded again, and entities recorded
/// after a reopen each keep their own instances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_series_stay_apart_across_batches_forgets_and_reopens() {
    use rigel_model::{Attribute, AttributeValue};
    use rigel_storage::{HistoryChange, HistoryHeader, HistoryQuery, NewInstance};

    const SPEED: &str = "https://example.org/ns#speed";
    const FUEL: &str = "https://example.org/ns#fuel";
    let tenant = Tenant::default_tenant();
    let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("instant");
    let append = |id: &str, value: i64| WriteOp::Record {
        change: HistoryChange::Append {
            header: HistoryHeader {
                id: id.to_owned(),
                types: vec![T_KILL.to_owned()],
                scope: None,
                created_at: now,
                modified_at: now,
                deleted_at: None,
            },
            instances: [SPEED, FUEL]
                .iter()
                .map(|attribute| NewInstance {
                    attribute: (*attribute).to_owned(),
                    value: Attribute::new(AttributeValue::Property(serde_json::json!(value))),
                    deleted_at: None,
                })
                .collect(),
        },
        with_previous: false,
    };
    let forget = |id: &str| WriteOp::Record {
        change: HistoryChange::Forget { id: id.to_owned() },
        with_previous: false,
    };
    async fn speeds(store: &EmbeddedStore, tenant: &Tenant, id: &str) -> Vec<serde_json::Value> {
        let history = store
            .history(tenant, id, &HistoryQuery::default())
            .await
            .expect("history")
            .expect("a history");
        history.attributes[SPEED]
            .iter()
            .map(|i| match &i.value.value {
                AttributeValue::Property(v) => v.clone(),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = EmbeddedStore::open(dir.path()).expect("open");
        let (a, b) = ("urn:ngsi-ld:V:a", "urn:ngsi-ld:V:b");
        store
            .commit(&tenant, vec![append(a, 1), append(b, 2)])
            .await
            .expect("one batch, two new entities");
        store
            .commit(&tenant, vec![forget(a)])
            .await
            .expect("forget");
        store
            .commit(&tenant, vec![append(a, 3)])
            .await
            .expect("again");
        assert_eq!(speeds(&store, &tenant, a).await, [serde_json::json!(3)]);
        assert_eq!(speeds(&store, &tenant, b).await, [serde_json::json!(2)]);
        store.close().await.expect("close");
    }
    let store = EmbeddedStore::open(dir.path()).expect("reopen");
    store
        .commit(&tenant, vec![append("urn:ngsi-ld:V:c", 4)])
        .await
        .expect("after reopen");
    store
        .commit(&tenant, vec![append("urn:ngsi-ld:V:b", 5)])
        .await
        .expect("known entity");
    assert_eq!(
        speeds(&store, &tenant, "urn:ngsi-ld:V:a").await,
        [serde_json::json!(3)]
    );
    assert_eq!(
        speeds(&store, &tenant, "urn:ngsi-ld:V:b").await,
        [serde_json::json!(2), serde_json::json!(5)]
    );
    assert_eq!(
        speeds(&store, &tenant, "urn:ngsi-ld:V:c").await,
        [serde_json::json!(4)]
    );
}

/// Registrations and their forwarding status survive a close and a reopen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_survive_a_close_and_reopen() {
    use rigel_storage::testkit::sample_registration;
    use rigel_storage::RegistrationStore;

    let dir = tempfile::tempdir().expect("temp dir");
    let tenant = Tenant::named("csr-reopen").expect("tenant");
    let mut reg = sample_registration("urn:ngsi-ld:ContextSourceRegistration:reopen");
    {
        let store = EmbeddedStore::open(dir.path()).expect("open");
        assert!(store
            .create_registration(&tenant, &reg)
            .await
            .expect("create"));
        let counted = rigel_model::registration::ForwardingStatus {
            times_sent: 99,
            ..Default::default()
        };
        store
            .add_forwarding_status(vec![(tenant.clone(), reg.id.clone(), counted.clone())])
            .await
            .expect("add");
        reg.status.absorb(&counted);
        store.close().await.expect("close");
    }
    let store = EmbeddedStore::open(dir.path()).expect("reopen");
    assert_eq!(
        store.all_registrations().await.expect("list"),
        [(tenant.clone(), reg)]
    );
    assert!(store.tenant_exists(&tenant).await.expect("tenant_exists"));
}
