//! Rigel's use cases: each NGSI-LD operation as a method of [`Broker`], over the storage traits.
//! Knows nothing of HTTP or of concrete backends; every name it sees is a full IRI.

mod attributes;
mod batch;
pub mod discovery;
mod entities;
mod error;
pub mod merge;
pub mod query;

use std::sync::Arc;

use rigel_model::{Entity, Tenant};
use rigel_storage::{EntityStore, Expect, Versioned, WriteOp, WriteOutcome};

pub use attributes::{AttributeUpdate, EntityMerge, UpdateResult};
pub use batch::{BatchEntityError, BatchResult, UpsertMode};
pub use rigel_model::{Clock, SystemClock};
pub use error::BrokerError;

/// How many times a read-modify-write is retried when another writer got there first.
const MAX_WRITE_ATTEMPTS: usize = 64;

/// Whether the entity has one of `types` (the `type` selector of an operation); no selector
/// matches every entity.
fn has_any_type(entity: &Entity, types: Option<&[String]>) -> bool {
    types.is_none_or(|t| t.iter().any(|t| entity.types.contains(t)))
}

/// The broker: NGSI-LD operations over an entity store.
#[derive(Clone)]
pub struct Broker {
    store: Arc<dyn EntityStore>,
    clock: Arc<dyn Clock>,
}

impl Broker {
    pub fn new(store: Arc<dyn EntityStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    pub fn store(&self) -> &Arc<dyn EntityStore> {
        &self.store
    }

    /// The broker's current time (its injectable clock).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Reads an entity for an operation on it: `ResourceNotFound` when absent, or when the
    /// tenant does not exist (`NonexistentTenant`).
    async fn load(&self, tenant: &Tenant, id: &str) -> Result<Versioned<Entity>, BrokerError> {
        match self.store.get(tenant, id).await? {
            Some(found) => Ok(found),
            None => Err(self.missing(tenant, id).await),
        }
    }

    /// The error for an entity that is not there.
    async fn missing(&self, tenant: &Tenant, id: &str) -> BrokerError {
        match self.store.tenant_exists(tenant).await {
            Ok(false) => BrokerError::NonexistentTenant(tenant.to_string()),
            Err(e) => e.into(),
            Ok(true) => BrokerError::EntityNotFound(id.to_owned()),
        }
    }

    /// Read-modify-write of one entity with optimistic concurrency: `change` computes the new
    /// state (or `None` to delete) from the current one; retried on conflicting writes.
    async fn modify<T>(
        &self,
        tenant: &Tenant,
        id: &str,
        types: Option<&[String]>,
        mut change: impl FnMut(Entity) -> Result<(Option<Entity>, T), BrokerError>,
    ) -> Result<T, BrokerError> {
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let current = self.load(tenant, id).await?;
            if !has_any_type(&current.value, types) {
                return Err(BrokerError::EntityNotFound(id.to_owned()));
            }
            let (next, result) = change(current.value)?;
            let expect = Expect::Version(current.version);
            let op = match next {
                Some(entity) => WriteOp::Put { entity, expect },
                None => WriteOp::Delete {
                    id: id.to_owned(),
                    expect,
                },
            };
            if self.commit_one(tenant, op).await? {
                return Ok(result);
            }
        }
        Err(BrokerError::Contended(id.to_owned()))
    }

    /// Commits one write; `false` when its expectation did not hold.
    async fn commit_one(&self, tenant: &Tenant, op: WriteOp) -> Result<bool, BrokerError> {
        let outcomes = self.store.commit(tenant, vec![op]).await?;
        Ok(matches!(
            outcomes.first(),
            Some(WriteOutcome::Applied { .. })
        ))
    }
}

#[cfg(test)]
mod batch_tests;
#[cfg(test)]
mod merge_tests;
