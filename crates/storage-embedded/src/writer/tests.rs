//! The group-commit loop: batching, and failure without hangs.

// Tests fail by panicking; expect() names what was expected.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::*;

fn job(id: &str) -> Job {
    Job {
        tenant_prefix: vec![0],
        tenant_name: None,
        ops: vec![PreparedOp::Delete {
            id: id.into(),
            expect: Expect::Any,
        }],
    }
}

const LIMITS: BatchLimits = BatchLimits {
    max_requests: 1000,
    max_bytes: 1 << 20,
};

fn applied(jobs: &mut [Job]) -> Result<Vec<Vec<WriteOutcome>>, StorageError> {
    Ok(jobs
        .iter()
        .map(|j| vec![WriteOutcome::Applied { version: 0 }; j.ops.len()])
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_requests_share_one_batch() {
    let batches = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&batches);
    let writer = Arc::new(
        Writer::spawn(64, LIMITS, move |jobs: &mut [Job]| {
            counted.fetch_add(1, Ordering::SeqCst);
            // A slow "fsync", so that the other requests queue up meanwhile.
            std::thread::sleep(Duration::from_millis(20));
            applied(jobs)
        })
        .expect("writer starts"),
    );
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let writer = Arc::clone(&writer);
            tokio::spawn(async move { writer.submit(job(&format!("urn:{i}"))).await })
        })
        .collect();
    for task in tasks {
        let outcome = task.await.expect("task").expect("commit");
        assert_eq!(outcome, [WriteOutcome::Applied { version: 0 }]);
    }
    let batches = batches.load(Ordering::SeqCst);
    assert!(batches < 50, "50 commits took {batches} batches");
}

#[tokio::test]
async fn a_panicking_writer_fails_pending_and_later_commits_with_closed() {
    let writer = Writer::spawn(8, LIMITS, |_jobs: &mut [Job]| -> Result<_, StorageError> {
        panic!("simulated writer crash")
    })
    .expect("writer starts");
    let first = tokio::time::timeout(Duration::from_secs(10), writer.submit(job("urn:a")))
        .await
        .expect("no hang");
    assert!(matches!(first, Err(StorageError::Closed)));
    let later = tokio::time::timeout(Duration::from_secs(10), writer.submit(job("urn:b")))
        .await
        .expect("no hang");
    assert!(matches!(later, Err(StorageError::Closed)));
    let thread = writer.shut().expect("thread handle");
    assert!(join(thread).is_err());
}

#[tokio::test]
async fn a_failed_batch_answers_every_requester_with_the_error() {
    let writer = Writer::spawn(8, LIMITS, |_jobs: &mut [Job]| -> Result<_, StorageError> {
        Err(StorageError::Io("disk full".into()))
    })
    .expect("writer starts");
    let result = writer.submit(job("urn:a")).await;
    assert!(matches!(result, Err(StorageError::Io(m)) if m == "disk full"));
}

#[tokio::test]
async fn commits_after_shut_fail_with_closed() {
    let writer = Writer::spawn(8, LIMITS, applied).expect("writer starts");
    writer
        .submit(job("urn:a"))
        .await
        .expect("commit before shut");
    let thread = writer.shut().expect("thread handle");
    join(thread).expect("clean exit");
    assert!(matches!(
        writer.submit(job("urn:b")).await,
        Err(StorageError::Closed)
    ));
    assert!(writer.shut().is_none());
}
