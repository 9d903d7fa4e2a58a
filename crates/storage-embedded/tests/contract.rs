//! The embedded store against the shared storage contract, plus its durability guarantees:
//! reopening after a clean close, and surviving SIGKILL with every acknowledged write.

// Tests fail by panicking; expect() names what was expected.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use rigel_model::Tenant;
use rigel_storage::testkit::{self, sample_entity};
use rigel_storage::{EntityStore, Expect, StorageError, WriteOp};
use rigel_storage_embedded::{EmbeddedOptions, EmbeddedStore};
use tempfile::TempDir;

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

contract_tests!(
    create_then_get_returns_the_entity,
    get_of_unknown_id_returns_none,
    stored_entity_keeps_every_attribute_kind,
    create_of_existing_id_conflicts,
    stale_version_write_conflicts,
    versioned_write_of_missing_entity_conflicts,
    unconditional_put_creates_or_replaces,
    replace_updates_the_type_index,
    delete_removes_entity_and_type_index_entry,
    recreated_entity_gets_a_fresh_version,
    delete_of_missing_entity_without_precondition_is_a_no_op,
    tenants_are_isolated,
    default_tenant_always_exists,
    unknown_named_tenant_does_not_exist,
    tenant_exists_after_first_write,
    ids_by_type_pages_in_id_order,
    ids_by_type_lists_each_type_separately,
    ops_in_one_commit_apply_in_order,
    conflict_in_a_commit_does_not_undo_other_ops,
    empty_commit_returns_no_outcomes,
    concurrent_commits_all_apply,
    concurrent_writes_to_one_entity_let_exactly_one_win,
    selecting_a_tenant_pages_in_id_order,
    the_filter_selects_and_count_counts_every_match,
    selecting_after_an_id_resumes_past_it,
    selecting_by_types_merges_them_without_duplicates,
    selecting_by_id_prefix_keeps_only_prefixed_ids,
    selecting_by_ids_skips_absent_ones,
    get_many_answers_in_request_order,
    types_in_use_are_listed_once_per_tenant,
);

/// `run_all` covers the same checks in one go, all sharing one store (the kit's checks use
/// their own names, so they must also pass side by side).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_contract_passes_on_one_shared_store() {
    let (store, _dir) = fresh_store();
    testkit::run_all(|| {
        let store = Arc::clone(&store);
        async move { store }
    })
    .await;
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
const ACK_PREFIX: &str = "ACKED ";
const KILL_AFTER_ACKS: usize = 500;

/// The child side of the SIGKILL test, run when the parent test re-executes this binary
/// with `KILL_DIR_ENV` set: it writes from 32 concurrent tasks and prints each id as soon as
/// its commit is acknowledged, until it is killed (or gives up after 20,000).
async fn sigkill_child_writes_until_killed(dir: String) {
    let store = Arc::new(EmbeddedStore::open(Path::new(&dir)).expect("child opens store"));
    let tenant = Tenant::named("kill").expect("tenant");
    let tasks: Vec<_> = (0..32)
        .map(|task| {
            let store = Arc::clone(&store);
            let tenant = tenant.clone();
            tokio::spawn(async move {
                for n in 0..625 {
                    let id = format!("urn:ngsi-ld:Kill:{task:02}-{n:04}");
                    testkit::create(&*store, &tenant, sample_entity(&id, &[T_KILL])).await;
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

/// Every write acknowledged before a SIGKILL is in the store when it is reopened.
#[test]
fn acknowledged_writes_survive_sigkill() {
    if let Ok(dir) = std::env::var(KILL_DIR_ENV) {
        // This process is the child writer the parent below started.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("child runtime");
        runtime.block_on(sigkill_child_writes_until_killed(dir));
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(std::env::current_exe().expect("test binary path"))
        .args([
            "acknowledged_writes_survive_sigkill",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(KILL_DIR_ENV, dir.path())
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

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = EmbeddedStore::open(dir.path()).expect("reopen after SIGKILL");
        let tenant = Tenant::named("kill").expect("tenant");
        for id in &acked {
            let found = store.get(&tenant, id).await.expect("get");
            assert!(found.is_some(), "acknowledged write {id} was lost");
        }
        let listed = store
            .ids_by_type(&tenant, T_KILL, None, usize::MAX)
            .await
            .expect("ids_by_type");
        assert!(listed.len() >= acked.len());
        eprintln!(
            "sigkill test: {} acknowledged before/at the kill, {} present after reopen",
            acked.len(),
            listed.len()
        );
    });
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
