//! Maps redb's errors onto the storage contract's `StorageError`.

use rigel_storage::StorageError;

/// What an operation on a database that an earlier I/O error latched answers until the
/// writer has reopened it (the `recovery` module).
pub(crate) const LATCHED: &str = "the embedded store is recovering from an I/O error";

/// Converts any redb error: damaged or unreadable data becomes `Corrupt`; an operation
/// refused since an earlier I/O error is `Unavailable` ([`LATCHED`]); everything else (I/O,
/// a file held by another process, a poisoned database) becomes `Io`.
pub(crate) fn db_err(err: impl Into<redb::Error>) -> StorageError {
    let err: redb::Error = err.into();
    match err {
        redb::Error::Corrupted(_) | redb::Error::UpgradeRequired(_) => {
            StorageError::Corrupt(err.to_string())
        }
        redb::Error::PreviousIo => StorageError::Unavailable(LATCHED.into()),
        redb::Error::DatabaseClosed => StorageError::Closed,
        other => StorageError::Io(other.to_string()),
    }
}

/// `StorageError` is not `Clone`; a failed group commit answers every requester with a copy.
pub(crate) fn duplicate(err: &StorageError) -> StorageError {
    match err {
        StorageError::Io(m) => StorageError::Io(m.clone()),
        StorageError::Corrupt(m) => StorageError::Corrupt(m.clone()),
        StorageError::Closed => StorageError::Closed,
        StorageError::TooManyToSort(n) => StorageError::TooManyToSort(*n),
        StorageError::TooLarge(n) => StorageError::TooLarge(*n),
        StorageError::Unavailable(m) => StorageError::Unavailable(m.clone()),
    }
}
