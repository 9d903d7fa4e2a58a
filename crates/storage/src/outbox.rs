//! The outbox: changes noted in the same durable commit as the writes that made them, kept
//! until every subscription has dealt with them. After a crash the changes still noted are
//! offered to the subscriptions again, so an acknowledged change is notified at least once
//! even if the process died with it queued (ADR 0003).

use async_trait::async_trait;

use crate::{ChangeEvent, StorageError};

#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Every change noted and not yet marked done, in sequence order, each with its `seq`.
    async fn pending(&self) -> Result<Vec<ChangeEvent>, StorageError>;

    /// Forgets the changes with these sequence numbers (those already forgotten are
    /// skipped). Need not be durable at once: a change marked done and noted again after a
    /// crash is notified twice, never lost.
    async fn done(&self, seqs: Vec<u64>) -> Result<(), StorageError>;
}
