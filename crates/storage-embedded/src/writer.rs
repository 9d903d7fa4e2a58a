//! The group-commit writer: one OS thread owns every write transaction.
//!
//! Callers send a [`Job`] with a oneshot responder over a bounded channel (a full queue makes
//! callers wait: backpressure, not unbounded memory). The thread blocks for the first job,
//! then drains whatever else is queued, up to [`BatchLimits`], applies the whole batch in one
//! transaction with one fsync and answers everyone. Under load, many commits share a sync;
//! alone, a commit pays exactly one.
//!
//! Failure is never a hang: if the thread dies (panic) its receiver and every responder it
//! held are dropped, so waiting callers and later callers get `StorageError::Closed`.

use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rigel_storage::{Expect, StorageError, WriteOutcome};
use tokio::sync::{mpsc, oneshot};

use crate::error::duplicate;

/// One write, prepared on the caller's task (the entity already encoded into a record).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum PreparedOp {
    Put {
        id: String,
        types: Vec<String>,
        /// A full record whose version the writer fills in (see `layout::record_buffer`).
        record: Vec<u8>,
        /// What the entity files in the value index (`index::suffixes`; empty when the
        /// index is off).
        suffixes: Vec<Vec<u8>>,
        /// What the entity it replaces filed, when known beforehand.
        before: Option<crate::index::Before>,
        expect: Expect,
    },
    Delete {
        id: String,
        expect: Expect,
    },
    /// A history change; `effects` collects its key-level writes as applied, for the log.
    Record {
        change: rigel_storage::HistoryChange,
        with_previous: bool,
        effects: Vec<crate::history::RawWrite>,
    },
    /// A change noted in the outbox (`outbox::encode`), for the Put or Delete before it.
    Note {
        body: Vec<u8>,
        effects: Vec<crate::history::RawWrite>,
    },
    /// Changes of the outbox dealt with, forgotten.
    Forget {
        seqs: Vec<u64>,
        effects: Vec<crate::history::RawWrite>,
    },
}

/// The ops of one `commit` call, for one tenant.
#[derive(Debug)]
pub(crate) struct Job {
    pub tenant_prefix: Vec<u8>,
    pub tenant_name: Option<String>,
    pub ops: Vec<PreparedOp>,
}

impl Job {
    /// A job that writes nothing (it wakes the writer).
    pub(crate) fn empty() -> Self {
        Self {
            tenant_prefix: Vec::new(),
            tenant_name: None,
            ops: Vec::new(),
        }
    }
    /// Approximate bytes this job writes, for the batch size bound.
    fn weight(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                PreparedOp::Put { record, id, .. } => record.len() + id.len(),
                PreparedOp::Delete { id, .. } => id.len(),
                PreparedOp::Record { change, .. } => record_weight(change),
                PreparedOp::Note { body, .. } => body.len(),
                PreparedOp::Forget { seqs, .. } => seqs.len() * 16,
            })
            .sum()
    }
}

/// Approximate bytes a history change writes.
fn record_weight(change: &rigel_storage::HistoryChange) -> usize {
    match change {
        rigel_storage::HistoryChange::Append { instances, .. } => 64 + instances.len() * 96,
        _ => 64,
    }
}

type Responder = oneshot::Sender<Result<Vec<WriteOutcome>, StorageError>>;

struct Request {
    job: Job,
    respond: Responder,
}

/// How much one transaction may gather.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchLimits {
    pub max_requests: usize,
    pub max_bytes: usize,
}

/// Applies a batch of jobs in one durable transaction: one outcome list per job, in order.
pub(crate) trait CommitBatch: Send + 'static {
    fn commit_batch(&mut self, jobs: &mut [Job]) -> Result<Vec<Vec<WriteOutcome>>, StorageError>;

    /// While the committer cannot commit and waits to recover: how long until its next
    /// attempt is due. `None` when it commits normally.
    fn recovery_due_in(&self) -> Option<Duration> {
        None
    }

    /// Makes an attempt to recover, when one is due.
    fn recover(&mut self) {}

    /// How long until work that is due while no request comes (a checkpoint of what was
    /// committed before a pause), if there is some.
    fn idle_work_due_in(&self) -> Option<Duration> {
        None
    }

    /// Does that work, when it is due.
    fn idle_work(&mut self) {}

    /// Called once when the queue is closed and drained, before the thread exits.
    fn finish(&mut self) {}
}

impl<F> CommitBatch for F
where
    F: FnMut(&mut [Job]) -> Result<Vec<Vec<WriteOutcome>>, StorageError> + Send + 'static,
{
    fn commit_batch(&mut self, jobs: &mut [Job]) -> Result<Vec<Vec<WriteOutcome>>, StorageError> {
        self(jobs)
    }
}

