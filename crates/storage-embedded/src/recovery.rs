//! Recovery from a failed write without a restart: the database handle that the writer can
//! close and open again, the reason writes are refused meanwhile, and the pause between
//! attempts.
//!
//! After an I/O error redb fails every later operation until it is closed and opened again
//! (its "previous I/O" latch); a full disk is the common cause. The writer then takes the
//! database out of the [`DbSlot`] (reads answer `Unavailable` while it is out), waits for
//! the reads still holding it, opens the file again and replays the write-ahead log beyond
//! its durable state, as a start after a crash does. Until that succeeds, writes are
//! refused with `Unavailable` and readiness says why; attempts back off from one second to
//! a minute, since an open after an unclean close reads the whole file.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use redb::Database;
use rigel_storage::StorageError;

/// The open database, shared by the writer, the readers and the document writes.
#[derive(Debug, Default)]
pub(crate) struct DbSlot {
    current: RwLock<Option<Arc<Database>>>,
}

/// How long the writer waits for reads to let go of a database it is closing.
const RELEASE_WAIT: Duration = Duration::from_secs(30);

impl DbSlot {
    pub(crate) fn new(db: Arc<Database>) -> Self {
        Self {
            current: RwLock::new(Some(db)),
        }
    }

    /// The database, or `Unavailable` while the writer is opening it again.
    pub(crate) fn get(&self) -> Result<Arc<Database>, StorageError> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| {
                StorageError::Unavailable(
                    "the embedded store is reopening its file after a failed write".into(),
                )
            })
    }

    /// Takes the database out and waits until no read holds it any more, so that dropping
    /// it closes the file. Reads started meanwhile get `Unavailable`. A database still held
    /// after [`RELEASE_WAIT`] is put back, and the error says so.
    pub(crate) fn take_for_reopen(&self) -> Result<(), StorageError> {
        let taken = self
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(db) = taken else {
            return Ok(());
        };
        let started = Instant::now();
        while Arc::strong_count(&db) > 1 {
            if started.elapsed() > RELEASE_WAIT {
                self.put(db);
                return Err(StorageError::Unavailable(
                    "reads still hold the database; it cannot be reopened yet".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(db);
        Ok(())
    }

    /// Puts an open database in place.
    pub(crate) fn put(&self, db: Arc<Database>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(db);
    }
}

/// Why the store refuses writes, while it does (shown by readiness), and a failure seen
/// outside the writer (a document write) that the writer must recover from.
#[derive(Debug, Default)]
pub(crate) struct Refusal {
    reason: RwLock<Option<String>>,
    reported: RwLock<Option<String>>,
}

impl Refusal {
    /// Reports an I/O failure seen outside the writer.
    pub(crate) fn report(&self, reason: String) {
        *self
            .reported
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(reason);
    }

    /// The failure reported outside the writer since the last call, if any.
    pub(crate) fn take_reported(&self) -> Option<String> {
        self.reported
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    pub(crate) fn get(&self) -> Option<String> {
        self.reason
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set(&self, reason: String) {
        *self.reason.write().unwrap_or_else(PoisonError::into_inner) = Some(reason);
    }

    pub(crate) fn clear(&self) {
        *self.reason.write().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// When the next attempt to reopen is due: one second after the first failure, doubling
/// up to a minute.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    next: Instant,
    pause: Duration,
}

const FIRST_PAUSE: Duration = Duration::from_secs(1);
const LONGEST_PAUSE: Duration = Duration::from_secs(60);

impl Backoff {
    /// The first attempt is due at once.
    pub(crate) fn start() -> Self {
        Self {
            next: Instant::now(),
            pause: FIRST_PAUSE,
        }
    }

    /// How long until the next attempt is due (zero when it is).
    pub(crate) fn due_in(&self) -> Duration {
        self.next.saturating_duration_since(Instant::now())
    }

    /// Notes a failed attempt.
    pub(crate) fn failed(&mut self) {
        self.next = Instant::now() + self.pause;
        self.pause = (self.pause * 2).min(LONGEST_PAUSE);
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let mut backoff = Backoff::start();
        assert_eq!(backoff.due_in(), Duration::ZERO);
        backoff.failed();
        assert!(backoff.due_in() > Duration::from_millis(900));
        for _ in 0..10 {
            backoff.failed();
        }
        assert!(backoff.due_in() <= LONGEST_PAUSE);
        assert!(backoff.due_in() > LONGEST_PAUSE - Duration::from_secs(1));
    }

    #[test]
    fn a_taken_database_is_unavailable_until_put_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Arc::new(Database::create(dir.path().join("t.redb")).expect("create"));
        let slot = DbSlot::new(db);
        assert!(slot.get().is_ok());
        slot.take_for_reopen().expect("nothing holds it");
        assert!(matches!(slot.get(), Err(StorageError::Unavailable(_))));
        let again = Arc::new(Database::create(dir.path().join("t.redb")).expect("reopen"));
        slot.put(again);
        assert!(slot.get().is_ok());
    }
}
