//! A fixed pool of read threads. Reads block on redb (and on the disk), so they run off the
//! async workers; tokio's blocking pool would do, but it starts a thread whenever none is
//! idle at the moment a read is handed over, and under 64 connections it held about 40
//! threads for 4 reads in flight, each with an allocator heap of its own that kept the
//! memory of the large reads it once ran. A few long-lived threads bound both.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

use rigel_storage::StorageError;

type Job = Box<dyn FnOnce() + Send>;

/// The read threads and the queue in front of them. Dropping the pool lets the threads
/// finish the reads already queued and exit.
pub(crate) struct ReadPool {
    queue: Sender<Job>,
}

impl std::fmt::Debug for ReadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadPool").finish_non_exhaustive()
    }
}

impl ReadPool {
    /// Starts `threads` read threads (at least one).
    pub(crate) fn start(threads: usize) -> Result<Self, StorageError> {
        let (queue, jobs) = channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        for n in 0..threads.max(1) {
            let jobs = Arc::clone(&jobs);
            std::thread::Builder::new()
                .name(format!("rigel-read-{n}"))
                .spawn(move || serve(&jobs))
                .map_err(|e| StorageError::Io(format!("cannot start a read thread: {e}")))?;
        }
        Ok(Self { queue })
    }

    /// Runs `f` on a read thread and waits for its result; reads queue in arrival order
    /// while every thread is busy.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller may have gone away (a dropped request): nothing to tell then.
            let _ = tx.send(f());
        });
        self.queue.send(job).map_err(|_| StorageError::Closed)?;
        // A read that panicked drops its sender: the caller sees the store as closed
        // for that read, and the thread goes on serving others.
        rx.await.map_err(|_| StorageError::Closed)
    }
}

/// One read thread: runs queued reads until the pool is dropped.
fn serve(jobs: &Mutex<Receiver<Job>>) {
    loop {
        let next = match jobs.lock() {
            Ok(queue) => queue.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(job) = next else {
            return;
        };
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("a read panicked; its caller was told the store is closed");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::ReadPool;

    #[tokio::test]
    async fn reads_run_on_the_pool_and_a_panicking_read_does_not_stop_it() {
        let pool = ReadPool::start(1).unwrap();
        let name = pool
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("rigel-read-0"));
        let failed = pool.run(|| -> u8 { panic!("a read that fails") }).await;
        assert!(failed.is_err());
        assert_eq!(pool.run(|| 7).await.unwrap(), 7);
    }
}