/// Handle to the writer thread.
pub(crate) struct Writer {
    queue: Mutex<Option<mpsc::Sender<Request>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    /// Starts the writer thread.
    pub(crate) fn spawn(
        queue_capacity: usize,
        limits: BatchLimits,
        committer: impl CommitBatch,
    ) -> Result<Self, StorageError> {
        let (tx, rx) = mpsc::channel(queue_capacity.max(1));
        let thread = std::thread::Builder::new()
            .name("rigel-storage-writer".into())
            .spawn(move || run(rx, limits, committer))
            .map_err(|e| StorageError::Io(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            queue: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues a job and waits until it is durable (or failed).
    pub(crate) async fn submit(&self, job: Job) -> Result<Vec<WriteOutcome>, StorageError> {
        let queue = self
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or(StorageError::Closed)?;
        let (respond, response) = oneshot::channel();
        queue
            .send(Request { job, respond })
            .await
            .map_err(|_| StorageError::Closed)?;
        drop(queue);
        // A dropped responder means the writer died with our request: report, don't hang.
        response.await.map_err(|_| StorageError::Closed)?
    }

    /// Whether jobs are still accepted (the store is not closed). Writes that bypass the
    /// queue (subscriptions) check it so that they, too, fail with `Closed` after a close.
    pub(crate) fn is_open(&self) -> bool {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Stops accepting jobs and hands back the thread to join. The thread finishes every job
    /// already queued (and any a concurrent `submit` is still sending), then exits.
    pub(crate) fn shut(&self) -> Option<JoinHandle<()>> {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        self.thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// Waits for the writer thread; a panic in it is reported, not propagated.
pub(crate) fn join(thread: JoinHandle<()>) -> Result<(), StorageError> {
    thread
        .join()
        .map_err(|_| StorageError::Io("the storage writer thread panicked".into()))
}

fn run(mut rx: mpsc::Receiver<Request>, limits: BatchLimits, mut committer: impl CommitBatch) {
    let mut jobs = Vec::new();
    let mut responders = Vec::new();
    // `None` once every sender is gone (the store was closed) and the queue is empty.
    let mut clock = None;
    while let Some(first) = next_request(&mut rx, &mut committer, &mut clock) {
        let mut bytes = first.job.weight();
        jobs.push(first.job);
        responders.push(first.respond);
        while jobs.len() < limits.max_requests && bytes < limits.max_bytes {
            let Ok(next) = rx.try_recv() else { break };
            bytes += next.job.weight();
            jobs.push(next.job);
            responders.push(next.respond);
        }

        let result = committer.commit_batch(&mut jobs);
        match result {
            Ok(outcomes) if outcomes.len() == responders.len() => {
                for (respond, outcome) in responders.drain(..).zip(outcomes) {
                    // The caller may have given up waiting; its write is applied anyway.
                    let _ = respond.send(Ok(outcome));
                }
            }
            Ok(_) => {
                let err = StorageError::Corrupt("group commit lost track of its requests".into());
                answer_all(&mut responders, &err);
            }
            Err(err) => {
                tracing::error!(error = %err, requests = jobs.len(), "group commit failed");
                answer_all(&mut responders, &err);
            }
        }
        jobs.clear();
    }
    committer.finish();
}

/// How often a committer waiting to recover looks for requests between its attempts.
const RECOVERY_POLL: Duration = Duration::from_millis(20);

/// The next request; `None` once the queue is closed and empty. While the committer waits
/// to recover, its attempts are made between requests, so that it recovers with no write
/// to prompt it (readiness shows it). Idle work (a checkpoint after the last batch) is done
/// when it falls due with no request waiting; `clock` is the timer it waits with.
fn next_request(
    rx: &mut mpsc::Receiver<Request>,
    committer: &mut impl CommitBatch,
    clock: &mut Option<tokio::runtime::Runtime>,
) -> Option<Request> {
    loop {
        if let Some(due_in) = committer.recovery_due_in() {
            if due_in.is_zero() {
                committer.recover();
                continue;
            }
            match rx.try_recv() {
                Ok(request) => return Some(request),
                Err(mpsc::error::TryRecvError::Disconnected) => return None,
                Err(mpsc::error::TryRecvError::Empty) => {
                    std::thread::sleep(due_in.min(RECOVERY_POLL));
                    continue;
                }
            }
        }
        let Some(due_in) = committer.idle_work_due_in() else {
            return rx.blocking_recv();
        };
        if due_in.is_zero() {
            committer.idle_work();
            continue;
        }
        // Wait for a request, or until the idle work is due.
        if clock.is_none() {
            match tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
            {
                Ok(rt) => *clock = Some(rt),
                Err(err) => {
                    tracing::warn!(error = %err, "no timer for the writer; idle work waits");
                    return rx.blocking_recv();
                }
            }
        }
        let rt = clock.as_ref()?;
        match rt.block_on(async { tokio::time::timeout(due_in, rx.recv()).await }) {
            Ok(request) => return request,
            Err(_elapsed) => continue,
        }
    }
}

fn answer_all(responders: &mut Vec<Responder>, err: &StorageError) {
    for respond in responders.drain(..) {
        let _ = respond.send(Err(duplicate(err)));
    }
}

#[cfg(test)]
mod tests;
