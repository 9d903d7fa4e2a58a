//! Maps redb's errors onto the storage contract's `StorageError`.

use rigel_storage::StorageError;

/// Converts any redb error: damaged or unreadable data becomes `Corrupt`, everything else
/// (I/O, a file held by another process, a poisoned database) becomes `Io`.
pub(crate) fn db_err(err: impl Into<redb::Error>) -> StorageError {
    let err: redb::Error = err.into();
    match err {
        redb::Error::Corrupted(_) | redb::Error::UpgradeRequired(_) => {
            StorageError::Corrupt(err.to_string())
        }
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
        StorageError::Unavailable(m) => StorageError::Unavailable(m.clone()),
    }
}
