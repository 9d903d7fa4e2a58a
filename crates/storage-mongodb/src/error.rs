//! MongoDB's errors as the storage contract's: the database being away, failing over or too
//! slow is `Unavailable` (retryable, 503 at the edge); the rest is I/O.

use mongodb::error::{Error, ErrorKind, WriteFailure, TRANSIENT_TRANSACTION_ERROR};
use rigel_storage::StorageError;

/// Server error codes that mean "not now" rather than "never": no primary, a primary that
/// stepped down, shutdown in progress, a network or time-out inside the server.
const UNAVAILABLE_CODES: &[i32] = &[
    6,     // HostUnreachable
    7,     // HostNotFound
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    189,   // PrimarySteppedDown
    262,   // ExceededTimeLimit
    9001,  // SocketException
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    11602, // InterruptedDueToReplStateChange
    13435, // NotPrimaryNoSecondaryOk
    13436, // NotPrimaryOrSecondary
];

/// The contract's error for a MongoDB error.
pub(crate) fn storage_error(e: Error) -> StorageError {
    if let Some(Ambiguous(reason)) = e.get_custom::<Ambiguous>() {
        return StorageError::Unavailable(reason.clone());
    }
    if is_unavailable(&e) {
        StorageError::Unavailable(e.to_string())
    } else {
        StorageError::Io(format!("MongoDB: {e}"))
    }
}

fn is_unavailable(e: &Error) -> bool {
    match &*e.kind {
        ErrorKind::ServerSelection { .. }
        | ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. } => true,
        ErrorKind::Command(c) => UNAVAILABLE_CODES.contains(&c.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(c)) => UNAVAILABLE_CODES.contains(&c.code),
        _ => false,
    }
}

/// A commit whose outcome is unknown: the database went away after it was sent, and asking
/// again did not tell whether it applied. Not transient: running the transaction again
/// could apply it twice or report a create of its own as a conflict.
#[derive(Debug, Clone)]
pub(crate) struct Ambiguous(pub String);

/// Whether the error is the duplicate of a unique key (an `_id` taken).
pub(crate) fn is_duplicate_key(e: &Error) -> bool {
    match &*e.kind {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::Command(c) => c.code == 11000,
        ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .is_some_and(|errors| errors.iter().any(|w| w.code == 11000)),
        _ => false,
    }
}

/// Whether a transaction failed in a way that running it again may cure (a write conflict
/// with a concurrent transaction, a failover during it).
pub(crate) fn is_transient(e: &Error) -> bool {
    e.contains_label(TRANSIENT_TRANSACTION_ERROR)
        || matches!(&*e.kind, ErrorKind::Command(c) if c.code == 112) // WriteConflict
}
