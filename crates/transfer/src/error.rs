//! What can stop an export or an import.

use rigel_storage::StorageError;

/// Why a transfer stopped. A record that cannot be imported does not stop an import: it is
/// reported in [`crate::ImportReport::rejected`].
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("store: {0}")]
    Store(#[from] StorageError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("cannot read the source: {0}")]
    Source(String),
    #[error("not a Rigel export: {0}")]
    NotAnExport(String),
}
