//! Storage traits: what the broker needs from any backend (embedded, PostgreSQL, ...).
//!
//! Writes use optimistic concurrency: every stored entity carries a version, and a write
//! states what it expects to find (absent, a version). The broker reads, computes the new
//! entity and writes with the version it read; on `Conflict` it re-reads and retries.
//! A write is acknowledged only when it is durable.

use async_trait::async_trait;
use rigel_model::{Entity, ErrorKind, Tenant};

#[cfg(feature = "testkit")]
pub mod testkit;

/// A stored entity with the version it was read at.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub version: u64,
    pub value: T,
}

/// What a write expects to find in the store before it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The entity must not exist (create).
    Absent,
    /// The entity must exist at exactly this version.
    Version(u64),
    /// No precondition.
    Any,
}

/// One write in a commit. Writes in one commit are applied in order, each checked on its
/// own; they share one durable sync.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    Put { entity: Entity, expect: Expect },
    Delete { id: String, expect: Expect },
}

/// The outcome of one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Applied; the entity's new version (0 for a delete).
    Applied { version: u64 },
    /// The expectation did not hold; nothing was written for this op.
    Conflict,
}

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage I/O failed: {0}")]
    Io(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store is shutting down")]
    Closed,
}

impl StorageError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InternalError
    }
}

/// Entity storage, per tenant.
#[async_trait]
pub trait EntityStore: Send + Sync + 'static {
    /// Reads one entity by id.
    async fn get(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<Option<Versioned<Entity>>, StorageError>;

    /// Applies the writes in order and returns one outcome per write, after every applied
    /// write is durable. Concurrent commits may be grouped into one sync.
    async fn commit(
        &self,
        tenant: &Tenant,
        ops: Vec<WriteOp>,
    ) -> Result<Vec<WriteOutcome>, StorageError>;

    /// Whether the tenant has ever been written to. The default tenant always exists.
    async fn tenant_exists(&self, tenant: &Tenant) -> Result<bool, StorageError>;

    /// Ids of the entities of a tenant having one of the given (expanded) types, in id order,
    /// starting after `after`, at most `limit`. The basis of type-driven queries.
    async fn ids_by_type(
        &self,
        tenant: &Tenant,
        type_iri: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError>;
}
